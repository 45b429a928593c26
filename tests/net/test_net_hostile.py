#!/usr/bin/env python3
"""Hostile traffic from the wire, against a device on a TAP inside a
network namespace this test makes (192.0.2.0/24): a SYN flood from
spoofed addresses, malformed and truncated frames of every protocol the
device speaks, random garbage. The device must keep serving (a real
client's echo and a ping answered afterwards), must not crash, and its
network memory (sys.memory().net) must stay bounded and come back down.
Frames are written with an AF_PACKET socket on the TAP's host side, so
nothing leaves the namespace."""
import os
import random
import socket
import struct
import sys
import time
import unittest

import netutil
from netutil import LUA_PRELUDE, NET_TAP, Device, Netns, Sandbox
from packets import csum, ip_hdr

LUAOS = netutil.luaos_path(sys.argv)
TAP = "lhtap0"
DEV_IP = "192.0.2.10"
HOST_IP = "192.0.2.1"

DEVICE_APP = LUA_PRELUDE + """
local socket = require("socket")
local stop = ...
assert(net.wait_up(5000))
line_echo(7000, {backlog = 8}, 5000)
local u = socket.udp()
u:setsockname("0.0.0.0", 5000)
task.spawn(function()
  while true do
    local d, h, p = u:receivefrom()
    if d then u:sendto(d, h, p) end
  end
end)
local peak = 0
task.spawn(function()
  while true do
    local m = sys.memory().net
    if m > peak then peak = m end
    task.sleep(20)
  end
end)
collectgarbage()
say("serving", sys.memory().net)
wait_file(stop .. ".report", 120)
say("mem", sys.memory().net, peak)
wait_file(stop, 120)
os.exit(0) -- the server tasks would keep the app alive
"""


def tcp_syn(src, dst, sport, dport, seq):
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 2, 8192, 0, 0)
    ph = src + dst + struct.pack("!BBH", 0, 6, len(seg))
    seg = seg[:16] + struct.pack("!H", csum(ph + seg)) + seg[18:]
    return ip_hdr(src, dst, 6, len(seg)) + seg


class Hostile(unittest.TestCase):
    def setUp(self):
        netutil.skip_unless_root("the hostile-traffic test")
        if not os.path.exists("/dev/net/tun"):
            raise unittest.SkipTest("no /dev/net/tun (modprobe tun)")
        netutil.skip_unless_sockets(LUAOS)
        self.sb = Sandbox("luaos-net-hostile-")
        self.addCleanup(self.sb.remove)
        self.ns = Netns()
        self.addCleanup(self.ns.remove)
        self.env = self.sb.env(LUAOS_NET_TAP_STATE=self.sb.path("net-tap"))
        r = self.ns.exec(NET_TAP, "up", TAP, "--addr", HOST_IP + "/24", capture_output=True,
                         text=True, env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.addCleanup(self.ns.exec, NET_TAP, "down", TAP, capture_output=True, env=self.env)
        self.stop = self.sb.path("stop")
        app = self.sb.write("dev.lua", DEVICE_APP)
        self.dev = Device(LUAOS, app, ["--net", "tap:" + TAP, "--ip", DEV_IP + "/24",
                                       "--mac", "02:4c:00:00:00:10"],
                          app_args=[self.stop], env=self.env, netns=self.ns.name)
        self.addCleanup(self.dev.kill)
        self.base = int(netutil.expect_line(self, self.dev, "serving").split("\t")[1])

    def in_ns(self, code, *args, timeout=120):
        r = self.ns.exec(sys.executable, "-c", code, *args, capture_output=True, text=True,
                         timeout=timeout)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def still_serves(self):
        out = self.in_ns(
            "import socket\n"
            f"s = socket.create_connection(('{DEV_IP}', 7000), timeout=10)\n"
            "s.sendall(b'still here\\n')\n"
            "got = b''\n"
            "while not got.endswith(b'\\n'):\n"
            "    d = s.recv(100)\n"
            "    if not d: break\n"
            "    got += d\n"
            "print(got.decode().strip())\n")
        self.assertEqual(out.strip(), "still here")
        r = self.ns.exec("ping", "-c", "2", "-W", "2", DEV_IP, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def report(self):
        open(self.stop + ".report", "w").close()
        f = netutil.expect_line(self, self.dev, "mem").split("\t")
        return int(f[1]), int(f[2])

    def finish(self):
        open(self.stop, "w").close()
        rc, err = self.dev.finish()
        self.assertEqual(rc, 0, err)

    def send_frames(self, frames_code):
        """Run frames_code (which sets `frames`, a list of IP packets or
        whole Ethernet frames as (bytes, is_ethernet)) and write them on
        the TAP's host side."""
        self.in_ns(
            "import socket, struct, random\n"
            f"s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
            f"s.bind(('{TAP}', 0))\n"
            "mine = s.getsockname()[4]\n"
            "dev = bytes([2, 0x4c, 0, 0, 0, 0x10])\n"
            + frames_code +
            "for f, is_eth in frames:\n"
            "    if not is_eth: f = dev + mine + b'\\x08\\x00' + f\n"
            "    try: s.send(f)\n"
            "    except OSError: pass\n")

    def test_syn_flood_from_spoofed_addresses(self):
        # The device answers SYNs to addresses that never answer ARP: each
        # half-open connection waits; memory must stay bounded and the
        # listener must still take a real client.
        syns = []
        rnd = random.Random(7)
        for i in range(3000):
            src = bytes([192, 0, 2, 100 + rnd.randrange(100)])
            syns.append(tcp_syn(src, socket.inet_aton(DEV_IP), 1024 + i, 7000, rnd.getrandbits(32)))
        code = "frames = [(bytes.fromhex(h), False) for h in open(%r).read().split()]\n"
        path = self.sb.path("syns.hex")
        with open(path, "w") as f:
            f.write("\n".join(s.hex() for s in syns))
        self.send_frames(code % path)
        self.still_serves()
        now, peak = self.report()
        self.assertLess(peak, 16 * 1024 * 1024)  # the simulator's lwIP heap
        self.finish()

    def test_malformed_and_truncated_frames(self):
        code = r"""
rnd = random.Random(11)
frames = []
def ip(proto, payload, ihl=5, tot=None, frag=0, src=b'\xc0\x00\x02\x01'):
    tot = 20 + len(payload) if tot is None else tot
    h = struct.pack('!BBHHHBBH4s4s', 0x40 | ihl, 0, tot, rnd.getrandbits(16), frag, 64, proto, 0,
                    src, b'\xc0\x00\x02\x0a')
    return h + payload
for _ in range(400):
    # every protocol, with lengths that lie and headers cut short
    proto = rnd.choice([1, 2, 6, 17, 0, 255])
    body = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 80)))
    frames.append((ip(proto, body), False))
    frames.append((ip(proto, body, tot=rnd.randrange(0, 65536)), False))
    frames.append((ip(proto, body, ihl=rnd.randrange(0, 16)), False))
    frames.append((ip(proto, body, frag=rnd.getrandbits(16)), False))
    frames.append((ip(proto, body)[:rnd.randrange(0, 20)], False))
    # UDP and TCP with header fields out of range
    frames.append((ip(17, struct.pack('!HHHH', 5, 5000, rnd.randrange(0, 9), 0) + body), False))
    frames.append((ip(6, struct.pack('!HHIIBBHHH', 5, 7000, 1, 1, rnd.getrandbits(8),
                                     rnd.getrandbits(8), 0, 0, 0) + body), False))
    # ARP with wrong sizes, and raw garbage frames of any length
    frames.append((dev + mine + b'\x08\x06' + bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 40))), True))
    frames.append((bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 1514))), True))
# overlapping and endless fragments of one datagram
for off in range(0, 8000, 8):
    frames.append((ip(17, b'F' * 24, frag=0x2000 | (off // 8) & 0x1fff), False))
"""
        self.send_frames(code)
        self.still_serves()
        now, peak = self.report()
        self.assertLess(peak, 16 * 1024 * 1024)
        # what the garbage left behind (reassembly buffers) drains again
        deadline = time.time() + 40
        while now > self.base + 64 * 1024 and time.time() < deadline:
            time.sleep(1)
            os.unlink(self.stop + ".report")
            self.dev.lines = [x for x in self.dev.lines if not x.startswith("mem")]
            now, _ = self.report()
        self.assertLess(now, self.base + 64 * 1024, "network memory did not come back down")
        self.finish()


if __name__ == "__main__":
    unittest.main(verbosity=2)
