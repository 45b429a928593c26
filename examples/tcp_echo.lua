-- TCP echo server: every line a client sends comes back to it, each client
-- served by its own task. Idle clients are dropped after a minute.
--
--   luaos run examples/tcp_echo.lua [port] [clients]
--
-- port: default 7000. Try it from the host with `nc DEVICE_IP 7000`.
-- clients: when given, the app also starts that many clients of its own
-- over loopback (127.0.0.1), checks their echoes and stops: a self-test
-- that works with --net none.
local socket = require("socket")

local port_arg, clients_arg = ...
local port = math.tointeger(tonumber(port_arg)) or 7000
local clients = math.tointeger(tonumber(clients_arg))

local srv = assert(socket.bind("*", port))
print(string.format("tcp_echo: listening on port %d", port))

local function serve(c)
  local ip, p = c:getpeername()
  print(string.format("tcp_echo: %s:%d connected", ip, p))
  c:settimeout(60000)
  local lines = 0
  while true do
    local line, err = c:receive("*l")
    if not line then
      print(string.format("tcp_echo: %s:%d %s after %d lines", ip, p, err, lines))
      break
    end
    lines = lines + 1
    if not c:send(line .. "\n") then break end
  end
  c:close()
end

local function accept_loop()
  while true do
    local c = srv:accept()
    if not c then return end -- the server was closed
    task.spawn(serve, c)
  end
end

if not clients then
  accept_loop() -- until the app is stopped
else
  local acceptor = task.spawn(accept_loop)
  local tasks = {}
  for i = 1, clients do
    tasks[i] = task.spawn(function()
      local c = assert(socket.connect("127.0.0.1", port, {timeout = 5000}))
      for n = 1, 3 do
        local msg = string.format("hello %d from client %d", n, i)
        assert(c:send(msg .. "\n"))
        assert(c:receive() == msg, "wrong echo")
      end
      c:close()
    end)
  end
  for i = 1, clients do assert(tasks[i]:join()) end
  print(string.format("tcp_echo: %d clients echoed", clients))
  srv:close()
  acceptor:join()
end
