-- http: client and server against each other over loopback (127.0.0.1,
-- --net none, virtual time), the parsers on strings, and hostile peers
-- written with raw sockets: malformed heads, oversized heads and bodies,
-- a slow-loris client, a server that resets, request smuggling.
local http = require("http")
local socket = require("socket")
local json = require("json")

local function serve(routes, opts)
  opts = opts or {}
  opts.host, opts.port, opts.routes = "127.0.0.1", 0, routes
  local srv = assert(http.server(opts))
  return srv, "http://127.0.0.1:" .. srv.port
end

-- One raw exchange: send `text`, read until the server closes (or 5 s).
local function raw(port, text, wait)
  local c = assert(socket.connect("127.0.0.1", port, {timeout = 5000}))
  if text then c:send(text) end
  if wait then task.sleep(wait) end
  local data, err, partial = c:receive("*a")
  c:close()
  return data or partial, err
end

-- A raw server: fn(client_socket) answers each connection.
local function raw_server(fn)
  local srv = assert(socket.bind("127.0.0.1", 0))
  local _, port = srv:getsockname()
  task.spawn(function()
    while true do
      local c = srv:accept()
      if not c then return end
      task.spawn(function()
        c:settimeout(5000)
        fn(c)
        c:close()
      end)
    end
  end)
  return srv, "http://127.0.0.1:" .. port
end

local function read_head(c)
  local lines = {}
  while true do
    local l = c:receive("*l")
    if not l or l == "" then return lines end
    lines[#lines + 1] = l
  end
end

describe("http client and server", function()
  after_each(function() http.close_idle() end)

  it("serves routes, JSON both ways, params, queries, 404 and 405", function()
    local srv, base = serve({
      ["GET /status"] = function(req) return {ok = true, a = req.query.a} end,
      ["PUT /led/:n"] = function(req, res)
        local v, err = req:json()
        if not v then return res:json({error = err}, 400) end
        return {n = req.params.n, on = v.on}
      end,
      ["GET /files/*"] = function(req) return 200, "file " .. req.params["*"] end,
      ["GET /text"] = function() return "plain" end,
      ["GET /empty"] = function() end,
    })
    local r = assert(http.get(base .. "/status?a=x%20y"))
    assert.are.equal(200, r.status)
    assert.are.equal("application/json", r.headers["content-type"])
    assert.are.same({ok = true, a = "x y"}, json.decode(r.body))
    r = assert(http.request{method = "PUT", url = base .. "/led/3", body = '{"on":true}'})
    assert.are.equal('{"n":"3","on":true}', r.body)
    r = assert(http.request{method = "PUT", url = base .. "/led/3", body = '{"on":tru}'})
    assert.are.equal(400, r.status)
    assert.truthy(r.body:find("unexpected character at byte", 1, true))
    assert.are.equal("file a/b/c.txt", assert(http.get(base .. "/files/a/b/c.txt")).body)
    assert.are.equal("plain", assert(http.get(base .. "/text")).body)
    assert.are.equal(204, assert(http.get(base .. "/empty")).status)
    assert.are.equal(404, assert(http.get(base .. "/nothing")).status)
    r = assert(http.request{method = "DELETE", url = base .. "/status"})
    assert.are.equal(405, r.status)
    assert.are.equal("GET, HEAD", r.headers.allow)
    r = assert(http.request{method = "HEAD", url = base .. "/text"})
    assert.are.equal(200, r.status)
    assert.are.equal("5", r.headers["content-length"])
    assert.are.equal("", r.body)
    srv:close()
  end)

  it("reuses keep-alive connections", function()
    local peers = {}
    local srv, base = serve({
      ["GET /who"] = function(req) peers[req.port] = true return "x" end,
    })
    for _ = 1, 5 do assert.are.equal("x", assert(http.get(base .. "/who")).body) end
    local n = 0
    for _ in pairs(peers) do n = n + 1 end
    assert.are.equal(1, n)
    assert.are.equal(1, http.idle_count())
    -- keepalive = false: a new connection, closed after
    assert(http.request{url = base .. "/who", keepalive = false})
    n = 0
    for _ in pairs(peers) do n = n + 1 end
    assert.are.equal(2, n)
    -- the server closing an idle connection: the next request opens another
    srv:close()
    local srv2 = assert(http.server{host = "127.0.0.1", port = srv.port, routes = {
      ["GET /who"] = function() return "y" end}})
    assert.are.equal("y", assert(http.get(base .. "/who")).body)
    srv2:close()
  end)

  it("streams bodies both ways: chunked upload, chunked response, sink", function()
    local srv, base = serve({
      ["POST /echo"] = function(req, res) res:send(req.body) end,
      ["GET /count"] = function(_, res) for i = 1, 1000 do res:write(i .. "\n") end end,
    }, {max_body = 1024 * 1024})
    local pieces = {}
    for i = 1, 100 do pieces[i] = ("%04d"):format(i):rep(100) end
    local i = 0
    local r = assert(http.request{method = "POST", url = base .. "/echo",
      source = function() i = i + 1 return pieces[i] end})
    assert.are.equal(table.concat(pieces), r.body)
    r = assert(http.get(base .. "/count"))
    assert.are.equal("chunked", r.headers["transfer-encoding"])
    local want = {}
    for k = 1, 1000 do want[k] = k .. "\n" end
    assert.are.equal(table.concat(want), r.body)
    local got, ended = {}, false
    r = assert(http.request{url = base .. "/count", sink = function(c)
      if c == nil then ended = true else got[#got + 1] = c end
      return true
    end})
    assert.is_nil(r.body)
    assert.is_true(ended)
    assert.are.equal(table.concat(want), table.concat(got))
    -- a sink that refuses stops the transfer
    local a, err = http.request{url = base .. "/count", sink = function() return false, "full" end}
    assert.is_nil(a)
    assert.are.equal("sink: full", err)
    srv:close()
  end)

  it("follows redirects, bounded, and changes POST to GET on 303", function()
    local srv, base = serve({
      ["GET /a"] = function(_, res) res:status(301):header("Location", "/b"):send("moved") end,
      ["GET /b"] = function(_, res) res:status(302):header("Location", "c?x=1"):send() end,
      ["GET /c"] = function(req) return "at c " .. req.query.x end,
      ["POST /form"] = function(_, res) res:status(303):header("Location", "/c?x=2"):send() end,
      ["GET /loop"] = function(_, res) res:status(307):header("Location", "/loop"):send() end,
    })
    local r = assert(http.get(base .. "/a"))
    assert.are.equal("at c 1", r.body)
    assert.are.equal(base .. "/c?x=1", r.url)
    r = assert(http.request{method = "POST", url = base .. "/form", body = "x"})
    assert.are.equal("at c 2", r.body)
    assert.are.same({nil, "too many redirects (more than 5)"}, {http.get(base .. "/loop")})
    r = assert(http.request{url = base .. "/a", redirects = 0})
    assert.are.equal(301, r.status)
    assert.are.equal("moved", r.body)
    srv:close()
  end)

  it("answers malformed and oversized requests with 4xx and closes", function()
    local srv = serve({
      ["POST /echo"] = function(req, res) res:send(req.body) end,
      ["GET /"] = function() return "root" end,
    }, {max_body = 1000, max_header = 1024})
    local p = srv.port
    task.sleep(1500) -- earlier tests' connections wind down
    collectgarbage() -- sockets already closed but not yet collected still count
    collectgarbage()
    local tasks0, net0 = sys.tasks(), sys.memory().net
    local cases = {
      {"GARBAGE\r\n\r\n", "^HTTP/1.1 400 "},
      {"GET / HTTP/1.1\r\n\r\n", "^HTTP/1.1 400 .*missing Host"},
      {"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "^HTTP/1.1 505 "},
      {"GET / HTTP/1.1\r\nHost: x\r\n bad: fold\r\n\r\n", "^HTTP/1.1 400 .*folding"},
      {"GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", "^HTTP/1.1 400 "},
      {"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", "^HTTP/1.1 400 .*control character"},
      {"GET / HTTP/1.1\r\nHost: x\r\nX: " .. ("a"):rep(2000) .. "\r\n\r\n", "^HTTP/1.1 431 "},
      {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", "^HTTP/1.1 413 "},
      {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "^HTTP/1.1 400 .*both"},
      {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\n", "^HTTP/1.1 400 .*conflicting"},
      {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "^HTTP/1.1 400 "},
      {"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "^HTTP/1.1 501 "},
      {"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
        "^HTTP/1.1 400 .*chunk too large"},
      {"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n", "^HTTP/1.1 413 "},
      {"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "^HTTP/1.1 400 .*bad chunk size"},
      {"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
        "^HTTP/1.1 400 .*not followed by CRLF"},
      {"GET x HTTP/1.1\r\nHost: x\r\n\r\n", "^HTTP/1.1 400 .*target"},
    }
    for _, c in ipairs(cases) do
      local out = raw(p, c[1])
      assert.truthy(out:find(c[2]), c[1] .. " -> " .. out)
      assert.truthy(out:find("Connection: close", 1, true), c[1])
    end
    -- a header line of 100 KB without a newline: refused, not buffered
    local out = raw(p, "GET / HTTP/1.1\r\nX: " .. ("a"):rep(100000))
    assert.truthy(out:find("^HTTP/1.1 431 "))
    -- pipelined requests are answered in order on one connection
    out = raw(p, "GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\n"
      .. "Content-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    local _, n = out:gsub("HTTP/1.1 200 OK", "")
    assert.are.equal(3, n)
    assert.truthy(out:find("root.*abc.*root"))
    -- HTTP/1.0 closes unless it asks for keep-alive
    out = raw(p, "GET / HTTP/1.0\r\n\r\n")
    assert.truthy(out:find("^HTTP/1.1 200 OK.*Connection: close"))
    -- nothing left behind: no connection task, no socket memory
    task.sleep(1500)
    assert.are.equal(tasks0, sys.tasks())
    if sys.virtual_time then
      -- closed connections wait in TIME_WAIT (2 MSL) first: then lwIP's
      -- memory is no higher than before them
      task.sleep(125000)
      collectgarbage()
      collectgarbage()
      assert.is_true(sys.memory().net <= net0)
    end
    srv:close()
  end)

  it("drops slow-loris clients after its timeout and keeps serving others", function()
    local srv, base = serve({["GET /"] = function() return "ok" end}, {timeout = 2000})
    local c = assert(socket.connect("127.0.0.1", srv.port, {timeout = 10000}))
    local t0 = sys.uptime()
    local dripped = 0
    -- one byte every 500 ms: the whole head must come within 2 s
    local out = ""
    for ch in ("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaa"):gmatch(".") do
      if not c:send(ch) then break end
      dripped = dripped + 1
      if dripped == 3 then
        -- meanwhile another client is served at once
        assert.are.equal("ok", assert(http.get(base .. "/")).body)
      end
      task.sleep(500)
      c:settimeout(0)
      local d, _, partial = c:receive("*a")
      c:settimeout(10000)
      out = out .. (d or partial)
      if out ~= "" or sys.uptime() - t0 > 5000 then break end
    end
    assert.truthy(out:find("^HTTP/1.1 408 "), out)
    assert.truthy(dripped <= 5)
    assert.truthy(sys.uptime() - t0 < 4500)
    c:close()
    -- an idle keep-alive connection is closed after the timeout too
    local c2 = assert(socket.connect("127.0.0.1", srv.port, {timeout = 10000}))
    t0 = sys.uptime()
    assert.are.same({nil, "closed", ""}, {c2:receive("*a")})
    assert.truthy(sys.uptime() - t0 >= 2000)
    srv:close()
  end)

  it("limits concurrent clients with 503", function()
    local srv = serve({["GET /"] = function() return "ok" end}, {max_clients = 2})
    local a = assert(socket.connect("127.0.0.1", srv.port))
    local b = assert(socket.connect("127.0.0.1", srv.port))
    task.sleep(10)
    local out = raw(srv.port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert.truthy(out:find("^HTTP/1.1 503 "), out)
    a:close()
    b:close()
    task.sleep(10)
    out = raw(srv.port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert.truthy(out:find("^HTTP/1.1 200 "), out)
    srv:close()
  end)

  it("turns handler errors into 500 and keeps serving", function()
    local logged
    local srv, base = serve({
      ["GET /boom"] = function() error("kaboom") end,
      ["GET /ok"] = function() return "ok" end,
    }, {on_error = function(m) logged = m end})
    local r = assert(http.get(base .. "/boom"))
    assert.are.equal(500, r.status)
    assert.truthy(logged:find("GET /boom: .*kaboom"))
    assert.are.equal("ok", assert(http.get(base .. "/ok")).body)
    srv:close()
  end)

  it("reports hostile servers as errors", function()
    local replies = {
      ["/garbage"] = "SSH-2.0-OpenSSH\r\n\r\n",
      ["/status"] = "HTTP/1.1 999 What\r\n\r\n",
      ["/truncated"] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
      ["/badlen"] = "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
      ["/badchunk"] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nq\r\n",
      ["/endless"] = "HTTP/1.1 200 OK\r\nX: " .. ("a"):rep(20000),
      ["/big"] = "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n" .. ("b"):rep(2000),
      ["/untilclose"] = "HTTP/1.1 200 OK\r\n\r\nuntil the end",
      ["/nothing"] = "",
    }
    local srv, base = raw_server(function(c)
      local head = read_head(c)
      local path = head[1] and head[1]:match("^%S+ (%S+)")
      if path == "/reset" then
        c:send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
        -- unread data in the receive queue: close sends a reset
        return
      end
      if path == "/slow" then
        task.sleep(3000)
        return
      end
      c:send(replies[path] or "")
    end)
    local function err(path, opts)
      opts = opts or {}
      opts.url = base .. path
      local r, e = http.request(opts)
      assert.is_nil(r, path)
      return e
    end
    assert.are.equal("malformed response: bad status line", err("/garbage"))
    assert.are.equal("malformed response: bad status line", err("/status"))
    assert.are.equal("malformed response: body truncated", err("/truncated"))
    assert.are.equal("malformed response: malformed head: bad content-length", err("/badlen"))
    assert.are.equal("malformed response: malformed chunked body: bad chunk size", err("/badchunk"))
    assert.are.equal("response head too large", err("/endless"))
    assert.are.equal("response body too large (max_body 1000)", err("/big", {max_body = 1000}))
    assert.are.equal("timeout", err("/slow", {timeout = 1000}))
    assert.are.equal("connection closed before the response", err("/nothing"))
    assert.are.equal("until the end", assert(http.get(base .. "/untilclose")).body)
    srv:close()
  end)

  it("answers OPTIONS * for the server itself, never through a pattern route", function()
    local hits = 0
    local srv = serve({
      ["GET /a"] = function() return "a" end,
      ["POST /b"] = function() return "b" end,
      ["* /*"] = function() hits = hits + 1 return "any" end,
    })
    local out = raw(srv.port, "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert.truthy(out:find("^HTTP/1%.1 200 "), out)
    assert.truthy(out:find("\r\nAllow: GET, HEAD, OPTIONS, POST\r\n", 1, true), out)
    assert.truthy(out:find("\r\nContent%-Length: 0\r\n"), out)
    assert.are.equal(0, hits, "the '* /*' route answered OPTIONS *")
    srv:close()
    -- a route of its own answers it
    srv = serve({["OPTIONS *"] = function(_, res) res:header("Allow", "GET") return 204 end,
      ["* /*"] = function() hits = hits + 1 return "any" end})
    out = raw(srv.port, "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert.truthy(out:find("^HTTP/1%.1 204 "), out)
    assert.truthy(out:find("\r\nAllow: GET\r\n", 1, true), out)
    out = raw(srv.port, "OPTIONS /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert.truthy(out:find("any$"), out)
    assert.are.equal(1, hits)
    srv:close()
  end)

  it("sends and receives several Set-Cookie lines, never joined", function()
    local c1 = "id=a3fWa; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/"
    local c2 = "theme=dark"
    local srv, base = serve({
      ["GET /login"] = function(_, res)
        res:header("Set-Cookie", {c1, c2})
        return "ok"
      end,
    })
    local r = assert(http.get(base .. "/login"))
    assert.are.equal(200, r.status)
    assert.are.same({c1, c2}, r.set_cookie)
    assert.are.equal(c1 .. ", " .. c2, r.headers["set-cookie"]) -- joined: not for parsing
    local out = raw(srv.port, "GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert.truthy(out:find("\r\nSet-Cookie: " .. c1 .. "\r\n", 1, true), out)
    assert.truthy(out:find("\r\nSet%-Cookie: theme=dark\r\n"), out)
    assert.are.same({}, assert(http.get(base .. "/nothing")).set_cookie)
    srv:close()
    -- each value of a list is checked like a single one
    srv, base = serve({["GET /bad"] = function(_, res)
      local _, e1 = pcall(res.header, res, "Set-Cookie", {"a=1", "b=2\r\nX-Injected: 1"})
      local _, e2 = pcall(res.header, res, "Set-Cookie", {})
      local _, e3 = pcall(res.header, res, "Set-Cookie", {"a=1", 5, {}})
      return e1 .. "|" .. e2 .. "|" .. e3
    end})
    local body = assert(http.get(base .. "/bad")).body
    assert.truthy(body:find("contains a control character", 1, true), body)
    assert.truthy(body:find("an empty list of values", 1, true), body)
    assert.truthy(body:find("must be a string, got table", 1, true), body)
    assert.truthy(http.parse_response("HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nContent-Length: 0\r\n"
      .. "Set-Cookie: b=2; Expires=Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n"))
    assert.are.same({"a=1", "b=2; Expires=Thu, 01 Jan 2026 00:00:00 GMT"},
      http.parse_response("HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nContent-Length: 0\r\n"
        .. "Set-Cookie: b=2; Expires=Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n").set_cookie)
    srv:close()
  end)

  it("half-closes and drains after a Connection: close answer (pipelined data cannot reset it)", function()
    local srv = serve({["GET /a"] = function() return string.rep("A", 3000) end})
    -- the second request (and its 64 KB body) is still unread when the
    -- server is done with the first, which asked for the close
    local text = "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
      .. "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n" .. string.rep("x", 65536)
    local out, err = raw(srv.port, text)
    assert.is_nil(err, "the answer ended with " .. tostring(err))
    assert.truthy(out:find("^HTTP/1%.1 200 "), out:sub(1, 200))
    assert.truthy(out:find(string.rep("A", 3000) .. "$"), "the body arrived whole")
    srv:close()
  end)

  it("checks its arguments", function()
    local cases = {
      {function() http.request("http://x/") end,
        "bad argument #1 to 'http.request' (table expected, got string)"},
      {function() http.request{url = "ftp://x/"} end, "unsupported scheme 'ftp'"},
      {function() http.request{url = "http://x/", metod = "GET"} end, "did you mean 'method'?"},
      {function() http.request{url = "http://x/", headers = {X = "a\r\nInjected: 1"}} end,
        "header 'X' contains a control character"},
      {function() http.request{url = "http://x/", method = "G T"} end, "bad method 'G T'"},
      {function() http.request{url = "http://x/", timeout = 0} end, "'timeout' must be > 0"},
      {function() http.request{url = "http://x/", timeout = math.huge} end, "at most 2^31 ms"},
      {function() http.request{url = "http://x/", timeout = 0 / 0} end, "'timeout' must be > 0"},
      {function() http.server{port = 0, timeout = -1} end, "'timeout' must be > 0"},
      {function() http.request{url = "http://x/", body = "a", source = print} end, "not both"},
      {function() http.request{url = "http://x y/"} end, "spaces or control characters"},
      {function() http.get(42) end, "bad argument #1 to 'http.get' (string expected, got number)"},
      {function() http.server{port = 70000} end, "'port' must be an integer 0..65535"},
      {function() http.server{port = 0, routes = {["/status"] = print}} end, "bad route '/status'"},
      {function() http.server{port = 0, routes = {["GET /x"] = 1}} end, "must map to a function"},
      {function() http.server{port = 0, max_bodyy = 1} end, "did you mean 'max_body'?"},
    }
    for _, c in ipairs(cases) do
      local ok, e = pcall(c[1])
      assert.is_false(ok)
      assert.truthy(e:find(c[2], 1, true), e)
    end
    local srv = assert(http.server{host = "127.0.0.1", port = 0})
    assert.are.same({nil, "address in use"}, {http.server{host = "127.0.0.1", port = srv.port}})
    srv:close()
    assert.are.same({nil, "connection refused"}, {http.get("http://127.0.0.1:" .. srv.port .. "/")})
  end)
end)

describe("http parsers on strings", function()
  it("parses requests and responses with every framing", function()
    local req, err, rest = http.parse_request("POST /a?b=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n"
      .. "Transfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nTrailer: t\r\n\r\nNEXT")
    assert.is_nil(err)
    assert.are.equal("POST", req.method)
    assert.are.equal("/a", req.path)
    assert.are.equal("b=1", req.query)
    assert.are.equal("1, 2", req.headers["x-a"])
    assert.are.equal("abc", req.body)
    assert.are.equal(4, rest)
    local r = assert(http.parse_response("HTTP/1.0 404 Not Found\r\nContent-Length: 2\r\n\r\nno"))
    assert.are.same({404, "Not Found", "1.0", "no"}, {r.status, r.reason, r.version, r.body})
    r = assert(http.parse_response("HTTP/1.1 200 \r\n\r\nto the end"))
    assert.are.equal("to the end", r.body)
    r = assert(http.parse_response("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"))
    assert.are.equal("", r.body)
    assert.are.equal("hello", http.decode_chunked("5\r\nhello\r\n0\r\n\r\n"))
    assert.are.same({nil, "malformed chunked body: truncated"}, {http.decode_chunked("5\r\nhel")})
    assert.are.same({nil, "body too large"}, {http.decode_chunked("5\r\nhello\r\n0\r\n\r\n", 4)})
  end)

  it("parses URLs", function()
    local u = assert(http.parse_url("HTTPS://Example.COM:8443/a/b?c=d#frag"))
    assert.are.same({"https", "example.com", 8443, "/a/b?c=d", "/a/b", "c=d"},
      {u.scheme, u.host, u.port, u.target, u.path, u.query})
    assert.are.equal(80, http.parse_url("http://h").port)
    assert.are.equal("/", http.parse_url("http://h").target)
    assert.is_nil(http.parse_url("http://u:p@h/"))
    assert.is_nil(http.parse_url("http://h:0/"))
    assert.is_nil(http.parse_url("http://h:99999/"))
    assert.is_nil(http.parse_url("gopher://h/"))
    assert.are.same({a = "1", b = "x y", c = ""}, http.parse_query("a=1&b=x+y&c"))
    assert.are.equal("a%20b%2F%C3%A9", http.escape("a b/é"))
    assert.are.equal("a b/é", http.unescape("a%20b%2F%C3%A9"))
  end)
end)

describe("http helpers' arguments", function()
  it("are checked", function()
    local cases = {
      {function() http.parse_request(42) end,
        "bad argument #1 to 'http.parse_request' (string expected, got number)"},
      {function() http.parse_response("x", 5) end,
        "bad argument #2 to 'http.parse_response' (table expected"},
      {function() http.parse_response("x", {max_body = "1"}) end, "got max_body = 1"},
      {function() http.decode_chunked("x", 1.5) end, "bad argument #2 to 'http.decode_chunked'"},
      {function() http.unescape({}) end, "bad argument #1 to 'http.unescape' (string expected, got table)"},
      {function() http.parse_query(1) end, "bad argument #1 to 'http.parse_query'"},
    }
    for _, c in ipairs(cases) do
      local ok, e = pcall(c[1])
      assert.is_false(ok)
      assert.truthy(e:find(c[2], 1, true), e)
    end
    assert.are.equal("42", http.escape(42))
    assert.are.same({}, http.parse_query(nil))
  end)
end)
