-- A UDP heartbeat for tools/bench-net --heartbeat: every 1000 ms (an
-- exact rate: timer.every) this device sends "hb ID SEQ LATE" to the
-- collector; LATE is how many ms after its schedule (start + SEQ s) the
-- device itself ran the send.
--
--   luaos run --net vde:PATH --ip 192.0.2.X/24 bench/net_heartbeat.lua ID COLLECTOR_IP [PORT]
local socket = require("socket")

local id, collector, port = ...
assert(id and collector, "usage: net_heartbeat.lua ID COLLECTOR_IP [PORT]")
port = math.tointeger(tonumber(port or "9999"))

local u = assert(socket.udp())
local t0 = sys.uptime()
timer.every(1000, function(h)
  local late = sys.uptime() - (t0 + h:count() * 1000)
  local ok, err = u:sendto(("hb %s %d %.3f"):format(id, h:count(), late), collector, port)
  if not ok then print("net_heartbeat: " .. tostring(err)) end
end)
