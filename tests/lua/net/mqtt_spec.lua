-- The mqtt module without an outside peer: the packet codec on strings
-- (round trips, every malformation the decoder names), topic matching,
-- argument errors, and the client against scripted fake brokers on lwIP's
-- loopback (virtual time): refused and malformed CONNACKs, oversized and
-- truncated packets, keepalive timeouts, reconnect with backoff, QoS 1/2
-- in-flight messages resent after a reconnect, re-subscription, the
-- bounded queue. The real broker is in tests/net/test_mqtt.py.
local mqtt = require("mqtt")
local socket = require("socket")
local P = mqtt.packet

local port = 7600
local function next_port()
  port = port + 1
  return port
end

-- Reads one packet from a socket (the fake broker's side).
local function read(c)
  local h, err = c:receive(1)
  if not h then return nil, err end
  local lenbytes = ""
  repeat
    local b = assert(c:receive(1))
    lenbytes = lenbytes .. b
  until b:byte() < 128
  local n = P.decode_length(lenbytes, 1)
  local body = n > 0 and assert(c:receive(n)) or ""
  return assert(P.decode(h .. lenbytes .. body))
end

local function send(c, p)
  assert(c:send(type(p) == "string" and p or P.encode(p)))
end

-- A fake broker: `script(conn, n)` runs for the n-th accepted connection.
local function broker(script)
  local p = next_port()
  local srv = assert(socket.bind("127.0.0.1", p))
  local t = task.spawn(function()
    local n = 0
    while true do
      local c = srv:accept()
      if not c then return end
      n = n + 1
      c:setoption("nodelay", true) -- a packet right after another is not held for the ACK
      task.spawn(function()
        script(c, n)
        c:close()
      end)
    end
  end)
  return p, function() srv:close() t:cancel() end
end

local function accept_connect(c, session_present)
  local p = read(c)
  assert.are.equal("connect", p.type)
  send(c, {type = "connack", session_present = session_present or false, code = 0})
  return p
end

describe("mqtt.packet", function()
  it("round-trips every packet type", function()
    local pkts = {
      {type = "connect", client_id = "dev", keepalive = 30, clean_session = true, username = "u",
       password = "p\0w", will = {topic = "w/t", payload = "bye", qos = 1, retain = true}},
      {type = "connect", client_id = "", keepalive = 0, clean_session = false},
      {type = "connack", session_present = true, code = 0},
      {type = "connack", session_present = false, code = 5},
      {type = "publish", topic = "a/b", payload = "x\0y", qos = 0, retain = false, dup = false},
      {type = "publish", topic = "a", payload = string.rep("z", 300), qos = 2, retain = true, dup = true,
       id = 7},
      {type = "puback", id = 1}, {type = "pubrec", id = 65535}, {type = "pubrel", id = 2},
      {type = "pubcomp", id = 3}, {type = "unsuback", id = 4},
      {type = "subscribe", id = 9, topics = {{"a/+/c", 1}, {"#", 2}}},
      {type = "suback", id = 9, codes = {1, 0x80}},
      {type = "unsubscribe", id = 10, topics = {"a/#", "b"}},
      {type = "pingreq"}, {type = "pingresp"}, {type = "disconnect"},
    }
    for _, p in ipairs(pkts) do
      local s = P.encode(p)
      local d, nextpos = P.decode(s)
      assert.are.same(p, d)
      assert.are.equal(#s + 1, nextpos)
      assert.are.equal(s, P.encode(d))
    end
  end)

  it("encodes remaining lengths of 1 to 4 bytes", function()
    for _, n in ipairs({0, 127, 128, 16383, 16384, 2097151, 2097152, P.MAX_LENGTH}) do
      local s = P.encode_length(n)
      assert.are.same({n, #s + 1}, {P.decode_length(s, 1)})
    end
    assert.are.equal(4, #P.encode_length(P.MAX_LENGTH))
  end)

  it("names each malformation", function()
    local cases = {
      {"", "^truncated$"},
      {"\x30", "^truncated$"},
      {"\x30\x05\0\1a", "^truncated$"},                       -- remaining length past the data
      {"\x30\xff\xff\xff\xff\x01", "longer than 4 bytes"},
      {"\x00\x00", "reserved packet type 0"},
      {"\xf0\x00", "reserved packet type 15"},
      {"\x41\x02\0\1", "puback with flags 0x1"},
      {"\x60\x02\0\1", "pubrel with flags 0x0"},
      {"\x40\x03\0\1\0", "remaining length must be 2, got 3"},
      {"\x40\x02\0\0", "packet id 0"},
      {"\x36\x05\0\1a\0\1", "publish QoS 3"},
      {"\x38\x03\0\1a", "DUP set on a QoS 0"},
      {"\x30\x02\0\5", "truncated topic"},
      {"\x30\x03\0\1+", "wildcard"},
      {"\x30\x02\0\0", "empty topic"},
      {"\x30\x03\0\1\xff", "not valid UTF%-8"},
      {"\x30\x05\0\3a\0b", "not valid UTF%-8"},                -- NUL in a topic
      {"\x30\x06\0\4\xed\xa0\x80a", "not valid UTF%-8"},      -- a surrogate
      {"\x32\x04\0\1a\0", "truncated packet id"},
      {"\x20\x02\2\0", "reserved connack flags"},
      {"\x20\x02\0\6", "connack return code 6"},
      {"\x20\x02\1\5", "session present with a refusal"},
      {"\x20\x01\0", "remaining length must be 2"},
      {"\x90\x02\0\1", "suback needs"},
      {"\x90\x03\0\1\3", "suback return code 3"},
      {"\xd0\x01\0", "remaining length must be 0"},
      {"\x82\x02\0\1", "without topic filters"},
      {"\x82\x06\0\1\0\1#\3", "requested QoS byte 3"},
      {"\x82\x08\0\1\0\3a#b\0", "'#' must be a whole level"},
      {"\x10\x0c\0\4MQTX\4\2\0\0\0\0", "protocol name must be MQTT"},
      {"\x10\x0c\0\4MQTT\3\2\0\0\0\0", "protocol level must be 4"},
      {"\x10\x0c\0\4MQTT\4\1\0\0\0\0", "reserved connect flag"},
      {"\x10\x0c\0\4MQTT\4\x40\0\0\0\0", "password without a user name"},
      {"\x10\x0d\0\4MQTT\4\2\0\0\0\0x", "1 bytes after the payload"},
    }
    for _, c in ipairs(cases) do
      local p, err = P.decode(c[1])
      assert.is_nil(p, c[2])
      assert.is_truthy(err:find(c[2]), ("%q -> %s (expected %s)"):format(c[1], err, c[2]))
    end
    -- bounded by `max`
    local big = P.encode({type = "publish", topic = "t", payload = string.rep("x", 1000), qos = 0})
    assert.matches("over the limit 100", select(2, P.decode(big, 1, 100)))
    assert.has_error(function() P.decode(42) end,
      "bad argument #1 to 'mqtt.packet.decode' (data must be a string, got number)")
  end)

  it("decodes packets one after another from a stream", function()
    local s = P.encode({type = "pingresp"}) .. P.encode({type = "puback", id = 5})
    local a, pos = P.decode(s)
    local b, pos2 = P.decode(s, pos)
    assert.are.same({"pingresp", "puback", 5, #s + 1}, {a.type, b.type, b.id, pos2})
  end)

  it("matches topics against filters", function()
    local yes = {
      {"a/b", "a/b"}, {"a/+", "a/b"}, {"+/b", "a/b"}, {"a/#", "a/b/c"}, {"a/#", "a"}, {"#", "a/b"},
      {"+/+", "/x"}, {"+", ""}, {"a/+/c", "a/b/c"}, {"a//c", "a//c"}, {"a/+/+", "a//"},
      {"$SYS/#", "$SYS/x"},
    }
    local no = {
      {"a/b", "a/c"}, {"a/+", "a/b/c"}, {"a/+", "a"}, {"+", "a/b"}, {"#", "$SYS/x"}, {"+/x", "$SYS/x"},
      {"a/b/c", "a/b"}, {"a/b", "a/b/c"},
    }
    for _, c in ipairs(yes) do assert.is_true(P.match(c[1], c[2]), c[1] .. " ~ " .. c[2]) end
    for _, c in ipairs(no) do assert.is_false(P.match(c[1], c[2]), c[1] .. " !~ " .. c[2]) end
  end)

  it("checks topic filters", function()
    assert.is_nil(P.filter_problem("a/+/#"))
    assert.matches("whole level", P.filter_problem("a/b#"))
    assert.matches("whole level", P.filter_problem("a/#/b"))
    assert.matches("'%+' must be", P.filter_problem("a+/b"))
    assert.matches("empty", P.filter_problem(""))
  end)
end)

describe("mqtt.client arguments", function()
  it("raises errors naming the argument", function()
    assert.has_error(function() mqtt.client.new(1) end,
      "bad argument #1 to 'mqtt.client.new' (client_id must be a string, got number)")
    assert.has_error(function() mqtt.client.new("x", {hots = "a"}) end,
      "bad argument #2 to 'mqtt.client.new' (opts has an unknown option 'hots'; did you mean 'host'?)")
    assert.has_error(function() mqtt.client.new("x", {port = 0}) end,
      "bad argument #2 to 'mqtt.client.new' (option 'port' must be an integer from 1 to 65535)")
    assert.has_error(function() mqtt.client.new("x", {queue = {policy = "lifo"}}) end,
      "bad argument #2 to 'mqtt.client.new' (option 'queue.policy' must be 'reject', 'drop_oldest' or "
      .. "'block', got lifo)")
    assert.has_error(function() mqtt.client.new("x", {will = {topic = "a/#"}}) end,
      "bad argument #2 to 'mqtt.client.new' (topic must not contain wildcards + or #)")
    assert.has_error(function() mqtt.client.new("", {clean_session = false}) end)
    assert.has_error(function() mqtt.client.new("x", {password = "p"}) end)
    local c = mqtt.client.new("x")
    assert.has_error(function() c:publish("a/+", "x") end,
      "bad argument #1 to 'c:publish' (topic must not contain wildcards + or #)")
    assert.has_error(function() c:publish("a", {}) end,
      "bad argument #2 to 'c:publish' (payload must be a string, got table)")
    assert.has_error(function() c:publish("a", "x", {qos = 3}) end,
      "bad argument #3 to 'c:publish' (option 'qos' must be 0, 1 or 2)")
    assert.has_error(function() c:subscribe("a/#/b", 0, print) end,
      "bad argument #1 to 'c:subscribe' (filter '#' must be a whole level and the last one)")
    assert.has_error(function() c:subscribe("a", 0) end,
      "bad argument #3 to 'c:subscribe' (fn must be a function, got nil)")
    assert.has_error(function() c:publish("a", "x", {timeout = 0 / 0}) end,
      "bad argument #3 to 'c:publish' (option 'timeout' must be a non-negative number of ms)")
    assert.has_error(function() c:flush(-1) end,
      "bad argument #1 to 'c:flush' (timeout must be a non-negative number of ms)")
    assert.has_error(function() c:connect(5) end,
      "bad argument #1 to 'c:connect' (opts must be a table, got number)")
    assert.are.equal("new", c:status())
  end)
end)

describe("mqtt.client against a fake broker", function()
  it("reports a refused CONNACK by its reason", function()
    local p, stop = broker(function(c)
      read(c)
      send(c, {type = "connack", code = 4})
    end)
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p})
    assert.are.same({nil, "connection refused by the broker: bad user name or password"}, {c:connect()})
    stop()
  end)

  it("refuses malformed, oversized and truncated answers with clear errors", function()
    local answers = {
      {"\x20\x03\0\0\0", "malformed packet: connack: remaining length must be 2, got 3"},
      {"\x20\xff\xff\xff\xff\x7f", "malformed packet: remaining length longer than 4 bytes"},
      {"\x30\xff\xff\xff\x7f", "packet too large: 268435455 bytes (max_packet 1000)"},
      {"\x20\x02\0", "connection closed by the broker"},              -- truncated, then closed
      {"\xd0\x00", "protocol error: expected CONNACK, got PINGRESP"},
      {"", "connection closed by the broker"},
    }
    for _, a in ipairs(answers) do
      local p, stop = broker(function(c)
        read(c)
        if a[1] ~= "" then c:send(a[1]) end
        task.sleep(50)
      end)
      local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, max_packet = 1000})
      assert.are.same({nil, a[2]}, {c:connect()})
      stop()
    end
  end)

  it("leaks neither memory nor tasks over many hostile brokers", function()
    local answers = {"\x20\x03\0\0\0", "\x20\xff\xff\xff\xff\x7f", "\x30\xff\xff\xff\x7f", "\x20\x02\0",
      "\xd0\x00", "\x20\x02\0\0\x36\x03\0\1a", "\x20\x02\0\0\x90\x02\0\1", "\x20\x02\0\0\x40\x02"}
    local k = 0
    local p, stop = broker(function(c)
      k = k + 1
      read(c)
      c:send(answers[k % #answers + 1])
      task.sleep(20)
    end)
    local function round()
      local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, max_packet = 1000, reconnect = false})
      local ok = c:connect()
      if ok then
        for _ = 1, 20 do if c:status() ~= "connected" then break end task.sleep(10) end
        c:disconnect()
      end
    end
    local level = log.level("error") -- the runner keeps every logged line (memory)
    -- closed connections wait in lwIP's TIME_WAIT (2 MSL, 120 s): let
    -- them go (virtual time) before each measure
    local function settle()
      task.sleep(sys.virtual_time and 130000 or 200)
      collectgarbage()
      collectgarbage()
    end
    for _ = 1, 150 do round() end -- tables of the runtime grow to their size first
    settle()
    local m0, n0, net0 = sys.memory().used, task.count(), sys.memory().net
    for _ = 1, 100 do round() end
    settle()
    log.level(level)
    local grew, net_grew, tasks = sys.memory().used - m0, sys.memory().net - net0, task.count()
    stop()
    assert.are.equal(n0, tasks)
    assert.is_true(grew < 2048, grew)
    if sys.virtual_time then assert.is_true(net_grew < 1024, net_grew) end -- else TIME_WAITs remain
  end)

  it("unsubscribes: UNSUBSCRIBE, UNSUBACK, and the handler is gone", function()
    local seen = {}
    local p, stop = broker(function(c)
      accept_connect(c)
      while true do
        local pkt = read(c)
        if not pkt then return end
        seen[#seen + 1] = pkt.type
        if pkt.type == "subscribe" then
          send(c, {type = "suback", id = pkt.id, codes = {0}})
          send(c, {type = "publish", topic = "u/1", payload = "a", qos = 0})
        elseif pkt.type == "unsubscribe" then
          assert.are.same({"u/#"}, pkt.topics)
          send(c, {type = "unsuback", id = pkt.id})
          send(c, {type = "publish", topic = "u/1", payload = "b", qos = 0})
        end
      end
    end)
    local got, other = {}, {}
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p,
      on_message = function(_, payload) other[#other + 1] = payload end})
    assert(c:connect())
    assert.are.equal(0, c:subscribe("u/#", 0, function(_, payload) got[#got + 1] = payload end))
    task.sleep(50)
    assert.is_true(c:unsubscribe("u/#"))
    task.sleep(50)
    assert.are.same({"a"}, got)
    assert.are.same({"b"}, other) -- no subscription matches any more: on_message
    assert.are.same({"subscribe", "unsubscribe"}, seen)
    c:disconnect()
    stop()
  end)

  it("times out a silent broker", function()
    local p, stop = broker(function(c) read(c) task.sleep(60000) end)
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, timeout = 500})
    local t0 = sys.uptime()
    assert.are.same({nil, "timeout"}, {c:connect()})
    assert.is_true(sys.uptime() - t0 < 1000)
    stop()
  end)

  it("sends PINGREQs and drops a connection whose broker stops answering", function()
    local pings = 0
    local p, stop = broker(function(c, n)
      accept_connect(c)
      while true do
        local pkt = read(c)
        if not pkt then return end
        if pkt.type == "pingreq" then
          pings = pings + 1
          if n == 1 and pings <= 2 then send(c, {type = "pingresp"}) end
        end
      end
    end)
    local downs = {}
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, keepalive = 1, reconnect = false,
      on_disconnect = function(_, err) downs[#downs + 1] = err end})
    assert(c:connect())
    task.sleep(2500)
    assert.are.equal("connected", c:status())
    task.sleep(3000)
    assert.is_true(pings >= 3)
    assert.are.same({"keepalive timeout (no PINGRESP)"}, downs)
    assert.are.equal("offline", (c:status()))
    stop()
  end)

  it("notices a broker that stalls mid-packet while the client keeps publishing", function()
    local p, stop = broker(function(c)
      accept_connect(c)
      c:send("\x30\x10\0\3a/b") -- a PUBLISH cut short: the rest never comes
      while read(c) do end
    end)
    local downs = {}
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, keepalive = 2, reconnect = false,
      on_disconnect = function(_, e) downs[#downs + 1] = e end})
    assert(c:connect())
    for _ = 1, 100 do
      c:publish("t", "x") -- output never idle
      task.sleep(100)
      if #downs > 0 then break end
    end
    assert.are.same({"keepalive timeout (no PINGRESP)"}, downs)
    stop()
  end)

  it("reconnects with backoff, re-subscribes, and resends QoS 1 and 2 in flight", function()
    local log_ = {}
    local times = {}
    local p, stop = broker(function(c, n)
      times[n] = sys.uptime()
      if n == 2 or n == 3 then read(c) return end -- refused: close at once
      accept_connect(c)
      while true do
        local pkt = read(c)
        if not pkt then return end
        log_[#log_ + 1] = ("%d %s %s %s %s"):format(n, pkt.type,
          pkt.type == "subscribe" and "*" or pkt.id or "-", pkt.dup and "dup" or "",
          pkt.topics and (pkt.topics[1][1] or pkt.topics[1]) or pkt.topic or "")
        if pkt.type == "subscribe" then
          send(c, {type = "suback", id = pkt.id, codes = {pkt.topics[1][2]}})
        elseif n == 1 and pkt.type == "publish" and pkt.qos == 2 then
          send(c, {type = "pubrec", id = pkt.id})
        elseif n == 1 and pkt.type == "pubrel" then
          return -- drop the connection: QoS 1 unacknowledged, QoS 2 between PUBREC and PUBCOMP
        elseif pkt.type == "publish" and pkt.qos == 1 and n > 1 then -- none on the first connection
          send(c, {type = "puback", id = pkt.id})
        elseif pkt.type == "publish" and pkt.qos == 2 then -- this broker forgot it (no session)
          send(c, {type = "pubrec", id = pkt.id})
        elseif pkt.type == "pubrel" then
          send(c, {type = "pubcomp", id = pkt.id})
        end
      end
    end)
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, reconnect = {min = 400, max = 1000}})
    assert(c:connect())
    assert.are.equal(1, c:subscribe("cmd/#", 1, function() end))
    local r1, r2
    task.spawn(function() r1 = {c:publish("a", "one", {qos = 1, wait = true})} end)
    task.spawn(function() r2 = {c:publish("b", "two", {qos = 2, wait = true})} end)
    for _ = 1, 100 do if r1 and r2 then break end task.sleep(100) end
    assert.are.same({true}, r1)
    assert.are.same({true}, r2)
    assert.are.same({"1 subscribe *  cmd/#", "1 publish 2  a", "1 publish 3  b", "1 pubrel 3  ",
      "4 subscribe *  cmd/#", "4 publish 2 dup a", "4 publish 3 dup b", "4 pubrel 3  "}, log_)
    -- backoff: 400 ms, then 800 ms, then 1000 (the max), each with 25 % jitter
    assert.is_true(times[2] - times[1] >= 300 and times[2] - times[1] <= 500, times[2] - times[1])
    assert.is_true(times[3] - times[2] >= 600 and times[3] - times[2] <= 1000)
    assert.is_true(times[4] - times[3] >= 750 and times[4] - times[3] <= 1250)
    local st = c:stats()
    assert.are.same({1, 2, 0, 0}, {st.reconnects, st.resent, st.inflight, st.queued})
    c:disconnect()
    stop()
  end)

  it("connect() while the reconnect loop waits makes one connection, not two", function()
    local conns = 0
    local p, stop = broker(function(c, n)
      conns = n
      accept_connect(c)
      if n == 1 then return end -- drop the first connection at once
      while read(c) do end
    end)
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, reconnect = {min = 2000}})
    assert(c:connect())
    for _ = 1, 50 do if c:status() == "offline" then break end task.sleep(10) end
    assert.are.equal("offline", (c:status()))
    assert.is_true(c:connect())
    assert.are.same({nil, "already connected"}, {c:connect()})
    task.sleep(3000) -- past the reconnect loop's wait
    assert.are.same({2, "connected"}, {conns, (c:status())})
    c:disconnect()
    assert.are.same({nil, "closed"}, {c:publish("t", "x")})
    stop()
  end)

  it("connect{retry = true} keeps trying with backoff until the broker is there", function()
    local p = next_port()
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, reconnect = {min = 200, max = 400}})
    assert.are.same({nil, "connection refused"}, {c:connect({retry = true})})
    assert.is_true(c:publish("t", "queued while offline", {qos = 1}))
    task.sleep(1000)
    assert.are.equal("offline", (c:status()))
    local got
    local srv = assert(socket.bind("127.0.0.1", p))
    task.spawn(function()
      local s = srv:accept()
      accept_connect(s)
      local pkt = read(s)
      got = pkt.payload
      send(s, {type = "puback", id = pkt.id})
      read(s)
      s:close()
    end)
    assert.is_true(c:flush(3000))
    assert.are.same({"connected", "queued while offline"}, {(c:status()), got})
    c:disconnect()
    srv:close()
  end)

  it("keeps the outgoing queue bounded: reject, drop_oldest, block", function()
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = 1, queue = {max = 3}})
    for i = 1, 3 do assert.is_true(c:publish("t", tostring(i), {qos = 1})) end
    assert.are.same({nil, "queue full"}, {c:publish("t", "4", {qos = 1})})
    assert.are.same({nil, "message larger than the queue (32801 bytes, queue.bytes 32768)"},
      {c:publish("t", string.rep("x", 32768))})
    local d = mqtt.client.new("x", {host = "127.0.0.1", port = 1, queue = {max = 2, policy = "drop_oldest"}})
    local first
    task.spawn(function() first = {d:publish("t", "1", {qos = 1, wait = true})} end)
    task.sleep(1)
    d:publish("t", "2")
    d:publish("t", "3")
    task.sleep(1)
    assert.are.same({nil, "dropped"}, first)
    assert.are.same({2, 1, 2}, {d:stats().queued, d:stats().dropped, #d.waiting})
    local b = mqtt.client.new("x", {host = "127.0.0.1", port = 1, queue = {max = 1, policy = "block"}})
    b:publish("t", "1")
    local t0 = sys.uptime()
    assert.are.same({nil, "queue full"}, {b:publish("t", "2", {timeout = 300})})
    assert.is_true(sys.uptime() - t0 >= 300)
    -- bytes bound: 3 messages of 10 KB do not fit in 25 KB
    local m = mqtt.client.new("x", {host = "127.0.0.1", port = 1, queue = {bytes = 25000}})
    assert.is_true(m:publish("t", string.rep("x", 10000)))
    assert.is_true(m:publish("t", string.rep("x", 10000)))
    assert.are.same({nil, "queue full"}, {m:publish("t", string.rep("x", 10000))})
  end)

  it("sends what was queued offline once connected, in order", function()
    local got = {}
    local p, stop = broker(function(c)
      accept_connect(c)
      while true do
        local pkt = read(c)
        if not pkt then return end
        if pkt.type == "publish" then
          got[#got + 1] = pkt.payload
          if pkt.qos == 1 then send(c, {type = "puback", id = pkt.id}) end
        end
      end
    end)
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, max_inflight = 2})
    for i = 1, 6 do c:publish("t", tostring(i), {qos = i % 2}) end
    assert(c:connect())
    assert.is_true(c:flush(5000))
    assert.are.same({"1", "2", "3", "4", "5", "6"}, got)
    c:disconnect()
    stop()
  end)

  it("delivers an incoming QoS 2 message once, even when the broker sends it again", function()
    local p, stop = broker(function(c)
      accept_connect(c)
      local pkt = read(c)
      send(c, {type = "suback", id = pkt.id, codes = {2}})
      local pub = {type = "publish", topic = "in/x", payload = "once", qos = 2, id = 42}
      send(c, pub)
      assert.are.same({"pubrec", 42}, (function() local r = read(c) return {r.type, r.id} end)())
      pub.dup = true
      send(c, pub)
      assert.are.equal("pubrec", read(c).type)
      send(c, {type = "pubrel", id = 42})
      assert.are.same({"pubcomp", 42}, (function() local r = read(c) return {r.type, r.id} end)())
      send(c, {type = "publish", topic = "in/y", payload = "q1", qos = 1, id = 43})
      assert.are.same({"puback", 43}, (function() local r = read(c) return {r.type, r.id} end)())
      read(c)
    end)
    local got = {}
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p})
    assert(c:connect())
    c:subscribe("in/#", 2, function(topic, payload) got[#got + 1] = topic .. "=" .. payload end)
    for _ = 1, 50 do if #got >= 2 then break end task.sleep(20) end
    assert.are.same({"in/x=once", "in/y=q1"}, got)
    c:disconnect()
    stop()
  end)

  it("survives a broker that answers with random streams of (broken) packets", function()
    math.randomseed(8)
    local kinds = {
      {type = "publish", topic = "a/b", payload = "x", qos = 0},
      {type = "publish", topic = "a/b", payload = "y", qos = 1, id = 3},
      {type = "publish", topic = "c", payload = "z", qos = 2, id = 4},
      {type = "puback", id = 1}, {type = "pubrec", id = 1}, {type = "pubrel", id = 4},
      {type = "pubcomp", id = 1}, {type = "suback", id = 1, codes = {0}},
      {type = "suback", id = 2, codes = {0x80}},
      {type = "unsuback", id = 1}, {type = "unsuback", id = 2}, {type = "pingresp"}, {type = "pingreq"},
      {type = "connack", code = 0}, {type = "disconnect"}, {type = "subscribe", id = 1, topics = {{"a", 0}}},
    }
    local function stream()
      local parts = {}
      for _ = 1, math.random(1, 12) do
        local s = P.encode(kinds[math.random(#kinds)])
        local r = math.random(10)
        if r == 1 then -- flip a byte
          local i = math.random(#s)
          s = s:sub(1, i - 1) .. string.char(math.random(0, 255)) .. s:sub(i + 1)
        elseif r == 2 then -- cut it short
          s = s:sub(1, math.random(#s))
        elseif r == 3 then -- random bytes
          local t = {}
          for k = 1, math.random(1, 8) do t[k] = string.char(math.random(0, 255)) end
          s = table.concat(t)
        end
        parts[#parts + 1] = s
      end
      return table.concat(parts)
    end
    local level = log.level("error")
    local conns = 0
    local p, stop = broker(function(c)
      conns = conns + 1
      accept_connect(c)
      c:send(stream())
      task.sleep(30)
    end)
    for i = 1, 150 do
      -- every other client reconnects (and so re-subscribes and resends) into more garbage
      local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, keepalive = 1,
        reconnect = i % 2 == 0 and {min = 10, max = 20}, on_message = function() end})
      c:subscribe("pre/#", 2, function() end) -- offline: made on connect
      assert(c:connect())
      local sub = task.spawn(function() c:subscribe("a/#", 1, function() end) end)
      task.spawn(function() c:publish("t", "p", {qos = 1, wait = true, timeout = 200}) end)
      task.spawn(function() c:publish("t", "q", {qos = 2, wait = true, timeout = 200}) end)
      if i % 2 == 0 then
        task.sleep(150) -- several connections
      else
        for _ = 1, 50 do if c:status() ~= "connected" then break end task.sleep(10) end
      end
      c:disconnect()
      sub:cancel()
      assert.are.equal("closed", (c:status()))
    end
    log.level(level)
    assert.is_true(conns > 300, conns) -- the reconnecting ones came back many times
    stop()
  end)

  it("bounds the QoS 2 messages a broker leaves without PUBREL", function()
    local p, stop = broker(function(c)
      accept_connect(c)
      for id = 1, 300 do send(c, {type = "publish", topic = "q2", payload = "x", qos = 2, id = id}) end
      while read(c) do end
    end)
    local downs, n = {}, 0
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, reconnect = false,
      on_message = function() n = n + 1 end, on_disconnect = function(_, e) downs[#downs + 1] = e end})
    assert(c:connect())
    for _ = 1, 100 do if #downs > 0 then break end task.sleep(20) end
    assert.are.same({"protocol error: more than 256 QoS 2 messages without PUBREL"}, downs)
    assert.are.equal(256, n)
    stop()
  end)

  it("drops the connection on a malformed packet from the broker and reconnects", function()
    local n_conn = 0
    local p, stop = broker(function(c, n)
      n_conn = n
      accept_connect(c)
      if n == 1 then c:send("\x36\x03\0\1a") task.sleep(100) return end -- publish QoS 3
      read(c)
    end)
    local downs = {}
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, reconnect = {min = 100},
      on_disconnect = function(_, e) downs[#downs + 1] = e end})
    assert(c:connect())
    for _ = 1, 50 do if n_conn >= 2 and c:status() == "connected" then break end task.sleep(20) end
    assert.are.same({"malformed packet: publish: publish QoS 3"}, downs)
    assert.are.equal("connected", c:status())
    c:disconnect()
    stop()
  end)
end)

-- Found by the audit of issue 8 (MQTT 3.1.1 sentences a client must honour).
describe("mqtt audit", function()
  it("refuses a user name, password or will payload the CONNECT cannot carry", function()
    -- MQTT-3.1.3-11: the user name is a UTF-8 string; every field has a 2-byte length
    assert.has_error(function() mqtt.client.new("x", {username = "a\0b"}) end,
      "bad argument #2 to 'mqtt.client.new' (option 'username' must be valid UTF-8 of at most 65535 bytes)")
    assert.has_error(function() mqtt.client.new("x", {username = "\xff"}) end,
      "bad argument #2 to 'mqtt.client.new' (option 'username' must be valid UTF-8 of at most 65535 bytes)")
    assert.has_error(function() mqtt.client.new("x", {username = ("u"):rep(65536)}) end,
      "bad argument #2 to 'mqtt.client.new' (option 'username' must be valid UTF-8 of at most 65535 bytes)")
    assert.has_error(function() mqtt.client.new("x", {username = "u", password = ("p"):rep(65536)}) end,
      "bad argument #2 to 'mqtt.client.new' (option 'password' is longer than 65535 bytes)")
    assert.has_error(function() mqtt.client.new("x", {will = {topic = "w", payload = ("p"):rep(65536)}}) end,
      "bad argument #2 to 'mqtt.client.new' (option 'will.payload' is longer than 65535 bytes)")
    assert.has_error(function() mqtt.client.new("x", {will = {topic = "w", retain = 1}}) end,
      "bad argument #2 to 'mqtt.client.new' (option 'will.retain' must be a boolean)")
    -- binary password is fine
    assert.is_table(mqtt.client.new("x", {username = "u", password = "\0\255"}))
  end)

  it("mqtt.packet functions check their arguments and name them", function()
    local function e(msg, f, ...)
      local args = table.pack(...)
      assert.has_error(function() f(table.unpack(args, 1, args.n)) end, msg)
    end
    e("bad argument #1 to 'mqtt.packet.match' (filter must be a string, got nil)", P.match, nil, "a")
    e("bad argument #2 to 'mqtt.packet.match' (topic must be a string, got number)", P.match, "a", 5)
    e("bad argument #2 to 'mqtt.packet.decode' (pos must be an integer of at least 1, got string)",
      P.decode, "\xd0\0", "x")
    e("bad argument #2 to 'mqtt.packet.decode' (pos must be an integer of at least 1, got number)",
      P.decode, "\xd0\0", 0)
    e("bad argument #3 to 'mqtt.packet.decode' (max must be a non-negative integer, got string)",
      P.decode, "\xd0\0", 1, "y")
    e("bad argument #1 to 'mqtt.packet.decode_length' (data must be a string, got nil)",
      P.decode_length, nil, 1)
    e("bad argument #2 to 'mqtt.packet.decode_length' (pos must be an integer of at least 1, got table)",
      P.decode_length, "\1", {})
    e("bad argument #1 to 'mqtt.packet.encode' (packet must be a table, got number)", P.encode, 5)
    e("bad argument #1 to 'mqtt.packet.encode_length' (n must be an integer from 0 to 268435455, got string)",
      P.encode_length, "7")
  end)

  it("refuses remaining lengths that do not fit in 4 bytes", function()
    assert.has_error(function() P.encode_length(P.MAX_LENGTH + 1) end)
    assert.has_error(function() P.encode_length(-1) end)
  end)

  it("takes a CONNACK with session present on a clean session as a protocol error", function()
    -- MQTT-3.2.2-1: the server MUST set session present to 0 for CleanSession = 1;
    -- believing it would leave the subscriptions unmade
    local p, stop = broker(function(c)
      accept_connect(c, true)
      while read(c) do end
    end)
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, reconnect = false})
    assert.are.same({nil, "protocol error: CONNACK with session present for a clean session"}, {c:connect()})
    stop()
  end)

  it("refuses a SUBACK whose return codes do not match the filters", function()
    -- MQTT-3.8.4-5: one return code per topic filter
    local p, stop = broker(function(c)
      accept_connect(c)
      local pkt = read(c)
      send(c, {type = "suback", id = pkt.id, codes = {0, 1}})
      while read(c) do end
    end)
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, reconnect = false})
    assert(c:connect())
    assert.are.same({nil, "protocol error: SUBACK with 2 return codes for 1 topic filter"},
      {c:subscribe("a", 0, function() end)})
    stop()
  end)

  it("refuses an UNSUBACK for a SUBSCRIBE and a SUBACK for an UNSUBSCRIBE", function()
    local p, stop = broker(function(c)
      accept_connect(c)
      while true do
        local pkt = read(c)
        if not pkt then return end
        if pkt.type == "subscribe" then send(c, {type = "unsuback", id = pkt.id})
        elseif pkt.type == "unsubscribe" then send(c, {type = "suback", id = pkt.id, codes = {0}}) end
      end
    end)
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, reconnect = false})
    assert(c:connect())
    assert.are.same({nil, "protocol error: UNSUBACK for a SUBSCRIBE"}, {c:subscribe("a", 0, function() end)})
    assert.are.equal("offline", (c:status()))
    local c2 = mqtt.client.new("y", {host = "127.0.0.1", port = p, reconnect = false})
    assert(c2:connect())
    assert.are.same({nil, "protocol error: SUBACK for an UNSUBSCRIBE"}, {c2:unsubscribe("a")})
    assert.are.equal("offline", (c2:status()))
    stop()
  end)

  it("sends nothing after DISCONNECT, even what is published while it waits to go out", function()
    -- MQTT-3.14.4-1: after DISCONNECT the client MUST NOT send any packet
    local types, gate = {}, false
    local p, stop = broker(function(c)
      accept_connect(c)
      while not gate do task.sleep(20) end -- not reading: the client's sends block
      while true do
        local pkt = read(c)
        if not pkt then return end
        types[#types + 1] = pkt.type == "publish" and pkt.payload:sub(1, 4) or pkt.type
      end
    end)
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, reconnect = false,
      queue = {bytes = 1 << 20}, timeout = 60000})
    assert(c:connect())
    local big = ("b"):rep(40000)
    task.spawn(function() for _ = 1, 100 do if not c:publish("t", big) then break end end end)
    task.sleep(50)
    local done
    task.spawn(function() c:disconnect() done = true end)
    task.sleep(20)
    local late = {c:publish("t", "late")}
    gate = true
    for _ = 1, 100 do if done and types[#types] == "disconnect" then break end task.sleep(20) end
    task.sleep(100)
    local seen = table.concat(types, " ")
    assert.are.equal("disconnect", types[#types], seen)
    assert.is_nil(seen:find("late"), seen)
    assert.are.same({nil, "closed"}, late)
    assert.are.equal("disconnect", types[#types])
    for _, t in ipairs(types) do assert.are_not.equal("late", t) end
    stop()
  end)

  it("drops the connection to a broker that stops reading (a send blocked past 1.5 keepalives)", function()
    local p, stop = broker(function(c)
      accept_connect(c)
      task.sleep(60000) -- never reads: the client's send blocks on a full window
    end)
    local downs = {}
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, keepalive = 1, reconnect = false,
      queue = {bytes = 1 << 20}, on_disconnect = function(_, e) downs[#downs + 1] = e end})
    assert(c:connect())
    local big = ("b"):rep(40000)
    local t0 = sys.uptime()
    task.spawn(function() for _ = 1, 100 do if not c:publish("t", big) then break end end end)
    for _ = 1, 100 do if #downs > 0 then break end task.sleep(100) end
    assert.are.same({"keepalive timeout (send blocked: the broker stopped reading)"}, downs)
    assert.is_true(sys.uptime() - t0 < 3000, sys.uptime() - t0)
    stop()
  end)

  it("disconnect() returns within `timeout` from a broker that stops reading (keepalive 0)", function()
    local p, stop = broker(function(c)
      accept_connect(c)
      task.sleep(60000)
    end)
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, keepalive = 0, reconnect = false,
      timeout = 1000, queue = {bytes = 1 << 20}})
    assert(c:connect())
    local big = ("b"):rep(40000)
    task.spawn(function() for _ = 1, 100 do if not c:publish("t", big) then break end end end)
    task.sleep(100)
    local t0, done = sys.uptime(), false
    task.spawn(function() c:disconnect() done = true end)
    for _ = 1, 100 do if done then break end task.sleep(100) end
    assert.is_true(done)
    assert.is_true(sys.uptime() - t0 <= 1500, sys.uptime() - t0)
    assert.are.equal("closed", (c:status()))
    stop()
  end)

  it("backs off from a broker that accepts and drops at once (no reconnect storm)", function()
    -- e.g. two devices with one client id: each CONNECT takes the other's session over
    local times = {}
    local p, stop = broker(function(c, n)
      times[n] = sys.uptime()
      accept_connect(c)
      task.sleep(10)
    end)
    local level = log.level("error")
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, reconnect = {min = 100, max = 1000}})
    assert(c:connect())
    for _ = 1, 100 do if #times >= 6 then break end task.sleep(100) end
    c:disconnect()
    log.level(level)
    stop()
    assert.is_true(#times >= 6, #times)
    local gaps = {}
    for i = 2, 6 do gaps[#gaps + 1] = math.floor(times[i] - times[i - 1]) end
    local expect = {100, 200, 400, 800, 1000}
    for i, g in ipairs(gaps) do
      assert.is_true(g >= expect[i] * 0.75 and g <= expect[i] * 1.25 + 50, table.concat(gaps, " "))
    end
  end)

  it("bounds the whole CONNACK by `timeout`, even one that trickles in byte by byte", function()
    local p, stop = broker(function(c)
      read(c)
      for _, b in ipairs({"\x20", "\x02", "\0", "\0"}) do c:send(b) task.sleep(400) end
      task.sleep(1000)
    end)
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, timeout = 1000, reconnect = false})
    local t0 = sys.uptime()
    assert.are.same({nil, "timeout"}, {c:connect()})
    assert.is_true(sys.uptime() - t0 <= 1100, sys.uptime() - t0)
    stop()
  end)

  it("c:flush() in a message handler raises, like the other calls that would wait for the reader", function()
    local p, stop = broker(function(c)
      accept_connect(c)
      while true do
        local pkt = read(c)
        if not pkt then return end
        if pkt.type == "subscribe" then
          send(c, {type = "suback", id = pkt.id, codes = {1}})
          send(c, {type = "publish", topic = "f", payload = "x", qos = 0})
        end -- never PUBACKs: a flush would wait for ever
      end
    end)
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, reconnect = false})
    assert(c:connect())
    local res
    assert(c:subscribe("f", 1, function()
      c:publish("g", "y", {qos = 1})
      res = {pcall(c.flush, c)}
    end))
    for _ = 1, 50 do if res then break end task.sleep(20) end
    assert.is_false(res[1])
    assert.matches("c:flush: inside a message handler", res[2])
    c:disconnect()
    stop()
  end)

  it("skips (and acknowledges) a PUBLISH over max_packet instead of dropping the connection", function()
    -- a kept session would send it again on every reconnect: dropping the
    -- connection for it would cut the device off for good
    local acks, conns = {}, 0
    local p, stop = broker(function(c)
      conns = conns + 1
      accept_connect(c)
      send(c, {type = "publish", topic = "big", payload = ("x"):rep(5000), qos = 1, id = 7})
      send(c, {type = "publish", topic = "big2", payload = ("y"):rep(3000), qos = 2, id = 8})
      send(c, {type = "publish", topic = "big0", payload = ("z"):rep(3000), qos = 0})
      send(c, {type = "publish", topic = "small", payload = "ok", qos = 0})
      while true do
        local pkt = read(c)
        if not pkt then return end
        acks[#acks + 1] = pkt.type .. " " .. tostring(pkt.id)
        if pkt.type == "pubrec" then send(c, {type = "pubrel", id = pkt.id}) end
      end
    end)
    local got = {}
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, max_packet = 1000,
      on_message = function(topic, payload) got[#got + 1] = topic .. "=" .. payload end})
    assert(c:connect())
    for _ = 1, 50 do if #got > 0 and #acks >= 3 then break end task.sleep(20) end
    assert.are.same({"small=ok"}, got)
    assert.are.same({"puback 7", "pubrec 8", "pubcomp 8"}, acks)
    assert.are.equal("connected", (c:status()))
    assert.are.equal(1, conns)
    assert.are.equal(3, c:stats().oversized)
    c:disconnect()
    stop()
  end)

  it("unsubscribes on reconnect what was unsubscribed offline from a kept session", function()
    local seen = {}
    local p, stop = broker(function(c, n)
      accept_connect(c, n > 1)
      while true do
        local pkt = read(c)
        if not pkt then return end
        seen[#seen + 1] = n .. " " .. pkt.type
        if pkt.type == "subscribe" then
          send(c, {type = "suback", id = pkt.id, codes = {1}})
          return -- drop the connection after the SUBACK
        elseif pkt.type == "unsubscribe" then
          seen[#seen] = seen[#seen] .. " " .. pkt.topics[1]
          send(c, {type = "unsuback", id = pkt.id})
        end
      end
    end)
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, clean_session = false,
      reconnect = {min = 300, max = 300}})
    assert(c:connect())
    assert.are.equal(1, c:subscribe("u/#", 1, function() end))
    for _ = 1, 50 do if c:status() ~= "connected" then break end task.sleep(10) end
    assert.are.equal("offline", (c:status()))
    assert.is_true(c:unsubscribe("u/#"))
    for _ = 1, 100 do if #seen >= 2 then break end task.sleep(20) end
    assert.are.same({"1 subscribe", "2 unsubscribe u/#"}, seen)
    c:disconnect()
    stop()
  end)

  it("resends a PUBRECed QoS 2 message as PUBLISH when the broker lost the session", function()
    -- mosquitto hands a QoS 2 message to subscribers on PUBREL: a broker that
    -- restarted without the session answers a lone PUBREL with PUBCOMP and
    -- the message is gone; a kept session gets the PUBREL (MQTT-4.4.0-1)
    local log_ = {}
    local p, stop = broker(function(c, n)
      accept_connect(c, n == 3)
      while true do
        local pkt = read(c)
        if not pkt then return end
        log_[#log_ + 1] = ("%d %s %s%s"):format(n, pkt.type, pkt.id, pkt.dup and " dup" or "")
        if pkt.type == "publish" then send(c, {type = "pubrec", id = pkt.id})
        elseif pkt.type == "pubrel" then
          if n < 3 then return end -- the broker goes away between PUBREC and PUBCOMP
          send(c, {type = "pubcomp", id = pkt.id})
        end
      end
    end)
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, clean_session = false,
      reconnect = {min = 100, max = 100}})
    assert(c:connect())
    assert.are.same({true}, {c:publish("q", "two", {qos = 2, wait = true, timeout = 5000})})
    assert.are.same({"1 publish 1", "1 pubrel 1", "2 publish 1 dup", "2 pubrel 1", "3 pubrel 1"}, log_)
    c:disconnect()
    stop()
  end)

  it("resends PUBRELs in the order their PUBRECs came (MQTT-4.6.0-3)", function()
    local log_ = {}
    local p, stop = broker(function(c, n)
      accept_connect(c, n > 1)
      local pubs = {}
      while true do
        local pkt = read(c)
        if not pkt then return end
        if n == 1 then
          if pkt.type == "publish" then
            pubs[#pubs + 1] = pkt
            if #pubs == 2 then -- acknowledge the second first
              send(c, {type = "pubrec", id = pubs[2].id})
              send(c, {type = "pubrec", id = pubs[1].id})
            end
          elseif pkt.type == "pubrel" and #log_ == 0 then
            log_[1] = "first"
          elseif pkt.type == "pubrel" then
            return -- drop with both PUBRELs unanswered
          end
        else
          if pkt.id then log_[#log_ + 1] = pkt.type .. " " .. pkt.id end
          if pkt.type == "pubrel" then send(c, {type = "pubcomp", id = pkt.id}) end
        end
      end
    end)
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, clean_session = false,
      reconnect = {min = 100, max = 100}})
    assert(c:connect())
    assert(c:publish("a", "1", {qos = 2}))
    assert(c:publish("b", "2", {qos = 2}))
    assert.is_true(c:flush(5000))
    assert.are.same({"first", "pubrel 2", "pubrel 1"}, log_)
    c:disconnect()
    stop()
  end)

  it("returns an error, not a crash, when every packet id is in use", function()
    local p, stop = broker(function(c)
      accept_connect(c)
      while read(c) do end -- never acknowledges
    end)
    local c = mqtt.client.new("x", {host = "127.0.0.1", port = p, reconnect = false, max_inflight = 65535,
      queue = {max = 70000, bytes = 1 << 30}})
    assert(c:connect())
    for i = 1, 65535 do assert(c:publish("t", "", {qos = 1}), i) end
    assert.are.equal(65535, c:stats().inflight)
    assert.are.same({nil, "no free packet id"}, {c:subscribe("a", 0, function() end)})
    assert.are.same({nil, "no free packet id"}, {c:unsubscribe("a")})
    c:disconnect()
    stop()
  end)
end)
