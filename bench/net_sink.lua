-- A TCP sink in Lua (the socket module), for tools/bench-net: accepts
-- iperf 2 clients on port 5002 and reads until they close.
local socket = require("socket")
local srv = assert(socket.bind("*", 5002))
print("sink on 5002")
while true do
  local c = srv:accept()
  if c then
    task.spawn(function()
      local n = 0
      while true do
        local data, _, partial = c:receive(65536)
        local got = data or partial
        if got then n = n + #got end
        if not data then break end
      end
      c:close()
      print(("sink: %d bytes"):format(n))
    end)
  end
end
