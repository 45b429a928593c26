"""HTTP against real peers (docs/http.md): the device's client against a
Python HTTP/1.1 server on the host (reached through slirp at 10.0.2.2:
keep-alive, chunked both ways, redirects, a 10 MB download under a 2 MB
Lua heap cap, hostile servers), and the device's server
(examples/http_api.lua) driven by curl, ab and raw sockets from the host,
through a slirp hostfwd port and, as root, over a TAP in a namespace."""
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import netutil
from netutil import LUA_PRELUDE, NET_TAP, Device, Netns, Sandbox

LUAOS = netutil.luaos_path(sys.argv)
EXAMPLE = os.path.join(netutil.SOURCE, "examples", "http_api.lua")
BIG = 10 * 1024 * 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pattern(offset, n):
    """Bytes offset..offset+n of the download: byte i is i % 251."""
    period = bytes(range(251))
    start = offset % 251
    reps = (start + n) // 251 + 1
    return (period * reps)[start:start + n]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.server.conns.append(self.client_address)

    def send_body(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        p = self.path
        if p == "/hello":
            self.send_body(b"hello")
        elif p == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(50):
                piece = b"piece %d;" % i
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif p.startswith("/redirect/"):
            n = int(p.rsplit("/", 1)[1])
            if n == 0:
                self.send_body(b"landed")
            else:
                self.send_response(302)
                self.send_header("Location", "/redirect/%d" % (n - 1))
                self.send_header("Content-Length", "0")
                self.end_headers()
        elif p == "/to-http":
            self.send_response(302)
            self.send_header("Location", "http://10.0.2.2:%d/hello" % self.server.server_address[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif p == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            step = 1 << 16
            try:
                for off in range(0, BIG, step):
                    self.wfile.write(pattern(off, min(step, BIG - off)))
            except (ConnectionResetError, BrokenPipeError):
                pass  # a client that stops at its max_body
        else:
            self.send_error(404)

    def do_POST(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
            how = "chunked"
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            how = "length"
        self.send_body(("%s %d %s" % (how, len(body), hashlib.sha256(body).hexdigest())).encode())


class HostServer:
    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.conns = []
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


CLIENT_APP = LUA_PRELUDE + """
local http = require("http")
local port = ...
local base = "http://10.0.2.2:" .. port
assert(net.wait_up(10000))
local function show(name, r, err)
  if r then say(name, r.status, r.body) else say(name, "error", err) end
end
for i = 1, 5 do show("hello" .. i, http.get(base .. "/hello")) end
show("chunked", http.get(base .. "/chunked"))
show("redirect3", http.get(base .. "/redirect/3"))
show("redirect9", http.get(base .. "/redirect/9"))
-- a chunked upload from a source: 300 pieces of 1000 bytes
local i = 0
show("upload", http.request{method = "POST", url = base .. "/upload", source = function()
  i = i + 1
  if i <= 300 then return string.rep(string.char(65 + i % 26), 1000) end
end})
show("upload_len", http.request{method = "POST", url = base .. "/upload", body = string.rep("z", 100000)})
-- 10 MB streamed into a sink that checks every byte (byte i is i % 251)
local period = {}
for b = 0, 250 do period[#period + 1] = string.char(b) end
period = table.concat(period)
local ref = period:rep(http.CHUNK // 251 + 3)
local got, bad, before, most = 0, 0, collectgarbage("count"), 0
local t0 = sys.uptime()
local r, err = http.request{url = base .. "/big", timeout = 120000, sink = function(chunk)
  if chunk then
    local o = got % 251
    if chunk ~= ref:sub(o + 1, o + #chunk) then bad = bad + 1 end
    got = got + #chunk
    most = math.max(most, collectgarbage("count"))
  end
  return true
end}
say("big", r and r.status, err, got, bad, math.floor((most - before) * 1024),
    math.floor(sys.uptime() - t0))
-- without a sink, a 10 MB body is refused past max_body (1 MB by default)
show("big_nosink", http.get(base .. "/big"))
say("done")
"""


class ClientAgainstPythonServer(unittest.TestCase):
    def setUp(self):
        netutil.skip_unless_sockets(LUAOS)
        self.sb = Sandbox("luaos-http-client-")
        self.addCleanup(self.sb.remove)
        self.server = HostServer()
        self.addCleanup(self.server.close)

    def test_python_server(self):
        app = self.sb.write("client.lua", CLIENT_APP)
        # The Lua heap is capped at 2 MB: the 10 MB download must stream.
        d = Device(LUAOS, app, ["--net", "user", "--mem-limit", "2M"],
                   app_args=[str(self.server.port)], env=self.sb.env())
        self.addCleanup(d.kill)
        netutil.expect_line(self, d, "done", timeout=180)
        rc, err = d.finish()
        self.assertEqual(rc, 0, err)
        lines = {ln.split("\t")[0]: ln.split("\t")[1:] for ln in d.lines}
        for i in range(1, 6):
            self.assertEqual(lines["hello%d" % i], ["200", "hello"])
        # five requests, one connection (keep-alive reuse)
        self.assertEqual(len(self.server.httpd.conns), 1, self.server.httpd.conns)
        self.assertEqual(lines["chunked"], ["200", "".join("piece %d;" % i for i in range(50))])
        self.assertEqual(lines["redirect3"], ["200", "landed"])
        self.assertEqual(lines["redirect9"], ["error", "too many redirects (more than 5)"])
        up = b"".join(bytes([65 + i % 26]) * 1000 for i in range(1, 301))
        self.assertEqual(lines["upload"], ["200", "chunked %d %s" % (len(up), hashlib.sha256(up).hexdigest())])
        self.assertEqual(lines["upload_len"],
                         ["200", "length 100000 " + hashlib.sha256(b"z" * 100000).hexdigest()])
        status, err_, got, bad, grew, ms = lines["big"]
        self.assertEqual((status, err_, got, bad), ("200", "nil", str(BIG), "0"), lines["big"])
        self.assertLess(int(grew), 1024 * 1024, "Lua heap grew by %s bytes for a 10 MB download" % grew)
        print("\n10 MB download: %s ms, Lua heap grew by at most %s bytes" % (ms, grew), file=sys.stderr)
        self.assertEqual(lines["big_nosink"], ["error", "response body too large (max_body 1048576)"])


HOSTILE_APP = LUA_PRELUDE + """
local http = require("http")
local port = ...
assert(net.wait_up(10000))
for _, path in ipairs({"/garbage", "/reset", "/stall", "/endless", "/badchunk", "/ok"}) do
  local r, err = http.request{url = "http://10.0.2.2:" .. port .. path, timeout = 3000}
  say(path, r and r.status or "error", r and r.body or err)
end
say("done")
"""


class ClientAgainstHostileServer(unittest.TestCase):
    """A raw kernel TCP server that answers each path badly."""

    def setUp(self):
        netutil.skip_unless_sockets(LUAOS)
        self.sb = Sandbox("luaos-http-hostile-")
        self.addCleanup(self.sb.remove)
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.addCleanup(self.lsock.close)
        self.stop = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stop:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(c,), daemon=True).start()

    def answer(self, c):
        with c:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = c.recv(4096)
                if not chunk:
                    return
                data += chunk
            path = data.split(b" ")[1]
            if path == b"/garbage":
                c.sendall(b"\x00\xff garbage \r\n\r\n")
            elif path == b"/reset":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
                time.sleep(0.2)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif path == b"/stall":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
                time.sleep(5)
            elif path == b"/endless":
                try:
                    c.sendall(b"HTTP/1.1 200 OK\r\nX-Endless: ")
                    for _ in range(100):
                        c.sendall(b"a" * 1000)
                except OSError:
                    pass
            elif path == b"/badchunk":
                c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000\r\n")
            else:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    def test_hostile_server(self):
        app = self.sb.write("client.lua", HOSTILE_APP)
        d = Device(LUAOS, app, ["--net", "user"], app_args=[str(self.lsock.getsockname()[1])],
                   env=self.sb.env())
        self.addCleanup(d.kill)
        netutil.expect_line(self, d, "done", timeout=60)
        rc, err = d.finish()
        self.assertEqual(rc, 0, err)
        got = {ln.split("\t")[0]: ln.split("\t")[1:] for ln in d.lines}
        self.assertEqual(got["/garbage"], ["error", "malformed response: bad status line"])
        self.assertEqual(got["/reset"], ["error", "connection reset"])
        self.assertEqual(got["/stall"], ["error", "timeout"])
        self.assertEqual(got["/endless"], ["error", "response head too large"])
        self.assertEqual(got["/badchunk"], ["error", "malformed response: malformed chunked body: chunk too large"])
        self.assertEqual(got["/ok"], ["200", "ok"])


def curl(*args, timeout=30, netns=None):
    cmd = ["curl", "-sS", "--max-time", "20", *args]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    return subprocess.run(cmd, capture_output=True, timeout=timeout)


class DeviceServerMixin:
    """Checks of examples/http_api.lua at self.base (host:port) from the
    host side (self.netns: where the host side runs)."""

    netns = None

    def curl(self, *args, **kw):
        return curl(*args, netns=self.netns, **kw)

    def check_api(self):
        base = self.base
        r = self.curl(base + "/status")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = json.loads(r.stdout)
        self.assertEqual(st["board"], "devkit")
        r = self.curl("-X", "PUT", "-d", '{"on": true}', base + "/led/0")
        self.assertEqual(json.loads(r.stdout), {"on": True})
        # two URLs in one curl: the second reuses the connection
        r = self.curl("-v", base + "/led/0", base + "/led/0")
        self.assertEqual(r.stdout, b'{"on":true}{"on":true}')
        self.assertIn(b"Re-using existing connection", r.stderr)
        r = self.curl("-X", "PUT", "-d", '{"on": 1}', "-w", "%{http_code}", base + "/led/0")
        self.assertTrue(r.stdout.endswith(b"400"), r.stdout)
        # a chunked upload, with Expect: 100-continue, echoed back
        blob = os.urandom(100000)
        path = os.path.join(self.sb.dir, "blob")
        with open(path, "wb") as f:
            f.write(blob)
        r = self.curl("-H", "Transfer-Encoding: chunked", "-H", "Expect: 100-continue",
                      "--data-binary", "@" + path, base + "/echo")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, blob)
        # a streamed response
        r = self.curl("-D", "-", base + "/count/3")
        self.assertIn(b"transfer-encoding: chunked", r.stdout.lower())
        self.assertTrue(r.stdout.endswith(b"\r\n\r\n1\n2\n3\n"), r.stdout)
        # over max_body: 413
        big = os.path.join(self.sb.dir, "big")
        with open(big, "wb") as f:
            f.write(b"x" * 300000)
        r = self.curl("-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "@" + big, base + "/echo")
        self.assertEqual(r.stdout, b"413")

    def check_concurrent(self):
        procs = [subprocess.Popen((["ip", "netns", "exec", self.netns] if self.netns else [])
                                  + ["curl", "-sS", "--max-time", "20", self.base + "/count/2000"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(12)]
        want = b"".join(b"%d\n" % i for i in range(1, 2001))
        for p in procs:
            out, err = p.communicate(timeout=60)
            self.assertEqual(out, want, err)

    def check_ab(self, n=2000):
        cmd = ["ab", "-k", "-n", str(n), "-c", "4", self.base + "/led/0"]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Failed requests:        0", r.stdout)
        self.assertIn("Keep-Alive requests:    %d" % n, r.stdout)
        rps = re.search(r"Requests per second:\s+([\d.]+)", r.stdout).group(1)
        print("\nab -k -c 4 %s: %s requests/s" % (self.base, rps), file=sys.stderr)

    def raw(self, host, port, data, reset=False, wait=10):
        s = socket.create_connection((host, port), timeout=wait)
        with s:
            s.sendall(data)
            if reset:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return b""
            out = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except (ConnectionResetError, socket.timeout):
                    break
                if not chunk:
                    break
                out += chunk
            return out


class DeviceServerSlirp(unittest.TestCase, DeviceServerMixin):
    def setUp(self):
        netutil.skip_unless_sockets(LUAOS)
        netutil.skip_unless_program("curl")
        self.sb = Sandbox("luaos-http-server-")
        self.addCleanup(self.sb.remove)
        self.hport = free_port()
        self.dev = Device(LUAOS, EXAMPLE, ["--net", "user,hostfwd=tcp:127.0.0.1:%d-:8080" % self.hport],
                          app_args=["8080"], env=self.sb.env())
        self.addCleanup(self.dev.kill)
        netutil.expect_line(self, self.dev, "http_api: listening on port 8080")
        self.base = "http://127.0.0.1:%d" % self.hport

    def test_curl(self):
        self.check_api()
        self.check_concurrent()

    def test_ab_keepalive(self):
        netutil.skip_unless_program("ab")
        self.check_ab()

    def status(self):
        r = curl(self.base + "/status")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_hostile_clients(self):
        h, p = "127.0.0.1", self.hport
        tasks0 = self.status()["tasks"]
        out = self.raw(h, p, b"BLAH\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out)
        out = self.raw(h, p, b"GET /status HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 431 "), out)
        out = self.raw(h, p, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out)
        out = self.raw(h, p, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out)
        # peers that reset mid-request and mid-response
        self.raw(h, p, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc", reset=True)
        self.raw(h, p, b"GET /count/100000 HTTP/1.1\r\nHost: x\r\n\r\n", reset=True)
        # a slow-loris client: dropped with 408 after the server's 10 s,
        # while other clients are served
        s = socket.create_connection((h, p), timeout=20)
        t0 = time.time()
        s.sendall(b"GET /status HTTP/1.1\r\n")
        for _ in range(3):
            time.sleep(1)
            s.sendall(b"X-A: b\r\n")
            r = curl(self.base + "/led/0")
            self.assertEqual(r.returncode, 0, r.stderr)
        out = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        s.close()
        self.assertTrue(out.startswith(b"HTTP/1.1 408 "), out)
        self.assertLess(time.time() - t0, 15)
        # every connection's task ended (none leaked), the device still runs
        time.sleep(1.5)
        self.assertEqual(self.status()["tasks"], tasks0)
        self.assertIsNone(self.dev.proc.poll())


class DeviceServerTap(unittest.TestCase, DeviceServerMixin):
    TAP = "htap0"

    def setUp(self):
        netutil.skip_unless_root("the HTTP-over-TAP test")
        netutil.skip_unless_sockets(LUAOS)
        netutil.skip_unless_program("curl")
        if not os.path.exists("/dev/net/tun"):
            raise unittest.SkipTest("no /dev/net/tun (modprobe tun)")
        self.sb = Sandbox("luaos-http-tap-")
        self.addCleanup(self.sb.remove)
        self.ns = Netns()
        self.addCleanup(self.ns.remove)
        self.netns = self.ns.name
        env = self.sb.env(LUAOS_NET_TAP_STATE=self.sb.path("net-tap"))
        r = self.ns.exec(NET_TAP, "up", self.TAP, "--addr", "192.0.2.1/24", capture_output=True,
                         text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.addCleanup(self.ns.exec, NET_TAP, "down", self.TAP, capture_output=True, env=env)
        self.dev = Device(LUAOS, EXAMPLE, ["--net", "tap:" + self.TAP, "--ip", "192.0.2.10/24"],
                          app_args=["8080"], env=env, netns=self.netns)
        self.addCleanup(self.dev.kill)
        netutil.expect_line(self, self.dev, "http_api: listening on port 8080")
        self.base = "http://192.0.2.10:8080"

    def test_curl_and_ab_over_tap(self):
        for _ in range(50):  # the device answers ARP once its interface is up
            if self.curl("--max-time", "1", self.base + "/status").returncode == 0:
                break
            time.sleep(0.2)
        self.check_api()
        self.check_concurrent()
        if shutil.which("ab"):
            self.check_ab()


def make_test_pki(d):
    """A CA and a server certificate for 10.0.2.2, 127.0.0.1 and localhost
    (ECDSA P-256), made with openssl in folder d."""
    def ossl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=luaos http test CA")
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:10.0.2.2\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return {k: os.path.join(d, k) for k in ("ca.pem", "server.pem", "server.key")}


_tls = {}


def skip_unless_tls(luaos):
    """https needs socket's {tls=} (the TLS work, docs/tls.md)."""
    if luaos not in _tls:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write('local ok, e = pcall(require("socket").connect, "127.0.0.1", 1, {tls = true, timeout = 100})\n'
                    'print(ok or not tostring(e):find("unknown option", 1, true))')
        try:
            r = subprocess.run([luaos, "run", f.name, "--net", "none"], capture_output=True, text=True,
                               timeout=30)
        finally:
            os.unlink(f.name)
        _tls[luaos] = r.stdout.strip() == "true"
    if not _tls[luaos]:
        raise unittest.SkipTest("socket.connect has no {tls=} option in this build yet")
    netutil.skip_unless_program("openssl")


HTTPS_CLIENT_APP = LUA_PRELUDE + """
local http = require("http")
local port, ca = ...
assert(net.wait_up(10000))
local url = "https://10.0.2.2:" .. port .. "/hello"
local r, err = http.get(url, {tls = {ca = ca}})
say("with_ca", r and r.status, r and r.body or err)
for i = 2, 3 do
  r, err = http.get(url, {tls = {ca = ca}})
  say("again" .. i, r and r.status, r and r.body or err)
end
r, err = http.get("https://10.0.2.2:" .. port .. "/redirect/2", {tls = {ca = ca}})
say("redirects", r and r.status, r and r.body or err)
r, err = http.get("https://10.0.2.2:" .. port .. "/to-http", {tls = {ca = ca}})
say("downgrade", r and r.status, r and r.body or err)
r, err = http.get(url)
say("default_cas", r and r.status, r and r.body or err)
say("done")
"""


class Https(unittest.TestCase):
    """https:// and http.server{tls=} through socket's TLS (not run until
    the build's socket has it: then skipped with that reason)."""

    def setUp(self):
        netutil.skip_unless_sockets(LUAOS)
        skip_unless_tls(LUAOS)
        self.sb = Sandbox("luaos-https-")
        self.addCleanup(self.sb.remove)
        self.pki = make_test_pki(self.sb.dir)

    def test_client_against_python_tls_server(self):
        import ssl
        server = HostServer()
        self.addCleanup(server.close)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.pki["server.pem"], self.pki["server.key"])
        server.httpd.socket = ctx.wrap_socket(server.httpd.socket, server_side=True)
        app = self.sb.write("client.lua", HTTPS_CLIENT_APP)
        d = Device(LUAOS, app, ["--net", "user"], app_args=[str(server.port), self.pki["ca.pem"]],
                   env=self.sb.env())
        self.addCleanup(d.kill)
        netutil.expect_line(self, d, "done", timeout=60)
        got = {ln.split("\t")[0]: ln.split("\t")[1:] for ln in d.lines}
        self.assertEqual(got["with_ca"], ["200", "hello"])
        self.assertEqual(got["again2"], ["200", "hello"])
        self.assertEqual(got["again3"], ["200", "hello"])
        self.assertEqual(got["redirects"], ["200", "landed"])
        # keep-alive over TLS: every request with these settings on one connection
        self.assertEqual(len(server.httpd.conns), 1, server.httpd.conns)
        self.assertEqual(got["downgrade"][0], "nil")
        self.assertTrue(got["downgrade"][1].startswith("redirect from https to http refused"), got["downgrade"])
        # the test CA is not among the default ones: refused, with the reason
        self.assertEqual(got["default_cas"][0], "nil")
        self.assertIn("unknown CA", got["default_cas"][1])

    def test_device_server_with_certificate(self):
        hport = free_port()
        dev = Device(LUAOS, EXAMPLE, ["--net", "user,hostfwd=tcp:127.0.0.1:%d-:8443" % hport],
                     app_args=["8443", "tls", self.pki["server.pem"], self.pki["server.key"]],
                     env=self.sb.env())
        self.addCleanup(dev.kill)
        netutil.expect_line(self, dev, "http_api: listening on port 8443 (https)")
        r = curl("--cacert", self.pki["ca.pem"], "https://127.0.0.1:%d/status" % hport)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["board"], "devkit")
        r = curl("https://127.0.0.1:%d/status" % hport)  # without the CA: curl refuses
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
