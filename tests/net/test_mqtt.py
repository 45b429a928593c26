#!/usr/bin/env python3
"""The mqtt module against a real mosquitto broker that each test starts on
a free loopback port with its own configuration (tools/setup.sh installs
mosquitto and mosquitto-clients). The device runs `luaos run --net user`
and reaches the host's broker at 10.0.2.2 through slirp; host-side peers
are mosquitto_pub / mosquitto_sub. Nothing leaves this machine.

Covered: publish/subscribe at QoS 0, 1 and 2 both ways, wildcards,
retained messages, the last will of a killed device, a broker restart in
the middle of a QoS 1 stream (the client reconnects, re-subscribes, resends
what was in flight: nothing is lost), username/password (accepted and
refused), keepalive pings, the bounded outgoing queue while offline, and
TLS on an 8883-style listener with the test CA once the socket module has
{tls=} (skipped, and said so, before)."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

import netutil
from netutil import LUA_PRELUDE, Device, Sandbox, expect_line

LUAOS = netutil.luaos_path(sys.argv)
HOST = "10.0.2.2"  # the host, as the device sees it through slirp


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """mosquitto in the foreground on a free loopback port, own config."""

    def __init__(self, sb, extra="", name="broker", port=None):
        self.sb = sb
        self.port = port or free_port()
        self.dir = sb.path(name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        self.log = os.path.join(self.dir, "mosquitto.log")
        with open(self.conf, "w") as f:
            f.write(f"per_listener_settings false\n{extra}\n")
            if "listener " not in extra:
                f.write(f"listener {self.port} 127.0.0.1\n")
            if os.geteuid() == 0:
                f.write("user root\n")  # else it drops to user mosquitto: no access to the temp dir
            if "allow_anonymous" not in extra:
                f.write("allow_anonymous true\n")
        self.proc = None
        self.start()

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=self.logf,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        end = time.time() + 10
        while time.time() < end:
            if self.proc.poll() is not None:
                raise AssertionError("mosquitto did not start: " + open(self.log).read())
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("mosquitto is not listening on %d" % self.port)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        self.proc = None

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()


class Sub:
    """mosquitto_sub on the host, its lines in `lines` (read with wait)."""

    def __init__(self, broker, *args, topic="#"):
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic, "-v", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []
        self.buf = b""
        os.set_blocking(self.proc.stdout.fileno(), False)
        time.sleep(0.3)  # subscribed (mosquitto_sub has no "ready" line)

    def poll(self):
        try:
            chunk = self.proc.stdout.read()
        except BlockingIOError:
            chunk = None
        if chunk:
            self.buf += chunk
            *done, self.buf = self.buf.split(b"\n")
            self.lines += [d.decode(errors="replace") for d in done]
        return self.lines

    def wait(self, pred, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            if pred(self.poll()):
                return True
            time.sleep(0.05)
        return pred(self.poll())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


def pub(broker, topic, msg, *args):
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", topic, "-m", msg,
                    *args], check=True, timeout=10)


APP_HEAD = LUA_PRELUDE + """
local mqtt = require("mqtt")
local port, flag = tonumber((...)), select(2, ...)
assert(net.wait_up(10000))
"""


class MqttBroker(unittest.TestCase):
    def setUp(self):
        netutil.skip_unless_program("mosquitto", "mosquitto_pub", "mosquitto_sub")
        netutil.skip_unless_sockets(LUAOS)
        self.sb = Sandbox("luaos-mqtt-")
        self.addCleanup(self.sb.remove)

    def broker(self, extra="", **kw):
        b = Broker(self.sb, extra, **kw)
        self.addCleanup(b.stop)
        return b

    def sub(self, broker, *args, topic="#"):
        s = Sub(broker, *args, topic=topic)
        self.addCleanup(s.stop)
        return s

    def device(self, text, *app_args, name="app.lua"):
        app = self.sb.write(name, APP_HEAD + text)
        dev = Device(LUAOS, app, ["--net", "user"], app_args=[str(a) for a in app_args],
                     env=self.sb.env())
        self.addCleanup(dev.kill)
        return dev

    def flag(self, name="go"):
        return self.sb.path(name)

    def touch(self, path):
        open(path, "w").close()

    def finish_ok(self, dev, timeout=30):
        rc, err = dev.finish(timeout)
        self.assertEqual(rc, 0, err + "\n" + "\n".join(dev.lines))
        return err

    def test_publish_subscribe_qos_0_1_2(self):
        b = self.broker()
        s = self.sub(b, "-q", "2", topic="dev/#")
        dev = self.device("""
local c = mqtt.client.new("qos-dev", {host = "%s", port = port})
say("connect", c:connect())
local got = {}
say("suback", c:subscribe("cmd/+/set", 2, function(topic, payload, m)
  say("msg", topic, payload, m.qos, m.retain)
  got[#got + 1] = payload
end))
say("suback2", c:subscribe("all/#", 1, function(topic, payload, m) say("all", topic, payload, m.qos) end))
for q = 0, 2 do say("pub", q, c:publish("dev/out/" .. q, "payload-" .. q, {qos = q, wait = true})) end
-- a binary payload with NULs and high bytes, and an empty one
say("bin", c:publish("dev/bin", "\\0\\1\\255x", {qos = 1, wait = true}))
say("empty", c:publish("dev/empty", "", {qos = 1, wait = true}))
say("ready")
for _ = 1, 200 do if #got >= 3 then break end task.sleep(50) end
wait_file(flag, 10)
say("stats", c:stats().received, c:stats().sent)
say("bye", c:disconnect(), (c:status()))
""" % HOST, b.port, self.flag())
        self.assertEqual(expect_line(self, dev, "connect"), "connect\ttrue\tfalse")
        self.assertEqual(expect_line(self, dev, "suback\t"), "suback\t2")
        self.assertEqual(expect_line(self, dev, "suback2"), "suback2\t1")
        for q in range(3):
            self.assertEqual(expect_line(self, dev, "pub\t%d" % q), "pub\t%d\ttrue" % q)
        expect_line(self, dev, "ready")
        for q in range(3):
            pub(b, "cmd/led%d/set" % q, "on%d" % q, "-q", str(q))
        pub(b, "cmd/led/other", "not for the device")  # no match: +/set
        pub(b, "all/a/b/c", "deep", "-q", "2")  # '#' matches many levels; granted QoS 1
        for q in range(3):
            self.assertEqual(expect_line(self, dev, "msg\tcmd/led%d" % q),
                             "msg\tcmd/led%d/set\ton%d\t%d\tfalse" % (q, q, q))
        self.assertEqual(expect_line(self, dev, "all"), "all\tall/a/b/c\tdeep\t1")
        self.touch(self.flag())
        self.finish_ok(dev)
        self.assertIn("bye\ttrue\tclosed", dev.lines)
        self.assertFalse(any(l.startswith("msg\tcmd/led/other") for l in dev.lines))
        self.assertTrue(s.wait(lambda ls: len(ls) >= 5), s.lines)
        # (MQTT orders messages within one QoS level only: a QoS 2 message may
        # reach the subscriber after a later QoS 1 one)
        for q in range(3):
            self.assertIn("dev/out/%d payload-%d" % (q, q), s.lines)
        self.assertTrue({"dev/empty ", "dev/empty (null)"} & set(s.lines), s.lines)  # (null): empty
        self.assertIn("dev/bin \x00\x01\ufffdx", s.lines)  # binary payload, byte for byte

    def test_retained_message(self):
        b = self.broker()
        pub(b, "state/led", "on", "-r", "-q", "1")
        dev = self.device("""
local c = mqtt.client.new("ret-dev", {host = "%s", port = port})
assert(c:connect())
assert(c:publish("state/temp", "21.5", {qos = 1, retain = true, wait = true}))
local n = 0
c:subscribe("state/#", 0, function(topic, payload, m) say("msg", topic, payload, m.retain) n = n + 1 end)
for _ = 1, 100 do if n >= 2 then break end task.sleep(50) end
c:disconnect()
""" % HOST, b.port)
        self.finish_ok(dev)
        msgs = sorted(l for l in dev.lines if l.startswith("msg"))
        self.assertEqual(msgs, ["msg\tstate/led\ton\ttrue", "msg\tstate/temp\t21.5\ttrue"])
        # the device's retained message is held by the broker for later subscribers
        r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(b.port), "-t", "state/temp",
                            "-C", "1", "-W", "5", "-v"], capture_output=True, text=True, timeout=15)
        self.assertEqual(r.stdout.strip(), "state/temp 21.5")

    def test_last_will_of_a_killed_device(self):
        b = self.broker()
        s = self.sub(b, "-q", "1", topic="status/#")
        dev = self.device("""
local c = mqtt.client.new("will-dev", {host = "%s", port = port, keepalive = 5,
  will = {topic = "status/will-dev", payload = "offline", qos = 1, retain = true}})
assert(c:connect())
assert(c:publish("status/will-dev", "online", {qos = 1, retain = true, wait = true}))
say("online")
wait_file(flag, 30)
""" % HOST, b.port, self.flag())
        expect_line(self, dev, "online")
        self.assertTrue(s.wait(lambda ls: "status/will-dev online" in ls), s.lines)
        dev.proc.send_signal(signal.SIGKILL)  # no DISCONNECT: the broker sends the will
        dev.finish(10)
        self.assertTrue(s.wait(lambda ls: "status/will-dev offline" in ls), s.lines)
        # retained: a later subscriber sees it too
        r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(b.port), "-t", "status/will-dev",
                            "-C", "1", "-W", "5"], capture_output=True, text=True, timeout=15)
        self.assertEqual(r.stdout.strip(), "offline")

    def test_silent_device_dropped_after_1_5_keepalives_with_its_will(self):
        # Audit (MQTT-3.1.2-24): a device that stops talking (SIGSTOP: its TCP
        # connection stays open) is dropped by mosquitto after 1.5 keepalive
        # intervals, and its will goes out; while it runs, its PINGREQs keep
        # it connected through several intervals.
        b = self.broker()
        s = self.sub(b, "-q", "1", topic="ka/#")
        dev = self.device("""
local c = mqtt.client.new("ka-dev", {host = "%s", port = port, keepalive = 2,
  will = {topic = "ka/will", payload = "gone", qos = 1}})
assert(c:connect())
task.sleep(5000) -- idle 2.5 intervals: only PINGREQs
say("alive", c:status(), c:stats().reconnects)
wait_file(flag, 60)
""" % HOST, b.port, self.flag())
        self.assertEqual(expect_line(self, dev, "alive", 20), "alive\tconnected\t0")
        self.assertFalse([l for l in s.poll() if l.startswith("ka/will")])
        dev.proc.send_signal(signal.SIGSTOP)
        t0 = time.time()
        try:
            self.assertTrue(s.wait(lambda ls: "ka/will gone" in ls, 15), s.lines)
            dt = time.time() - t0
        finally:
            dev.proc.send_signal(signal.SIGCONT)
        # 1.5 x 2 s from the last PINGREQ (up to one interval before the stop),
        # plus mosquitto 2.0.11's own slack: a raw silent client with keepalive
        # 2 gets its will after 4.7 s (4 -> 10.6 s), measured on this machine
        self.assertGreaterEqual(dt, 0.9, dt)
        self.assertLessEqual(dt, 9.0, dt)
        dev.kill()

    def test_clean_disconnect_sends_no_will(self):
        b = self.broker()
        s = self.sub(b, topic="status/#")
        dev = self.device("""
local c = mqtt.client.new("nowill", {host = "%s", port = port,
  will = {topic = "status/nowill", payload = "offline"}})
assert(c:connect())
c:publish("status/nowill", "online", {qos = 1, wait = true})
c:disconnect()
""" % HOST, b.port)
        self.finish_ok(dev)
        self.assertTrue(s.wait(lambda ls: "status/nowill online" in ls))
        time.sleep(1)
        self.assertNotIn("status/nowill offline", s.poll())

    def test_broker_restart_loses_no_qos1_message(self):
        # A persistent broker (the subscriber's session and queued messages
        # survive the restart) and a persistent host subscriber.
        b = self.broker("persistence true\npersistence_location %s/\n" % self.sb.path("broker"))
        s = self.sub(b, "-q", "1", "-c", "-i", "host-sub", topic="stream/#")
        N = 400
        dev = self.device("""
local c = mqtt.client.new("stream-dev", {host = "%s", port = port, keepalive = 2,
  reconnect = {min = 200, max = 1000}, queue = {max = 1000, bytes = 1 << 20}})
local downs = 0
c.on_disconnect = function() downs = downs + 1 say("down", downs) end
assert(c:connect())
local cmds = 0
c:subscribe("ctl/#", 1, function(_, p) cmds = cmds + 1 say("cmd", p) end)
for i = 1, %d do
  local ok, err = c:publish("stream/n", tostring(i), {qos = 1})
  if not ok then say("puberr", i, err) end
  task.sleep(10)
end
say("flush", c:flush(30000))
local st = c:stats()
say("stats", st.reconnects, st.resent, st.dropped, c:status())
-- re-subscribed after the restart: a command published now still arrives
say("waitcmd")
for _ = 1, 200 do if cmds > 0 then break end task.sleep(50) end
c:disconnect()
""" % (HOST, N), b.port)
        self.assertTrue(s.wait(lambda ls: len(ls) >= 80, 30), s.lines[-3:])
        b.stop(signal.SIGTERM)  # mid-stream
        time.sleep(1.0)
        b.start()
        expect_line(self, dev, "down", 20)
        self.assertEqual(expect_line(self, dev, "flush", 60), "flush\ttrue")
        expect_line(self, dev, "waitcmd", 10)
        pub(b, "ctl/x", "after-restart", "-q", "1")
        self.finish_ok(dev, 30)
        self.assertIn("cmd\tafter-restart", dev.lines)
        st = expect_line(self, dev, "stats").split("\t")
        self.assertGreaterEqual(int(st[1]), 1, st)  # reconnected
        self.assertEqual(st[3], "0")  # nothing dropped
        self.assertFalse([l for l in dev.lines if l.startswith("puberr")])
        ok = s.wait(lambda ls: {l for l in ls if l.startswith("stream/n ")} >=
                    {"stream/n %d" % i for i in range(1, N + 1)}, 30)
        got = {int(l.split()[1]) for l in s.lines if l.startswith("stream/n ")}
        missing = sorted(set(range(1, N + 1)) - got)
        self.assertTrue(ok, "lost QoS 1 messages: %s\n%s\n%s" % (missing[:50], dev.lines, b.text()[-3000:]))

    def test_persistent_session_gets_what_was_published_while_away(self):
        b = self.broker()
        dev = self.device("""
local function client()
  return mqtt.client.new("persist-dev", {host = "%s", port = port, clean_session = false})
end
local c = client()
say("first", c:connect())
c:subscribe("p/#", 1, function() end)
c:disconnect()
say("away")
wait_file(flag, 20)
local got = {}
c = client()
say("second", c:connect())
-- subscribing right after connect: the queued messages reach this handler
c:subscribe("p/#", 1, function(topic, payload) got[#got + 1] = topic .. "=" .. payload end)
for _ = 1, 100 do if #got >= 3 then break end task.sleep(50) end
say("got", table.concat(got, ","))
c:disconnect()
""" % HOST, b.port, self.flag())
        self.assertEqual(expect_line(self, dev, "first"), "first\ttrue\tfalse")
        expect_line(self, dev, "away")
        for i in range(1, 4):
            pub(b, "p/%d" % i, "m%d" % i, "-q", "1")
        self.touch(self.flag())
        self.assertEqual(expect_line(self, dev, "second"), "second\ttrue\ttrue")  # session present
        self.assertEqual(expect_line(self, dev, "got"), "got\tp/1=m1,p/2=m2,p/3=m3")
        self.finish_ok(dev)

    def test_broker_killed_mid_stream_device_loses_nothing(self):
        # No persistence, SIGKILL: the broker forgets everything. The device
        # is its own subscriber: after reconnecting it subscribes again before
        # it resends what was in flight, so every message comes back to it.
        b = self.broker()
        N = 300
        dev = self.device("""
local c = mqtt.client.new("kill-dev", {host = "%s", port = port, keepalive = 2,
  reconnect = {min = 200, max = 1000}, queue = {max = 1000, bytes = 1 << 20}})
local got, n = {}, 0
assert(c:connect())
assert(c:subscribe("loop/n", 1, function(_, p) if not got[p] then got[p] = true n = n + 1 end end))
for i = 1, %d do
  local ok, err = c:publish("loop/n", tostring(i), {qos = 1})
  if not ok then say("puberr", i, err) end
  if i == 60 then say("killnow") end
  task.sleep(10)
end
say("flush", c:flush(30000))
for _ = 1, 100 do if n >= %d then break end task.sleep(50) end
local missing = {}
for i = 1, %d do if not got[tostring(i)] then missing[#missing + 1] = i end end
say("missing", #missing, table.concat(missing, ",", 1, math.min(#missing, 20)))
say("stats", c:stats().reconnects, c:stats().resent)
c:disconnect()
""" % (HOST, N, N, N), b.port)
        expect_line(self, dev, "killnow", 30)
        b.stop(signal.SIGKILL)
        time.sleep(1.0)
        b.start()
        self.assertEqual(expect_line(self, dev, "flush", 60), "flush\ttrue")
        self.finish_ok(dev, 30)
        self.assertIn("missing\t0\t", dev.lines, dev.lines)
        st = expect_line(self, dev, "stats").split("\t")
        self.assertGreaterEqual(int(st[1]), 1, st)
        self.assertFalse([l for l in dev.lines if l.startswith("puberr")])

    def test_offline_unsubscribe_reaches_a_persistent_session(self):
        # Audit: c:unsubscribe while the broker is down. The broker keeps the
        # session (persistence) with the subscription in it; the client sends
        # the UNSUBSCRIBE on the reconnect that finds the session present, so
        # nothing for that filter arrives any more.
        b = self.broker("persistence true\npersistence_location %s/\n" % self.sb.path("broker"))
        dev = self.device("""
local handler, other = 0, 0
local c = mqtt.client.new("unsub-dev", {host = "%s", port = port, clean_session = false,
  reconnect = {min = 200, max = 500}, on_message = function() other = other + 1 end})
assert(c:connect())
assert(c:subscribe("u/#", 1, function() handler = handler + 1 end))
say("subscribed")
for _ = 1, 300 do if c:status() ~= "connected" then break end task.sleep(50) end
say("unsub", c:unsubscribe("u/#"), (c:status()))
wait_file(flag, 20)
for _ = 1, 300 do if c:status() == "connected" then break end task.sleep(50) end
task.sleep(500)
say("ready", (c:status()))
for _ = 1, 40 do if other + handler > 0 then break end task.sleep(50) end
say("after", handler, other)
c:disconnect()
""" % HOST, b.port, self.flag())
        expect_line(self, dev, "subscribed")
        b.stop(signal.SIGTERM)  # saves the session with its subscription
        self.assertEqual(expect_line(self, dev, "unsub", 20), "unsub\ttrue\toffline")
        b.start()
        self.touch(self.flag())
        self.assertEqual(expect_line(self, dev, "ready", 30), "ready\tconnected")
        pub(b, "u/x", "late", "-q", "1")
        self.finish_ok(dev)
        self.assertIn("after\t0\t0", dev.lines, b.text()[-2000:])

    def test_qos2_between_pubrec_and_pubcomp_survives_a_killed_broker(self):
        # Audit: a proxy between the device and mosquitto swallows the
        # device's first PUBREL, then the broker is killed (no persistence)
        # and started again. mosquitto hands a QoS 2 message to subscribers
        # only on PUBREL, so the message exists nowhere but in the device.
        # The new broker has no session: the device must PUBLISH it again,
        # not send a lone PUBREL (answered by PUBCOMP, the message lost).
        import threading
        b = self.broker()
        bport = b.port
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        self.addCleanup(srv.close)
        dropped = threading.Event()
        conns = []

        def pump(src, dst, filt):
            buf = b""
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    if not filt:
                        dst.sendall(data)
                        continue
                    buf += data
                    while len(buf) >= 2:  # whole packets: drop the first PUBREL
                        n, mult, i = 0, 1, 1
                        while i < len(buf) and i <= 4:
                            n += (buf[i] & 127) * mult
                            mult *= 128
                            i += 1
                            if buf[i - 1] < 128:
                                break
                        else:
                            break
                        if len(buf) < i + n:
                            break
                        pkt, buf = buf[:i + n], buf[i + n:]
                        if pkt[0] == 0x62 and not dropped.is_set():
                            dropped.set()
                            continue
                        dst.sendall(pkt)
            except OSError:
                pass
            for x in (src, dst):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        def serve():
            while True:
                try:
                    c, _ = srv.accept()
                except OSError:
                    return
                try:
                    u = socket.create_connection(("127.0.0.1", bport), 5)
                except OSError:
                    c.close()
                    continue
                conns.append((c, u))
                threading.Thread(target=pump, args=(c, u, True), daemon=True).start()
                threading.Thread(target=pump, args=(u, c, False), daemon=True).start()
        threading.Thread(target=serve, daemon=True).start()
        dev = self.device("""
local got = {}
local c = mqtt.client.new("q2-dev", {host = "%s", port = port, keepalive = 2,
  reconnect = {min = 200, max = 1000}})
assert(c:connect())
assert(c:subscribe("q2/x", 2, function(_, p) got[#got + 1] = p end))
say("pub", c:publish("q2/x", "exactly", {qos = 2, wait = true, timeout = 30000}))
for _ = 1, 100 do if #got > 0 then break end task.sleep(50) end
say("got", #got, table.concat(got, ","))
say("stats", c:stats().reconnects, c:stats().resent)
c:disconnect()
""" % HOST, srv.getsockname()[1])
        self.assertTrue(dropped.wait(20), dev.lines)
        time.sleep(0.3)
        b.stop(signal.SIGKILL)
        b.start()
        for c, u in conns:  # the device's connection goes with the broker
            for x in (c, u):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.assertEqual(expect_line(self, dev, "pub", 40), "pub\ttrue")
        self.finish_ok(dev)
        self.assertIn("got\t1\texactly", dev.lines, b.text()[-2000:])

    def test_two_devices_with_one_client_id_back_off(self):
        # Audit: mosquitto drops the older connection when a client id
        # connects again (MQTT-3.1.4-2), so two devices with one id take the
        # session from each other in turn. Each connection then dies young:
        # the reconnect backoff must keep growing (not restart at `min`
        # after each CONNACK), or the pair reconnects every `min` ms for ever.
        b = self.broker("log_type all\n")
        app = """
local c = mqtt.client.new("dup-id", {host = "%s", port = port, keepalive = 30,
  reconnect = {min = 100, max = 2000}})
assert(c:connect())
say("up")
wait_file(flag, 30)
say("stats", c:stats().reconnects)
c:disconnect()
""" % HOST
        d1 = self.device(app, b.port, self.flag(), name="d1.lua")
        expect_line(self, d1, "up")
        d2 = self.device(app, b.port, self.flag(), name="d2.lua")
        expect_line(self, d2, "up")
        time.sleep(8)
        self.touch(self.flag())
        self.finish_ok(d1)
        self.finish_ok(d2)
        conns = b.text().count("as dup-id")
        # with backoff 100, 200, 400, 800, 1600, 2000... each: about 10 in 8 s
        # (with the reset at each CONNACK: one every ~100 ms each, over 100)
        print("connections of dup-id in 8 s:", conns, file=sys.stderr)
        self.assertLess(conns, 30, conns)

    def test_oversized_publish_from_a_kept_session_is_skipped(self):
        # Audit: a host publishes 100 KB at QoS 1 to a topic of a device whose
        # max_packet is 4096, with a persistent session. The device skips and
        # PUBACKs it and stays connected: the broker does not send it again,
        # and a small message after it arrives.
        b = self.broker()
        dev = self.device("""
local got = {}
local c = mqtt.client.new("big-dev", {host = "%s", port = port, clean_session = false,
  max_packet = 4096, reconnect = {min = 200, max = 1000}})
assert(c:connect())
assert(c:subscribe("big/#", 1, function(t, p) got[#got + 1] = t .. "=" .. #p end))
say("subscribed")
for _ = 1, 200 do if #got > 0 then break end task.sleep(50) end
local st = c:stats()
say("result", table.concat(got, ","), st.oversized, st.reconnects, (c:status()))
c:disconnect()
""" % HOST, b.port)
        expect_line(self, dev, "subscribed")
        big = self.sb.path("big.bin")
        with open(big, "wb") as f:
            f.write(b"x" * 100000)
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(b.port), "-t", "big/1", "-q", "1",
                        "-f", big], check=True, timeout=10)
        pub(b, "big/2", "small", "-q", "1")
        self.assertEqual(expect_line(self, dev, "result", 20), "result\tbig/2=5\t1\t0\tconnected")
        self.finish_ok(dev)

    def test_username_password(self):
        pw = self.sb.path("passwd")
        subprocess.run(["mosquitto_passwd", "-b", "-c", pw, "dev", "s3cret"], check=True,
                       capture_output=True)
        os.chmod(pw, 0o600)
        b = self.broker("allow_anonymous false\npassword_file %s\n" % pw)
        dev = self.device("""
for _, cred in ipairs({{"dev", "s3cret"}, {"dev", "wrong"}, {"nobody", "x"}}) do
  local c = mqtt.client.new("auth-" .. cred[2], {host = "%s", port = port, username = cred[1],
    password = cred[2], reconnect = false})
  local ok, err = c:connect()
  say("auth", cred[1], cred[2], ok, err)
  if ok then say("pub", c:publish("a/b", "x", {qos = 1, wait = true})) c:disconnect() end
end
local anon = mqtt.client.new("anon", {host = "%s", port = port, reconnect = false})
say("anon", anon:connect())
""" % (HOST, HOST), b.port)
        self.finish_ok(dev)
        self.assertIn("auth\tdev\ts3cret\ttrue\tfalse", dev.lines)
        self.assertIn("pub\ttrue", dev.lines)
        for l in dev.lines:
            if l.startswith("auth\tdev\twrong") or l.startswith("auth\tnobody") or l.startswith("anon"):
                self.assertRegex(l, r"\tnil\tconnection refused by the broker: "
                                    r"(bad user name or password|not authorized)$")

    def test_keepalive_pings_keep_an_idle_connection(self):
        b = self.broker("log_type all\n")
        dev = self.device("""
local c = mqtt.client.new("idle-dev", {host = "%s", port = port, keepalive = 1})
assert(c:connect())
task.sleep(4000)  -- idle: only PINGREQs for 4 keepalive periods
say("after", c:status(), c:stats().reconnects)
say("pub", c:publish("idle/x", "y", {qos = 1, wait = true, timeout = 5000}))
c:disconnect()
""" % HOST, b.port)
        self.finish_ok(dev)
        self.assertIn("after\tconnected\t0", dev.lines)
        self.assertIn("pub\ttrue", dev.lines)
        self.assertGreaterEqual(b.text().count("Received PINGREQ from idle-dev"), 2)

    def test_a_handler_longer_than_the_keepalive_keeps_the_connection(self):
        # The handler runs in the reader task: while it sleeps, the PINGRESPs
        # wait unread, yet the broker still gets PINGREQs and the client does
        # not mistake the unread answers for a dead broker.
        b = self.broker("log_type all\n")
        dev = self.device("""
local c = mqtt.client.new("slow-dev", {host = "%s", port = port, keepalive = 1})
assert(c:connect())
local got = {}
assert(c:subscribe("slow/#", 1, function(t, p)
  got[#got + 1] = p
  if p == "first" then task.sleep(3500) end  -- 3.5 keepalive periods
end))
say("ready")
for _ = 1, 200 do if #got >= 2 then break end task.sleep(50) end
say("got", table.concat(got, ","), c:status(), c:stats().reconnects)
c:disconnect()
""" % HOST, b.port)
        self.assertTrue(dev.wait_line("ready", 20), "\n".join(dev.lines))
        pub(b, "slow/a", "first", "-q", "1")
        time.sleep(0.5)
        pub(b, "slow/a", "second", "-q", "1")
        self.finish_ok(dev)
        self.assertIn("got\tfirst,second\tconnected\t0", dev.lines)
        self.assertNotIn("keepalive timeout", b.text() + "\n".join(dev.lines))

    def test_publish_wait_without_reconnect_ends_when_the_connection_does(self):
        b = self.broker()
        dev = self.device("""
local c = mqtt.client.new("norc-dev", {host = "%s", port = port, keepalive = 2, reconnect = false})
assert(c:connect())
say("ready")
assert(wait_file(flag, 20))
say("pub", c:publish("x/y", "z", {qos = 1, wait = true}))
say("status", c:status())
""" % HOST, b.port, self.flag())
        self.assertTrue(dev.wait_line("ready", 20), "\n".join(dev.lines))
        b.stop()
        self.touch(self.flag())
        self.finish_ok(dev)
        line = [l for l in dev.lines if l.startswith("pub\t")]
        self.assertTrue(line and line[0].startswith("pub\tnil\tnot connected ("), dev.lines)
        self.assertIn("reconnect = false", line[0])

    def test_offline_queue_is_bounded(self):
        b = self.broker()
        port = b.port
        b.stop()
        dev = self.device("""
local c = mqtt.client.new("queue-dev", {host = "%s", port = port, reconnect = {min = 100, max = 300},
  queue = {max = 5, policy = "drop_oldest"}})
-- offline from the start: connect fails, the messages wait in the queue
say("connect", c:connect())
for i = 1, 8 do say("q", i, c:publish("q/n", tostring(i), {qos = 1})) end
local st = c:stats()
say("queued", st.queued, st.dropped)
local r = mqtt.client.new("reject-dev", {host = "%s", port = port, queue = {max = 2}})
for i = 1, 3 do say("r", i, r:publish("q/r", tostring(i), {qos = 1})) end
say("big", r:publish("q/r", string.rep("x", 40000)))
say("ready")
-- the reconnect loop runs once connect succeeded; try until the broker is back
for _ = 1, 100 do if c:connect() then break end task.sleep(100) end
say("flush", c:flush(10000))
c:disconnect()
""" % (HOST, HOST), port)
        self.assertTrue(expect_line(self, dev, "connect").startswith("connect\tnil\tconnection refused"))
        self.assertEqual(expect_line(self, dev, "queued"), "queued\t5\t3")
        self.assertIn("r\t3\tnil\tqueue full", [expect_line(self, dev, "r\t3")])
        self.assertRegex(expect_line(self, dev, "big"), r"^big\tnil\tmessage larger than the queue")
        expect_line(self, dev, "ready")
        b.start()
        self.finish_ok(dev)
        self.assertIn("flush\ttrue", dev.lines)

    def test_telemetry_example(self):
        b = self.broker()
        s = self.sub(b, "-q", "1", topic="luaos/#")
        example = os.path.join(netutil.SOURCE, "examples", "mqtt_telemetry.lua")
        dev = Device(LUAOS, example, ["--net", "user"], app_args=[HOST, str(b.port), "dev7", "3"],
                     env=self.sb.env())
        self.addCleanup(dev.kill)
        self.assertTrue(s.wait(lambda ls: "luaos/dev7/status online" in ls), s.lines)
        self.assertTrue(s.wait(lambda ls: any(l.startswith("luaos/dev7/env {") for l in ls)), s.lines)
        pub(b, "luaos/dev7/cmd/led", "toggle", "-q", "1")
        self.assertTrue(s.wait(lambda ls: "luaos/dev7/led 1" in ls), s.lines)
        pub(b, "luaos/dev7/cmd/led", "toggle", "-q", "1")
        self.assertTrue(s.wait(lambda ls: "luaos/dev7/led 0" in ls), s.lines)
        rc, err = dev.finish(30)  # three readings, 5 s apart
        self.assertEqual(rc, 0, err)
        self.assertTrue(s.wait(lambda ls: ls[-1] == "luaos/dev7/status offline"), s.lines)
        env = [l for l in s.lines if l.startswith("luaos/dev7/env ")]
        acc = [l for l in s.lines if l.startswith("luaos/dev7/accel ")]
        self.assertEqual((len(env), len(acc)), (3, 3), s.lines)
        self.assertRegex(env[0], r'^luaos/dev7/env \{"t":-?[0-9.]+,"p":[0-9.]+,"rh":[0-9.]+\}$')
        self.assertRegex(acc[0], r'^luaos/dev7/accel \{"x":-?[0-9.]+,"y":-?[0-9.]+,"z":-?[0-9.]+\}$')

    def test_hostile_broker_over_slirp(self):
        # A fake broker on the host (a plain TCP server) answers each CONNECT
        # with one malformed packet; the device reports each, and lives.
        answers = [
            (b"\x20\x03\x00\x00\x00", "malformed packet: connack: remaining length must be 2, got 3"),
            (b"\x20\xff\xff\xff\xff\x7f", "malformed packet: remaining length longer than 4 bytes"),
            (b"\x30\xff\xff\xff\x7f", "packet too large: 268435455 bytes (max_packet 4096)"),
            (b"\x20\x02\x00", "connection closed by the broker"),
            (b"\x00\x00", "malformed packet: reserved packet type 0"),
            (b"\x20\x02\x00\x09", "malformed packet: connack: connack return code 9"),
            (b"\x90\x03\x00\x01\x00", "protocol error: expected CONNACK, got SUBACK"),
        ]
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        srv.settimeout(60)
        self.addCleanup(srv.close)
        import threading

        def serve():
            for data, _ in answers:
                try:
                    c, _ = srv.accept()
                except OSError:
                    return
                with c:
                    c.recv(1024)  # the CONNECT
                    c.sendall(data)
                    time.sleep(0.2)
        threading.Thread(target=serve, daemon=True).start()
        dev = self.device("""
for i = 1, %d do
  local c = mqtt.client.new("hostile", {host = "%s", port = port, reconnect = false, max_packet = 4096})
  say("answer", i, c:connect())
end
collectgarbage()
say("alive", sys.memory().used > 0)
""" % (len(answers), HOST), srv.getsockname()[1])
        self.finish_ok(dev, 60)
        for i, (_, err) in enumerate(answers, 1):
            self.assertIn("answer\t%d\tnil\t%s" % (i, err), dev.lines)
        self.assertIn("alive\ttrue", dev.lines)


TLS_PROBE = 'local ok = pcall(require("socket").connect, "127.0.0.1", 1, {tls = true, timeout = 1}) print(ok)'


class MqttTls(unittest.TestCase):
    """mosquitto with a TLS listener and the test PKI (tests/net/testpki.py),
    once the socket module has {tls=}."""

    def setUp(self):
        netutil.skip_unless_program("mosquitto", "mosquitto_sub", "openssl")
        netutil.skip_unless_sockets(LUAOS)
        self.sb = Sandbox("luaos-mqtt-tls-")
        self.addCleanup(self.sb.remove)
        probe = self.sb.write("probe.lua", TLS_PROBE)
        r = netutil.run(LUAOS, "run", probe, "--net", "none", env=self.sb.env(), timeout=30)
        if "true" not in r.stdout:
            self.skipTest("the socket module has no {tls=} option in this build yet")
        try:
            sys.path.insert(0, netutil.HERE)
            import testpki
        except ImportError:
            self.skipTest("tests/net/testpki.py is not there yet")
        self.pki = testpki.make_pki(self.sb.path("pki"))

    def tls_broker(self, extra=""):
        pki = self.pki
        port = free_port()
        b = Broker(self.sb, "listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n%s" % (
            port, pki["ca"], pki["server_cert"], pki["server_key"], extra), port=port,
            name="broker%d" % port)
        self.addCleanup(b.stop)
        return b

    def tls_device(self, text, port):
        app = self.sb.write("tls%d.lua" % port, APP_HEAD + "local pki = {}\n" + "".join(
            "pki[%r] = %r\n" % (k, v) for k, v in self.pki.items()) + text)
        dev = Device(LUAOS, app, ["--net", "user"], app_args=[str(port)], env=self.sb.env())
        self.addCleanup(dev.kill)
        rc, err = dev.finish(60)
        self.assertEqual(rc, 0, err + "\n".join(dev.lines))
        return dev, err

    def test_tls_listener_with_the_test_ca(self):
        b = self.tls_broker()
        s = Sub(b, "--cafile", self.pki["ca"], topic="tls/#")
        self.addCleanup(s.stop)
        dev, err = self.tls_device("""
local c = mqtt.client.new("tls-dev", {host = "%s", port = port, reconnect = false,
  tls = {ca = pki.ca, server_name = "localhost"}})
say("connect", c:connect())
say("tlsinfo", c.sock:tlsinfo().version)
local got
c:subscribe("tls/#", 1, function(_, p) got = p end)
say("pub", c:publish("tls/x", "secret", {qos = 1, wait = true}))
for _ = 1, 100 do if got then break end task.sleep(50) end
say("got", got)
c:disconnect()
-- verification is on by default: without the test CA, or for another
-- name, the broker's certificate is refused, with the reason
local bad = mqtt.client.new("tls-bad", {host = "%s", port = port, reconnect = false, tls = true})
say("noca", bad:connect())
local wrong = mqtt.client.new("tls-wrong", {host = "%s", port = port, reconnect = false,
  tls = {ca = pki.ca, server_name = "wrong.example"}})
say("wrong", wrong:connect())
local plain = mqtt.client.new("plain", {host = "%s", port = port, reconnect = false, timeout = 3000})
say("plain", plain:connect())
""" % (HOST, HOST, HOST, HOST), b.port)
        self.assertIn("connect\ttrue\tfalse", dev.lines)
        self.assertIn("tlsinfo\tTLSv1.2", dev.lines)
        self.assertIn("pub\ttrue", dev.lines)
        self.assertIn("got\tsecret", dev.lines)
        self.assertTrue(s.wait(lambda ls: "tls/x secret" in ls), s.lines)
        line = {l.split("\t")[0]: l for l in dev.lines}
        self.assertRegex(line["noca"], r"^noca\tnil\t.*unknown CA", dev.lines)
        self.assertRegex(line["wrong"], r"^wrong\tnil\t.*hostname mismatch: expected wrong\.example", dev.lines)
        self.assertRegex(line["plain"], r"^plain\tnil\t", dev.lines)  # no plaintext fallback

    def test_tls_client_certificate(self):
        b = self.tls_broker("require_certificate true\nuse_identity_as_username true\n")
        dev, err = self.tls_device("""
local c = mqtt.client.new("tls-cert", {host = "%s", port = port, reconnect = false,
  tls = {ca = pki.ca, cert = pki.client_cert, key = pki.client_key, server_name = "localhost"}})
say("cert", c:connect())
say("pub", c:publish("tls/c", "x", {qos = 1, wait = true}))
c:disconnect()
local n = mqtt.client.new("tls-nocert", {host = "%s", port = port, reconnect = false,
  tls = {ca = pki.ca, server_name = "localhost"}})
say("nocert", n:connect())
""" % (HOST, HOST), b.port)
        self.assertIn("cert\ttrue\tfalse", dev.lines)
        self.assertIn("pub\ttrue", dev.lines)
        nocert = [l for l in dev.lines if l.startswith("nocert")]
        self.assertTrue(nocert and nocert[0].startswith("nocert\tnil\t"), dev.lines)


if __name__ == "__main__":
    if not shutil.which("mosquitto"):
        print("skipped: needs mosquitto (tools/setup.sh)")
    unittest.main()
