#!/usr/bin/env python3
"""Seed frames for fuzz_netif (tests/fuzz/fuzz_netif.c): valid ARP, ICMP,
UDP, TCP, mDNS, DHCP and fragmented traffic to the fuzzed device
(192.0.2.2, MAC 02:4c:00:00:00:02), in its record format
[u8 dt][u16 len LE][frame]. Run: make_netif_seeds.py OUTDIR"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "net"))
from packets import csum, ip_hdr, pseudo  # noqa: E402

DEV_MAC = bytes([2, 0x4C, 0, 0, 0, 2])
PEER_MAC = bytes([2, 0x50, 0, 0, 0, 1])
BCAST = b"\xff" * 6
DEV_IP = bytes([192, 0, 2, 2])
PEER_IP = bytes([192, 0, 2, 1])


def eth(dst, typ, payload, src=PEER_MAC):
    return dst + src + struct.pack("!H", typ) + payload


def ip(proto, payload, src=PEER_IP, dst=DEV_IP, ident=1, frag=0, ttl=64):
    return ip_hdr(src, dst, proto, len(payload), ident, frag, ttl) + payload


def udp(sport, dport, data, src=PEER_IP, dst=DEV_IP):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    c = csum(pseudo(src, dst, 17, seg) + seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def tcp(sport, dport, seq, ack, flags, data=b"", win=8192, opts=b""):
    off = (20 + len(opts)) // 4
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, win, 0, 0) + opts + data
    c = csum(pseudo(PEER_IP, DEV_IP, 6, seg) + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def icmp_echo(ident, seq, data=b"abcdefgh"):
    m = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + spa + tha + tpa


def rec(frame, dt=0):
    return struct.pack("<BH", dt, len(frame)) + frame


def dns_query(name, qtype=1, ident=0x1234, flags=0x0000):
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", ident, flags, 1, 0, 0, 0) + q + struct.pack("!HH", qtype, 1)


SYN, ACK, PSH, FIN, RST = 2, 16, 8, 1, 4
seeds = {
    "arp_request": rec(eth(BCAST, 0x0806, arp(1, PEER_MAC, PEER_IP, b"\0" * 6, DEV_IP))),
    "arp_reply": rec(eth(DEV_MAC, 0x0806, arp(2, PEER_MAC, PEER_IP, DEV_MAC, DEV_IP))),
    "ping": rec(eth(DEV_MAC, 0x0800, ip(1, icmp_echo(7, 1)))),
    "udp_echo": rec(eth(DEV_MAC, 0x0800, ip(17, udp(4000, 5000, b"hello")))),
    "udp_closed_port": rec(eth(DEV_MAC, 0x0800, ip(17, udp(4000, 5001, b"x")))),
    "tcp_session": b"".join([
        rec(eth(DEV_MAC, 0x0800, ip(6, tcp(40000, 80, 1000, 0, SYN, opts=b"\x02\x04\x05\xb4\x01\x03\x03\x07")))),
        rec(eth(DEV_MAC, 0x0800, ip(6, tcp(40000, 80, 1001, 1, ACK))), dt=1),
        rec(eth(DEV_MAC, 0x0800, ip(6, tcp(40000, 80, 1001, 1, ACK | PSH, b"GET / HTTP/1.0\r\n\r\n")))),
        rec(eth(DEV_MAC, 0x0800, ip(6, tcp(40000, 80, 1019, 1, ACK | FIN))), dt=5),
    ]),
    "tcp_rst": rec(eth(DEV_MAC, 0x0800, ip(6, tcp(40001, 80, 5, 0, RST)))),
    "syn_flood": b"".join(rec(eth(DEV_MAC, 0x0800, ip(6, tcp(30000 + i, 80, i * 7, 0, SYN)))) for i in range(40)),
    "mdns_query": rec(eth(bytes([1, 0, 0x5E, 0, 0, 0xFB]), 0x0800,
                          ip(17, udp(5353, 5353, dns_query("fuzz.local")), dst=bytes([224, 0, 0, 251]), ttl=255))),
    "dns_answer": rec(eth(DEV_MAC, 0x0800, ip(17, udp(53, 49152, struct.pack("!HHHHHH", 0x1234, 0x8180, 1, 1, 0, 0)
                                                       + dns_query("a.example")[12:] + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x09")))),
    "dhcp_offer": rec(eth(BCAST, 0x0800, ip(17, udp(67, 68, bytes([2, 1, 6, 0]) + b"\0" * 232 + b"\x63\x82\x53\x63\x35\x01\x02\xff"),
                                             dst=b"\xff\xff\xff\xff"))),
    "ip_fragments": b"".join([
        rec(eth(DEV_MAC, 0x0800, ip(17, udp(4000, 5000, b"A" * 40)[:24], ident=99, frag=0x2000))),
        rec(eth(DEV_MAC, 0x0800, ip(17, udp(4000, 5000, b"A" * 40)[24:], ident=99, frag=3)), dt=1),
    ]),
    "igmp_query": rec(eth(bytes([1, 0, 0x5E, 0, 0, 1]), 0x0800,
                          ip(2, struct.pack("!BBH4s", 0x11, 100, 0, b"\0\0\0\0"), dst=bytes([224, 0, 0, 1]), ttl=1))),
}

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
