-- http: an independent checker's cases against RFC 9112 / 9110 (message
-- syntax, framing, redirects) and RFC 8259 (JSON), each one a gap found in
-- the first version. Loopback only.
local http = require("http")
local socket = require("socket")
local json = require("json")

local function serve(routes, opts)
  opts = opts or {}
  opts.host, opts.port, opts.routes = "127.0.0.1", 0, routes
  local srv = assert(http.server(opts))
  return srv, "http://127.0.0.1:" .. srv.port
end

local function raw(port, text)
  local c = assert(socket.connect("127.0.0.1", port, {timeout = 5000}))
  if text then c:send(text) end
  local data, _, partial = c:receive("*a")
  c:close()
  return data or partial
end

-- A raw server: fn(client_socket, request_line) answers each connection.
local function raw_server(fn)
  local srv = assert(socket.bind("127.0.0.1", 0))
  local _, port = srv:getsockname()
  task.spawn(function()
    while true do
      local c = srv:accept()
      if not c then return end
      task.spawn(function()
        c:settimeout(5000)
        while true do
          local first = c:receive("*l")
          if not first then break end
          repeat local l = c:receive("*l") until not l or l == ""
          if not fn(c, first) then break end
        end
        c:close()
      end)
    end
  end)
  return srv, "http://127.0.0.1:" .. port
end

describe("http against RFC 9112 / 9110", function()
  after_each(function() http.close_idle() end)

  it("refuses a request with more than one Host (RFC 9112 3.2)", function()
    local srv = serve({["GET /"] = function() return "root" end})
    local out = raw(srv.port, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert.truthy(out:find("^HTTP/1.1 400 "), out)
    out = raw(srv.port, "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n")
    assert.truthy(out:find("^HTTP/1.1 400 "), out)
    assert.is_nil(http.parse_request("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"))
    srv:close()
  end)

  it("answers a too long request line with 414 (RFC 9112 3)", function()
    local srv = serve({["GET /"] = function() return "root" end}, {max_header = 1024})
    local out = raw(srv.port, "GET /" .. ("a"):rep(3000) .. " HTTP/1.1\r\nHost: x\r\n\r\n")
    assert.truthy(out:find("^HTTP/1.1 414 "), out)
    srv:close()
  end)

  it("refuses Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1)", function()
    local _, err, st = http.parse_request("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert.are.equal(400, st, err)
  end)

  it("refuses Transfer-Encoding in an HTTP/1.0 response (RFC 9112 6.1)", function()
    assert.are.same({nil, "malformed response: malformed head: transfer-encoding in an HTTP/1.0 message"},
      {http.parse_response("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")})
  end)

  it("reads a Content-Length with leading zeros (1*DIGIT, RFC 9110 8.6)", function()
    local r = assert(http.parse_response("HTTP/1.1 200 OK\r\nContent-Length: "
      .. ("0"):rep(20) .. "2\r\n\r\nok"))
    assert.are.equal("ok", r.body)
    local req = assert(http.parse_request("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 00\r\n\r\n"))
    assert.are.equal("", req.body)
    assert.is_nil(http.parse_response("HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456\r\n\r\n"))
  end)

  it("reports a response of more than http.MAX_HEADERS header lines as too large", function()
    local lines = {"HTTP/1.1 200 OK"}
    for i = 1, http.MAX_HEADERS + 1 do lines[#lines + 1] = "X" .. i .. ": 1" end
    assert.are.same({nil, "response head too large"},
      {http.parse_response(table.concat(lines, "\r\n") .. "\r\n\r\n")})
  end)

  it("refuses a status code not followed by a space (RFC 9112 4)", function()
    assert.are.same({nil, "malformed response: bad status line"},
      {http.parse_response("HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n")})
    assert.are.same({nil, "malformed response: bad status line"},
      {http.parse_response("HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n")})
    -- the reason phrase may be empty, its space missing (RFC 9112 4: SHOULD accept)
    assert.are.equal(204, assert(http.parse_response("HTTP/1.1 204\r\n\r\n")).status)
    -- reason-phrase = *( HTAB / SP / VCHAR / obs-text )
    assert.are.equal("A\tB \200", assert(http.parse_response("HTTP/1.1 204 A\tB \200\r\n\r\n")).reason)
  end)

  it("unfolds obs-fold in a response (RFC 9112 5.2), refuses it in a request", function()
    local r = assert(http.parse_response("HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\n\tthree \r\n"
      .. "Content-Length: 2\r\n\r\nok"))
    assert.are.equal("one two three", r.headers["x-a"])
    assert.are.equal("ok", r.body)
    assert.are.same({nil, "malformed response: malformed head: obsolete line folding"},
      {http.parse_response("HTTP/1.1 200 OK\r\n folded\r\n\r\n")})
    local _, _, st = http.parse_request("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n")
    assert.are.equal(400, st)
  end)

  it("a streamed response may take longer than the server's request timeout", function()
    local srv, base = serve({
      ["GET /slow"] = function(_, res)
        for i = 1, 10 do
          assert(res:write(i .. "\n"))
          task.sleep(100)
        end
      end,
      ["GET /big"] = function(_, res) res:send(("x"):rep(200000)) end,
    }, {timeout = 300})
    local r = assert(http.get(base .. "/slow"))
    assert.are.equal("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", r.body)
    -- the handler ran past the deadline of its request: the answer still goes out
    srv:route("GET /late", function() task.sleep(500) return "late" end)
    assert.are.equal("late", assert(http.get(base .. "/late")).body)
    srv:close()
  end)

  it("ignores Expect: 100-continue from an HTTP/1.0 client (RFC 9110 10.1.1)", function()
    local srv = serve({["POST /e"] = function(req) return req.body end})
    local out = raw(srv.port, "POST /e HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi")
    assert.truthy(out:find("^HTTP/1.1 200 OK\r\n"), out)
    assert.is_nil(out:find("100 Continue", 1, true), out)
    out = raw(srv.port, "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
      .. "Connection: close\r\n\r\nhi")
    assert.truthy(out:find("^HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"), out)
    srv:close()
  end)

  it("resolves relative redirects as RFC 3986 5.2 does", function()
    local srv, base = serve({
      ["GET /a/b/c"] = function(req, res)
        if not req.query.to then return req.target end
        res:status(302):header("Location", req.query.to):send()
      end,
      ["GET /*"] = function(req) return req.target end,
    })
    local cases = {
      {"../d", "/a/d"}, {"./d", "/a/b/d"}, {"../../../../d", "/d"}, {"?x=1", "/a/b/c?x=1"},
      {"d/./e/../f", "/a/b/d/f"}, {"/g/../h", "/h"}, {"d#frag", "/a/b/d"},
    }
    for _, c in ipairs(cases) do
      local r = assert(http.get(base .. "/a/b/c?to=" .. http.escape(c[1])))
      assert.are.equal(c[2], r.body, c[1])
      assert.are.equal(base .. c[2], r.url, c[1])
    end
    srv:close()
  end)

  it("does not reuse a connection with unread bytes after a response", function()
    local n = 0
    local srv, base = raw_server(function(c, first)
      n = n + 1
      if first:find("^HEAD") then
        -- a broken server: a body after a HEAD answer
        c:send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHELLO")
      else
        c:send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
      end
      return true
    end)
    assert.are.equal(200, assert(http.request{method = "HEAD", url = base .. "/"}).status)
    task.sleep(100)
    local r, err = http.get(base .. "/")
    assert.is_nil(err)
    assert.are.equal("ok", r.body)
    srv:close()
  end)

  it("closes a connection whose response had both Transfer-Encoding and Content-Length", function()
    local srv, base = raw_server(function(c)
      c:send("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        .. "2\r\nok\r\n0\r\n\r\n")
      return true
    end)
    assert.are.equal("ok", assert(http.get(base .. "/")).body)
    assert.are.equal(0, http.idle_count())
    srv:close()
  end)

  it("does not resend a POST on a reused connection that closes (RFC 9112 9.3.1)", function()
    local posts, gets = 0, 0
    local srv, base = raw_server(function(c, first)
      if first:find("^POST") then
        posts = posts + 1
        c:receive(4)
        return false -- took the request, closes without an answer
      end
      gets = gets + 1
      c:send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
      return true
    end)
    assert.are.equal("ok", assert(http.get(base .. "/")).body)
    local r, err = http.request{method = "POST", url = base .. "/", body = "data"}
    assert.is_nil(r)
    assert.are.equal("connection closed before the response", err)
    assert.are.equal(1, posts)
    assert.are.equal("ok", assert(http.get(base .. "/")).body)
    assert.are.equal(2, gets)
    srv:close()
  end)

  it("lists HEAD in Allow when a GET route serves it (RFC 9110 10.2.1)", function()
    local srv = serve({["GET /s"] = function() return "s" end, ["PUT /s"] = function() return "p" end})
    local out = raw(srv.port, "DELETE /s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert.truthy(out:find("^HTTP/1.1 405 "), out)
    assert.truthy(out:find("\r\nAllow: GET, HEAD, PUT\r\n", 1, true), out)
    srv:close()
  end)

  it("orders routes added with srv:route as those given to http.server", function()
    local srv, base = serve({["GET /a/*"] = function() return "rest" end})
    srv:route("GET /a/:x/:y", function(req) return req.params.x .. req.params.y end)
    srv:route("GET /a/b/c", function() return "fixed" end)
    assert.are.equal("12", assert(http.get(base .. "/a/1/2")).body)
    assert.are.equal("fixed", assert(http.get(base .. "/a/b/c")).body)
    assert.are.equal("rest", assert(http.get(base .. "/a/1/2/3")).body)
    srv:close()
  end)

  it("returns the server's early answer (413) to an upload it stopped reading (RFC 9112 9.5)", function()
    local srv, base = serve({["POST /e"] = function(req) return req.body end}, {max_body = 1000})
    local r, err = http.request{method = "POST", url = base .. "/e", body = ("x"):rep(3000000)}
    assert.is_nil(err)
    assert.are.equal(413, r.status)
    local n = 0
    r, err = http.request{method = "POST", url = base .. "/e", source = function()
      n = n + 1
      if n <= 800 then return ("y"):rep(4096) end
    end}
    assert.is_nil(err)
    assert.are.equal(413, r.status)
    assert.is_true(n < 800)
    srv:close()
  end)

  it("sends Date once the device has a clock (RFC 9110 6.6.1), none before", function()
    local clock = http.clock
    local srv, base = serve({["GET /"] = function(_, res) res:header("Date", "forged"):send("x") end})
    http.clock = function() return nil end
    assert.is_nil(assert(http.get(base .. "/")).headers.date)
    http.clock = function() return 784111777.25 end
    assert.are.equal("Sun, 06 Nov 1994 08:49:37 GMT", assert(http.get(base .. "/")).headers.date)
    local out = raw(srv.port, "GARBAGE\r\n\r\n")
    assert.truthy(out:find("\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n", 1, true), out)
    http.clock = function() error("no clock") end
    assert.is_nil(assert(http.get(base .. "/")).headers.date)
    http.clock = clock
    assert.are.equal("Thu, 29 Feb 2024 00:00:00 GMT", http.http_date(1709164800))
    srv:close()
  end)

  it("a 304 or HEAD response keeps the connection for the next request", function()
    local srv, base = serve({
      ["GET /n"] = function(_, res) res:status(304):send() end,
      ["GET /x"] = function() return "x" end,
    })
    assert.are.equal(304, assert(http.get(base .. "/n")).status)
    assert.are.equal(1, http.idle_count())
    assert.are.equal("", assert(http.request{method = "HEAD", url = base .. "/x"}).body)
    assert.are.equal("x", assert(http.get(base .. "/x")).body)
    assert.are.equal(1, http.idle_count())
    srv:close()
  end)
end)

describe("http's tls option", function()
  it("is checked as the function's own argument", function()
    local function msg(f, ...)
      local ok, err = pcall(f, ...)
      assert.is_false(ok)
      return err
    end
    assert.are.equal("bad argument #1 to 'http.server' (option 'tls' must be a table {cert=, key=}, "
      .. "got true)", msg(http.server, {host = "127.0.0.1", port = 0, tls = true}))
    assert.truthy(msg(http.server, {port = 0, tls = {cert = "c"}}):find("needs cert and key", 1, true))
    assert.truthy(msg(http.request, {url = "https://127.0.0.1:1/", tls = {bogus = 1}})
      :find("^bad argument #1 to 'http.request' %(unknown tls option 'bogus'"))
    -- http.get names itself: its URL is argument #1, its options #2
    assert.are.equal("bad argument #1 to 'http.get' (unsupported scheme 'ftp' (http or https))",
      msg(http.get, "ftp://x/"))
    assert.are.equal("bad argument #2 to 'http.get' (unknown option 'metod'; did you mean 'method'?)",
      msg(http.get, "http://x/", {metod = "GET"}))
    assert.truthy(msg(http.get, "https://127.0.0.1:1/", {tls = {verify = "no"}})
      :find("tls option 'verify' must be boolean, got string", 1, true))
  end)
end)

describe("json against RFC 8259", function()
  it("refuses what the grammar refuses", function()
    local bad = {
      "", " ", "01", "1.", ".5", "+1", "-", "1e", "1e+", "0x10", "NaN", "Infinity", "-Infinity",
      "[1,]", "[,1]", "{\"a\":1,}", "{a:1}", "{'a':1}", "'a'", "\"\\x41\"", "\"\\u12\"",
      "\"a\tb\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "[1 2]", "{\"a\" 1}",
      "tru", "nul", "truex", "[", "{", "\"abc", "\239\187\191{}", "\"\192\128\"",
      "\"\237\160\128\"", "\"\244\144\128\128\"", "1 2", "[1]]", "\0", "{\"a\":1}\0",
      "\"\255\"", "[\"\\u0000\"", "\11" .. "1", "\12" .. "1", "1e99999",
    }
    for _, s in ipairs(bad) do
      local v, err = json.decode(s)
      assert.is_nil(v, ("%q"):format(s))
      assert.truthy(err:find("^json: "), err)
    end
  end)

  it("accepts what the grammar accepts", function()
    local good = {
      {"0", 0}, {"-0", 0}, {"1E2", 100.0}, {"1e-2", 0.01}, {"-1.5e+3", -1500.0}, {" \t\r\n1 \n", 1},
      {"\"\\u00e9\\ud83d\\ude00\\/\"", "é😀/"}, {"\"\\u0000\"", "\0"}, {"\"\127\"", "\127"},
      {"9223372036854775807", math.maxinteger}, {"-9223372036854775808", math.mininteger},
      {"9223372036854775808", 9223372036854775808.0}, {"\"\244\143\191\191\"", "\244\143\191\191"},
    }
    for _, c in ipairs(good) do
      local v, err = json.decode(c[1])
      assert.is_nil(err, c[1])
      assert.are.equal(c[2], v, c[1])
      assert.are.equal(math.type(c[2]), math.type(v), c[1])
    end
    assert.are.same({}, json.decode("[]"))
    assert.are.equal("[]", json.encode(json.decode("[]")))
    assert.are.equal("{}", json.encode(json.decode(" { } ")))
  end)

  it("answers nil, err for nesting past the Lua stack, even with max_depth raised", function()
    local v, err = json.decode(("["):rep(300000) .. ("]"):rep(300000), {max_depth = 1000000})
    assert.is_nil(v)
    assert.truthy(err:find("^json: nesting too deep"), err)
    assert.are.equal(1, #json.decode(("["):rep(1000) .. ("]"):rep(1000), {max_depth = 1000}))
  end)

  it("names a string option as a bad argument", function()
    local ok, err = pcall(json.decode, "1", {max_depth = "5"})
    assert.is_false(ok)
    assert.truthy(err:find("bad argument #2 to 'json.decode' (option 'max_depth' must be a positive integer)",
      1, true), err)
  end)

  it("round-trips numbers and strings exactly", function()
    for _, v in ipairs({0.1, 1 / 3, 1e300, -2.5e-308, 5e-324, 2 ^ 53 + 0.0, 123456789012345678,
      math.pi, -0.0, 1e21, 1e-7}) do
      local back = json.decode(json.encode(v))
      assert.are.equal(v, back, tostring(v))
    end
    local all = {}
    for i = 0, 127 do all[#all + 1] = string.char(i) end
    local s = table.concat(all) .. "é\226\128\168\240\159\152\128"
    local text = json.encode(s)
    assert.are.equal(s, json.decode(text))
    assert.is_nil(text:find("[%z\1-\31]"))
  end)
end)
