-- Every socket function and method, fed wrong types and out-of-range
-- values (also as `self`): each call returns or raises a Lua error, never
-- crashes or hangs; blocked calls are cancelled, and the sockets left
-- behind are collected.
local socket = require("socket")

local weird = {
  false, true, 0, -1, 1, 2, 255, 65535, 65536, -2 ^ 63, 2 ^ 63, 1e308, 0 / 0, math.huge,
  0.5, "", "*", "*a", "*l", "localhost", "127.0.0.1", "239.1.2.3", "nope", ("x"):rep(70000),
  "\0", {}, {timeout = -1}, {backlog = 300}, {queue = 0}, {timeout = 1}, function() end,
}

local made = {}

local function try(f, ...)
  local args = table.pack(...)
  local outcome
  local t = task.spawn(function()
    local r = table.pack(pcall(f, table.unpack(args, 1, args.n)))
    outcome = r
    for i = 2, r.n do
      if type(r[i]) == "userdata" then made[#made + 1] = r[i] end
    end
  end)
  task.sleep(2)
  if t:status() ~= "dead" then t:cancel() end
  return outcome
end

local function fuzz(f, self)
  local calls = 0
  local function call(...)
    calls = calls + 1
    if self ~= nil then return try(f, self, ...) end
    return try(f, ...)
  end
  call()
  for pos = 1, 3 do
    for _, v in ipairs(weird) do
      local args = {"127.0.0.1", 6600, nil}
      args[pos] = v
      call(args[1], args[2], args[3])
    end
  end
  return calls
end

local function methods(obj)
  local names = {}
  for k, v in pairs(getmetatable(obj).__index) do
    if type(v) == "function" then names[#names + 1] = k end
  end
  table.sort(names)
  return names
end

describe("socket robustness", function()
  local srv, c, s, u
  setup(function()
    srv = assert(socket.bind("127.0.0.1", 6600))
    c = assert(socket.connect("127.0.0.1", 6600))
    s = assert(srv:accept(1000))
    u = socket.udp()
  end)
  teardown(function()
    for _, o in ipairs(made) do
      if o.close then pcall(o.close, o) end
    end
    for _, o in ipairs({c, s, srv, u}) do o:close() end
    collectgarbage()
  end)

  for _, name in ipairs({"connect", "bind", "udp"}) do
    it("socket." .. name .. " survives bad arguments", function()
      assert.is_true(fuzz(socket[name]) > 90)
    end)
  end

  it("every method survives bad arguments and a bad self", function()
    local objects = {tcp = c, server = srv, udp = u}
    for kind, obj in pairs(objects) do
      for _, m in ipairs(methods(obj)) do
        if m ~= "close" and m ~= "shutdown" then
          local f = obj[m]
          fuzz(f, obj)
          for _, bad in ipairs({false, 1, "x", {}, c, srv, u}) do try(f, bad, "x", 1) end
        end
      end
      assert.is_string(tostring(obj), kind)
    end
    -- the sockets still work
    c:settimeout(nil)
    assert(c:send("\nalive\n")) -- after whatever the fuzzed sends left without a LF
    s:settimeout(1000)
    local line = s:receive()
    while line ~= "alive" and line do line = s:receive() end
    assert.are.equal("alive", line)
  end)

  it("a socket reached again after its finalizer ran answers \"closed\"", function()
    local back = {}
    local function make()
      -- finalizers run in reverse order of setmetatable: the sockets' first
      local holder = setmetatable({}, {__gc = function(h) back = h.socks end})
      holder.socks = {assert(socket.connect("127.0.0.1", 6600)), assert(socket.bind("*", 6601)),
                      socket.udp()}
    end
    make()
    for _ = 1, 3 do collectgarbage() end
    assert.are.equal(3, #back)
    local tcp, server, udp = back[1], back[2], back[3]
    assert.are.same({nil, "closed", ""}, {tcp:receive()})
    assert.are.same({nil, "closed", 0}, {tcp:send("x")})
    assert.are.same({nil, "closed"}, {tcp:getpeername()})
    assert.is_true(tcp:settimeout(5))
    assert.is_true(tcp:close())
    assert.are.same({nil, "closed"}, {server:accept()})
    assert.are.same({nil, "closed"}, {udp:receivefrom()})
    assert.are.same({nil, "closed"}, {udp:sendto("x", "127.0.0.1", 9)})
    assert.are.equal(0, udp:dropped())
    assert.is_true(udp:close())
  end)

  it("closes and shuts down any way, any number of times", function()
    for _, obj in ipairs({c, srv, u}) do
      fuzz(obj.close, obj)
      fuzz(obj.close, nil)
    end
    fuzz(c.shutdown, c)
    for _ = 1, 3 do collectgarbage() end
  end)
end)
