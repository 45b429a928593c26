#!/usr/bin/env python3
"""--net tap:NAME and tools/net-tap, inside a network namespace the test
makes and removes (root, /dev/net/tun): the TAP on 192.0.2.0/24, DHCP from
a dnsmasq on its host side, ping host -> device and device -> host; the
script's NAT rules and their removal; a busy or foreign TAP refused with a
reason."""
import os
import pwd
import shutil
import stat
import subprocess
import sys
import time
import unittest

import netutil
from netutil import LUA_PRELUDE, NET_TAP, Device, Netns, Sandbox

LUAOS = netutil.luaos_path(sys.argv)
TAP = "ltap0"

DEVICE_APP = LUA_PRELUDE + """
local stop = ...
local ok, err = net.wait_up(15000)
local s = net.status()
say("up", tostring(ok), err, s.ip, s.gw, s.hostname)
local r = net.ping("192.0.2.1", {count = 3, timeout = 2000})
say("ping", r and r.received)
wait_file(stop, 30)
"""


class Tap(unittest.TestCase):
    def setUp(self):
        netutil.skip_unless_root("the TAP test")
        if not os.path.exists("/dev/net/tun"):
            raise unittest.SkipTest("no /dev/net/tun (modprobe tun)")
        self.sb = Sandbox("luaos-net-tap-")
        self.addCleanup(self.sb.remove)
        self.ns = Netns()
        self.addCleanup(self.ns.remove)
        # net-tap's record of what it set up: per test, not in /run
        self.env = self.sb.env(LUAOS_NET_TAP_STATE=self.sb.path("net-tap"))

    def net_tap(self, *args, check=True):
        r = self.ns.exec(NET_TAP, *args, capture_output=True, text=True, env=self.env)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def tap_up(self, *args):
        self.net_tap("up", TAP, "--addr", "192.0.2.1/24", *args)
        self.addCleanup(self.net_tap, "down", TAP, check=False)

    def device(self, *args):
        stop = self.sb.path("stop")
        app = self.sb.write("dev.lua", DEVICE_APP)
        d = Device(LUAOS, app, ["--net", "tap:" + TAP, *args], app_args=[stop], env=self.env,
                   netns=self.ns.name)
        self.addCleanup(d.kill)
        return d, stop

    def test_dhcp_and_ping_both_ways(self):
        netutil.skip_unless_program("dnsmasq")
        self.tap_up()
        netutil.dnsmasq(self.ns, self.sb, "--interface=" + TAP, "--bind-interfaces", "--port=0",
                        "--dhcp-range=192.0.2.50,192.0.2.99,255.255.255.0,1h",
                        "--dhcp-option=option:router,192.0.2.1")
        d, stop = self.device("--hostname", "tapdev")
        fields = netutil.expect_line(self, d, "up").split("\t")
        self.assertEqual(fields[1], "true", fields)
        ip = fields[3]
        self.assertRegex(ip, r"^192\.0\.2\.(5\d|[6-9]\d)$")
        self.assertEqual(fields[4:6], ["192.0.2.1", "tapdev"])
        self.assertEqual(netutil.expect_line(self, d, "ping"), "ping\t3")
        # host -> device, while it runs
        r = self.ns.exec("ping", "-c", "3", "-W", "2", ip, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("3 received", r.stdout)
        # the lease carries the device's MAC and its host name
        with open(self.sb.path("dnsmasq.leases")) as f:
            lease = f.read()
        self.assertIn(ip, lease)
        self.assertIn("tapdev", lease)
        open(stop, "w").close()
        rc, err = d.finish()
        self.assertEqual(rc, 0, err)

    def test_static_address(self):
        self.tap_up()
        d, stop = self.device("--ip", "192.0.2.10/24", "--gw", "192.0.2.1")
        fields = netutil.expect_line(self, d, "up").split("\t")
        self.assertEqual(fields[1:5], ["true", "nil", "192.0.2.10", "192.0.2.1"])
        self.assertEqual(netutil.expect_line(self, d, "ping"), "ping\t3")
        r = self.ns.exec("ping", "-c", "2", "-W", "2", "192.0.2.10", capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout)
        open(stop, "w").close()
        self.assertEqual(d.finish()[0], 0)

    def test_host_tcp_clients_against_a_device_echo(self):
        netutil.skip_unless_sockets(LUAOS)
        self.tap_up()
        app = self.sb.write("echo.lua", LUA_PRELUDE + """
local socket = require("socket")
local stop = ...
assert(net.wait_up(5000))
local server = assert(socket.bind("0.0.0.0", 7000, {backlog = 32}))
local served, ended = 0, {}
task.spawn(function()
  while true do
    local c = server:accept()
    if not c then break end
    served = served + 1
    task.spawn(function()
      while true do
        local data, err, partial = c:receive(1024)
        data = data or partial
        if data and #data > 0 then c:send(data) end
        if err then ended[err] = (ended[err] or 0) + 1 break end
      end
      c:close()
    end)
  end
end)
say("serving")
wait_file(stop, 60)
local kinds = {}
for k, v in pairs(ended) do kinds[#kinds + 1] = k .. "=" .. v end
table.sort(kinds)
say("served", served, table.concat(kinds, ","))
server:close()
""")
        stop = self.sb.path("stop")
        d = Device(LUAOS, app, ["--net", "tap:" + TAP, "--ip", "192.0.2.10/24"],
                   app_args=[stop], env=self.env, netns=self.ns.name)
        self.addCleanup(d.kill)
        netutil.expect_line(self, d, "serving")
        client = (
            "import socket, struct, threading\n"
            "ADDR = ('192.0.2.10', 7000)\n"
            "errors = []\n"
            "def echo(i):\n"
            "    try:\n"
            "        with socket.create_connection(ADDR, timeout=10) as s:\n"
            "            msg = (b'%04d' % i) * 2000\n"  # 8 KB each
            "            s.sendall(msg)\n"
            "            s.shutdown(socket.SHUT_WR)\n"  # half-close: the echo goes on
            "            got = b''\n"
            "            while True:\n"
            "                chunk = s.recv(65536)\n"
            "                if not chunk: break\n"
            "                got += chunk\n"
            "            if got != msg: errors.append((i, len(got)))\n"
            "    except Exception as e:\n"
            "        errors.append((i, repr(e)))\n"
            "ts = [threading.Thread(target=echo, args=(i,)) for i in range(40)]\n"
            "[t.start() for t in ts]\n"
            "[t.join() for t in ts]\n"
            "# a peer that resets: SO_LINGER 0, then close\n"
            "s = socket.create_connection(ADDR, timeout=10)\n"
            "s.sendall(b'x' * 1024)\n"  # one receive(1024)'s worth, echoed
            "got = b''\n"
            "while len(got) < 1024: got += s.recv(1024)\n"
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))\n"
            "s.close()\n"
            "print('errors', errors)\n")
        r = self.ns.exec(sys.executable, "-c", client, capture_output=True, text=True,
                         timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "errors []")
        time.sleep(0.5)
        open(stop, "w").close()
        line = netutil.expect_line(self, d, "served")
        fields = line.split("\t")
        self.assertEqual(fields[1], "41")
        self.assertIn("closed=40", fields[2])  # the half-closed ones
        self.assertEqual(sum(int(k.split("=")[1]) for k in fields[2].split(",")), 41, line)
        rc, err = d.finish()
        self.assertEqual(rc, 0, err)

    def test_busy_tap_is_refused(self):
        self.tap_up()
        d, stop = self.device("--ip", "192.0.2.10/24")
        netutil.expect_line(self, d, "up")
        one = self.sb.write("one.lua", "print(1)")
        r = netutil.run(LUAOS, "run", one, "--net", "tap:" + TAP, env=self.env,
                        netns=self.ns.name)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"--net tap:{TAP}: cannot attach: Device or resource busy "
                      "(another process uses it)", r.stderr)
        open(stop, "w").close()
        self.assertEqual(d.finish()[0], 0)

    def test_tap_deleted_while_attached(self):
        self.tap_up()
        app = self.sb.write("gone.lua", LUA_PRELUDE + """
say("ready", tostring(net.wait_up(5000)))
for _ = 1, 100 do
  if not net.status().link then break end
  task.sleep(100)
end
say("link", tostring(net.status().link))
""")
        d = Device(LUAOS, app, ["--net", "tap:" + TAP, "--ip", "192.0.2.10/24"], env=self.env,
                   netns=self.ns.name)
        self.addCleanup(d.kill)
        self.assertEqual(netutil.expect_line(self, d, "ready"), "ready\ttrue")
        self.ns.exec("ip", "link", "del", TAP, check=True)
        self.assertEqual(netutil.expect_line(self, d, "link"), "link\tfalse")
        rc, err = d.finish()
        self.assertEqual(rc, 0, err)
        self.assertIn(f"--net tap:{TAP}: the TAP device went away", err)

    def test_missing_tap(self):
        one = self.sb.write("one.lua", "print(1)")
        r = netutil.run(LUAOS, "run", one, "--net", "tap:" + TAP, env=self.env,
                        netns=self.ns.name)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"no such network device (create it with 'tools/net-tap up {TAP}')",
                      r.stderr)

    def test_rootless_simulator(self):
        # The point of a persistent TAP owned by the user: the simulator
        # needs no root. Run as 'nobody'. Where /dev/net/tun is not open to
        # other users (0600 in some containers; 0666 on most distributions),
        # a 0666 node of the same device is bound over it in a private mount
        # namespace: the machine's own node is left alone.
        netutil.skip_unless_program("setpriv", "unshare")
        nobody = pwd.getpwnam("nobody")
        self.tap_up("--user", "nobody")
        owner = self.ns.exec("cat", f"/sys/class/net/{TAP}/owner", capture_output=True,
                             text=True).stdout.strip()  # the namespace's /sys
        self.assertEqual(owner, str(nobody.pw_uid))
        mode = os.stat("/dev/net/tun").st_mode
        prep = ""
        if not mode & stat.S_IROTH or not mode & stat.S_IWOTH:
            node = self.sb.path("tun")
            os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(10, 200))
            os.chmod(node, 0o666)
            prep = f"mount --bind {node} /dev/net/tun && "
        app = self.sb.write("nobody.lua", LUA_PRELUDE + """
say("up", tostring(net.wait_up(5000)), net.status().ip)
""")
        os.chmod(self.sb.dir, 0o755)
        os.chmod(app, 0o644)
        os.chown(self.sb.runtime, nobody.pw_uid, nobody.pw_gid)  # its instance locks

        def as_nobody():
            cmd = (f"{prep}exec setpriv --reuid {nobody.pw_uid} --regid {nobody.pw_gid} "
                   f"--clear-groups env HOME=/ {LUAOS} run {app} --net tap:{TAP} "
                   "--ip 192.0.2.10/24")
            return self.ns.exec("unshare", "-m", "sh", "-c", cmd, capture_output=True, text=True,
                                env=self.env, timeout=60)

        r = as_nobody()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("up\ttrue\t192.0.2.10", r.stdout)
        self.assertEqual(r.stderr, "")  # its instance lock was taken too
        # a TAP of another user is refused with the reason
        self.net_tap("down", TAP)
        self.net_tap("up", TAP, "--user", "root")
        r = as_nobody()
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"--net tap:{TAP}: cannot attach: Operation not permitted (the device "
                      "belongs to another user", r.stderr)


class NetTapScript(unittest.TestCase):
    def setUp(self):
        netutil.skip_unless_root("tools/net-tap")
        if not os.path.exists("/dev/net/tun"):
            raise unittest.SkipTest("no /dev/net/tun (modprobe tun)")
        self.sb = Sandbox("luaos-net-tap-script-")
        self.addCleanup(self.sb.remove)
        self.ns = Netns()
        self.addCleanup(self.ns.remove)
        self.env = self.sb.env(LUAOS_NET_TAP_STATE=self.sb.path("net-tap"))

    def sh(self, *cmd):
        return self.ns.exec(*cmd, capture_output=True, text=True, env=self.env)

    def test_up_nat_down(self):
        if not shutil.which("iptables"):
            raise unittest.SkipTest("needs iptables")
        r = self.sh(NET_TAP, "up", TAP, "--addr", "192.0.2.1/24", "--nat")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.addCleanup(self.sh, NET_TAP, "down", TAP)
        self.assertIn("192.0.2.1/24", self.sh("ip", "addr", "show", TAP).stdout)
        self.assertTrue(self.sh("test", "-e", f"/sys/class/net/{TAP}/tun_flags").returncode == 0)
        self.assertEqual(self.sh("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip(), "1")
        nat = self.sh("iptables", "-t", "nat", "-S").stdout
        self.assertIn(f"-A POSTROUTING -s 192.0.2.0/24 ! -o {TAP}", nat)
        self.assertIn("MASQUERADE", nat)
        # twice: refused, the first is left alone
        r = self.sh(NET_TAP, "up", TAP)
        self.assertEqual(r.returncode, 1)
        self.assertIn("exists already", r.stderr)
        r = self.sh(NET_TAP, "down", TAP)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotEqual(self.sh("ip", "link", "show", TAP).returncode, 0)
        self.assertNotIn("luaos-net-tap", self.sh("iptables", "-t", "nat", "-S").stdout)
        self.assertNotIn("luaos-net-tap", self.sh("iptables", "-S").stdout)
        self.assertEqual(self.sh("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip(), "0")

    def test_errors(self):
        cases = [
            ([NET_TAP], 2, "tools/net-tap up NAME [--addr"),
            ([NET_TAP, "up", TAP, "--addr", "192.0.2.1"], 1, "--addr needs ADDR/PREFIX"),
            ([NET_TAP, "up", TAP, "--addr", "300.0.2.1/24"], 1, "--addr needs ADDR/PREFIX"),
            ([NET_TAP, "up", TAP, "--user", "no-such-user-x"], 1, "--user: no user"),
            ([NET_TAP, "up", TAP, "--bogus"], 1, "unknown option '--bogus'"),
            ([NET_TAP, "up", "bad/name"], 1, "a device name is"),
            ([NET_TAP, "down", TAP], 1, "no ltap0 here"),
            ([NET_TAP, "down", "lo"], 1, "lo is not a TAP device"),
        ]
        for cmd, rc, msg in cases:
            r = self.sh(*cmd)
            self.assertEqual(r.returncode, rc, (cmd, r.stderr))
            self.assertIn(msg, r.stderr, cmd)
        self.assertEqual(self.sh("ip", "link", "show", "lo").returncode, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
