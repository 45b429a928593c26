-- lwIP's own iperf 2 server (C level, no Lua in the data path), for
-- tools/bench-net: reports each session as it ends.
local net = require("net")
assert(net.iperf_server(5001))
print("iperf server on 5001")
while true do
  local r = net.iperf_wait()
  print(("%s: %d bytes in %d ms, %d kbit/s"):format(r.result, r.bytes, r.ms, r.kbps))
end
