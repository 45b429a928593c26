-- MQTT publish figures for tools/bench-mqtt: HOST PORT N [PAYLOAD_BYTES].
-- qos0: N QoS 0 publishes back to back, closed by one QoS 1 publish whose
-- PUBACK says the broker has read them all (it handles a connection's
-- packets in order); qos1: N QoS 1 publishes one after another, each
-- waiting for its PUBACK (round trips). Prints "qos0 N SECONDS" and
-- "qos1 N SECONDS".
local mqtt = require("mqtt")
local net = require("net")
local host, port, n, size = ...
port, n, size = tonumber(port), tonumber(n) or 20000, tonumber(size) or 32
net.wait_up(10000)
local c = mqtt.client.new("bench-lua", {host = host, port = port, queue = {max = 1000, bytes = 1 << 20}})
assert(c:connect())
local payload = string.rep("x", size)
local t0 = sys.uptime()
for _ = 1, n do assert(c:publish("bench/qos0", payload)) end
assert(c:publish("bench/qos0", "end", {qos = 1, wait = true}))
print("qos0", n, (sys.uptime() - t0) / 1000)
local m = n // 10
t0 = sys.uptime()
for _ = 1, m do assert(c:publish("bench/qos1", payload, {qos = 1, wait = true})) end
print("qos1", m, (sys.uptime() - t0) / 1000)
c:disconnect()
