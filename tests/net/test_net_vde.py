#!/usr/bin/env python3
"""--net vde:PATH: simulated devices on one vde_switch the test starts on a
temporary socket (no root): two and ten devices with static 192.0.2.x
addresses ping each other and exchange TCP and UDP, find each other by
mDNS name; slirpvde on the same switch as the uplink
(DHCP, the host alias; in a namespace: root); the switch going away unplugs the cable."""
import os
import subprocess
import sys
import time
import unittest

import netutil
from netutil import LUA_PRELUDE, Device, Sandbox

LUAOS = netutil.luaos_path(sys.argv)

# Pings every peer until it answers (a peer may still be starting), then
# stays up for the others until the test says stop.
FLEET_APP = LUA_PRELUDE + """
local stop, peers = ...
assert(net.wait_up(5000))
local s = net.status()
say("id", s.ip, s.mac, s.hostname)
local missing = {}
for peer in peers:gmatch("[^,]+") do
  local ok = false
  for _ = 1, 100 do
    local r = net.ping(peer, {timeout = 200})
    if r and r.received == 1 then ok = true break end
  end
  if not ok then missing[#missing + 1] = peer end
end
say("pinged", #missing == 0 and "all" or table.concat(missing, ","))
wait_file(stop, 60)
"""


# Serves a TCP echo (port 7000) and a UDP echo (7001), then talks to every
# peer over both; stays up for the others until the test says stop.
SOCKET_APP = LUA_PRELUDE + """
local socket = require("socket")
local stop, peers = ...
assert(net.wait_up(5000))
local me = net.status().ip
local server = line_echo(7000)
local u = assert(socket.udp())
assert(u:setsockname("0.0.0.0", 7001))
task.spawn(function()
  while true do
    local data, host, port = u:receivefrom()
    if data then
      u:sendto(data, host, port)
    elseif host == "closed" then
      break
    end
  end
end)
say("serving")
local bad = {}
for peer in peers:gmatch("[^,]+") do
  -- TCP: a peer may still be starting; retry the connection
  local c
  for _ = 1, 50 do
    c = socket.connect(peer, 7000, {timeout = 500})
    if c then break end
    task.sleep(100)
  end
  local msg = "tcp from " .. me
  local ok = c and c:send(msg .. "\\n") and c:receive("*l") == msg
  if c then c:close() end
  -- UDP: retransmit until the echo comes back
  local q = assert(socket.udp())
  local uok = false
  for _ = 1, 50 do
    q:sendto("udp from " .. me, peer, 7001)
    local data = q:receivefrom(200)
    if data == "udp from " .. me then uok = true break end
  end
  q:close()
  if not (ok and uok) then
    bad[#bad + 1] = peer .. (ok and "" or ":tcp") .. (uok and "" or ":udp")
  end
end
say("talked", #bad == 0 and "all" or table.concat(bad, ","))
wait_file(stop, 60)
server:close() -- the serving tasks end, and with them the run
u:close()
"""


class Vde(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        netutil.skip_unless_program("vde_switch")
        # libvdeplug dlopen()s its plugins with RTLD_DEEPBIND, which
        # AddressSanitizer refuses (google/sanitizers#611): no VDE there.
        sb = Sandbox("luaos-net-vde-probe-")
        try:
            p = subprocess.Popen(["vde_switch", "-s", sb.path("sw")], stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(50):
                if os.path.exists(sb.path("sw/ctl")):
                    break
                time.sleep(0.1)
            one = sb.write("one.lua", "print(1)")
            r = netutil.run(LUAOS, "run", one, "--net", "vde:" + sb.path("sw"), env=sb.env())
            p.terminate()
            p.wait()
            p.stdin.close()
        finally:
            sb.remove()
        if "RTLD_DEEPBIND" in r.stderr:
            raise unittest.SkipTest("a sanitizer build: libvdeplug's RTLD_DEEPBIND plugins "
                                    "cannot load under AddressSanitizer")

    def setUp(self):
        netutil.skip_unless_program("vde_switch")
        self.sb = Sandbox("luaos-net-vde-")
        self.addCleanup(self.sb.remove)
        self.switch = self.start_switch()

    def start_switch(self):
        sock = self.sb.path("switch")
        # stdin held open: vde_switch reads its console there and quits at EOF
        p = subprocess.Popen(["vde_switch", "-s", sock], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop_proc, p)
        for _ in range(50):
            if os.path.exists(os.path.join(sock, "ctl")):
                break
            time.sleep(0.1)
        else:
            self.fail("vde_switch did not start")
        self.sock = sock
        return p

    @staticmethod
    def stop_proc(p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p.stdin:
            p.stdin.close()

    def fleet(self, n, text=FLEET_APP, done="pinged"):
        ips = [f"192.0.2.{10 + i}" for i in range(n)]
        stop = self.sb.path("stop")
        app = self.sb.write("fleet.lua", text)
        devs = []
        for ip in ips:
            peers = ",".join(p for p in ips if p != ip)
            d = Device(LUAOS, app, ["--net", "vde:" + self.sock, "--ip", ip + "/24"],
                       app_args=[stop, peers], env=self.sb.env())
            self.addCleanup(d.kill)
            devs.append(d)
        results = [netutil.expect_line(self, d, done, timeout=90) for d in devs]
        open(stop, "w").close()
        for d in devs:
            rc, err = d.finish()
            self.assertEqual(rc, 0, err)
        self.assertEqual(results, [done + "\tall"] * n)
        if done == "pinged":
            ids = [next(l for l in d.lines if l.startswith("id")).split("\t") for d in devs]
            self.assertEqual([i[1] for i in ids], ips)
            self.assertEqual(len({i[2] for i in ids}), n, "MACs must differ")
            self.assertEqual(len({i[3] for i in ids}), n, "host names must differ")

    def test_two_devices(self):
        self.fleet(2)

    def test_ten_devices(self):
        self.fleet(10)

    def test_two_devices_tcp_udp(self):
        netutil.skip_unless_sockets(LUAOS)
        self.fleet(2, SOCKET_APP, "talked")

    def test_ten_devices_tcp_udp(self):
        netutil.skip_unless_sockets(LUAOS)
        self.fleet(10, SOCKET_APP, "talked")

    def test_mdns_names(self):
        # each device answers as NAME.local; lwIP's resolver asks by multicast
        app = self.sb.write("mdns.lua", LUA_PRELUDE + """
local stop, peer = ...
assert(net.wait_up(5000))
local addr, err
for _ = 1, 20 do
  addr, err = net.resolve(peer)
  if addr then break end
  task.sleep(100)
end
say("resolved", peer, tostring(addr), err)
wait_file(stop, 30)
""")
        stop = self.sb.path("stop")
        devs = []
        for name, ip, peer in (("alpha", "192.0.2.10", "beta.local"),
                               ("beta", "192.0.2.11", "alpha.local")):
            d = Device(LUAOS, app, ["--net", "vde:" + self.sock, "--ip", ip + "/24",
                                    "--hostname", name], app_args=[stop, peer], env=self.sb.env())
            self.addCleanup(d.kill)
            devs.append(d)
        lines = [netutil.expect_line(self, d, "resolved") for d in devs]
        open(stop, "w").close()
        self.assertEqual(lines, ["resolved\tbeta.local\t192.0.2.11\tnil",
                                 "resolved\talpha.local\t192.0.2.10\tnil"])
        for d in devs:
            self.assertEqual(d.finish()[0], 0)

    def test_udp_multicast_group(self):
        # IGMP join (u:join) on one device, datagrams to the group from the
        # other; a device that did not join gets none
        netutil.skip_unless_sockets(LUAOS)
        app = self.sb.write("mcast.lua", LUA_PRELUDE + """
local socket = require("socket")
local stop, role = ...
assert(net.wait_up(5000))
local u = assert(socket.udp())
assert(u:setsockname("0.0.0.0", 5353 + 1000))
if role == "member" then assert(u:join("239.1.2.3")) end
say("ready", role)
if role == "sender" then
  wait_file(stop .. ".go", 30)
  for i = 1, 5 do
    assert(u:sendto("group " .. i, "239.1.2.3", 6353))
    task.sleep(50)
  end
  say("sent")
else
  local got = 0
  for _ = 1, 5 do
    local d = u:receivefrom(1500)
    if d then got = got + 1 end
  end
  say("got", role, got)
end
wait_file(stop, 30)
""")
        stop = self.sb.path("stop")
        devs = {}
        for role, ip in (("member", "192.0.2.20"), ("outsider", "192.0.2.21"),
                         ("sender", "192.0.2.22")):
            d = Device(LUAOS, app, ["--net", "vde:" + self.sock, "--ip", ip + "/24"],
                       app_args=[stop, role], env=self.sb.env())
            self.addCleanup(d.kill)
            devs[role] = d
        for role, d in devs.items():
            netutil.expect_line(self, d, "ready")
        open(stop + ".go", "w").close()
        netutil.expect_line(self, devs["sender"], "sent")
        self.assertEqual(netutil.expect_line(self, devs["member"], "got"), "got\tmember\t5")
        self.assertEqual(netutil.expect_line(self, devs["outsider"], "got"), "got\toutsider\t0")
        open(stop, "w").close()
        for d in devs.values():
            self.assertEqual(d.finish()[0], 0)

    def test_slirpvde_uplink(self):
        netutil.skip_unless_program("slirpvde")
        # slirpvde NATs to the host's network: in a namespace of its own
        # (lo only), so nothing the device sends (mDNS) leaves the machine.
        netutil.skip_unless_root("the slirpvde uplink test")
        ns = netutil.Netns()
        self.addCleanup(ns.remove)
        ns.start("slirpvde", "-s", self.sock, "-D", stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        app = self.sb.write("dhcp.lua", LUA_PRELUDE + """
local ok, err = net.wait_up(10000)
local s = net.status()
say("up", tostring(ok), err, s.ip, s.gw)
local r = net.ping("10.0.2.2", {count = 2, timeout = 1000})
say("ping", r and r.received)
""")
        r = netutil.run(LUAOS, "run", app, "--net", "vde:" + self.sock, env=self.sb.env())
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        up_line = next(l for l in lines if l.startswith("up"))
        fields = up_line.split("\t")
        self.assertEqual(fields[1], "true", up_line)
        self.assertTrue(fields[3].startswith("10.0.2."), up_line)
        self.assertIn("ping\t2", lines)

    def test_switch_goes_away(self):
        app = self.sb.write("unplug.lua", LUA_PRELUDE + """
assert(net.wait_up(5000))
say("ready", tostring(net.status().link))
for _ = 1, 100 do
  if not net.status().link then break end
  task.sleep(100)
end
say("link", tostring(net.status().link), tostring(net.status().up))
""")
        d = Device(LUAOS, app, ["--net", "vde:" + self.sock, "--ip", "192.0.2.10/24"],
                   env=self.sb.env())
        self.addCleanup(d.kill)
        self.assertEqual(netutil.expect_line(self, d, "ready"), "ready\ttrue")
        self.stop_proc(self.switch)
        self.assertEqual(netutil.expect_line(self, d, "link"), "link\tfalse\tfalse")
        rc, err = d.finish()
        self.assertEqual(rc, 0, err)
        self.assertIn("the switch went away", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
