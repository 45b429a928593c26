"""Helpers of the simulator's network tests: device apps, network namespaces
and peers (dnsmasq, vde_switch) that the tests start and always remove.
Traffic stays on this machine: loopback, slirp's 10.0.2.0/24 inside the
simulator, or 192.0.2.0/24 inside namespaces made here."""
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
NET_TAP = os.path.join(SOURCE, "tools", "net-tap")


def luaos_path(argv):
    """The simulator: argv[1] if given (ctest passes it), else the build tree's."""
    if len(argv) > 1:
        return os.path.abspath(argv.pop(1))
    return os.path.join(SOURCE, "build", "sim", "luaos")


class Sandbox:
    """A temp folder for apps and flag files, and a private instance-lock
    folder (XDG_RUNTIME_DIR) so instance numbers start at 0."""

    def __init__(self, prefix):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.runtime = os.path.join(self.dir, "runtime")
        os.mkdir(self.runtime, 0o700)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def env(self, **extra):
        env = dict(os.environ)
        env["XDG_RUNTIME_DIR"] = self.runtime
        env.update(extra)
        return env

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# A device app's helpers: `wait_file(path, seconds)` keeps the device alive
# (answering pings) until the test creates `path`, bounded; `say` prints a
# line at once; `line_echo(port)` serves a TCP line echo.
LUA_PRELUDE = """
local net = require("net")
local function wait_file(path, seconds)
  for _ = 1, seconds * 10 do
    local f = io.open(path)
    if f then f:close() return true end
    task.sleep(100)
  end
  return false
end
local function say(...)
  print(...)
  io.stdout:flush()
end
-- A TCP line echo on `port`, one task per client (the socket module).
local function line_echo(port, opts, timeout_ms)
  local server = assert(require("socket").bind("0.0.0.0", port, opts))
  task.spawn(function()
    while true do
      local c = server:accept()
      if not c then break end
      if timeout_ms then c:settimeout(timeout_ms) end
      task.spawn(function()
        while true do
          local line = c:receive("*l")
          if not line then break end
          c:send(line .. "\\n")
        end
        c:close()
      end)
    end
  end)
  return server
end
"""


class Device:
    """One `luaos run` in the background; lines it printed in `lines`."""

    def __init__(self, luaos, app, args=(), app_args=(), env=None, netns=None):
        cmd = [luaos, "run", app, *args]
        if app_args:
            cmd += ["--", *app_args]
        if netns:
            cmd = ["ip", "netns", "exec", netns, *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.lines = []
        self.buf = b""

    def wait_line(self, prefix, timeout=20):
        """The first line starting with prefix (None when the device ended
        or the time ran out)."""
        end = time.time() + timeout
        while True:
            for line in self.lines:
                if line.startswith(prefix):
                    return line
            left = end - time.time()
            if left <= 0:
                return None
            r, _, _ = select.select([self.proc.stdout], [], [], min(left, 0.2))
            if not r:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return None  # the device ended
            self.buf += chunk
            *done, self.buf = self.buf.split(b"\n")
            self.lines += [d.decode(errors="replace") for d in done]

    def finish(self, timeout=20):
        """Exit status and stderr once it ends (killed after timeout)."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        self.buf += out
        self.lines += [d.decode(errors="replace") for d in self.buf.split(b"\n") if d]
        self.buf = b""
        return self.proc.returncode, err.decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


def expect_line(test, dev, prefix, timeout=20):
    """dev's line starting with prefix, or the test fails with its stderr."""
    line = dev.wait_line(prefix, timeout)
    if line is None:
        rc, err = dev.finish(1)
        test.fail(f"no '{prefix}' line from the device (status {rc}): {err}")
    return line


def run(luaos, *args, env=None, netns=None, timeout=60):
    cmd = [luaos, *args]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


_sockets = {}


def skip_unless_sockets(luaos):
    """The socket module (TCP/UDP) is being written in parallel: tests that
    need it skip until it is in the build."""
    if luaos not in _sockets:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write('local s = require("socket") print(type(s.connect), type(s.udp))')
        try:
            r = subprocess.run([luaos, "run", f.name, "--net", "none"], capture_output=True,
                               text=True, timeout=30)
        finally:
            os.unlink(f.name)
        _sockets[luaos] = r.stdout.split() == ["function", "function"]
    if not _sockets[luaos]:
        raise unittest.SkipTest("no socket module in this build yet (socket.connect, socket.udp)")


def skip_unless_root(what):
    if os.geteuid() != 0:
        raise unittest.SkipTest(f"{what} needs root (network namespaces); CI runs as root")
    if not shutil.which("ip"):
        raise unittest.SkipTest(f"{what} needs iproute2's ip")
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True)
    if probe.returncode != 0:
        raise unittest.SkipTest(f"{what}: ip netns does not work here: {probe.stderr.strip()}")


def skip_unless_program(*names):
    for n in names:
        if not shutil.which(n):
            raise unittest.SkipTest(f"needs {n} (tools/setup.sh installs it)")


class Netns:
    """A network namespace with lo up, and optionally its own resolv.conf
    (/etc/netns/NAME/resolv.conf, which `ip netns exec` puts in place)."""

    count = 0

    def __init__(self, resolv=None):
        Netns.count += 1
        self.name = f"luaos-t{os.getpid()}-{Netns.count}"
        self.etc = None
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)
        if resolv is not None:
            self.etc = os.path.join("/etc/netns", self.name)
            os.makedirs(self.etc, exist_ok=True)
            with open(os.path.join(self.etc, "resolv.conf"), "w") as f:
                f.write(resolv)
        self.procs = []

    def exec(self, *cmd, **kw):
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], **kw)

    def start(self, *cmd, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", self.name, *cmd], **kw)
        self.procs.append(p)
        return p

    def remove(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        if self.etc:
            shutil.rmtree(self.etc, ignore_errors=True)


def dnsmasq(ns, sandbox, *args):
    """dnsmasq in the foreground in `ns`, no config file, no /etc/hosts."""
    p = ns.start("dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-hosts",
                 "--user=root", "--pid-file=" + sandbox.path("dnsmasq.pid"),
                 "--dhcp-leasefile=" + sandbox.path("dnsmasq.leases"), *args,
                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    if p.poll() is not None:
        raise AssertionError("dnsmasq did not start: " + p.stderr.read())
    return p
