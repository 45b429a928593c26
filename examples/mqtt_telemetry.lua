-- Telemetry over MQTT: publish both sensors every 5 s, and toggle LED0 on
-- each message to the command topic.
--   luaos run examples/mqtt_telemetry.lua -- [HOST [PORT [DEVICE [COUNT]]]]
-- HOST defaults to 10.0.2.2 (the host, seen through the simulator's slirp
-- network or QEMU's), PORT to 1883, DEVICE to the board's hostname. COUNT
-- (for tests): stop after that many publishes; without it, run forever.
--   mosquitto_sub -t 'luaos/#' -v                     # watch it
--   mosquitto_pub -t luaos/luaos-0/cmd/led -m toggle  # LED0 on/off
local mqtt = require("mqtt")
local net = require("net")
local bme280 = require("bme280")
local lis3dh = require("lis3dh")

local host, port, device, count = ...
host = host or "10.0.2.2"
port = tonumber(port) or 1883
count = tonumber(count)
local lg = log.tag("telemetry")

net.wait_up(10000)
device = device or net.status().hostname or "luaos"
local base = "luaos/" .. device

local env = bme280.new(0, 0)
local accel = lis3dh.new(0, 1, {range = 2, rate = 10})
gpio.mode("LED0", "out")

local c = mqtt.client.new(device, {
  host = host, port = port, keepalive = 30,
  -- the broker tells everyone when the device goes away without a goodbye
  will = {topic = base .. "/status", payload = "offline", qos = 1, retain = true},
  -- while offline, keep the newest 20 readings (older ones are dropped)
  queue = {max = 20, policy = "drop_oldest"},
  on_connect = function(cl) cl:publish(base .. "/status", "online", {qos = 1, retain = true}) end,
})

-- The broker may not be up yet: try until it is (afterwards the client
-- reconnects by itself, with backoff).
local delay = 1000
while true do
  local ok, err = c:connect()
  if ok then break end
  lg.warn("connect to %s:%d: %s (again in %d ms)", host, port, err, delay)
  task.sleep(delay)
  delay = math.min(delay * 2, 30000)
end
lg.info("connected to %s:%d as %s", host, port, device)

c:subscribe(base .. "/cmd/led", 1, function(_, payload)
  local v = gpio.toggle("LED0")
  lg.info("command %q: LED0 %s", payload, v == 1 and "on" or "off")
  c:publish(base .. "/led", tostring(v), {qos = 1, retain = true})
end)

local n = 0
local next_at = sys.uptime()
while not count or n < count do
  local ok_e, e = pcall(env.read, env)
  local ok_a, a = pcall(accel.read, accel)
  if ok_e then
    c:publish(base .. "/env", ('{"t":%.2f,"p":%.1f,"rh":%.1f}'):format(e.temperature, e.pressure / 100,
      e.humidity), {qos = 1})
  else
    lg.error("bme280: %s", e)
  end
  if ok_a then
    c:publish(base .. "/accel", ('{"x":%.3f,"y":%.3f,"z":%.3f}'):format(a.x, a.y, a.z), {qos = 0})
  else
    lg.error("lis3dh: %s", a)
  end
  n = n + 1
  next_at = next_at + 5000
  task.sleep(math.max(0, next_at - sys.uptime()))
end
c:publish(base .. "/status", "offline", {qos = 1, retain = true})
c:flush(10000)
c:disconnect() -- a clean goodbye: the broker does not send the will
