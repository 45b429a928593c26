-- examples/mqtt_telemetry.lua as an app over loopback (--net none, virtual
-- time) against a scripted broker: both sensors every 5 s, the command
-- topic toggles LED0, the status topic says online, then offline. The same
-- example against mosquitto: tests/net/test_mqtt.py.
local mqtt = require("mqtt")
local socket = require("socket")
local sim = require("sim")
local app = require("testing.app")
local P = mqtt.packet

local function read(c)
  local h = c:receive(1)
  if not h then return nil end
  local lenbytes = ""
  repeat
    local b = assert(c:receive(1))
    lenbytes = lenbytes .. b
  until b:byte() < 128
  local n = P.decode_length(lenbytes, 1)
  return assert(P.decode(h .. lenbytes .. (n > 0 and assert(c:receive(n)) or "")))
end

describe("examples/mqtt_telemetry.lua", function()
  it("publishes both sensors every 5 s and toggles LED0 on commands", function()
    local srv = assert(socket.bind("127.0.0.1", 7700))
    local pubs, connect = {}, nil
    local broker = task.spawn(function()
      local c = srv:accept()
      c:setoption("nodelay", true)
      connect = read(c)
      c:send(P.encode({type = "connack", code = 0}))
      while true do
        local p = read(c)
        if not p then return end
        if p.type == "subscribe" then
          c:send(P.encode({type = "suback", id = p.id, codes = {p.topics[1][2]}}))
          for i = 1, 3 do
            c:send(P.encode({type = "publish", topic = p.topics[1][1], payload = "toggle", qos = 1, id = i}))
          end
        elseif p.type == "publish" then
          pubs[#pubs + 1] = {p.topic, p.payload, p.qos, p.retain, sys.uptime()}
          if p.qos == 1 then c:send(P.encode({type = "puback", id = p.id})) end
        elseif p.type == "disconnect" then
          return
        end
      end
    end)
    local t0 = sys.uptime()
    local t = app.run("examples/mqtt_telemetry.lua", {args = {"127.0.0.1", "7700", "d1", "3"}})
    assert.are.same({true}, {t:join()})
    broker:join()
    srv:close()
    assert.are.equal("d1", connect.client_id)
    assert.are.same({topic = "luaos/d1/status", payload = "offline", qos = 1, retain = true}, connect.will)
    local by = {}
    for _, p in ipairs(pubs) do
      by[p[1]] = by[p[1]] or {}
      table.insert(by[p[1]], p)
    end
    assert.are.same({"online", "offline"}, {by["luaos/d1/status"][1][2], by["luaos/d1/status"][2][2]})
    assert.are.equal(3, #by["luaos/d1/env"])
    assert.are.equal(3, #by["luaos/d1/accel"])
    assert.matches('^{"t":%-?[%d.]+,"p":[%d.]+,"rh":[%d.]+}$', by["luaos/d1/env"][1][2])
    assert.matches('^{"x":%-?[%d.]+,"y":%-?[%d.]+,"z":%-?[%d.]+}$', by["luaos/d1/accel"][1][2])
    -- 5 s apart (virtual time; the first read also waits for the sensors' start-up)
    local e = by["luaos/d1/env"]
    for i = 2, 3 do
      local dt = e[i][5] - e[i - 1][5]
      assert.is_true(dt > 4800 and dt < 5200, dt)
    end
    -- three toggles: on, off, on; each reported on luaos/d1/led
    local leds = {}
    for _, p in ipairs(by["luaos/d1/led"]) do leds[#leds + 1] = p[2] end
    assert.are.same({"1", "0", "1"}, leds)
    assert.is_true(sim.led("LED0"))
    assert.is_true(sys.uptime() - t0 >= 10000)
  end)
end)
