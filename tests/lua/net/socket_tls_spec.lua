-- TLS options of the socket module without an outside peer (docs/tls.md):
-- argument checks, and handshakes against plain-TCP peers on loopback that
-- do not speak TLS. Verification against real servers and certificates:
-- tests/net/test_tls.py.
local socket = require("socket")

local function raises(msg, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "no error; expected: " .. msg)
  assert.truthy(tostring(err):find(msg, 1, true), "got: " .. tostring(err))
end

-- A plain TCP server on a loopback port that runs `serve(c)` per client.
local function plain_server(port, serve)
  local srv = assert(socket.bind("127.0.0.1", port))
  task.spawn(function()
    while true do
      local c = srv:accept()
      if not c then return end
      task.spawn(function() serve(c) end)
    end
  end)
  return srv
end

-- Read one whole TLS record (the ClientHello) so that closing sends a FIN.
local function read_record(c)
  local hdr = c:receive(5)
  if not hdr then return nil end
  local len = hdr:byte(4) * 256 + hdr:byte(5)
  return c:receive(len)
end

describe("socket tls option", function()
  it("checks its arguments", function()
    raises("bad argument #3 to 'socket.connect' (unknown tls option 'bogus'",
           socket.connect, "127.0.0.1", 1, {tls = {bogus = 1}})
    raises("unknown tls option 'verfy'; did you mean 'verify'?",
           socket.connect, "127.0.0.1", 1, {tls = {verfy = false}})
    raises("tls must be true or a table", socket.connect, "127.0.0.1", 1, {tls = 5})
    raises("tls.verify must be a boolean", socket.connect, "127.0.0.1", 1, {tls = {verify = "no"}})
    raises("tls.cert and tls.key go together", socket.connect, "127.0.0.1", 1, {tls = {key = "k"}})
    raises("tls.ca must be a string", socket.connect, "127.0.0.1", 1, {tls = {ca = {}}})
    raises("tls.alpn must list 1..4 protocol names",
           socket.connect, "127.0.0.1", 1, {tls = {alpn = {}}})
    raises("tls.alpn names must be 1..255 bytes",
           socket.connect, "127.0.0.1", 1, {tls = {alpn = ""}})
    raises("tls.server_name must be a host name",
           socket.connect, "127.0.0.1", 1, {tls = {server_name = ""}})
    raises("bad argument #3 to 'socket.bind' (tls must be a table",
           socket.bind, "127.0.0.1", 0, {tls = true})
    raises("a TLS server needs tls.cert and tls.key", socket.bind, "127.0.0.1", 0, {tls = {}})
    raises("unknown tls option 'verify'", socket.bind, "127.0.0.1", 0,
           {tls = {cert = "c", key = "k", verify = false}})
  end)

  it("returns PEM and file errors", function()
    local c, err = socket.connect("127.0.0.1", 1, {tls = {ca = "/nonexistent/ca.pem"}})
    assert.is_nil(c)
    assert.matches("^tls: cannot load ca %(", err)
    c, err = socket.connect("127.0.0.1", 1, {tls = {
      ca = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"}})
    assert.is_nil(c)
    assert.matches("^tls: cannot load ca %(", err)
    local s
    s, err = socket.bind("127.0.0.1", 0, {tls = {cert = "/nonexistent", key = "/nonexistent"}})
    assert.is_nil(s)
    assert.matches("^tls: cannot load cert", err)
  end)

  it("fails the handshake with a peer that does not speak TLS", function()
    local srv = plain_server(6601, function(c)
      read_record(c)
      c:send(string.rep("HTTP/1.0 400 Bad Request\r\n\r\nnot TLS\n", 10))
      task.sleep(200)
      c:close()
    end)
    local c, err = socket.connect("127.0.0.1", 6601, {timeout = 5000, tls = {verify = false}})
    assert.is_nil(c)
    assert.matches("^tls: handshake %(", err)
    srv:close()
  end)

  it("says when the peer closes during the handshake", function()
    local srv = plain_server(6602, function(c)
      read_record(c)
      c:close()
    end)
    local c, err = socket.connect("127.0.0.1", 6602, {timeout = 5000, tls = true})
    assert.is_nil(c)
    assert.are.equal("tls: the peer closed the connection during the handshake", err)
    srv:close()
  end)

  it("times out a handshake that gets no answer", function()
    local srv = plain_server(6603, function(c)
      read_record(c)
      task.sleep(2000)
      c:close()
    end)
    local c, err = socket.connect("127.0.0.1", 6603, {timeout = 300, tls = {verify = false}})
    assert.is_nil(c)
    assert.are.equal("timeout", err)
    srv:close()
  end)

  it("tlsinfo is for TLS sockets only; tlsmemory is not counted on the host", function()
    local srv = plain_server(6604, function(c) c:receive("*a") end)
    local c = assert(socket.connect("127.0.0.1", 6604))
    local info, err = c:tlsinfo()
    assert.is_nil(info)
    assert.are.equal("not a tls socket", err)
    assert.matches("^tcp socket", tostring(c))
    c:close()
    assert.same({nil, "closed"}, {c:tlsinfo()})
    srv:close()
    local used, why = socket.tlsmemory()
    if used == nil then
      assert.matches("not counted", why)
    else
      assert.is_true(math.type(used) == "integer")
    end
  end)
end)
