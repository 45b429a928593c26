-- UDP beacon: announce this device every second on UDP port 5005 and
-- print the beacons heard from others (and from itself, over loopback).
--
--   luaos run examples/udp_beacon.lua [count] [destination]
--
-- count: beacons to send before stopping (default: forever).
-- destination: where to send them, default the local broadcast address
-- 255.255.255.255 (every device on the segment); a multicast group such
-- as 239.255.0.1 is joined first; 127.0.0.1 works with --net none.
local socket = require("socket")

local PORT = 5005
local count_arg, dest = ...
local count = math.tointeger(tonumber(count_arg)) or math.huge
dest = dest or "255.255.255.255"

local name = sys.board()
local ok, net = pcall(require, "net")
if ok and net.status().hostname then name = net.status().hostname end

local u = socket.udp()
u:setoption("reuseaddr", true) -- several listeners on one host
assert(u:setsockname("*", PORT))
u:setoption("broadcast", true)
local first = tonumber(dest:match("^(%d+)%."))
if first and first >= 224 and first <= 239 then
  local joined, err = u:join(dest)
  if not joined then print("udp_beacon: cannot join " .. dest .. ": " .. err) end
end

local listener = task.spawn(function()
  while true do
    local data, ip, port = u:receivefrom()
    if not data then return end -- closed
    local who, seq = data:match("^beacon (%S+) (%d+)")
    if who then
      print(string.format("udp_beacon: heard %s #%s from %s:%d", who, seq, ip, port))
    end
  end
end)

local seq = 0
while seq < count do
  seq = seq + 1
  local sent, err = u:sendto(string.format("beacon %s %d %.0f", name, seq, sys.uptime()), dest, PORT)
  if not sent then print("udp_beacon: send failed: " .. err) end
  task.sleep(1000)
end
u:close()
listener:join()
if u:dropped() > 0 then print("udp_beacon: dropped " .. u:dropped() .. " beacons") end
