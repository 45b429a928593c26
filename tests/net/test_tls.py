"""TLS in the simulator (socket.connect/bind with tls=, docs/tls.md) against
real peers on this machine: `openssl s_server`/`s_client` and Python's ssl
module, reached through slirp (the host is 10.0.2.2 from the device).
The certificates come from testpki.py, made fresh for the run."""
import os
import select
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import shutil
import time
import unittest

import netutil
from netutil import Sandbox, Device
from testpki import make_pki

LUAOS = netutil.luaos_path(sys.argv)
HOST = "10.0.2.2"  # the host's loopback as slirp shows it to the device

PKI = None


def setUpModule():
    global PKI
    netutil.skip_unless_program("openssl")
    netutil.skip_unless_sockets(LUAOS)
    d = tempfile.mkdtemp(prefix="luaos-tls-pki-")
    PKI = make_pki(d)


def tearDownModule():
    if PKI:
        shutil.rmtree(PKI["dir"], ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_pem(name):
    with open(PKI[name]) as f:
        return f.read()


class SServer:
    """`openssl s_server` on 127.0.0.1 (-rev: each line comes back reversed)."""

    def __init__(self, cert, key, *extra):
        self.port = free_port()
        cmd = ["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}", "-cert", PKI[cert],
               "-key", PKI[key], "-rev", *extra]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        end = time.time() + 10
        out = b""
        while b"ACCEPT" not in out:
            left = end - time.time()
            r, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            chunk = os.read(self.proc.stdout.fileno(), 4096) if r else b""
            if not chunk:
                self.stop()
                raise RuntimeError("s_server did not start: " + out.decode(errors="replace"))
            out += chunk
        # Keep its output drained (a full pipe would stall it).
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        try:
            while os.read(self.proc.stdout.fileno(), 65536):
                pass
        except (OSError, ValueError):  # closed by stop()
            pass

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


class PyTLSServer:
    """A TLS server from Python's ssl module running `handler(tls_sock)` for
    each connection, in a thread (for behaviour s_server has no switch for)."""

    def __init__(self, handler, cert="server_cert", key="server_key"):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(PKI[cert], PKI[key])
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.handler = handler
        self.done = False
        self.errors = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done:
            try:
                raw, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            raw.settimeout(20)
            try:
                self.handler(raw, self.ctx)
            except Exception as e:  # recorded, the test looks
                self.errors.append(repr(e))
            finally:
                raw.close()

    def stop(self):
        self.done = True
        self.thread.join(5)
        self.lsock.close()


# The device side: connect with the options given as Lua source, then
# report one line: "OK <tlsinfo fields>" or "ERR <message>".
CONNECT_APP = """
local socket = require("socket")
local port, opts_src, line = ...
local opts = assert(load("return " .. opts_src))()
opts.timeout = opts.timeout or 10000
local c, err = socket.connect("%s", tonumber(port), opts)
if not c then print("ERR " .. tostring(err)) return end
local info = c:tlsinfo()
print("OK " .. info.version .. " " .. info.cipher .. " peer=" .. tostring(info.peer)
      .. " alpn=" .. tostring(info.alpn) .. " verified=" .. tostring(info.verified))
if line ~= "" then
  assert(c:send(line .. "\\n"))
  print("GOT " .. tostring(c:receive("*l")))
end
c:close()
""" % HOST


def lua_str(s):
    return "[==[" + s + "]==]"


class TlsBase(unittest.TestCase):
    def setUp(self):
        self.sb = Sandbox("luaos-tls-")
        self.addCleanup(self.sb.remove)

    def server(self, cert, key, *extra):
        s = SServer(cert, key, *extra)
        self.addCleanup(s.stop)
        return s

    def pyserver(self, handler, **kw):
        s = PyTLSServer(handler, **kw)
        self.addCleanup(s.stop)
        return s

    def run_app(self, text, *app_args, timeout=60):
        app = self.sb.write("app.lua", text)
        r = netutil.run(LUAOS, "run", app, "--", *[str(a) for a in app_args],
                        env=self.sb.env(), timeout=timeout)
        return r, r.stdout.splitlines()

    def connect(self, port, opts, line=""):
        """The device's report line and all its output."""
        r, lines = self.run_app(CONNECT_APP, port, opts, line)
        self.assertEqual(r.returncode, 0, r.stderr)
        res = [l for l in lines if l.startswith(("OK ", "ERR "))]
        self.assertEqual(len(res), 1, r.stdout + r.stderr)
        return res[0], lines

    def ca_opts(self, extra=""):
        return "{tls = {ca = %s%s}}" % (lua_str(PKI["ca"]), extra)


class TlsClient(TlsBase):
    def test_valid_ecdsa_chain_by_address(self):
        s = self.server("server_cert", "server_key")
        res, lines = self.connect(s.port, self.ca_opts(), "hello tls")
        self.assertRegex(res, r"^OK TLSv1\.2 TLS-ECDHE-ECDSA-WITH-AES-\d+-GCM-SHA\d+ "
                              r"peer=CN=localhost alpn=nil verified=true$")
        self.assertIn("GOT slt olleh", lines)

    def test_valid_chain_by_name_with_pem_text(self):
        s = self.server("server_cert", "server_key")
        opts = "{tls = {ca = %s, server_name = 'localhost'}}" % lua_str(read_pem("ca"))
        res, lines = self.connect(s.port, opts, "abc")
        self.assertTrue(res.startswith("OK TLSv1.2"), res)
        self.assertIn("GOT cba", lines)

    def test_valid_rsa_2048(self):
        s = self.server("server_rsa_cert", "server_rsa_key")
        res, lines = self.connect(s.port, self.ca_opts(), "xy")
        self.assertRegex(res, r"^OK TLSv1\.2 TLS-ECDHE-RSA-WITH-")
        self.assertIn("GOT yx", lines)

    def test_bad_certificates_are_refused_by_default_with_the_reason(self):
        cases = [
            ("expired", "", "certificate expired"),
            ("notyet", "", "certificate not yet valid"),
            ("selfsigned", "", "self-signed certificate"),
            ("unknownca", "", "unknown CA"),
            ("wronghost", "", "hostname mismatch: expected 10.0.2.2, got wrong.example"),
            ("wronghost", ", server_name = 'localhost'",
             "hostname mismatch: expected localhost, got wrong.example"),
            ("server", ", server_name = 'other.example'",
             "hostname mismatch: expected other.example, got localhost, 127.0.0.1, 10.0.2.2"),
        ]
        for name, extra, reason in cases:
            with self.subTest(name=name, extra=extra):
                s = self.server(name + "_cert", name + "_key")
                res, _ = self.connect(s.port, self.ca_opts(extra), "never sent")
                self.assertEqual(res, "ERR " + reason)
                s.stop()

    def test_default_ca_set_does_not_trust_the_test_ca(self):
        s = self.server("server_cert", "server_key")
        res, _ = self.connect(s.port, "{tls = true}")
        self.assertEqual(res, "ERR unknown CA")
        res, _ = self.connect(s.port, "{tls = {server_name = 'localhost'}}")
        self.assertEqual(res, "ERR unknown CA")

    def test_verify_false_connects_and_warns_every_time(self):
        s = self.server("selfsigned_cert", "selfsigned_key")
        app = """
local socket = require("socket")
for i = 1, 2 do
  local c = assert(socket.connect("%s", %d, {timeout = 10000, tls = {verify = false}}))
  print("verified=" .. tostring(c:tlsinfo().verified))
  c:close()
end
""" % (HOST, s.port)
        r, lines = self.run_app(app)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(lines.count("verified=false"), 2, r.stdout)
        warns = [l for l in lines if " W tls: " in l and "verify = false" in l]
        self.assertEqual(len(warns), 2, r.stdout)
        self.assertIn("NOT authenticated", warns[0])

    def test_sni_selects_the_servers_certificate(self):
        # s_server answers SNI "localhost" with cert2 (for localhost), anything
        # else (an address: no SNI is sent) with its wrong.example certificate.
        s = self.server("wronghost_cert", "wronghost_key", "-servername", "localhost",
                        "-cert2", PKI["server_cert"], "-key2", PKI["server_key"])
        res, lines = self.connect(s.port, self.ca_opts(", server_name = 'localhost'"), "sni")
        self.assertTrue(res.startswith("OK ") and "peer=CN=localhost" in res, res)
        self.assertIn("GOT ins", lines)
        res, _ = self.connect(s.port, self.ca_opts())
        self.assertEqual(res, "ERR hostname mismatch: expected 10.0.2.2, got wrong.example")

    def test_old_protocols_and_weak_suites_are_refused(self):
        for extra in (("-tls1_1", "-cipher", "ALL:@SECLEVEL=0"),
                      ("-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0"),  # RSA kx, CBC
                      ("-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA256")):  # CBC
            with self.subTest(extra=extra):
                s = self.server("server_rsa_cert", "server_rsa_key", *extra)
                res, _ = self.connect(s.port, self.ca_opts())
                self.assertTrue(res.startswith("ERR tls: "), res)
                s.stop()

    def test_client_certificate(self):
        s = self.server("server_cert", "server_key", "-Verify", "1", "-CAfile", PKI["ca"],
                        "-verify_return_error")
        res, _ = self.connect(s.port, self.ca_opts())
        self.assertTrue(res.startswith("ERR tls: "), res)
        opts = self.ca_opts(", cert = %s, key = %s" % (lua_str(PKI["client_cert"]),
                                                      lua_str(read_pem("client_key"))))
        res, lines = self.connect(s.port, opts, "client")
        self.assertTrue(res.startswith("OK "), res)
        self.assertIn("GOT tneilc", lines)

    def test_alpn(self):
        s = self.server("server_cert", "server_key", "-alpn", "http/1.1")
        res, _ = self.connect(s.port, self.ca_opts(", alpn = {'h2', 'http/1.1'}"))
        self.assertIn(" alpn=http/1.1 ", res)
        res, _ = self.connect(s.port, self.ca_opts(", alpn = 'mqtt'"))
        self.assertTrue(res.startswith("ERR tls: "), res)  # s_server refuses: no overlap

    def test_option_errors(self):
        app = """
local socket = require("socket")
local function try(opts)
  local ok, a, b = pcall(socket.connect, "%s", 1, opts)
  print(ok and ("RET " .. tostring(a) .. " " .. tostring(b)) or ("RAISE " .. a))
end
try({tls = {bogus = 1}})
try({tls = {verfy = false}})
try({tls = {cert = "x"}})
try({tls = {verify = "no"}})
try({tls = {alpn = {1}}})
try({tls = 42})
try({tls = {ca = "/nonexistent/ca.pem"}})
try({tls = {ca = "-----BEGIN CERTIFICATE-----\\nnot base64\\n-----END CERTIFICATE-----\\n"}})
local ok, err = pcall(socket.bind, "*", 0, {tls = true})
print("BIND " .. tostring(err))
print("BIND2 " .. select(2, socket.bind("*", 0, {tls = {cert = "/nonexistent", key = "/x"}})))
""" % HOST
        r, lines = self.run_app(app)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = "\n".join(lines)
        self.assertIn("bad argument #3 to 'socket.connect' (unknown tls option 'bogus'", out)
        self.assertIn("unknown tls option 'verfy'; did you mean 'verify'?", out)
        self.assertIn("tls.cert and tls.key go together", out)
        self.assertIn("tls.verify must be a boolean", out)
        self.assertIn("tls.alpn must list strings", out)
        self.assertIn("tls must be true or a table", out)
        self.assertRegex(out, r"RET nil tls: cannot load ca \(.*\)\n")
        self.assertRegex(out, r"RET nil tls: cannot load ca \(.*(PEM|BASE64|base64).*\)")
        self.assertIn("BIND bad argument #3 to 'socket.bind' (tls must be a table", out)
        self.assertIn("BIND2 tls: cannot load cert", out)


class TlsHostile(TlsBase):
    """Peers that misbehave: the device reports a clear error and goes on."""

    def test_large_echo_both_ways(self):
        def echo(raw, ctx):
            with ctx.wrap_socket(raw, server_side=True) as t:
                while True:
                    d = t.recv(65536)
                    if not d:
                        break
                    t.sendall(d)
        s = self.pyserver(echo)
        app = """
local socket = require("socket")
local c = assert(socket.connect("%s", %d, {timeout = 20000, tls = {ca = %s}}))
local parts = {}
for i = 1, 4096 do parts[i] = string.format("%%07d|", i) .. string.rep("x", 248) end
local blob = table.concat(parts)  -- 1 MiB
task.spawn(function() assert(c:send(blob)) end)
local got = assert(c:receive(#blob))
print(got == blob and "SAME" or "DIFFERENT", #got)
assert(c:send("line one\\r\\nline two\\n"))
print(c:receive("*l"), c:receive("*l"))
c:close()
""" % (HOST, s.port, lua_str(PKI["ca"]))
        r, lines = self.run_app(app, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("SAME\t1048576", lines)
        self.assertIn("line one\tline two", lines)

    def _records(self, then):
        """A server that does the handshake in memory, writes one record of
        application data and then calls then(raw, record_bytes)."""
        def handler(raw, ctx):
            inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
            obj = ctx.wrap_bio(inc, out, server_side=True)
            while True:
                try:
                    obj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    pending = out.read()
                    if pending:
                        raw.sendall(pending)
                    d = raw.recv(65536)
                    if not d:
                        return
                    inc.write(d)
            pending = out.read()
            if pending:
                raw.sendall(pending)
            obj.write(b"0123456789" * 100 + b"\n")
            then(raw, out.read())
        return self.pyserver(handler)

    def receive_report(self, port):
        app = """
local socket = require("socket")
local c, err = socket.connect("%s", %d, {timeout = 10000, tls = {ca = %s}})
if not c then print("ERR " .. err) return end
local d, e, partial = c:receive("*a")
print("RECV", d and #d, e, partial and #partial)
c:close()
""" % (HOST, port, lua_str(PKI["ca"]))
        r, lines = self.run_app(app)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [l for l in lines if l.startswith(("RECV", "ERR"))]

    def test_truncated_record(self):
        s = self._records(lambda raw, rec: raw.sendall(rec[:len(rec) // 2]))
        self.assertEqual(self.receive_report(s.port),
                         ["RECV\tnil\ttls: truncated record (the connection ended inside a TLS "
                          "record)\t0"])

    def test_end_without_close_notify_after_a_whole_record(self):
        s = self._records(lambda raw, rec: raw.sendall(rec))
        self.assertEqual(self.receive_report(s.port), ["RECV\t1001\tnil\tnil"])

    def test_reset_after_the_handshake(self):
        import struct

        def rst(raw, rec):
            raw.sendall(rec)
            time.sleep(0.3)
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s = self._records(rst)
        self.assertEqual(self.receive_report(s.port), ["RECV\tnil\tconnection reset\t1001"])

    def test_corrupted_record(self):
        def flip(raw, rec):
            rec = bytearray(rec)
            rec[-3] ^= 0x55
            raw.sendall(bytes(rec))
            time.sleep(0.5)
        s = self._records(flip)
        rep = self.receive_report(s.port)
        self.assertEqual(len(rep), 1)
        self.assertRegex(rep[0], r"^RECV\tnil\ttls: connection \(.*\)\t0$")

    def test_not_tls_at_all(self):
        def plain(raw, ctx):
            raw.recv(4096)
            raw.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nthis is not TLS\n" * 20)
            time.sleep(0.5)
        s = self.pyserver(plain)
        rep = self.receive_report(s.port)
        self.assertEqual(len(rep), 1)
        self.assertRegex(rep[0], r"^ERR tls: handshake \(.*\)$")

    def test_peer_closes_during_handshake(self):
        def close(raw, ctx):
            raw.recv(65536)  # all of the ClientHello: the close is a FIN, not a reset
            raw.shutdown(socket.SHUT_WR)
            time.sleep(0.5)
        s = self.pyserver(close)
        self.assertEqual(self.receive_report(s.port),
                         ["ERR tls: the peer closed the connection during the handshake"])

    def test_handshake_timeout(self):
        def silent(raw, ctx):
            time.sleep(3)
        s = self.pyserver(silent)
        app = """
local socket = require("socket")
print("ERR", socket.connect("%s", %d, {timeout = 1000, tls = {ca = %s}}))
""" % (HOST, s.port, lua_str(PKI["ca"]))
        r, lines = self.run_app(app)
        self.assertIn("ERR\tnil\ttimeout", lines, r.stdout + r.stderr)


class TlsServer(TlsBase):
    """socket.bind(..., {tls = {cert=, key=}}) reached from the host through
    slirp's hostfwd, by Python's ssl client and by `openssl s_client`."""

    SERVER_APP = netutil.LUA_PRELUDE + """
local socket = require("socket")
local stop, cert, key, ca = ...
local tls = {cert = cert, key = key}
if ca ~= "" then tls.ca = ca end
local srv = assert(socket.bind("*", 8443, {tls = tls}))
task.spawn(function()
  while true do
    local c = srv:accept()
    if not c then break end
    c:settimeout(10000)
    task.spawn(function()
      while true do
        local line, err = c:receive("*l")
        if not line then say("END " .. err) break end
        local info = c:tlsinfo()
        c:send(line:upper() .. " " .. info.version .. " " .. tostring(info.peer) .. "\\n")
        if line == "bye" then break end
      end
      c:close()
    end)
  end
end)
assert(net.wait_up(10000))
say("up")
wait_file(stop, 60)
srv:close()
"""

    def start(self, ca=""):
        port = free_port()
        app = self.sb.write("srv.lua", self.SERVER_APP)
        stop = self.sb.path("stop")
        dev = Device(LUAOS, app, ["--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:8443"],
                     app_args=[stop, PKI["server_cert"], PKI["server_key"], ca],
                     env=self.sb.env())
        self.addCleanup(dev.kill)
        netutil.expect_line(self, dev, "up")
        return dev, port, stop

    def client_ctx(self, cert=False):
        ctx = ssl.create_default_context(cafile=PKI["ca"])
        if cert:
            ctx.load_cert_chain(PKI["client_cert"], PKI["client_key"])
        return ctx

    def test_python_client_many_at_once(self):
        dev, port, stop = self.start()
        socks = []
        for i in range(4):
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            socks.append(self.client_ctx().wrap_socket(raw, server_hostname="localhost"))
        for i, t in enumerate(socks):
            t.sendall(b"hello %d\n" % i)
        for i, t in enumerate(socks):
            self.assertEqual(t.recv(100), b"HELLO %d TLSv1.2 nil\n" % i)
            self.assertEqual(t.version(), "TLSv1.2")
            t.close()
        open(stop, "w").close()
        rc, err = dev.finish()
        self.assertEqual(rc, 0, err)

    def test_openssl_s_client(self):
        dev, port, stop = self.start()
        r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                            "-servername", "localhost", "-CAfile", PKI["ca"],
                            "-verify_return_error", "-verify_hostname", "localhost",
                            "-quiet", "-ign_eof"],
                           input=b"ping\nbye\n", capture_output=True, timeout=20)
        self.assertIn(b"PING TLSv1.2 nil", r.stdout, r.stderr)
        open(stop, "w").close()
        dev.finish()

    def test_client_certificates_required_with_ca(self):
        dev, port, stop = self.start(ca=PKI["ca"])
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        t = self.client_ctx(cert=True).wrap_socket(raw, server_hostname="localhost")
        t.sendall(b"me\n")
        self.assertEqual(t.recv(100), b"ME TLSv1.2 CN=test-client\n")
        t.close()
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        with self.assertRaises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            t = self.client_ctx().wrap_socket(raw, server_hostname="localhost")
            t.sendall(b"anon\n")
            if not t.recv(100):
                raise ConnectionResetError("closed")
        raw.close()
        netutil.expect_line(self, dev, "END ")
        open(stop, "w").close()
        dev.finish()

    def test_garbage_client_does_not_hurt_the_server(self):
        dev, port, stop = self.start()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(b"GET / HTTP/1.0\r\n\r\n")
            raw.settimeout(10)
            try:
                raw.recv(100)
            except ConnectionResetError:
                pass
        line = netutil.expect_line(self, dev, "END ")
        self.assertRegex(line, r"^END tls: handshake \(")
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        t = self.client_ctx().wrap_socket(raw, server_hostname="localhost")
        t.sendall(b"still\n")
        self.assertEqual(t.recv(100), b"STILL TLSv1.2 nil\n")
        t.close()
        open(stop, "w").close()
        rc, err = dev.finish()
        self.assertEqual(rc, 0, err)


if __name__ == "__main__":
    unittest.main()
