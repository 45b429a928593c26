-- HTTP/1.1 client and server, pure Lua over the socket module
-- (docs/http.md). https:// and server{tls=} pass {tls = ...} to
-- socket.connect / socket.bind. Every read from the network is bounded:
-- heads by max_header, bodies by max_body (or streamed to a sink), time by
-- a deadline per request.
local socket = require("socket")
local sys = require("sys")
local json = require("json")
local argcheck = require("argcheck")

local M = { _VERSION = "1.0" }

local byte, sub, find, match, lower, fmt = string.byte, string.sub, string.find, string.match,
  string.lower, string.format
local concat = table.concat
local tointeger = math.tointeger

M.USER_AGENT = "luaos-http/1.0"
M.CHUNK = 4096          -- bytes per read of a body, and the reader's buffer
M.MAX_HEADER = 8192     -- bytes of a head (request or status line + headers)
M.MAX_HEADERS = 100     -- header lines of a head
M.MAX_BODY = 1024 * 1024 -- bytes of a body held in memory (client without sink)
M.TIMEOUT = 30000       -- ms for a whole client request, redirects included

local reasons = {
  [100] = "Continue", [101] = "Switching Protocols",
  [200] = "OK", [201] = "Created", [202] = "Accepted", [204] = "No Content",
  [206] = "Partial Content",
  [301] = "Moved Permanently", [302] = "Found", [303] = "See Other", [304] = "Not Modified",
  [307] = "Temporary Redirect", [308] = "Permanent Redirect",
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden", [404] = "Not Found",
  [405] = "Method Not Allowed", [408] = "Request Timeout", [409] = "Conflict",
  [411] = "Length Required", [413] = "Content Too Large", [414] = "URI Too Long",
  [415] = "Unsupported Media Type", [417] = "Expectation Failed",
  [422] = "Unprocessable Content", [429] = "Too Many Requests",
  [431] = "Request Header Fields Too Large",
  [500] = "Internal Server Error", [501] = "Not Implemented", [502] = "Bad Gateway",
  [503] = "Service Unavailable", [504] = "Gateway Timeout", [505] = "HTTP Version Not Supported",
}
M.reasons = reasons

local function now() return sys.uptime() end

---------------------------------------------------------------- arguments

-- Checkers raise without a position; the public function re-raises the
-- message at its caller (rethrow), as luaL_argerror does.
local function argfail(fn, n, msg, ...)
  error(fmt("bad argument #%d to '%s' (" .. msg .. ")", n, fn, ...), 0)
end

local function rethrow(ok, ...)
  if not ok then error((...), 3) end
  return ...
end

-- Strict option tables: unknown keys are refused with the nearest name.
local function check_opts(fn, n, t, known)
  for k, v in pairs(t) do
    local want = known[k]
    if type(k) ~= "string" or not want then
      local names = {}
      for name in pairs(known) do names[#names + 1] = name end
      table.sort(names)
      argfail(fn, n, "unknown option '%s'%s", tostring(k), argcheck.hint(tostring(k), names))
    end
    local ok = false
    for w in want:gmatch("[^|]+") do
      if w == type(v) or (w == "integer" and math.type(v) == "integer")
          or (w == "true" and v == true) then
        ok = true
      end
    end
    if not ok then argfail(fn, n, "option '%s' must be %s, got %s", k, want:gsub("|", " or "), type(v)) end
  end
end

-- For the small public helpers: a string argument, raised at the caller.
local function check_string(fn, n, v, optional)
  if type(v) ~= "string" and not (optional and v == nil) then
    error(fmt("bad argument #%d to '%s' (string expected, got %s)", n, fn, type(v)), 3)
  end
end

local function check_limits(fn, limits)
  if limits ~= nil and type(limits) ~= "table" then
    error(fmt("bad argument #2 to '%s' (table expected, got %s)", fn, type(limits)), 3)
  end
  for k, v in pairs(limits or {}) do
    local ok = (k == "head" and type(v) == "boolean")
      or ((k == "max_header" or k == "max_body") and math.type(v) == "integer" and v >= 0)
    if not ok then
      error(fmt("bad argument #2 to '%s' (limits: max_header =, max_body = integers, "
        .. "head = boolean; got %s = %s)", fn, tostring(k), tostring(v)), 3)
    end
  end
  return limits or {}
end

local function check_pos(fn, n, name, v, lo, hi)
  if v ~= nil and (math.type(v) ~= "integer" or v < lo or v > hi) then
    argfail(fn, n, "option '%s' must be an integer %d..%d", name, lo, hi)
  end
end

-- The tls option's own fields (socket.connect / socket.bind, docs/tls.md),
-- checked here so a mistake is named as this function's argument.
local tls_fields = {
  client = { ca = "string", cert = "string", key = "string", server_name = "string",
    verify = "boolean", alpn = "string|table" },
  server = { cert = "string", key = "string", ca = "string", alpn = "string|table" },
}

local function check_tls(fn, n, t, side)
  if t == nil or (t == true and side == "client") then return end
  if type(t) ~= "table" then
    argfail(fn, n, "option 'tls' must be %s, got %s",
      side == "client" and "true or a table" or "a table {cert=, key=}", tostring(t))
  end
  local known = tls_fields[side]
  for k, v in pairs(t) do
    local want = type(k) == "string" and known[k]
    if not want then
      local names = {}
      for name in pairs(known) do names[#names + 1] = name end
      table.sort(names)
      argfail(fn, n, "unknown tls option '%s'%s", tostring(k), argcheck.hint(tostring(k), names))
    end
    if not find("|" .. want .. "|", "|" .. type(v) .. "|", 1, true) then
      argfail(fn, n, "tls option '%s' must be %s, got %s", k, want:gsub("|", " or "), type(v))
    end
  end
  if side == "server" and (not t.cert or not t.key) then
    argfail(fn, n, "option 'tls' needs cert and key (PEM text or file paths)")
  end
end

local TOKEN = "^[!#$%%&'*+%-.^_`|~%w]+$"

-- A header name and value a caller gives: no CR/LF (no header injection).
local function check_header(fn, n, k, v)
  if type(k) ~= "string" or not find(k, TOKEN) then
    argfail(fn, n, "bad header name %s", type(k) == "string" and "'" .. k .. "'" or type(k))
  end
  if type(v) == "number" then v = tostring(v) end
  if type(v) ~= "string" then argfail(fn, n, "header '%s' must be a string, got %s", k, type(v)) end
  if find(v, "[%z\1-\8\10-\31\127]") then
    argfail(fn, n, "header '%s' contains a control character (CR/LF injection?)", k)
  end
  return v
end

---------------------------------------------------------------- URLs

-- "http://host:port/path?query" -> {scheme, host, port, target, path, query}
function M.parse_url(url)
  if type(url) ~= "string" then return nil, "url must be a string" end
  if find(url, "[%z\1-\32\127]") then return nil, "bad url '" .. url .. "' (spaces or control characters)" end
  local scheme, rest = match(url, "^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil, "bad url '" .. url .. "' (expected http:// or https://)" end
  scheme = lower(scheme)
  if scheme ~= "http" and scheme ~= "https" then
    return nil, "unsupported scheme '" .. scheme .. "' (http or https)"
  end
  local auth, target = match(rest, "^([^/?#]*)(.*)$")
  target = match(target, "^([^#]*)") -- the fragment is the client's
  if find(auth, "@", 1, true) then return nil, "bad url '" .. url .. "' (user:password@ is not supported)" end
  local host, port = match(auth, "^([^:]+):(%d+)$")
  if not host then
    host = match(auth, "^([^:]+)$")
    port = scheme == "https" and 443 or 80
  else
    port = tointeger(tonumber(port))
  end
  if not host or not find(host, "^[%w.-]+$") then return nil, "bad url '" .. url .. "' (host)" end
  if not port or port < 1 or port > 65535 then return nil, "bad url '" .. url .. "' (port)" end
  if target == "" then target = "/" end
  if byte(target) == 63 then target = "/" .. target end -- "http://h?x"
  local path, query = match(target, "^([^?]*)%??(.*)$")
  return { scheme = scheme, host = lower(host), port = port, target = target, path = path,
    query = query }
end

-- RFC 3986 5.2.4: "/a/b/../c/./d" -> "/a/c/d" (never above the root).
local function remove_dots(path)
  local out = {}
  local trailing = false
  for seg in path:gmatch("[^/]*") do
    trailing = false
    if seg == ".." then
      if #out > 0 then out[#out] = nil end
      trailing = true
    elseif seg == "." then
      trailing = true
    elseif seg ~= "" then
      out[#out + 1] = seg
    end
  end
  local r = "/" .. concat(out, "/")
  if (trailing or sub(path, -1) == "/") and r ~= "/" then r = r .. "/" end
  return r
end

-- The URL a Location header points to, from the URL it came from
-- (RFC 3986 5.2; the fragment is the client's and is dropped).
local function resolve_url(base, loc)
  loc = match(loc, "^([^#]*)")
  if match(loc, "^%a[%w+.-]*://") then return loc end
  if sub(loc, 1, 2) == "//" then return base.scheme .. ":" .. loc end
  local origin = base.scheme .. "://" .. base.host .. ":" .. base.port
  local path, query = match(loc, "^([^?]*)(.*)$")
  if path == "" then
    return origin .. base.path .. (query ~= "" and query or (base.query ~= "" and "?" .. base.query or ""))
  end
  if byte(path) ~= 47 then path = (match(base.path, "^(.*/)") or "/") .. path end
  return origin .. remove_dots(path) .. query
end

function M.escape(s)
  if math.type(s) then s = tostring(s) end
  check_string("http.escape", 1, s)
  return (tostring(s):gsub("[^%w%-._~]", function(c) return fmt("%%%02X", byte(c)) end))
end

function M.unescape(s)
  check_string("http.unescape", 1, s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- "a=1&b=x%20y" -> {a = "1", b = "x y"} (a repeated name: the last value)
function M.parse_query(q)
  check_string("http.parse_query", 1, q, true)
  local t = {}
  for pair in (q or ""):gmatch("[^&]+") do
    local k, v = match(pair, "^([^=]*)=?(.*)$")
    t[M.unescape((k:gsub("+", " ")))] = M.unescape((v:gsub("+", " ")))
  end
  return t
end

---------------------------------------------------------------- reading

-- A buffered reader over a socket (or over a string: sock == nil, for the
-- parsers' tests and fuzzing). Blocking reads wait at most until
-- `deadline` (sys.uptime() ms; nil: no limit).
local Conn = {}
Conn.__index = Conn

local function new_conn(sock, data)
  return setmetatable({ sock = sock, buf = data or "", pos = 1, got = 0, deadline = nil }, Conn)
end

function Conn:arm()
  local sock = self.sock
  if not sock then return nil, "closed" end
  if self.deadline then
    local left = self.deadline - now()
    if left <= 0 then return nil, "timeout" end
    sock:settimeout(math.ceil(left))
  else
    sock:settimeout(nil)
  end
  return true
end

-- Wait for at least one more byte, then take whatever else has arrived
-- (up to CHUNK) without waiting.
function Conn:fill()
  local ok, err = self:arm()
  if not ok then return nil, err end
  local sock = self.sock
  local b, e = sock:receive(1)
  if not b then return nil, e end
  sock:settimeout(0)
  local rest, _, part = sock:receive(M.CHUNK - 1)
  rest = rest or part or ""
  if self.pos > #self.buf then
    self.buf = b .. rest
  else
    self.buf = sub(self.buf, self.pos) .. b .. rest
  end
  self.pos = 1
  self.got = self.got + 1 + #rest
  return true
end

-- The next line without its CRLF (or LF); nil, "too long" past `max` bytes.
function Conn:line(max)
  while true do
    local i = find(self.buf, "\n", self.pos, true)
    if i then
      local line = sub(self.buf, self.pos, i - 1)
      self.pos = i + 1
      if byte(line, -1) == 13 then line = sub(line, 1, -2) end
      if #line > max then return nil, "too long" end
      return line
    end
    if #self.buf - self.pos + 1 > max then return nil, "too long" end
    local ok, err = self:fill()
    if not ok then return nil, err end
  end
end

-- Exactly n bytes.
function Conn:read(n)
  local have = #self.buf - self.pos + 1
  if have >= n then
    local s = sub(self.buf, self.pos, self.pos + n - 1)
    self.pos = self.pos + n
    return s
  end
  local head = sub(self.buf, self.pos)
  self.buf, self.pos = "", 1
  local ok, err = self:arm()
  if not ok then return nil, err end
  local d, e = self.sock:receive(n - have, head)
  if not d then return nil, e end
  return d
end

-- Up to n bytes (at least one), or nil, err; "closed" at the end.
function Conn:some(n)
  if self.pos > #self.buf then
    local ok, err = self:fill()
    if not ok then return nil, err end
  end
  local s = sub(self.buf, self.pos, self.pos + n - 1)
  self.pos = self.pos + #s
  return s
end

function Conn:pending()
  return #self.buf - self.pos + 1
end

---------------------------------------------------------------- heads

-- A head: the first line, then header lines up to an empty line. Returns
-- first_line, headers (names lower case; repeated names joined with ", "),
-- the Set-Cookie values in order (a list: they cannot be joined, RFC 6265
-- 3 / RFC 9110 5.3) or nil, err, status (the status a server answers with).
local function read_head(conn, max_header, fold)
  local budget = max_header or M.MAX_HEADER
  local first, err
  for _ = 1, 4 do -- a few empty lines before a request are tolerated (RFC 9112 2.2)
    first, err = conn:line(budget)
    if not first then break end
    budget = budget - #first - 2
    if first ~= "" then break end
  end
  if not first then
    -- a request line past the limit: 414 (RFC 9112 3), the rest 431
    if err == "too long" then return nil, "request line too long", 414 end
    return nil, err
  end
  if first == "" then return nil, "malformed head: empty lines", 400 end
  -- (a status line's reason phrase may hold tabs: RFC 9112 4)
  if find(first, fold and "[%z\1-\8\10-\31\127]" or "[%z\1-\31\127]") then
    return nil, "malformed head: control character in the first line", 400
  end
  local headers, n, last, cookies = {}, 0, nil, {}
  while true do
    local line
    line, err = conn:line(budget)
    if not line then
      if err == "too long" then return nil, "head too large", 431 end
      if err == "closed" then return nil, "malformed head: truncated", 400 end
      return nil, err -- timeout, reset
    end
    budget = budget - #line - 2
    if budget < 0 then return nil, "head too large", 431 end
    if line == "" then break end
    n = n + 1
    if n > M.MAX_HEADERS then return nil, "too many header lines", 431 end
    local c = byte(line)
    if c == 32 or c == 9 then
      -- obs-fold: a user agent replaces it with a space (RFC 9112 5.2), a
      -- server refuses it
      if not (fold and last) then return nil, "malformed head: obsolete line folding", 400 end
      local more = match(line, "^[ \t]*(.-)[ \t]*$")
      if find(more, "[%z\1-\8\10-\31\127]") then
        return nil, "malformed head: control character in header '" .. last .. "'", 400
      end
      headers[last] = headers[last] .. " " .. more
      if last == "set-cookie" then cookies[#cookies] = cookies[#cookies] .. " " .. more end
      goto continue
    end
    local name, value = match(line, "^([^:]*):[ \t]*(.-)[ \t]*$")
    if not name or not find(name, TOKEN) then
      return nil, "malformed head: bad header line", 400
    end
    if find(value, "[%z\1-\8\10-\31\127]") then
      return nil, "malformed head: control character in header '" .. name .. "'", 400
    end
    name = lower(name)
    local old = headers[name]
    headers[name] = old and (old .. ", " .. value) or value
    if name == "set-cookie" then cookies[#cookies + 1] = value end
    last = name
    ::continue::
  end
  return first, headers, cookies
end

-- The body's framing from the headers: "chunked", a length, or "close"
-- (until the peer closes). nil, err, status when they are malformed.
local function framing(headers, is_request, version)
  local te, cl = headers["transfer-encoding"], headers["content-length"]
  if te and version == "1.0" then -- faulty framing (RFC 9112 6.1)
    return nil, "malformed head: transfer-encoding in an HTTP/1.0 message", 400
  end
  if te then
    if lower(te) ~= "chunked" then
      return nil, "unsupported transfer-encoding '" .. te .. "'", 501
    end
    if cl and is_request then
      return nil, "malformed head: both content-length and transfer-encoding", 400
    end
    return "chunked"
  end
  if cl then
    local v
    for item in cl:gmatch("[^,]+") do
      local d = match(item, "^[ \t]*0*(%d+)[ \t]*$") -- leading zeros are digits too
      if not d or #d > 15 then return nil, "malformed head: bad content-length", 400 end
      d = tointeger(tonumber(d))
      if v and v ~= d then return nil, "malformed head: conflicting content-length", 400 end
      v = d
    end
    if not v then return nil, "malformed head: bad content-length", 400 end
    return v
  end
  if is_request then return 0 end
  return "close"
end

-- Reads a body framed by `frame`, handing pieces to emit(piece) (which
-- returns nil, err to stop). Returns true or nil, err, status.
local function read_body(conn, frame, emit, max_body, max_header)
  local total = 0
  local function take(piece)
    total = total + #piece
    if max_body and total > max_body then return nil, "body too large", 413 end
    return emit(piece)
  end
  if frame == "chunked" then
    local budget = max_header or M.MAX_HEADER
    while true do
      local line, err = conn:line(1024)
      if not line then
        if err == "too long" then return nil, "malformed chunked body: chunk size line too long", 400 end
        return nil, err == "closed" and "malformed chunked body: truncated" or err, 400
      end
      local hex = match(line, "^(%x+)[ \t]*$") or match(line, "^(%x+)[ \t]*;[^%z\1-\8\10-\31\127]*$")
      if not hex then return nil, "malformed chunked body: bad chunk size", 400 end
      hex = match(hex, "^0*(.*)$")
      if #hex > 12 then return nil, "malformed chunked body: chunk too large", 400 end
      local size = #hex == 0 and 0 or tonumber(hex, 16)
      if size == 0 then
        for _ = 1, M.MAX_HEADERS + 1 do -- trailers, ignored
          local t
          t, err = conn:line(budget)
          if not t then
            return nil, err == "closed" and "malformed chunked body: truncated" or err, 400
          end
          if t == "" then return true end
          budget = budget - #t - 2
          if budget < 0 then return nil, "trailers too large", 431 end
        end
        return nil, "too many trailer lines", 431
      end
      if max_body and total + size > max_body then return nil, "body too large", 413 end
      local left = size
      while left > 0 do
        local piece
        piece, err = conn:read(math.min(left, M.CHUNK))
        if not piece then
          return nil, err == "closed" and "malformed chunked body: truncated" or err, 400
        end
        left = left - #piece
        local ok, e, st = take(piece)
        if not ok then return nil, e, st end
      end
      local crlf = conn:line(2)
      if crlf ~= "" then return nil, "malformed chunked body: chunk not followed by CRLF", 400 end
    end
  elseif frame == "close" then
    while true do
      local piece, err = conn:some(M.CHUNK)
      if not piece then
        if err == "closed" then return true end
        return nil, err
      end
      local ok, e, st = take(piece)
      if not ok then return nil, e, st end
    end
  else
    if max_body and frame > max_body then return nil, "body too large", 413 end
    local left = frame
    while left > 0 do
      local piece, err = conn:read(math.min(left, M.CHUNK))
      if not piece then
        return nil, err == "closed" and "body truncated" or err, 400
      end
      left = left - #piece
      local ok, e, st = take(piece)
      if not ok then return nil, e, st end
    end
    return true
  end
end

local function collector(max)
  -- A stack of strings, each longer than the one above it: a piece joins
  -- the top while that is not longer (PiL's "tower of Hanoi" buffer), so
  -- many small pieces cost O(n log n), not the O(n^2) of joining all so far.
  local stack, n = {}, 0
  local function emit(piece)
    n = n + 1
    stack[n] = piece
    while n > 1 and #stack[n] >= #stack[n - 1] do
      stack[n - 1] = stack[n - 1] .. stack[n]
      stack[n] = nil
      n = n - 1
    end
    return true
  end
  return emit, function() return concat(stack, "", 1, n) end, max
end

local function has_token(value, token)
  if not value then return false end
  for item in value:gmatch("[^,]+") do
    if lower(match(item, "^[ \t]*(.-)[ \t]*$")) == token then return true end
  end
  return false
end

-- A request head from `conn`: the request table or nil, err, status.
local function read_request_head(conn, max_header)
  local first, headers, status = read_head(conn, max_header)
  if not first then return nil, headers, status end
  local method, target, minor = match(first, "^([!#$%%&'*+%-.^_`|~%w]+) (%S+) HTTP/1%.([01])$")
  if not method then
    if match(first, "^%S+ %S+ HTTP/%d+%.%d+$") then return nil, "HTTP version not supported", 505 end
    return nil, "malformed request line", 400
  end
  local absolute = match(target, "^[hH][tT][tT][pP][sS]?://[^/]*(.*)$")
  if absolute then target = absolute == "" and "/" or absolute end
  if byte(target) ~= 47 and not (target == "*" and method == "OPTIONS") then
    return nil, "malformed request target", 400
  end
  if minor == "1" and not headers.host then return nil, "missing Host header", 400 end
  -- One Host, a valid authority (RFC 9112 3.2): repeated ones were joined with ", "
  if headers.host and not find(headers.host, "^[%w.%-_~!$&'()*+;=%%:%[%]]*$") then
    return nil, "more than one Host header or a bad Host", 400
  end
  if minor == "0" and headers["transfer-encoding"] then
    return nil, "malformed head: transfer-encoding in an HTTP/1.0 request", 400
  end
  local path, query = match(target, "^([^?]*)%??(.*)$")
  local frame, err
  frame, err, status = framing(headers, true)
  if not frame then return nil, err, status end
  return {
    method = method, target = target, path = path, query = query, headers = headers,
    version = "1." .. minor, frame = frame,
  }
end

-- A response head: status, reason, version, headers or nil, err.
local function read_response_head(conn, max_header)
  local first, headers, cookies = read_head(conn, max_header, true)
  if not first then
    if headers == "head too large" or headers == "request line too long"
        or headers == "too many header lines" then
      return nil, "response head too large"
    end
    if headers == "malformed head: control character in the first line" then
      return nil, "malformed response: bad status line"
    end
    if find(headers, "^malformed") then return nil, "malformed response: " .. headers end
    return nil, (headers == "closed" and conn.got == 0) and "closed" or headers
  end
  local minor, code, reason = match(first, "^HTTP/1%.([01]) (%d%d%d) (.*)$")
  if not minor then -- no reason phrase and no space before it (RFC 9112 4: accepted)
    minor, code = match(first, "^HTTP/1%.([01]) (%d%d%d)$")
    reason = ""
  end
  code = tointeger(tonumber(code))
  if not code or code < 100 or code > 599 then return nil, "malformed response: bad status line" end
  return code, reason, "1." .. minor, headers, cookies
end

---------------------------------------------------------------- parsers on strings

-- The parsers on a whole message in a string, without a socket (for the
-- fuzzers and tests): http.parse_request(text, [limits]) -> request | nil,
-- err, status; http.parse_response(text, [limits]) -> response | nil, err.
-- limits: {max_header =, max_body =, head = true (a response to HEAD)}.
function M.parse_request(text, limits)
  check_string("http.parse_request", 1, text)
  limits = check_limits("http.parse_request", limits)
  local conn = new_conn(nil, text)
  local req, err, status = read_request_head(conn, limits.max_header)
  if not req then return nil, err, status end
  local emit, result = collector()
  local ok, e, st = read_body(conn, req.frame, emit, limits.max_body or M.MAX_BODY, limits.max_header)
  if not ok then return nil, e, st end
  req.body = result()
  req.frame = nil
  return req, nil, conn:pending()
end

local function no_body(status, head)
  return head or (status >= 100 and status < 200) or status == 204 or status == 304
end

function M.parse_response(text, limits)
  check_string("http.parse_response", 1, text)
  limits = check_limits("http.parse_response", limits)
  local conn = new_conn(nil, text)
  local status, reason, version, headers, cookies = read_response_head(conn, limits.max_header)
  if not status then return nil, reason end
  local frame = 0
  if not no_body(status, limits.head) then
    local err
    frame, err = framing(headers, false, version)
    if not frame then return nil, "malformed response: " .. err end
  end
  local emit, result = collector()
  local ok, e = read_body(conn, frame, emit, limits.max_body or M.MAX_BODY, limits.max_header)
  if not ok then return nil, e end
  return { status = status, reason = reason, version = version, headers = headers, body = result(),
    set_cookie = cookies }
end

-- The chunked decoder alone: "5\r\nhello\r\n0\r\n\r\n" -> "hello" | nil, err
function M.decode_chunked(text, max_body)
  check_string("http.decode_chunked", 1, text)
  if max_body ~= nil and math.type(max_body) ~= "integer" then
    error("bad argument #2 to 'http.decode_chunked' (integer expected, got " .. type(max_body) .. ")", 2)
  end
  local conn = new_conn(nil, text)
  local emit, result = collector()
  local ok, err = read_body(conn, "chunked", emit, max_body or M.MAX_BODY)
  if not ok then return nil, err end
  return result()
end

---------------------------------------------------------------- client

-- Idle keep-alive connections, by "scheme://host:port".
local pool, pool_count = {}, 0
M.POOL_PER_HOST = 4
M.POOL_MAX = 16
M.POOL_IDLE = 30000 -- ms an idle connection is kept

local function pool_take(key)
  local list = pool[key]
  while list and #list > 0 do
    local e = table.remove(list)
    pool_count = pool_count - 1
    -- Still open? A peer that closed it while idle left a "closed".
    e.conn.sock:settimeout(0)
    local d, err = e.conn.sock:receive(1)
    if not d and err == "timeout" and now() - e.t < M.POOL_IDLE then
      return e.conn
    end
    e.conn.sock:close()
  end
  return nil
end

local function pool_put(key, conn)
  local list = pool[key] or {}
  pool[key] = list
  if #list >= M.POOL_PER_HOST or pool_count >= M.POOL_MAX then
    conn.sock:close()
    return
  end
  conn.deadline = nil
  list[#list + 1] = { conn = conn, t = now() }
  pool_count = pool_count + 1
end

--- Closes every idle keep-alive connection; returns how many.
function M.close_idle()
  local n = 0
  for key, list in pairs(pool) do
    for _, e in ipairs(list) do
      e.conn.sock:close()
      n = n + 1
    end
    pool[key] = nil
  end
  pool_count = 0
  return n
end

function M.idle_count() return pool_count end

local request_opts = {
  url = "string", method = "string", headers = "table", body = "string", source = "function",
  sink = "function", timeout = "number", redirects = "integer", tls = "true|table",
  max_body = "integer", max_header = "integer", keepalive = "boolean",
}

local idempotent = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true,
  TRACE = true }

local redirect_codes = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }

local function send_all(conn, data)
  local ok, err = conn:arm()
  if not ok then return nil, err end
  local last
  last, err = conn.sock:send(data)
  if not last then return nil, err end
  return true
end

-- The answer a server sent before it stopped taking the request's body
-- (a 413, say) and closed: the client looks for it when a send fails,
-- as RFC 9112 9.5 asks, instead of reporting only the send's error.
local function early_response(conn, r)
  conn.deadline = math.min(conn.deadline or math.huge, now() + 1000)
  local status, reason, version, headers, cookies = read_response_head(conn, r.max_header)
  if not status or status < 200 then return nil end
  local resp = { status = status, reason = reason, version = version, headers = headers, body = "",
    set_cookie = cookies }
  local frame = no_body(status, r.method == "HEAD") and 0 or framing(headers, false, version)
  if frame then
    local emit, result = collector()
    if read_body(conn, frame, emit, r.max_body, r.max_header) then resp.body = result() end
  end
  if r.sink then
    if resp.body ~= "" then r.sink(resp.body) end
    r.sink(nil)
    resp.body = nil
  end
  resp.reusable = false
  return resp
end

-- One exchange on one connection. Returns the response (body read, or
-- streamed to the sink), or nil, err, retry (retry: the reused connection
-- had gone stale before any byte came back).
local function exchange(conn, r, u, follow)
  local lines = { r.method .. " " .. u.target .. " HTTP/1.1" }
  local has = {}
  for k, v in pairs(r.headers) do has[lower(k)] = v end
  if not has.host then
    local default = (u.scheme == "https" and 443 or 80)
    lines[#lines + 1] = "Host: " .. u.host .. (u.port ~= default and ":" .. u.port or "")
  end
  if not has["user-agent"] then lines[#lines + 1] = "User-Agent: " .. M.USER_AGENT end
  if not r.keepalive and not has.connection then lines[#lines + 1] = "Connection: close" end
  local chunked = false
  if r.body then
    if not has["content-length"] then lines[#lines + 1] = "Content-Length: " .. #r.body end
  elseif r.source then
    if not has["content-length"] then
      lines[#lines + 1] = "Transfer-Encoding: chunked"
      chunked = true
    end
  elseif (r.method == "POST" or r.method == "PUT" or r.method == "PATCH") and not has["content-length"] then
    lines[#lines + 1] = "Content-Length: 0"
  end
  for k, v in pairs(r.headers) do lines[#lines + 1] = k .. ": " .. v end
  lines[#lines + 1] = "\r\n"
  local head = concat(lines, "\r\n")
  local ok, err
  if r.body and #r.body <= 4 * M.CHUNK then
    ok, err = send_all(conn, head .. r.body)
  else
    ok, err = send_all(conn, head)
    if ok and r.body then ok, err = send_all(conn, r.body) end
  end
  if not ok then
    if r.body and conn.sock then
      local early = early_response(conn, r)
      if early then return early end
    end
    return nil, err, true
  end
  if r.source then
    while true do
      local piece = r.source()
      if piece == nil or piece == "" then
        if piece == nil then
          if chunked then ok, err = send_all(conn, "0\r\n\r\n") end
          break
        end
      else
        if type(piece) ~= "string" then
          return nil, "source returned a " .. type(piece) .. ", not a string"
        end
        ok, err = send_all(conn, chunked and (fmt("%x\r\n", #piece) .. piece .. "\r\n") or piece)
        if not ok then break end
      end
    end
    if not ok then
      local early = early_response(conn, r)
      if early then return early end
      return nil, err
    end
  end
  local status, reason, version, headers, cookies
  conn.got = 0
  for _ = 1, 10 do -- interim 1xx responses are skipped
    status, reason, version, headers, cookies = read_response_head(conn, r.max_header)
    if not status then
      if reason == "closed" or (conn.got == 0 and reason == "connection reset") then
        return nil, "connection closed before the response", true
      end
      return nil, reason
    end
    if status >= 200 or status == 101 then break end
    status = nil
  end
  if not status then return nil, "malformed response: too many interim responses" end
  local resp = { status = status, reason = reason, version = version, headers = headers,
    set_cookie = cookies }
  local frame = 0
  if not no_body(status, r.method == "HEAD") then
    local e
    frame, e = framing(headers, false, version)
    if not frame then return nil, "malformed response: " .. e end
  end
  local emit, result, limit
  local following = follow and redirect_codes[status] and headers.location
  if following then
    emit, limit = function() return true end, r.max_body
  elseif r.sink then
    emit = function(piece)
      local sok, serr = r.sink(piece)
      if sok == false or (sok == nil and serr ~= nil) then
        return nil, "sink: " .. tostring(serr or "stopped")
      end
      return true
    end
  else
    emit, result = collector()
    limit = r.max_body
  end
  local bok, berr = read_body(conn, frame, emit, limit, r.max_header)
  if not bok then
    if berr == "body too large" then berr = "response body too large (max_body " .. limit .. ")" end
    if find(berr, "^malformed") or berr == "body truncated" then berr = "malformed response: " .. berr end
    return nil, berr
  end
  if r.sink and not following then r.sink(nil) end
  if result then resp.body = result() elseif following then resp.body = "" end
  local cn = headers.connection
  -- Bytes past the response (a body after a HEAD answer, say) would be
  -- read as the next response: such a connection is not reused.
  -- Both Transfer-Encoding and Content-Length: read as chunked (RFC 9112
  -- 6.3), but a smuggling attempt: the connection is not reused either.
  resp.reusable = frame ~= "close" and not has_token(cn, "close") and conn:pending() == 0
    and not (headers["transfer-encoding"] and headers["content-length"])
    and (version == "1.1" or has_token(cn, "keep-alive"))
  return resp
end

-- fn, n: the function and argument named in errors (http.get's options
-- are its argument #2, its URL #1).
local function check_request(r, fn, n)
  if type(r) ~= "table" then argfail(fn, 1, "table expected, got %s", type(r)) end
  check_opts(fn, n, r, request_opts)
  if type(r.url) ~= "string" then argfail(fn, n, "option 'url' must be a string, got %s", type(r.url)) end
  local u, err = M.parse_url(r.url)
  if not u then argfail(fn, 1, "%s", err) end
  local method = r.method or "GET"
  if not find(method, TOKEN) then argfail(fn, n, "bad method '%s'", method) end
  if r.body and r.source then argfail(fn, n, "give 'body' or 'source', not both") end
  if r.timeout ~= nil and not (r.timeout > 0 and r.timeout <= 2 ^ 31) then
    argfail(fn, n, "option 'timeout' must be > 0 ms and at most 2^31 ms")
  end
  check_tls(fn, n, r.tls, "client")
  check_pos(fn, n, "redirects", r.redirects, 0, 20)
  check_pos(fn, n, "max_body", r.max_body, 0, math.maxinteger)
  check_pos(fn, n, "max_header", r.max_header, 64, 1024 * 1024)
  local headers = {}
  for k, v in pairs(r.headers or {}) do headers[k] = check_header(fn, n, k, v) end
  return {
    method = method, headers = headers, body = r.body, source = r.source, sink = r.sink,
    timeout = r.timeout or M.TIMEOUT, redirects = r.redirects or 5, tls = r.tls,
    max_body = r.max_body or M.MAX_BODY, max_header = r.max_header or M.MAX_HEADER,
    keepalive = r.keepalive ~= false,
  }, u
end

-- Connections made with other TLS settings are not reused for these:
-- the pool's key holds the settings' content (not the table's identity,
-- so a literal {ca = ...} in each call still reuses).
local function tls_key(t, depth)
  if type(t) ~= "table" then return t == nil and "" or "|" .. tostring(t) end
  if (depth or 0) > 4 then return "|..." end
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do
    local v = t[k]
    if v == nil then v = t[tonumber(k)] end
    parts[i] = k .. "=" .. (type(v) == "table" and "{" .. tls_key(v, (depth or 0) + 1) .. "}" or tostring(v))
  end
  return "|" .. concat(parts, ";")
end

local function connect(u, r, deadline)
  local left = math.ceil(deadline - now())
  if left <= 0 then return nil, "timeout" end
  local copts = { timeout = left }
  if u.scheme == "https" then copts.tls = r.tls or true end
  local sock, err = socket.connect(u.host, u.port, copts)
  if not sock then return nil, err end
  sock:setoption("nodelay", true)
  return new_conn(sock)
end

--- http.request{url=, method=, headers=, body=|source=, sink=, timeout=,
-- redirects=, tls=, max_body=, max_header=, keepalive=}
-- -> {status=, reason=, headers=, body=, url=} | nil, err
local perform

function M.request(req)
  local r, u = rethrow(pcall(check_request, req, "http.request", 1))
  return perform(r, u, req.url)
end

perform = function(r, u, url)
  local deadline = now() + r.timeout
  for hop = 0, r.redirects do
    local key = u.scheme .. "://" .. u.host .. ":" .. u.port .. tls_key(r.tls)
    local resp, err
    for attempt = 1, 2 do
      local conn = r.keepalive and pool_take(key)
      local reused = conn ~= nil
      if not conn then
        conn, err = connect(u, r, deadline)
        if not conn then return nil, err end
      end
      conn.deadline = deadline
      local retry
      resp, err, retry = exchange(conn, r, u, hop < r.redirects)
      if resp then
        if resp.reusable and r.keepalive then pool_put(key, conn) else conn.sock:close() end
        resp.reusable = nil
        break
      end
      conn.sock:close()
      -- Sent again only when it is safe to (RFC 9112 9.3.1): the server
      -- may have acted on a POST before it closed.
      if not (retry and reused and attempt == 1 and not r.source and idempotent[r.method]) then
        return nil, err
      end
    end
    resp.url = url
    local loc = resp.headers.location
    if not (redirect_codes[resp.status] and loc) then return resp end
    if hop == r.redirects then
      if r.redirects == 0 then return resp end
      return nil, "too many redirects (more than " .. r.redirects .. ")"
    end
    local nexturl = resolve_url(u, loc)
    local nu, uerr = M.parse_url(nexturl)
    if not nu then return nil, "bad redirect: " .. uerr end
    if u.scheme == "https" and nu.scheme == "http" then
      return nil, "redirect from https to http refused (" .. nexturl .. ")"
    end
    local st = resp.status
    if st == 303 or ((st == 301 or st == 302) and r.method == "POST") then
      if r.method ~= "HEAD" then r.method = "GET" end
      r.body, r.source = nil, nil
      for k in pairs(r.headers) do
        local lk = lower(k)
        if lk == "content-length" or lk == "content-type" or lk == "transfer-encoding" then
          r.headers[k] = nil
        end
      end
    elseif r.source then
      return resp -- 307/308 with a body that cannot be sent again
    end
    if nu.host ~= u.host or nu.port ~= u.port or nu.scheme ~= u.scheme then
      for k in pairs(r.headers) do
        local lk = lower(k)
        if lk == "authorization" or lk == "cookie" or lk == "host" then r.headers[k] = nil end
      end
    end
    u, url = nu, nexturl
  end
end

--- http.get(url, [opts]) -> response | nil, err
function M.get(url, opts)
  if type(url) ~= "string" then
    error(fmt("bad argument #1 to 'http.get' (string expected, got %s)", type(url)), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(fmt("bad argument #2 to 'http.get' (table expected, got %s)", type(opts)), 2)
  end
  local r = {}
  for k, v in pairs(opts or {}) do r[k] = v end
  r.url, r.method = url, "GET"
  local cr, u = rethrow(pcall(check_request, r, "http.get", 2))
  return perform(cr, u, url)
end

---------------------------------------------------------------- server

local Response = {}
Response.__index = Response

-- The time for Date headers: net.time(), set by SNTP; nil until then (a
-- server without a clock sends no Date, RFC 9110 6.6.1). A field so the
-- tests can set a clock.
local has_net, net = pcall(require, "net")
M.clock = function() return has_net and net.time and net.time() or nil end

local wdays = { "Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed" } -- 1970-01-01 was a Thursday
local months = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" }

-- Unix seconds -> IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110
-- 5.6.7), with the civil-from-days calendar arithmetic (no os.date).
function M.http_date(t)
  t = math.floor(t)
  local days, secs = t // 86400, t % 86400
  local z = days + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return fmt("%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[days % 7 + 1], d, months[m], y,
    secs // 3600, secs // 60 % 60, secs % 60)
end

local function date_line()
  local ok, t = pcall(M.clock)
  if ok and type(t) == "number" and t > 0 and t < 253402300800 then
    return "Date: " .. M.http_date(t) .. "\r\n"
  end
  return ""
end

local function status_line(code)
  return fmt("HTTP/1.1 %d %s\r\n", code, reasons[code] or "Unknown")
end

--- res:status(code) -> res
function Response:status(code)
  if math.type(code) ~= "integer" or code < 100 or code > 599 then
    error(fmt("bad argument #1 to 'res:status' (status 100..599 expected, got %s)", tostring(code)), 2)
  end
  self._status = code
  return self
end

--- res:header(name, value | {value, ...}) -> res
-- A list gives one header line per value, in order (several Set-Cookie:
-- RFC 6265 3 forbids joining them).
function Response:header(name, value)
  local v
  if type(value) == "table" and getmetatable(value) == nil then
    if #value == 0 then argfail("res:header", 2, "header '%s': an empty list of values", tostring(name)) end
    v = {}
    for i = 1, #value do v[i] = rethrow(pcall(check_header, "res:header", 1, name, value[i])) end
  else
    v = rethrow(pcall(check_header, "res:header", 1, name, value))
  end
  self._headers[lower(name)] = { name, v }
  return self
end

-- A response's bytes: each write has the server's timeout to make
-- progress (a slow reader is dropped), not what is left of the request's
-- deadline (a long streamed answer or a slow handler still goes out).
local function res_send(self, data)
  self._conn.deadline = now() + self._timeout
  return send_all(self._conn, data)
end

local function head_text(self, extra)
  -- The framing is the server's to write.
  self._headers["content-length"], self._headers["transfer-encoding"] = nil, nil
  self._headers.connection = nil
  self._headers.date = nil
  local lines = { status_line(self._status), date_line() }
  for _, nv in pairs(self._headers) do
    if type(nv[2]) == "table" then
      for _, v in ipairs(nv[2]) do lines[#lines + 1] = nv[1] .. ": " .. v .. "\r\n" end
    else
      lines[#lines + 1] = nv[1] .. ": " .. nv[2] .. "\r\n"
    end
  end
  lines[#lines + 1] = extra
  return concat(lines)
end

local function conn_header(self)
  if not self._keep then return "Connection: close\r\n" end
  if self._req.version == "1.0" then return "Connection: keep-alive\r\n" end
  return ""
end

--- res:send([body, [content_type]]) -> true | nil, err
function Response:send(body, ctype)
  if self._sent then error("res:send: the response was already sent", 2) end
  body = body or ""
  if type(body) ~= "string" then
    error(fmt("bad argument #1 to 'res:send' (string expected, got %s)", type(body)), 2)
  end
  self._sent = true
  if ctype then self:header("Content-Type", ctype) end
  if not self._headers["content-type"] and #body > 0 then
    self._headers["content-type"] = { "Content-Type", "text/plain; charset=utf-8" }
  end
  local s = self._status
  local nolen = s == 204 or s == 304 or (s >= 100 and s < 200)
  local text = head_text(self, (nolen and "" or ("Content-Length: " .. #body .. "\r\n"))
    .. conn_header(self) .. "\r\n")
  if self._req.method ~= "HEAD" and not nolen then text = text .. body end
  local ok, err = res_send(self, text)
  if not ok then self._keep = false end
  return ok, err
end

--- res:json(value, [status]) -> true | nil, err
function Response:json(value, status)
  if status then self:status(status) end
  self._headers["content-type"] = { "Content-Type", "application/json" }
  return self:send(json.encode(value))
end

--- res:write(chunk) -> true | nil, err: a streamed (chunked) body
function Response:write(chunk)
  if type(chunk) ~= "string" then
    error(fmt("bad argument #1 to 'res:write' (string expected, got %s)", type(chunk)), 2)
  end
  local pre = ""
  if not self._sent then
    self._sent, self._streaming = true, true
    if not self._headers["content-type"] then
      self._headers["content-type"] = { "Content-Type", "application/octet-stream" }
    end
    if self._req.version == "1.0" then self._keep = false end
    pre = head_text(self, (self._keep and "Transfer-Encoding: chunked\r\n" or "")
      .. conn_header(self) .. "\r\n")
    if self._req.method == "HEAD" then
      self._chunked = false
      return res_send(self, pre)
    end
    self._chunked = self._keep
  elseif not self._streaming then
    error("res:write: the response was already sent with res:send", 2)
  end
  if self._finished or self._req.method == "HEAD" then return true end
  if #chunk == 0 then return true end
  local wire = self._chunked and (fmt("%x\r\n", #chunk) .. chunk .. "\r\n") or chunk
  local ok, err = res_send(self, pre .. wire)
  if not ok then self._keep = false end
  return ok, err
end

--- res:finish() -> true | nil, err: ends a streamed body
function Response:finish()
  if not self._streaming then return self._sent or self:send("") end
  if self._finished then return true end
  self._finished = true
  if self._chunked and self._req.method ~= "HEAD" then
    local ok, err = res_send(self, "0\r\n\r\n")
    if not ok then self._keep = false end
    return ok, err
  end
  return true
end

local Request = {}
Request.__index = Request

--- req:json() -> value | nil, err
function Request:json()
  return json.decode(self.body or "")
end

-- "GET /led/:id" -> {method, literal path or segments}
local function compile_route(key, fn)
  if type(key) ~= "string" then error("http.server: route keys must be strings like 'GET /status'", 0) end
  local method, path = match(key, "^(%S+) (/%S*)$")
  if not method and key == "OPTIONS *" then method, path = "OPTIONS", "*" end -- the server itself
  if not method or not (method == "*" or find(method, TOKEN)) then
    error("http.server: bad route '" .. key .. "' (expected 'METHOD /path', e.g. 'GET /status')", 0)
  end
  if type(fn) ~= "function" then
    error("http.server: route '" .. key .. "' must map to a function, got " .. type(fn), 0)
  end
  local segs = {}
  for s in path:gmatch("[^/]+") do segs[#segs + 1] = s end
  local dynamic = find(path, "/:") or find(path, "/%*$")
  return { method = method, path = path, segs = segs, dynamic = dynamic, fn = fn, key = key }
end

local function route_match(rt, segs, path)
  -- "OPTIONS *" asks about the server, not a resource: only a route for
  -- "*" itself answers it, no pattern (RFC 9110 9.3.7)
  if path == "*" or rt.path == "*" then return rt.path == path and {} or nil end
  if not rt.dynamic then return rt.path == path and {} or nil end
  local params = {}
  for i, s in ipairs(rt.segs) do
    if s == "*" and i == #rt.segs then
      params["*"] = concat(segs, "/", i)
      return params
    end
    local seg = segs[i]
    if not seg then return nil end
    if byte(s) == 58 then
      params[sub(s, 2)] = M.unescape(seg)
    elseif s ~= seg then
      return nil
    end
  end
  if #segs ~= #rt.segs then return nil end
  return params
end

-- An Allow header's value from a set of methods (HEAD with GET: the GET
-- route serves it).
local function allow_list(set)
  if set.GET then set.HEAD = true end
  local list = {}
  for m in pairs(set) do list[#list + 1] = m end
  table.sort(list)
  return concat(list, ", ")
end

-- The handler for method + path: fn, params | nil, status, allowed.
local function find_route(srv, method, path)
  local segs = {}
  for s in path:gmatch("[^/]+") do segs[#segs + 1] = s end
  local allowed = {}
  local function try(m)
    for _, rt in ipairs(srv.routes) do
      local params = route_match(rt, segs, path)
      if params then
        if rt.method == m or rt.method == "*" then return rt, params end
        allowed[rt.method] = true
      end
    end
  end
  local rt, params = try(method)
  if not rt and method == "HEAD" then rt, params = try("GET") end
  if rt then return rt, params end
  if next(allowed) then return nil, 405, allow_list(allowed) end
  return nil, 404
end

local function plain_error(conn, code, msg, keep)
  conn.deadline = now() + 1000 -- the request's own deadline may be gone
  local body = fmt("%d %s%s\n", code, reasons[code] or "Error", msg and (": " .. msg) or "")
  return send_all(conn, status_line(code) .. date_line() .. "Content-Type: text/plain; charset=utf-8\r\n"
    .. "Content-Length: " .. #body .. "\r\n" .. (keep and "" or "Connection: close\r\n") .. "\r\n" .. body)
end

local server_opts = {
  host = "string", port = "integer", routes = "table", tls = "true|table", max_header = "integer",
  max_body = "integer", max_clients = "integer", timeout = "number", backlog = "integer",
  on_error = "function",
}

local function log_error(srv, msg)
  if srv.on_error then
    pcall(srv.on_error, msg)
  else
    require("log").warn("http.server: %s", msg)
  end
end

local function dispatch(srv, conn, req)
  local res = setmetatable({ _status = 200, _headers = {}, _conn = conn, _req = req, _keep = req.keep,
    _timeout = srv.timeout }, Response)
  local rt, params, allowed = find_route(srv, req.method, req.path)
  if not rt and req.path == "*" then
    -- OPTIONS * without its own route: what the server's routes allow
    local set = { OPTIONS = true }
    for _, r in ipairs(srv.routes) do
      if r.method ~= "*" then set[r.method] = true end
    end
    res:header("Allow", allow_list(set))
    res:status(200):send()
    return res._keep
  end
  if not rt then
    if params == 405 then res:header("Allow", allowed) end
    res:status(params):send(fmt("%d %s\n", params, reasons[params]))
    return res._keep
  end
  req.params = params
  req.route = rt.key
  local ok, a, b, c = pcall(rt.fn, req, res)
  if not ok then
    log_error(srv, rt.key .. ": " .. tostring(a))
    if not res._sent then
      res._headers = {}
      res:status(500):send("500 Internal Server Error\n")
    else
      res._keep = false
    end
    return res._keep
  end
  if not res._sent then
    if math.type(a) == "integer" then
      res:status(a)
      if type(c) == "table" then for k, v in pairs(c) do res:header(k, v) end end
      if type(b) == "table" then res:json(b) else res:send(b ~= nil and tostring(b) or "") end
    elseif type(a) == "string" then
      res:send(a)
    elseif type(a) == "table" then
      res:json(a)
    else
      res:status(204):send()
    end
  elseif res._streaming then
    res:finish()
  end
  return res._keep
end

-- After an error answer: stop sending, read (and drop) what the client
-- still sends for a moment, then close. Closing with unread data would
-- reset the connection, and the client could lose the answer.
local function linger_close(conn)
  local sock = conn.sock
  sock:shutdown("send")
  conn.deadline = now() + 1000
  for _ = 1, 16 do
    if not conn:some(M.CHUNK) then break end
    conn.buf, conn.pos = "", 1
  end
end

local function serve(srv, sock)
  sock:setoption("nodelay", true)
  local conn = new_conn(sock)
  local ip, port = sock:getpeername()
  while not srv.closed do
    conn.deadline = now() + srv.timeout
    conn.got = 0
    local req, err, status = read_request_head(conn, srv.max_header)
    if not req then
      if status and conn.got > 0 then
        plain_error(conn, status, err, false)
        linger_close(conn)
      elseif err == "timeout" and conn.got > 0 then
        plain_error(conn, 408, "the request did not arrive in time", false)
        linger_close(conn)
      end
      break
    end
    setmetatable(req, Request)
    req.ip, req.port = ip, port
    local cn = req.headers.connection
    req.keep = not has_token(cn, "close") and (req.version == "1.1" or has_token(cn, "keep-alive"))
    req.query_string = req.query
    req.query = M.parse_query(req.query)
    -- The body, bounded, before the handler runs.
    if type(req.frame) == "number" and req.frame > srv.max_body then
      plain_error(conn, 413, "body over " .. srv.max_body .. " bytes", false)
      linger_close(conn)
      break
    end
    -- never a 1xx to an HTTP/1.0 client (RFC 9110 10.1.1, 15.2)
    if has_token(req.headers.expect, "100-continue") and req.frame ~= 0 and req.version == "1.1" then
      send_all(conn, "HTTP/1.1 100 Continue\r\n\r\n")
    end
    local emit, result = collector()
    local ok
    ok, err, status = read_body(conn, req.frame, emit, srv.max_body, srv.max_header)
    if not ok then
      if status then
        plain_error(conn, status, err, false)
        linger_close(conn)
      end
      break
    end
    req.body = result()
    req.frame = nil
    if not dispatch(srv, conn, req) then
      -- Connection: close (asked, HTTP/1.0, or a failed stream): the same
      -- half-close and drain as after an error answer, so that a request
      -- the client pipelined behind this one cannot reset the answer
      -- (RFC 9112 9.6)
      linger_close(conn)
      break
    end
  end
  sock:close()
end

local Server = {}
Server.__index = Server

-- Fixed paths first, then the patterns with more segments.
local function route_order(a, b)
  if (a.dynamic ~= nil) ~= (b.dynamic ~= nil) then return not a.dynamic end
  if #a.segs ~= #b.segs then return #a.segs > #b.segs end
  return a.key < b.key
end

--- srv:close(): stops accepting and closes every connection.
function Server:close()
  self.closed = true
  self.sock:close()
  for c in pairs(self.conns) do c:close() end
  return true
end

--- srv:route(key, fn) -> srv: adds (or replaces) a route.
function Server:route(key, f)
  local rt = rethrow(pcall(compile_route, key, f))
  for i, old in ipairs(self.routes) do
    if old.key == key then
      self.routes[i] = rt
      return self
    end
  end
  self.routes[#self.routes + 1] = rt
  table.sort(self.routes, route_order) -- the same order as the routes given to http.server
  return self
end

local function make_server(opts)
  local fn = "http.server"
  if type(opts) ~= "table" then argfail(fn, 1, "table expected, got %s", type(opts)) end
  check_opts(fn, 1, opts, server_opts)
  check_pos(fn, 1, "port", opts.port, 0, 65535)
  check_pos(fn, 1, "max_header", opts.max_header, 64, 1024 * 1024)
  check_pos(fn, 1, "max_body", opts.max_body, 0, math.maxinteger)
  check_pos(fn, 1, "max_clients", opts.max_clients, 1, 1024)
  check_tls(fn, 1, opts.tls, "server")
  if opts.timeout ~= nil and not (opts.timeout > 0 and opts.timeout <= 2 ^ 31) then
    argfail(fn, 1, "option 'timeout' must be > 0 ms and at most 2^31 ms")
  end
  local srv = {
    routes = {}, max_header = opts.max_header or M.MAX_HEADER,
    max_body = opts.max_body or 64 * 1024, max_clients = opts.max_clients or 16,
    timeout = opts.timeout or 10000, on_error = opts.on_error, clients = 0, closed = false,
  }
  local keys = {}
  for k in pairs(opts.routes or {}) do
    if type(k) ~= "string" then error("http.server: route keys must be strings like 'GET /status'", 0) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for _, k in ipairs(keys) do srv.routes[#srv.routes + 1] = compile_route(k, opts.routes[k]) end
  table.sort(srv.routes, route_order)
  local bopts = { backlog = opts.backlog }
  if opts.tls then bopts.tls = opts.tls end
  local lsock, err = socket.bind(opts.host or "*", opts.port or 80, bopts)
  if not lsock then return nil, err end
  srv.sock = lsock
  local _, p = lsock:getsockname()
  srv.port = p
  srv.conns = {}
  srv.task = task.spawn(function()
    while true do
      local c = lsock:accept()
      if not c then break end
      if srv.clients >= srv.max_clients then
        -- Over the limit: a short answer, not a queue that grows.
        task.spawn(function()
          local conn = new_conn(c)
          conn.deadline = now() + 1000
          send_all(conn, status_line(503) .. "Content-Length: 0\r\nConnection: close\r\n"
            .. "Retry-After: 1\r\n\r\n")
          c:close()
        end)
      else
        srv.clients = srv.clients + 1
        srv.conns[c] = true
        task.spawn(function()
          local ok, e = pcall(serve, srv, c)
          srv.clients = srv.clients - 1
          srv.conns[c] = nil
          c:close()
          if not ok then log_error(srv, tostring(e)) end
        end)
      end
    end
  end)
  return setmetatable(srv, Server)
end

--- http.server{port=, host=, routes=, tls=, max_header=, max_body=,
-- max_clients=, timeout=, backlog=, on_error=} -> server | nil, err
function M.server(opts)
  local srv, err = rethrow(pcall(make_server, opts))
  return srv, err
end

return M
