"""Raw packet helpers of the network tests and the frame fuzzer's seed
maker: the Internet checksum (RFC 1071) and IPv4/TCP headers with it."""
import struct


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip_hdr(src, dst, proto, payload_len, ident=0, frag=0, ttl=64):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ident, frag, ttl, proto, 0,
                    src, dst)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:]


def pseudo(src, dst, proto, seg):
    return src + dst + struct.pack("!BBH", 0, proto, len(seg))
