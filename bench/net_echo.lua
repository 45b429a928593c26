-- A TCP line echo in Lua (the socket module) on port 7, for tools/bench-net.
local socket = require("socket")
local srv = assert(socket.bind("*", 7))
print("echo on 7")
while true do
  local c = srv:accept()
  if c then
    c:setoption("nodelay", true)
    task.spawn(function()
      while true do
        local line = c:receive("*l")
        if not line then break end
        if not c:send(line .. "\n") then break end
      end
      c:close()
    end)
  end
end
