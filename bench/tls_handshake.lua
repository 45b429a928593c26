-- TLS handshakes per second from the device (tools/bench-tls): full
-- handshakes (no resumption) to a server on the host, one after the other.
--   luaos run bench/tls_handshake.lua -- HOST PORT CA_FILE SECONDS
local socket = require("socket")
local sys = require("sys")

local host, port, ca, seconds = ...
port, seconds = tonumber(port), tonumber(seconds or 5)
local opts = {timeout = 10000, tls = {ca = ca, server_name = "localhost"}}
-- One to warm up (parses the CA once more, like every connect with ca=).
local c = assert(socket.connect(host, port, opts))
c:close()
local n, t0 = 0, sys.uptime()
local stop = t0 + seconds * 1000
while sys.uptime() < stop do
  c = assert(socket.connect(host, port, opts))
  c:close()
  n = n + 1
end
local ms = sys.uptime() - t0
print(string.format("handshakes %d in %.0f ms: %.1f/s, %.2f ms each", n, ms, n * 1000 / ms, ms / n))
