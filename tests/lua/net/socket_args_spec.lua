-- Argument errors of the socket module: raised (not returned), naming the
-- function as docs/socket.md does, before anything happens.
local socket = require("socket")

local function raises(msg, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "no error; expected: " .. msg)
  assert.truthy(tostring(err):find(msg, 1, true), "got: " .. tostring(err))
end

describe("socket argument checks", function()
  local srv, c, u
  setup(function()
    srv = assert(socket.bind("127.0.0.1", 6500))
    c = assert(socket.connect("127.0.0.1", 6500))
    u = socket.udp()
  end)
  teardown(function()
    c:close()
    srv:close()
    u:close()
  end)

  it("socket.connect", function()
    raises("bad argument #1 to 'socket.connect' (string expected, got no value)", socket.connect)
    raises("bad argument #2 to 'socket.connect' (number expected, got no value)",
           socket.connect, "127.0.0.1")
    raises("bad argument #2 to 'socket.connect' (port must be 1..65535)", socket.connect, "127.0.0.1", 0)
    raises("bad argument #2 to 'socket.connect' (port must be 1..65535)",
           socket.connect, "127.0.0.1", 65536)
    raises("bad argument #2 to 'socket.connect' (number has no integer representation)",
           socket.connect, "127.0.0.1", 80.5)
    raises("bad argument #3 to 'socket.connect' (table expected, got number)",
           socket.connect, "127.0.0.1", 80, 5)
    raises("bad argument #3 to 'socket.connect' (unknown option 'timeuot'; did you mean 'timeout'?)",
           socket.connect, "127.0.0.1", 80, {timeuot = 5})
    raises("bad argument #3 to 'socket.connect' (timeout must be a non-negative number of ms)",
           socket.connect, "127.0.0.1", 80, {timeout = -5})
  end)

  it("socket.bind and socket.udp", function()
    raises("bad argument #1 to 'socket.bind' (string expected, got table)", socket.bind, {}, 80)
    raises("bad argument #2 to 'socket.bind' (port must be 0..65535)", socket.bind, "*", -1)
    raises("bad argument #3 to 'socket.bind' (backlog must be an integer from 1 to 255)",
           socket.bind, "*", 80, {backlog = 0})
    raises("bad argument #3 to 'socket.bind' (unknown option 'backlgo'; did you mean 'backlog'?)",
           socket.bind, "*", 80, {backlgo = 4})
    raises("bad argument #1 to 'socket.udp' (queue must be an integer from 1 to 4096)",
           socket.udp, {queue = 0})
    raises("bad argument #1 to 'socket.udp' (table expected, got string)", socket.udp, "x")
  end)

  it("sock methods", function()
    raises("bad argument #1 to 'sock:receive' (invalid pattern '*x'; valid: *l, *a or a byte count)",
           function() return c:receive("*x") end)
    raises("bad argument #1 to 'sock:receive' (pattern (\"*l\", \"*a\" or a byte count) expected, got table)",
           function() return c:receive({}) end)
    raises("bad argument #1 to 'sock:receive' (byte count must be >= 0)", function() return c:receive(-1) end)
    raises("bad argument #1 to 'sock:receive' (number has no integer representation)",
           function() return c:receive(1.5) end)
    raises("bad argument #2 to 'sock:receive' (string expected, got table)",
           function() return c:receive(1, {}) end)
    raises("bad argument #1 to 'sock:send' (string expected, got no value)", function() return c:send() end)
    raises("bad argument #2 to 'sock:send' (number expected, got string)",
           function() return c:send("x", "a") end)
    raises("bad argument #1 to 'sock:settimeout' (number expected, got string)",
           function() return c:settimeout("x") end)
    raises("bad argument #1 to 'sock:settimeout' (duration must be a non-negative number of ms)",
           function() return c:settimeout(-1) end)
    raises("bad argument #1 to 'sock:shutdown' (invalid option 'write'; valid: both, send, receive)",
           function() return c:shutdown("write") end)
    raises("bad argument #1 to 'sock:setoption' (invalid option 'linger'; valid: keepalive, nodelay)",
           function() return c:setoption("linger", true) end)
    raises("bad argument #2 to 'sock:setoption' (boolean expected, got no value)",
           function() return c:setoption("keepalive") end)
    raises("bad argument #1 to 'send' (tcp socket expected, got luaos.socket.udp)",
           function() return c.send(u, "x") end)
    raises("bad argument #1 to 'close' (tcp socket expected, got table)", function() return c.close({}) end)
  end)

  it("server and udp methods", function()
    raises("bad argument #1 to 'server:accept' (number expected, got string)",
           function() return srv:accept("soon") end)
    raises("bad argument #1 to 'u:sendto' (string expected, got no value)", function() return u:sendto() end)
    raises("bad argument #3 to 'u:sendto' (number expected, got no value)",
           function() return u:sendto("x", "127.0.0.1") end)
    raises("bad argument #1 to 'u:sendto' (datagram too large (at most 65507 bytes))",
           function() return u:sendto(string.rep("x", 65508), "127.0.0.1", 9) end)
    raises("bad argument #2 to 'u:setsockname' (port must be 0..65535)",
           function() return u:setsockname("*", 65536) end)
    raises("bad argument #1 to 'u:join' (multicast group address expected (224.0.0.0 .. 239.255.255.255))",
           function() return u:join("10.0.0.1") end)
    raises("bad argument #2 to 'u:join' (interface address expected (a dotted quad or \"*\"))",
           function() return u:join("239.1.2.3", "eth0") end)
    raises("bad argument #1 to 'u:setoption' (invalid option 'nodelay'; valid: reuseaddr, broadcast)",
           function() return u:setoption("nodelay", true) end)
    raises("bad argument #1 to 'u:receivefrom' (duration must be a non-negative number of ms)",
           function() return u:receivefrom(-1) end)
  end)

  it("blocking calls outside a task are refused", function()
    local co = coroutine.wrap(function() return socket.connect("127.0.0.1", 6500) end)
    raises("socket.connect: called from a plain coroutine inside a task; use task.spawn", co)
  end)

  it("names that cannot resolve return errors, not raise", function()
    assert.are.same({nil, "host not found"}, {socket.connect("", 80)})
    local ok, err = socket.connect("no.such.host.invalid", 80, {timeout = 1000})
    assert.is_nil(ok)
    assert.is_string(err) -- "network is unreachable" without a DNS server (--net none)
    assert.are.same({nil, "host not found"}, {socket.bind("no.such.host.invalid", 80)})
  end)
end)
