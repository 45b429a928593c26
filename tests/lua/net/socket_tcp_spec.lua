-- TCP over lwIP's loopback (127.0.0.1, present with --net none): echo,
-- many connections, back-pressure from a slow reader, half-close, errors,
-- timeouts, and sockets whose task is cancelled mid-call. Runs on virtual
-- time (the default) and with --real-time (tests/CMakeLists.txt).
local socket = require("socket")

-- Each test uses its own ports: a closed connection may linger in TIME_WAIT.
local port = 7000
local function next_port()
  port = port + 1
  return port
end

-- A line echo server: one task accepting, one task per connection.
-- A listener and a connected pair on a fresh loopback port.
local function pair()
  local p = next_port()
  local srv = assert(socket.bind("127.0.0.1", p))
  local c = assert(socket.connect("127.0.0.1", p))
  return srv, c, assert(srv:accept(1000)), p
end

local function echo_server(p, opts)
  local srv = assert(socket.bind("127.0.0.1", p, opts))
  local served = {n = 0}
  local acceptor = task.spawn(function()
    while true do
      local c = srv:accept()
      if not c then return end
      served.n = served.n + 1
      task.spawn(function()
        while true do
          local line = c:receive("*l")
          if not line then break end
          assert(c:send(line .. "\n"))
        end
        c:close()
      end)
    end
  end)
  return srv, acceptor, served
end

local function pattern(n, seed)
  local t = {}
  for i = 1, n // 16 do t[i] = string.format("%015d\n", (i + seed) % 1000000007) end
  return table.concat(t)
end

describe("socket (TCP over loopback)", function()
  it("echoes lines between a client task and a server task", function()
    local p = next_port()
    local srv, acceptor = echo_server(p)
    local c = assert(socket.connect("127.0.0.1", p))
    assert.are.equal(12, c:send("hello\nworld\n"))
    assert.are.equal("hello", c:receive("*l"))
    assert.are.equal("world", c:receive()) -- "*l" is the default
    assert.are.equal(4, c:send("abc\n"))
    assert.are.equal("abc", c:receive("l"))
    assert.is_true(c:close())
    assert.is_true(c:close()) -- twice is fine
    srv:close()
    assert.is_true(acceptor:join())
  end)

  it("resolves localhost and reports both ends' addresses", function()
    local p = next_port()
    local srv = assert(socket.bind("*", p))
    assert.are.same({"0.0.0.0", p}, {srv:getsockname()})
    local c = assert(socket.connect("localhost", p))
    local s = assert(srv:accept(1000))
    local cip, cport = c:getsockname()
    assert.are.equal("127.0.0.1", cip)
    assert.are.same({"127.0.0.1", p}, {c:getpeername()})
    assert.are.same({cip, cport}, {s:getpeername()})
    assert.are.same({"127.0.0.1", p}, {s:getsockname()})
    assert.truthy(tostring(c):find("127.0.0.1:" .. p, 1, true))
    assert.is_true(c:setoption("nodelay", true))
    assert.is_true(c:setoption("keepalive", true))
    assert.is_true(c:setoption("keepalive", false))
    c:close()
    s:close()
    assert.are.same({nil, "closed"}, {c:getpeername()})
    srv:close()
    assert.are.same({nil, "closed"}, {srv:accept(0)})
  end)

  it("binds port 0 to a free port that getsockname reports", function()
    local srv = assert(socket.bind("127.0.0.1", 0))
    local _, p = srv:getsockname()
    assert.is_true(p > 0)
    local c = assert(socket.connect("127.0.0.1", p))
    local s = assert(srv:accept(1000))
    assert(c:send("ok\n"))
    assert.are.equal("ok", s:receive())
    c:close()
    s:close()
    srv:close()
  end)

  it("receives counts, lines with CRs stripped, prefixes and everything to the close", function()
    local srv, c, s = pair()
    assert(c:send("line one\r\nline\rtwo\n12345678rest of it"))
    c:close()
    assert.are.equal("line one", s:receive("*l"))
    assert.are.equal("linetwo", s:receive("*l"))
    assert.are.equal("1234", s:receive(4))
    assert.are.equal(">5678", s:receive(4, ">"))
    assert.are.equal("", s:receive(0))
    assert.are.equal("rest of it", s:receive("*a"))
    assert.are.same({nil, "closed", ""}, {s:receive("a")}) -- nothing left at all
    assert.are.same({nil, "closed", ""}, {s:receive("*l")})
    assert.are.same({nil, "closed", "p"}, {s:receive(3, "p")})
    s:close()
    srv:close()
  end)

  it("receives a line longer than the window, CRs dropped, sent in small pieces", function()
    local p = next_port()
    local srv = assert(socket.bind("127.0.0.1", p))
    local piece = string.rep("abc\r", 256) -- 1 KB
    local writer = task.spawn(function()
      local c = assert(socket.connect("127.0.0.1", p))
      c:setoption("nodelay", true)
      for _ = 1, 1024 do assert(c:send(piece)) end -- 1 MB without a LF
      assert(c:send("end\r\nnext\n"))
      c:close()
      return true
    end)
    local s = assert(srv:accept(1000))
    local line = s:receive("*l")
    assert.are.equal(768 * 1024 + 3, #line)
    assert.is_true(line == string.rep("abc", 256 * 1024) .. "end")
    assert.are.equal("next", s:receive())
    assert.is_true(writer:join())
    s:close()
    srv:close()
  end)

  it("a count arriving in small pieces, and two readers of one socket, each get theirs", function()
    -- A waiting receive is woken only once it can finish (its count, the
    -- drain mark, a line's LF): pieces below the count must not lose it,
    -- and a line reader next to a count reader must still see its LF.
    local srv, c, s = pair()
    c:setoption("nodelay", true)
    local counted = task.spawn(function() return s:receive(3000) end)
    task.yield()
    local want = {}
    for i = 1, 30 do
      want[i] = string.rep(string.char(65 + i % 26), 100)
      assert(c:send(want[i]))
      task.sleep(1)
    end
    local _, got = counted:join()
    assert.is_true(got == table.concat(want), "the 3000 bytes, in order")
    -- Two readers: the count reader takes 5 bytes, then the line reader
    -- (waiting since before) must wake for a LF that comes alone.
    s:settimeout(2000) -- a missed wake-up fails, not hangs
    local liner = task.spawn(function() return s:receive("*l") end)
    local five = task.spawn(function() return s:receive(5) end)
    task.yield()
    assert(c:send("12345"))
    assert.are.same({true, "12345"}, {five:join()})
    task.sleep(5)
    local t0 = require("sys").uptime()
    assert(c:send("tail\n"))
    assert.are.same({true, "tail"}, {liner:join()})
    assert.is_true(require("sys").uptime() - t0 < 1000, "the line reader woke only at its timeout")
    c:close()
    s:close()
    srv:close()
  end)

  it("send takes string.sub-like ranges and returns the last index sent", function()
    local srv, c, s = pair()
    assert.are.equal(6, c:send("0123456789", 3, 6))
    assert.are.equal(10, c:send("0123456789", -2))
    assert.are.equal(4, c:send("0123456789", 5, 2)) -- empty range: i - 1
    assert.are.equal("234589", s:receive(6))
    c:close()
    s:close()
    srv:close()
  end)

  it("serves 60 concurrent connections, each from its own task", function()
    local p = next_port()
    local srv, acceptor, served = echo_server(p, {backlog = 64})
    local n = 60
    local clients = {}
    for i = 1, n do
      clients[i] = task.spawn(function()
        local c = assert(socket.connect("127.0.0.1", p, {timeout = 30000}))
        for k = 1, 5 do
          local msg = string.format("client %d message %d %s", i, k, string.rep("x", i * 10))
          assert(c:send(msg .. "\n"))
          local back, err = c:receive("*l")
          if back ~= msg then return false, err or back end
        end
        c:close()
        return true
      end)
    end
    for i = 1, n do
      assert.are.same({true, true}, {clients[i]:join()})
    end
    assert.are.equal(n, served.n)
    srv:close()
    acceptor:join()
  end)

  it("queues at most `backlog` connections; the next SYNs go unanswered", function()
    local p = next_port()
    local srv = assert(socket.bind("127.0.0.1", p, {backlog = 2}))
    local clients = {}
    for i = 1, 4 do
      clients[i] = task.spawn(function()
        local c, err = socket.connect("127.0.0.1", p, {timeout = 500})
        if c then c:close() end
        return c ~= nil, err
      end)
      task.sleep(20) -- connect in order
    end
    local results = {}
    for i = 1, 4 do results[i] = {clients[i]:join()} end
    assert.are.same({{true, true}, {true, true}, {true, false, "timeout"}, {true, false, "timeout"}},
                    results)
    assert.truthy(tostring(srv):find("(2 waiting)", 1, true))
    assert.truthy(srv:accept(0))
    assert.truthy(srv:accept(0))
    assert.are.same({nil, "timeout"}, {srv:accept(0)})
    -- room again
    local c = assert(socket.connect("127.0.0.1", p, {timeout = 500}))
    assert.truthy(srv:accept(100))
    c:close()
    srv:close()
  end)

  it("a slow reader closes the window: 8 MB go through with lwIP's memory bounded", function()
    local p = next_port()
    local srv = assert(socket.bind("127.0.0.1", p))
    local total = 8 * 1024 * 1024
    local chunk = pattern(64 * 1024, 7)
    local sent = 0
    local writer = task.spawn(function()
      local c = assert(socket.connect("127.0.0.1", p))
      for _ = 1, total // #chunk do
        assert.are.equal(#chunk, c:send(chunk))
        sent = sent + #chunk
      end
      c:close()
      return true
    end)
    local s = assert(srv:accept(1000))
    local base = sys.memory().net
    local got, peak, ahead, ok_data = 0, 0, 0, true
    while true do
      local data, err, part = s:receive(16384)
      data = data or part
      -- every byte in order: the stream is `chunk` over and over
      local off = got % #chunk
      if data ~= (chunk .. chunk):sub(off + 1, off + #data) then ok_data = false end
      got = got + #data
      peak = math.max(peak, sys.memory().net - base)
      ahead = math.max(ahead, sent - got)
      if err then
        assert.are.equal("closed", err)
        break
      end
      task.sleep(1)
    end
    assert.is_true(ok_data)
    assert.are.equal(total, got)
    assert.is_true(writer:join())
    -- the writer never got far ahead of the reader: TCP back-pressure, not buffering
    assert.is_true(ahead <= 1024 * 1024, "writer was " .. ahead .. " bytes ahead")
    assert.is_true(peak < 2 * 1024 * 1024, "lwIP's heap grew by " .. peak .. " bytes")
    s:close()
    srv:close()
  end)

  it("a peer that never reads blocks the writer with lwIP's memory bounded", function()
    local p = next_port()
    local srv = assert(socket.bind("127.0.0.1", p))
    local base = sys.memory().net
    local queued = 0
    local writer = task.spawn(function()
      local c = assert(socket.connect("127.0.0.1", p))
      local chunk = string.rep("n", 64 * 1024)
      for _ = 1, 256 do -- 16 MB: far more than the window and the send buffer
        assert(c:send(chunk))
        queued = queued + #chunk
      end
    end)
    local s = assert(srv:accept(1000))
    task.sleep(500)
    assert.are.equal("waiting", writer:status())
    assert.is_true(queued <= 1024 * 1024, queued .. " bytes queued")
    local grown = sys.memory().net - base
    assert.is_true(grown < 2 * 1024 * 1024, "lwIP's heap grew by " .. grown .. " bytes")
    writer:cancel()
    s:close()
    srv:close()
  end)

  it("streams 1 MB over each of 10 connections at once, every byte in order", function()
    local p = next_port()
    local srv = assert(socket.bind("127.0.0.1", p))
    local n, size = 10, 1024 * 1024
    local senders, receivers, streams = {}, {}, {}
    for i = 1, n do streams[i] = pattern(size, i) end
    for i = 1, n do
      senders[i] = task.spawn(function()
        local c = assert(socket.connect("127.0.0.1", p))
        assert(c:send(streams[i]))
        c:close()
        return true
      end)
    end
    for i = 1, n do
      local s = assert(srv:accept(1000))
      receivers[i] = task.spawn(function()
        local data = s:receive("*a")
        s:close()
        return data
      end)
    end
    local seen = {}
    for i = 1, n do
      assert.is_true(senders[i]:join())
      local ok, data = receivers[i]:join()
      assert.is_true(ok)
      assert.are.equal(size, #data)
      for k = 1, n do
        if data == streams[k] then seen[k] = true end
      end
    end
    for k = 1, n do assert.is_true(seen[k], "stream " .. k) end
    srv:close()
  end)

  it("receives several MB with \"*a\" and with a count larger than the window", function()
    local p = next_port()
    local srv = assert(socket.bind("127.0.0.1", p))
    local data = pattern(3 * 1024 * 1024, 11)
    local writer = task.spawn(function()
      local c = assert(socket.connect("127.0.0.1", p))
      assert.are.equal(#data, c:send(data))
      assert.are.equal(#data, c:send(data))
      c:close()
      return true
    end)
    local s = assert(srv:accept(1000))
    local first = s:receive(#data)
    assert.are.equal(#data, #first)
    assert.is_true(first == data)
    local rest = s:receive("*a")
    assert.are.equal(#data, #rest)
    assert.is_true(rest == data)
    assert.is_true(writer:join())
    s:close()
    srv:close()
  end)

  it("half-close: the peer reads to the end, then answers on the open direction", function()
    local p = next_port()
    local srv = assert(socket.bind("127.0.0.1", p))
    local server = task.spawn(function()
      local s = assert(srv:accept())
      local all = assert(s:receive("*a"))
      assert(s:send("got " .. #all .. " bytes\n"))
      assert(s:send("bye\n"))
      s:close()
      return all
    end)
    local c = assert(socket.connect("127.0.0.1", p))
    assert(c:send("part one, "))
    assert(c:send("part two"))
    assert.is_true(c:shutdown("send"))
    assert.are.same({nil, "closed", 0}, {c:send("more")})
    assert.are.equal("got 18 bytes", c:receive())
    assert.are.equal("bye\n", c:receive("*a"))
    assert.are.same({true, "part one, part two"}, {server:join()})
    c:close()
    srv:close()
  end)

  it("shutdown(\"receive\") discards what comes; \"both\" ends both directions", function()
    local srv, c, s = pair()
    assert(c:send("ignored\n"))
    task.sleep(10)
    assert.is_true(s:shutdown("receive"))
    assert.are.same({nil, "closed", ""}, {s:receive()})
    assert(s:send("still talking\n"))
    assert.are.equal("still talking", c:receive())
    assert.is_true(c:shutdown())
    assert.are.same({nil, "closed", 0}, {c:send("x")})
    assert.are.same({nil, "closed", ""}, {c:receive()})
    c:close()
    s:close()
    srv:close()
  end)

  it("connect to a closed port is refused", function()
    local p = next_port()
    assert.are.same({nil, "connection refused"}, {socket.connect("127.0.0.1", p)})
    local srv = assert(socket.bind("127.0.0.1", p))
    srv:close()
    assert.are.same({nil, "connection refused"}, {socket.connect("127.0.0.1", p, {timeout = 1000})})
  end)

  it("binding a port that is listening fails with \"address in use\"", function()
    local p = next_port()
    local srv = assert(socket.bind("127.0.0.1", p))
    assert.are.same({nil, "address in use"}, {socket.bind("127.0.0.1", p)})
    srv:close()
    local again = assert(socket.bind("127.0.0.1", p)) -- free again once closed
    again:close()
    assert.are.same({nil, "host not found"}, {socket.bind("no.such.name", p)})
  end)

  it("a peer that closes with unread data resets the connection", function()
    local srv, c, s = pair()
    assert(c:send("never read\n"))
    task.sleep(10)
    s:close() -- unread data: lwIP answers with a RST, as a kernel does
    local ok, err = c:receive()
    assert.is_nil(ok)
    assert.are.equal("connection reset", err)
    local n, serr = c:send("x")
    assert.is_nil(n)
    assert.are.equal("connection reset", serr)
    c:close()
    srv:close()
  end)

  it("times out receive (keeping the partial data), accept and send", function()
    local p = next_port()
    local srv = assert(socket.bind("127.0.0.1", p))
    local t0 = sys.uptime()
    assert.are.same({nil, "timeout"}, {srv:accept(30)})
    assert.is_true(sys.uptime() - t0 >= 30)
    local c = assert(socket.connect("127.0.0.1", p, {timeout = 50}))
    local s = assert(srv:accept(1000))
    -- without this, Nagle holds " line" until "partial" is acked (a delayed ACK: 250 ms)
    c:setoption("nodelay", true)
    assert(c:send("partial"))
    assert.is_true(s:settimeout(40))
    t0 = sys.uptime()
    assert.are.same({nil, "timeout", "partial"}, {s:receive("*l")})
    assert.is_true(sys.uptime() - t0 >= 40)
    assert(c:send(" line\n"))
    assert.are.equal(" line", s:receive("*l")) -- the partial data was handed out once
    s:settimeout(0) -- non-blocking
    assert.are.same({nil, "timeout", ""}, {s:receive(1)})
    s:settimeout(nil)
    -- send: the peer never reads, so the window and the send buffer fill up
    c:settimeout(200)
    local big = string.rep("z", 1024 * 1024)
    local n, err, last
    for _ = 1, 8 do
      n, err, last = c:send(big)
      if not n then break end
    end
    assert.is_nil(n)
    assert.are.equal("timeout", err)
    assert.is_true(last >= 0 and last < #big)
    c:close()
    s:close()
    srv:close()
  end)

  it("closing a socket wakes the tasks blocked on it with \"closed\"", function()
    local srv, c, s = pair()
    local r1 = task.spawn(function() return s:receive("*l") end)
    local r2 = task.spawn(function() return s:receive(100) end)
    local a = task.spawn(function() return srv:accept() end)
    assert(c:send("par"))
    task.sleep(10)
    assert.are.equal("waiting", r1:status())
    s:close()
    -- what was queued and unread is dropped by the close
    assert.are.same({true, nil, "closed", ""}, {r1:join()})
    assert.are.same({true, nil, "closed", ""}, {r2:join()})
    srv:close()
    assert.are.same({true, nil, "closed"}, {a:join()})
    c:close()
  end)

  it("a task cancelled in receive, accept or send leaves nothing dangling", function()
    local p = next_port()
    local base = sys.memory().net
    local srv = assert(socket.bind("127.0.0.1", p))
    -- blocked in accept, on a server only its own stack refers to
    local p2 = next_port()
    local acc = task.spawn(function()
      local own = assert(socket.bind("127.0.0.1", p2))
      return own:accept()
    end)
    -- blocked in receive on a socket only its own stack refers to
    local rd = task.spawn(function()
      local s = assert(srv:accept())
      return s:receive("*a")
    end)
    local c = assert(socket.connect("127.0.0.1", p))
    task.sleep(10) -- rd has taken this connection
    -- blocked in send: the peer never reads
    local wr = task.spawn(function()
      local s = assert(socket.connect("127.0.0.1", p))
      return s:send(string.rep("w", 4 * 1024 * 1024))
    end)
    local w_peer = assert(srv:accept(1000))
    task.sleep(50)
    assert.are.equal("waiting", acc:status())
    assert.are.equal("waiting", rd:status())
    assert.are.equal("waiting", wr:status())
    acc:cancel()
    rd:cancel()
    wr:cancel()
    for _ = 1, 3 do collectgarbage() end
    task.sleep(10)
    -- the collected server socket is closed: its port is free
    local again = assert(socket.bind("127.0.0.1", p2))
    again:close()
    -- the collected reader's socket closed gracefully: the peer sees the end
    assert.are.same({nil, "closed", ""}, {c:receive("*l")})
    c:close()
    -- the collected writer's socket: its peer reads what was queued, then the end
    w_peer:settimeout(5000)
    local all = w_peer:receive("*a")
    assert.is_true(#all > 0 and #all < 4 * 1024 * 1024)
    assert.is_nil(all:find("[^w]"))
    w_peer:close()
    srv:close()
    task.sleep(100)
    collectgarbage()
    -- everything is back in lwIP's heap (TIME_WAIT pcbs are small)
    assert.is_true(sys.memory().net - base < 64 * 1024, "net grew by " .. (sys.memory().net - base))
  end)

  it("<close> variables and garbage collection close sockets", function()
    local p = next_port()
    local srv = assert(socket.bind("127.0.0.1", p))
    local peer
    do
      local c <close> = assert(socket.connect("127.0.0.1", p))
      peer = assert(srv:accept(1000))
      assert(c:send("x\n"))
    end
    assert.are.equal("x", peer:receive())
    assert.are.same({nil, "closed", ""}, {peer:receive()})
    peer:close()
    local function forget() assert(socket.connect("127.0.0.1", p)) end
    forget()
    collectgarbage()
    collectgarbage()
    peer = assert(srv:accept(1000))
    assert.are.same({nil, "closed", ""}, {peer:receive()})
    peer:close()
    srv:close()
    assert.truthy(tostring(srv):find("closed", 1, true))
  end)

  it("close() gives the connection's network memory back at once, not at the next collection", function()
    -- It waits out TIME_WAIT (2 minutes): virtual time only.
    if not sys.virtual_time then return end
    local srv = assert(socket.bind("127.0.0.1", 0))
    local _, sport = srv:getsockname()
    local server = task.spawn(function()
      for _ = 1, 5 do
        local c = assert(srv:accept())
        c:settimeout(1000)
        c:receive("*l")
        c:send("bye\n")
        c:close()
      end
    end)
    task.sleep(125000) -- earlier tests' connections leave TIME_WAIT
    collectgarbage()
    collectgarbage()
    local before = sys.memory().net
    collectgarbage("stop") -- no userdata is collected: only close() can free
    local ok, err = pcall(function()
      for _ = 1, 5 do
        local c = assert(socket.connect("127.0.0.1", sport, {timeout = 5000}))
        c:send("hi\n")
        assert(c:receive("*a") == "bye\n")
        c:close()
      end
      server:join()
      task.sleep(125000) -- past TIME_WAIT (2 * TCP_MSL)
      assert(sys.memory().net <= before, ("net memory %d after, %d before"):format(sys.memory().net, before))
    end)
    collectgarbage("restart")
    srv:close()
    assert(ok, err)
  end)
end)
