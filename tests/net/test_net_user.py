#!/usr/bin/env python3
"""--net user (libslirp) and the simulator's network options: DHCP from
slirp, ping to the host alias, static addresses, port forwards, instance
numbers, the time policy of run and test, option errors; name resolution
through slirp's DNS to a dnsmasq in a namespace the test makes (root)."""
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

import netutil
from netutil import LUA_PRELUDE, Device, Netns, Sandbox

LUAOS = netutil.luaos_path(sys.argv)

STATUS_APP = LUA_PRELUDE + """
local ok, err = net.wait_up(10000)
say("wait_up", ok, err)
local s = net.status()
for _, k in ipairs({"up", "ip", "netmask", "gw", "dns", "mac", "hostname", "dhcp"}) do
  say("status." .. k, tostring(s[k]))
end
local target = ...
if target then
  local r, e = net.ping(target, {count = 3, timeout = 2000})
  say("ping", r and r.received or "nil", e)
end
"""


def status_of(lines):
    return {l.split("\t")[0][len("status."):]: l.split("\t")[1]
            for l in lines if l.startswith("status.")}


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UserNet(unittest.TestCase):
    def setUp(self):
        self.sb = Sandbox("luaos-net-user-")
        self.addCleanup(self.sb.remove)

    def run_app(self, text, *args, app_args=(), timeout=30):
        app = self.sb.write("app.lua", text)
        cmd = ["run", app, *args]
        if app_args:
            cmd += ["--", *app_args]
        r = netutil.run(LUAOS, *cmd, env=self.sb.env(), timeout=timeout)
        return r, r.stdout.splitlines()

    def test_dhcp_from_slirp_by_default(self):
        r, lines = self.run_app(STATUS_APP)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("wait_up\ttrue\tnil", lines)
        st = status_of(lines)
        self.assertEqual(st["up"], "true")
        self.assertEqual(st["ip"], "10.0.2.15")
        self.assertEqual(st["netmask"], "255.255.255.0")
        self.assertEqual(st["gw"], "10.0.2.2")
        self.assertEqual(st["dns"], "10.0.2.3")
        self.assertEqual(st["dhcp"], "true")
        self.assertEqual(st["hostname"], "luaos-0")  # the first instance
        self.assertRegex(st["mac"], r"^02:4c:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}:00$")

    def test_ping_the_host_and_slirps_dns(self):
        for target in ("10.0.2.2", "10.0.2.3"):
            r, lines = self.run_app(STATUS_APP, "--net", "user", app_args=[target])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("ping\t3\tnil", lines, target)

    def test_static_address(self):
        r, lines = self.run_app(STATUS_APP, "--net", "user", "--ip", "10.0.2.20/24", "--gw",
                                "10.0.2.2", "--dns", "10.0.2.3", "--mac", "02:00:00:00:00:42",
                                "--hostname", "dev-a", app_args=["10.0.2.2"])
        self.assertEqual(r.returncode, 0, r.stderr)
        st = status_of(lines)
        self.assertEqual((st["ip"], st["gw"], st["dns"], st["dhcp"]),
                         ("10.0.2.20", "10.0.2.2", "10.0.2.3", "false"))
        self.assertEqual((st["mac"], st["hostname"]), ("02:00:00:00:00:42", "dev-a"))
        self.assertIn("ping\t3\tnil", lines)

    def test_hostfwd_reaches_the_device(self):
        port = free_port()
        app = self.sb.write("fwd.lua", LUA_PRELUDE + """
assert(net.wait_up(10000))
say("up")
wait_file(...)
""")
        stop = self.sb.path("stop")
        dev = Device(LUAOS, app, ["--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:80"],
                     app_args=[stop, "20"], env=self.sb.env())
        self.addCleanup(dev.kill)
        netutil.expect_line(self, dev, "up")
        # Slirp accepts on the host and opens the connection to the device's
        # port 80; nothing listens there, so lwIP resets it and slirp closes
        # ours: the forward reached the device's stack.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.settimeout(5)
            try:
                data = s.recv(16)
            except ConnectionResetError:
                data = b""
            self.assertEqual(data, b"")
        open(stop, "w").close()
        rc, err = dev.finish()
        self.assertEqual(rc, 0, err)
        # Closing the simulator closed the forward.
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)

    def test_hostfwd_port_in_use(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            r, _ = self.run_app("print(1)", "--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:80")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"--net user: cannot forward host TCP port 127.0.0.1:{port}", r.stderr)

    def test_instances_are_distinct_and_reused(self):
        app = self.sb.write("inst.lua", LUA_PRELUDE + """
assert(net.wait_up(10000))
local s = net.status()
say("id", s.hostname, s.mac)
wait_file(...)
""")
        devs = []
        for i in range(2):
            d = Device(LUAOS, app, app_args=[self.sb.path(f"stop{i}"), "20"], env=self.sb.env())
            self.addCleanup(d.kill)
            devs.append(d)
            # one after the other, so the numbers are known
            netutil.expect_line(self, d, "id")
        ids = [d.wait_line("id").split("\t") for d in devs]
        self.assertEqual([i[1] for i in ids], ["luaos-0", "luaos-1"])
        self.assertNotEqual(ids[0][2], ids[1][2])
        self.assertTrue(ids[0][2].endswith(":00") and ids[1][2].endswith(":01"), ids)
        open(self.sb.path("stop0"), "w").close()
        self.assertEqual(devs[0].finish()[0], 0)
        # instance 0 is free again; 1 is still held
        d = Device(LUAOS, app, app_args=[self.sb.path("stop2"), "20"], env=self.sb.env())
        self.addCleanup(d.kill)
        line = netutil.expect_line(self, d, "id")
        self.assertEqual(line.split("\t")[1:], ids[0][1:])
        for n in ("stop1", "stop2"):
            open(self.sb.path(n), "w").close()
        self.assertEqual(devs[1].finish()[0], 0)
        self.assertEqual(d.finish()[0], 0)

    def test_no_lock_folder_still_runs(self):
        # $XDG_RUNTIME_DIR/luaos taken by a file: a warning, a number anyway
        with open(os.path.join(self.sb.runtime, "luaos"), "w"):
            pass
        r, lines = self.run_app(STATUS_APP)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("(for the instance number) is not a folder of this user", r.stderr)
        self.assertIn("not reserved", r.stderr)
        self.assertRegex(status_of(lines)["hostname"], r"^luaos-\d+$")

    def test_option_errors_name_the_option(self):
        cases = [
            (["--net", "bogus"], "--net needs user[,hostfwd=...], tap:NAME, vde:PATH or none"),
            (["--net"], "--net needs"),
            (["--net", "user,hostfwd=tcp::0-:80"], "--net user: bad hostfwd"),
            (["--net", "user,hostfwd=sctp::80-:80"], "--net user: bad hostfwd"),
            (["--net", "user,hostfwd=tcp::80-:80,hostfwd=tcp::80-:81"], "forwarded twice"),
            (["--net", "user,restrict=yes"], "--net user: unknown option 'restrict=yes'"),
            (["--net", "tap:"], "--net tap: needs a TAP device name"),
            (["--net", "tap:" + "x" * 16], "--net tap: needs a TAP device name"),
            (["--net", "vde:"], "--net vde: needs the switch's socket path"),
            (["--ip", "10.0.2.20"], "--ip needs an address with a prefix"),
            (["--ip", "10.0.2.20/33"], "--ip needs"),
            (["--ip", "224.0.0.1/24"], "--ip needs"),
            (["--ip", "10.0.2"], "--ip needs"),
            (["--gw", "10.0.2.2"], "--gw needs --ip"),
            (["--dns", "10.0.2.3"], "--dns needs --ip"),
            (["--gw", "nope"], "--gw needs an IPv4 address"),
            (["--net", "vde:/tmp/x", "--ip", "192.0.2.5/24", "--gw", "10.0.0.1"],
             "--gw 10.0.0.1 is not on the network"),
            (["--mac", "02:00:00:00:00"], "--mac needs a MAC address"),
            (["--mac", "01:00:5e:00:00:01"], "unicast"),
            (["--hostname", "a.b"], "--hostname needs a host name"),
            (["--hostname", "-x"], "--hostname needs a host name"),
            (["--net", "none", "--ip", "10.0.2.20/24"], "--ip needs a network interface"),
            (["--ip", "192.0.2.10/24"], "--ip: --net user puts the device on 10.0.2.0/24"),
            (["--ip", "10.0.2.2/24"], "pick 10.0.2.4 .. 10.0.2.254"),
            (["--virtual-time", "--net", "user"], "--net user needs real time"),
            (["--virtual-time", "--net", "vde:/tmp/x"], "--net vde needs real time"),
        ]
        app = self.sb.write("one.lua", "print(1)")
        for args, msg in cases:
            r = netutil.run(LUAOS, "run", app, *args, env=self.sb.env())
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(msg, r.stderr, args)
            self.assertIn("luaos run:", r.stderr, args)
        r = netutil.run(LUAOS, "repl", "--net", "tap", env=self.sb.env())
        self.assertEqual(r.returncode, 2)
        self.assertIn("luaos repl: --net needs", r.stderr)

    def test_backends_that_cannot_start(self):
        app = self.sb.write("one.lua", "print(1)")
        cases = [
            (["--net", "tap:luaos-nope0"], "--net tap:luaos-nope0: no such network device "
                                           "(create it with 'tools/net-tap up luaos-nope0')"),
            (["--net", "tap:lo"], "--net tap:lo: lo is not a TAP device"),
            (["--net", "vde:" + self.sb.path("nosw")], "no switch there (start one: vde_switch"),
        ]
        for args, msg in cases:
            r = netutil.run(LUAOS, "run", app, *args, env=self.sb.env())
            self.assertEqual(r.returncode, 1, (args, r.stderr))
            self.assertIn(msg, r.stderr)
            self.assertNotIn("1", r.stdout)  # the app never ran

    def test_virtual_time_run_has_no_network(self):
        r, lines = self.run_app(STATUS_APP, "--virtual-time")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("wait_up\tnil\tno network interface (--net none)", lines)


class UserSockets(unittest.TestCase):
    """TCP and UDP through slirp: the device reaches the host at 10.0.2.2,
    and the host reaches the device through hostfwd= ports."""

    def setUp(self):
        netutil.skip_unless_sockets(LUAOS)
        self.sb = Sandbox("luaos-net-sock-")
        self.addCleanup(self.sb.remove)

    def run_app(self, text, *args, timeout=60):
        app = self.sb.write("app.lua", text)
        r = netutil.run(LUAOS, "run", app, *args, env=self.sb.env(), timeout=timeout)
        return r, r.stdout.splitlines()

    def http_server(self):
        port = free_port()
        srv = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                                "--directory", self.sb.dir, str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(srv.wait)
        self.addCleanup(srv.terminate)
        for _ in range(50):  # until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        return port

    # GET /NAME over raw TCP; the body read with `how` ("*a", or "chunks":
    # receive(4096) until "closed") and written to got.txt.
    FETCH_APP = LUA_PRELUDE + """
local socket = require("socket")
local port, name, how, out = ...
assert(net.wait_up(10000))
local s = assert(socket.connect("10.0.2.2", tonumber(port), {timeout = 5000}))
assert(s:send("GET /" .. name .. " HTTP/1.0\\r\\nHost: 10.0.2.2\\r\\n\\r\\n"))
local status = assert(s:receive("*l"))
repeat local h = assert(s:receive("*l")) until h == ""
local body
if how == "*a" then
  body = assert(s:receive("*a"))
else
  local parts = {}
  while true do
    local d, err, partial = s:receive(4096)
    if not d then
      assert(err == "closed", err)
      parts[#parts + 1] = partial
      break
    end
    parts[#parts + 1] = d
  end
  body = table.concat(parts)
end
s:close()
local f = io.open(out, "wb") f:write(body) f:close()
say("status", status)
say("bytes", #body)
"""

    def fetch(self, name, body, how):
        self.sb.write(name, body)
        port = self.http_server()
        app = self.sb.write("fetch.lua", self.FETCH_APP)
        out = self.sb.path("got.txt")
        r = netutil.run(LUAOS, "run", app, "--", str(port), name, how, out, env=self.sb.env(),
                        timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertIn("status\tHTTP/1.0 200 OK", lines)
        self.assertIn(f"bytes\t{len(body)}", lines)
        with open(out) as f:
            self.assertEqual(f.read(), body)

    def test_fetch_a_file_from_a_host_http_server(self):
        self.fetch("file.txt", "".join(f"line {i:06d}\n" for i in range(16000)), "*a")  # 192 KB

    def test_fetch_a_large_file_in_chunks(self):
        # 1.5 MB: many windows' worth through slirp's NAT
        self.fetch("large.txt", "".join(f"line {i:07d} of a large file\n" for i in range(60000)),
                   "chunks")

    def test_udp_to_a_host_echo(self):
        port = self.host_udp_echo()
        r, lines = self.run_app(self.UDP_APP % port)
        self.assertEqual(r.returncode, 0, r.stderr)
        for i in (1, 2, 3):
            self.assertIn(f"got\techo:datagram {i}\t10.0.2.2\t{port}", lines)

    def test_busy_tasks_do_not_starve_network_input(self):
        # a task that only yields keeps the run queue full: frames must
        # still come in (the loop polls without waiting while busy)
        port = self.host_udp_echo()
        app = self.UDP_APP.replace('assert(net.wait_up(10000))', """assert(net.wait_up(10000))
task.spawn(function() while true do task.yield() end end)""") + "os.exit(0)\n"
        r, lines = self.run_app(app % port)
        self.assertEqual(r.returncode, 0, r.stderr)
        for i in (1, 2, 3):
            self.assertIn(f"got\techo:datagram {i}\t10.0.2.2\t{port}", lines)

    def test_restrict_on_keeps_the_device_in(self):
        # restrict=on: no way out (the host's echo is not reached), only
        # slirp's own services and the forwards in
        port = self.host_udp_echo()
        r, lines = self.run_app(self.UDP_APP % port, "--net", "user,restrict=on")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(lines.count("got\tnil\ttimeout\tnil"), 3, lines)
        self.assertIn("ping\t1", lines)
        self.test_host_client_to_a_device_tcp_server(",restrict=on")

    UDP_APP = LUA_PRELUDE + """
local socket = require("socket")
assert(net.wait_up(10000))
say("ping", net.ping("10.0.2.2").received)
local u = assert(socket.udp())
for i = 1, 3 do
  assert(u:sendto("datagram " .. i, "10.0.2.2", %d))
  local data, host, port = u:receivefrom(1000)
  say("got", tostring(data), tostring(host), tostring(port))
end
u:close()
"""

    def host_udp_echo(self):
        echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(echo.close)
        echo.bind(("127.0.0.1", 0))
        port = echo.getsockname()[1]
        stop = threading.Event()

        def serve():
            echo.settimeout(0.2)
            while not stop.is_set():
                try:
                    data, peer = echo.recvfrom(2048)
                except socket.timeout:
                    continue
                echo.sendto(b"echo:" + data, peer)

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        self.addCleanup(t.join)
        self.addCleanup(stop.set)
        return port

    def test_host_client_to_a_device_tcp_server(self, net_extra=""):
        port = free_port()
        app = self.sb.write("srv.lua", LUA_PRELUDE + """
local socket = require("socket")
assert(net.wait_up(10000))
local server = assert(socket.bind("0.0.0.0", 80))
say("listening")
for _ = 1, 2 do
  local c = assert(server:accept(10000))
  local line = assert(c:receive("*l"))
  assert(c:send("echo:" .. line .. "\\n"))
  c:close()
end
server:close()
""")
        dev = Device(LUAOS, app, ["--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:80{net_extra}"],
                     env=self.sb.env())
        self.addCleanup(dev.kill)
        netutil.expect_line(self, dev, "listening")
        for word in ("hello", "again"):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(word.encode() + b"\n")
                got = b""
                while not got.endswith(b"\n"):
                    chunk = s.recv(100)
                    if not chunk:
                        break
                    got += chunk
                self.assertEqual(got, f"echo:{word}\n".encode())
        rc, err = dev.finish()
        self.assertEqual(rc, 0, err)

    def test_host_udp_to_a_device_through_hostfwd(self):
        port = free_port(socket.SOCK_DGRAM)
        app = self.sb.write("udp.lua", LUA_PRELUDE + """
local socket = require("socket")
assert(net.wait_up(10000))
local u = assert(socket.udp())
assert(u:setsockname("0.0.0.0", 53))
say("bound")
local data, host, port = u:receivefrom(10000)
assert(data, host)
assert(u:sendto("re:" .. data, host, port))
task.sleep(200)
""")
        dev = Device(LUAOS, app, ["--net", f"user,hostfwd=udp:127.0.0.1:{port}-:53"],
                     env=self.sb.env())
        self.addCleanup(dev.kill)
        netutil.expect_line(self, dev, "bound")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(b"question", ("127.0.0.1", port))
            data, _ = s.recvfrom(100)
        self.assertEqual(data, b"re:question")
        rc, err = dev.finish()
        self.assertEqual(rc, 0, err)


class TestCommand(unittest.TestCase):
    """luaos test: virtual time and no interface by default; --net or a
    spec's net= directive: real time and the interface."""

    NONE_SPEC = """describe("default", function()
  it("has loopback only, on virtual time", function()
    local net = require("net")
    assert.is_false(net.status().up)
    local ok, err = net.wait_up(100)
    assert.is_nil(ok)
    assert.equal("no network interface (--net none)", err)
    task.sleep(30000) -- virtual: no wall time
  end)
end)
"""
    USER_SPEC = """describe("user", function()
  it("gets an address from slirp, on real time", function()
    local net = require("net")
    assert.is_true(net.wait_up(10000))
    assert.equal("10.0.2.15", net.status().ip)
    assert.equal(1, net.ping("10.0.2.2").received)
    task.sleep(1500) -- real: 1.5 s of wall time
  end)
end)
"""

    def setUp(self):
        self.sb = Sandbox("luaos-net-test-")
        self.addCleanup(self.sb.remove)

    def luaos_test(self, spec, *args):
        t0 = time.time()
        r = netutil.run(LUAOS, "test", *args, spec, env=self.sb.env())
        return r, time.time() - t0

    def test_default_virtual_time_and_no_netif(self):
        spec = self.sb.write("none_spec.lua", self.NONE_SPEC)
        r, took = self.luaos_test(spec)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertLess(took, 20)

    def test_net_option_means_real_time(self):
        spec = self.sb.write("user_spec.lua", self.USER_SPEC)
        r, took = self.luaos_test(spec, "--net", "user")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertGreaterEqual(took, 1.4)

    def test_spec_directive(self):
        spec = self.sb.write("user_spec.lua", "-- luaos: net=user\n" + self.USER_SPEC)
        r, took = self.luaos_test(spec)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertGreaterEqual(took, 1.4)
        # an explicit --virtual-time cannot hold for it
        r, _ = self.luaos_test(spec, "--virtual-time")
        self.assertEqual(r.returncode, 1)
        self.assertIn(":1: --net user needs real time", r.stderr)
        # net=none in a directive: back to loopback
        spec = self.sb.write("none_spec.lua", "-- luaos: net=none\n" + self.NONE_SPEC)
        r, _ = self.luaos_test(spec)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_parallel_specs_are_distinct_devices(self):
        specs = []
        for name in ("a", "b"):
            out = self.sb.path(name + ".id")
            specs.append(self.sb.write(name + "_spec.lua", """describe("%s", function()
  it("is a device of its own", function()
    local net = require("net")
    assert.is_true(net.wait_up(10000))
    local s = net.status()
    local f = io.open([[%s]], "w") f:write(s.hostname, " ", s.mac) f:close()
    task.sleep(1500) -- both run at once
  end)
end)
""" % (name, out)))
        r = netutil.run(LUAOS, "test", "--net", "user", "-j", "2", *specs, env=self.sb.env())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        ids = []
        for name in ("a", "b"):
            with open(self.sb.path(name + ".id")) as f:
                ids.append(f.read().split())
        self.assertEqual(sorted(i[0] for i in ids), ["luaos-0", "luaos-1"])
        self.assertNotEqual(ids[0][1], ids[1][1])

    def test_bad_directive(self):
        spec = self.sb.write("bad_spec.lua", "-- luaos: net=wifi\n" + self.NONE_SPEC)
        r, _ = self.luaos_test(spec)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad_spec.lua:1: net=: --net needs user[,hostfwd=...]", r.stderr)
        spec = self.sb.write("typo_spec.lua", "-- luaos: nett=user\n" + self.NONE_SPEC)
        r, _ = self.luaos_test(spec)
        self.assertIn("unknown directive 'nett'; did you mean 'net'?", r.stderr)

    def test_virtual_time_with_net_refused(self):
        spec = self.sb.write("none_spec.lua", self.NONE_SPEC)
        r, _ = self.luaos_test(spec, "--virtual-time", "--net", "user")
        self.assertEqual(r.returncode, 2)
        self.assertIn("luaos test: --net user needs real time", r.stderr)


class SlirpInNetns(unittest.TestCase):
    """slirp's DNS (10.0.2.3) forwards to the host's resolver: here a
    dnsmasq on lo of a namespace whose resolv.conf points at it."""

    def setUp(self):
        netutil.skip_unless_root("the DNS test")
        netutil.skip_unless_program("dnsmasq")
        self.sb = Sandbox("luaos-net-dns-")
        self.addCleanup(self.sb.remove)
        self.ns = Netns(resolv="nameserver 127.0.0.1\n")
        self.addCleanup(self.ns.remove)
        netutil.dnsmasq(self.ns, self.sb, "--listen-address=127.0.0.1", "--bind-interfaces",
                        "--no-resolv", "--address=/device-test.example/192.0.2.77")

    def test_resolve_through_slirp(self):
        app = self.sb.write("dns.lua", LUA_PRELUDE + """
assert(net.wait_up(10000))
say("dns", net.status().dns)
say("found", net.resolve("device-test.example"))
say("missing", net.resolve("nothing-here.example"))
local r = net.ping("device-test.example", {timeout = 300})
say("ping-by-name", r and r.host)
""")
        r = netutil.run(LUAOS, "run", app, "--net", "user", env=self.sb.env(), netns=self.ns.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertIn("dns\t10.0.2.3", lines)
        self.assertIn("found\t192.0.2.77", lines)
        self.assertIn("missing\tnil\thost not found", lines)
        self.assertIn("ping-by-name\t192.0.2.77", lines)

    def test_ping_nobody_times_out(self):
        # In the namespace: slirp turns a ping to another address into a
        # host ping, which has nowhere to go from here.
        app = self.sb.write("ping.lua", LUA_PRELUDE + """
assert(net.wait_up(10000))
local r = net.ping("10.0.2.99", {count = 2, timeout = 300})
say("ping", r.sent, r.received)
""")
        r = netutil.run(LUAOS, "run", app, env=self.sb.env(), netns=self.ns.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ping\t2\t0", r.stdout.splitlines())

    def test_no_multicast_leaves_through_slirp(self):
        # mDNS announcements (the device has a hostname) stay inside. The
        # namespace routes multicast over lo, where a listener joined to
        # mDNS's group hears everything sent to it; a control packet sent
        # by the test at the end shows that it does.
        self.ns.exec("ip", "route", "add", "224.0.0.0/4", "dev", "lo", check=True)
        app = self.sb.write("idle.lua", LUA_PRELUDE + """
assert(net.wait_up(10000))
task.sleep(1500)
""")
        listener = self.ns.start(
            sys.executable, "-c",
            "import socket, struct\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            "s.bind(('', 5353))\n"
            "s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,\n"
            "             struct.pack('4s4s', socket.inet_aton('224.0.0.251'),\n"
            "                         socket.inet_aton('127.0.0.1')))\n"
            "print('ready', flush=True)\n"
            "while True:\n"
            "    data = s.recv(1500)\n"
            "    print(repr(data), flush=True)\n"
            "    if data == b'control':\n"
            "        break\n",
            stdout=subprocess.PIPE, text=True)
        self.assertEqual(listener.stdout.readline().strip(), "ready")
        r = netutil.run(LUAOS, "run", app, env=self.sb.env(), netns=self.ns.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.ns.exec(sys.executable, "-c",
                     "import socket\n"
                     "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                     "s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,\n"
                     "             socket.inet_aton('127.0.0.1'))\n"
                     "s.sendto(b'control', ('224.0.0.251', 5353))\n", check=True)
        out, _ = listener.communicate(timeout=10)
        self.assertEqual(out.split(), ["b'control'"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
