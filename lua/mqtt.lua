-- MQTT 3.1.1 client, pure Lua over the socket module (docs/mqtt.md).
--
--   local mqtt = require("mqtt")
--   local c = mqtt.client.new("dev1", {host = "10.0.2.2"})
--   assert(c:connect())
--   c:subscribe("cmd/#", 1, function(topic, payload) print(topic, payload) end)
--   c:publish("telemetry/t", "21.5", {qos = 1})
--
-- mqtt.packet encodes and decodes single packets from strings (no socket):
-- the client uses it, and so do the fuzzer and the tests.
local socket = require("socket")

local M = { _VERSION = "1.0" }

local spack, sunpack, sbyte, schar = string.pack, string.unpack, string.byte, string.char

local function argerr(fname, n, name, msg, level)
  error(("bad argument #%d to '%s' (%s %s)"):format(n, fname, name, msg), (level or 2) + 1)
end

---------------------------------------------------------------------------
-- Packets
---------------------------------------------------------------------------
local P = {}
M.packet = P

-- Packet type numbers (the high nibble of the first byte).
local T = {
  connect = 1, connack = 2, publish = 3, puback = 4, pubrec = 5, pubrel = 6, pubcomp = 7,
  subscribe = 8, suback = 9, unsubscribe = 10, unsuback = 11, pingreq = 12, pingresp = 13,
  disconnect = 14,
}
local NAMES = {}
for k, v in pairs(T) do NAMES[v] = k end
P.types = T

-- Fixed flags of every type but PUBLISH (MQTT-2.2.2-1).
local FLAGS = { [6] = 2, [8] = 2, [10] = 2 }

P.MAX_LENGTH = 268435455 -- the largest remaining length (4 bytes)

P.connack_reasons = {
  [1] = "unacceptable protocol version",
  [2] = "identifier rejected",
  [3] = "server unavailable",
  [4] = "bad user name or password",
  [5] = "not authorized",
}

local function check_pos(fname, n, pos)
  if math.type(pos) ~= "integer" or pos < 1 then
    argerr(fname, n, "pos", "must be an integer of at least 1, got " .. type(pos), 2)
  end
end

--- The bytes of a remaining length.
function P.encode_length(n)
  if math.type(n) ~= "integer" or n < 0 or n > P.MAX_LENGTH then
    argerr("mqtt.packet.encode_length", 1, "n", ("must be an integer from 0 to %d, got %s"):format(
      P.MAX_LENGTH, math.type(n) and tostring(n) or type(n)))
  end
  local out = {}
  repeat
    local d = n % 128
    n = n // 128
    if n > 0 then d = d + 128 end
    out[#out + 1] = d
  until n == 0
  return schar(table.unpack(out))
end

--- Remaining length at `pos` of `s`: value, position after it | nil, err
-- ("truncated" when more bytes are needed).
function P.decode_length(s, pos)
  if type(s) ~= "string" then
    argerr("mqtt.packet.decode_length", 1, "data", "must be a string, got " .. type(s))
  end
  check_pos("mqtt.packet.decode_length", 2, pos)
  local n, mult = 0, 1
  for i = 0, 3 do
    local b = sbyte(s, pos + i)
    if not b then return nil, "truncated" end
    n = n + (b & 127) * mult
    if b < 128 then return n, pos + i + 1 end
    mult = mult * 128
  end
  return nil, "malformed packet: remaining length longer than 4 bytes"
end

-- A well-formed UTF-8 string (MQTT-1.5.3): no U+0000, no surrogates.
-- Bytes F5..FF never occur in UTF-8; they are refused before utf8.len,
-- whose decoder (Lua 5.4.4) shifts out of range on them (UBSan).
local function valid_utf8(s)
  return not s:find("[%z\xF5-\xFF]") and utf8.len(s) ~= nil
end
P.valid_utf8 = valid_utf8

local function str(s)
  return spack(">s2", s)
end

local function check_topic(fname, n, topic, level)
  if type(topic) ~= "string" then
    argerr(fname, n, "topic", "must be a string, got " .. type(topic), level)
  end
  if topic == "" then argerr(fname, n, "topic", "must not be empty", level) end
  if #topic > 65535 then argerr(fname, n, "topic", "is longer than 65535 bytes", level) end
  if not valid_utf8(topic) then argerr(fname, n, "topic", "is not valid UTF-8 (or contains NUL)", level) end
  if topic:find("[+#]") then argerr(fname, n, "topic", "must not contain wildcards + or #", level) end
end

--- Why `f` is not a valid topic filter, or nil when it is one.
function P.filter_problem(f)
  if type(f) ~= "string" then return "must be a string, got " .. type(f) end
  if f == "" then return "must not be empty" end
  if #f > 65535 then return "is longer than 65535 bytes" end
  if not valid_utf8(f) then return "is not valid UTF-8 (or contains NUL)" end
  local levels = {}
  for level in (f .. "/"):gmatch("([^/]*)/") do levels[#levels + 1] = level end
  for i, level in ipairs(levels) do
    if level:find("#", 1, true) and (level ~= "#" or i ~= #levels) then
      return "'#' must be a whole level and the last one"
    end
    if level:find("+", 1, true) and level ~= "+" then return "'+' must be a whole level" end
  end
  return nil
end

--- Does `topic` match `filter` (MQTT-4.7: "+" one level, "#" the rest;
-- topics starting with "$" are not matched by a leading wildcard)?
function P.match(filter, topic)
  if type(filter) ~= "string" then
    argerr("mqtt.packet.match", 1, "filter", "must be a string, got " .. type(filter))
  end
  if type(topic) ~= "string" then
    argerr("mqtt.packet.match", 2, "topic", "must be a string, got " .. type(topic))
  end
  if filter == topic then return true end
  if topic:sub(1, 1) == "$" and (filter:sub(1, 1) == "+" or filter:sub(1, 1) == "#") then
    return false
  end
  local fi, ti = 1, 1
  local flen, tlen = #filter, #topic
  while true do
    local fe = filter:find("/", fi, true) or flen + 1
    local flevel = filter:sub(fi, fe - 1)
    if flevel == "#" then return true end
    if ti > tlen + 1 then return false end
    local te = topic:find("/", ti, true) or tlen + 1
    if flevel ~= "+" and flevel ~= topic:sub(ti, te - 1) then return false end
    if fe > flen then
      return te > tlen
    end
    if te > tlen then
      -- the topic ended; "a/#" matches "a" too
      return filter:sub(fe + 1) == "#"
    end
    fi, ti = fe + 1, te + 1
  end
end

--- One packet from a table (the form `decode` returns) to its bytes.
-- Fields by type: connect {client_id, keepalive, clean_session, username,
-- password, will = {topic, payload, qos, retain}}; connack
-- {session_present, code}; publish {topic, payload, qos, retain, dup, id};
-- puback/pubrec/pubrel/pubcomp/unsuback {id}; subscribe {id, topics =
-- {{filter, qos}...}}; suback {id, codes = {...}}; unsubscribe {id,
-- topics = {filter...}}; pingreq/pingresp/disconnect {}.
function P.encode(p)
  if type(p) ~= "table" then argerr("mqtt.packet.encode", 1, "packet", "must be a table, got " .. type(p)) end
  local t = T[p.type]
  if not t then error("mqtt.packet.encode: unknown packet type " .. tostring(p.type), 2) end
  local flags = FLAGS[t] or 0
  local body
  if t == 1 then
    local cf = 0
    local payload = { str(p.client_id or "") }
    if p.clean_session then cf = cf | 2 end
    if p.will then
      cf = cf | 4 | ((p.will.qos or 0) << 3) | (p.will.retain and 32 or 0)
      payload[#payload + 1] = str(p.will.topic)
      payload[#payload + 1] = str(p.will.payload or "")
    end
    if p.username then
      cf = cf | 128
      payload[#payload + 1] = str(p.username)
    end
    if p.password then
      cf = cf | 64
      payload[#payload + 1] = str(p.password)
    end
    body = str("MQTT") .. spack(">BBI2", 4, cf, p.keepalive or 0) .. table.concat(payload)
  elseif t == 2 then
    body = schar(p.session_present and 1 or 0, p.code or 0)
  elseif t == 3 then
    local qos = p.qos or 0
    flags = (p.dup and 8 or 0) | (qos << 1) | (p.retain and 1 or 0)
    body = str(p.topic) .. (qos > 0 and spack(">I2", p.id) or "") .. (p.payload or "")
  elseif t == 4 or t == 5 or t == 6 or t == 7 or t == 11 then
    body = spack(">I2", p.id)
  elseif t == 8 then
    local parts = { spack(">I2", p.id) }
    for _, e in ipairs(p.topics) do parts[#parts + 1] = str(e[1]) .. schar(e[2]) end
    body = table.concat(parts)
  elseif t == 9 then
    body = spack(">I2", p.id) .. schar(table.unpack(p.codes))
  elseif t == 10 then
    local parts = { spack(">I2", p.id) }
    for _, f in ipairs(p.topics) do parts[#parts + 1] = str(f) end
    body = table.concat(parts)
  else
    body = ""
  end
  return schar((t << 4) | flags) .. P.encode_length(#body) .. body
end

-- Body decoders: (body, flags) -> packet table | nil, err.
local function bin_at(b, pos, what)
  if pos + 1 > #b then return nil, "truncated " .. what end
  local n = sunpack(">I2", b, pos)
  if pos + 1 + n > #b then return nil, "truncated " .. what end
  return b:sub(pos + 2, pos + 1 + n), pos + 2 + n
end

local function utf8_at(b, pos, what)
  local s, npos = bin_at(b, pos, what)
  if not s then return nil, npos end
  if not valid_utf8(s) then return nil, what .. " is not valid UTF-8" end
  return s, npos
end

local function id_only(b)
  if #b ~= 2 then return nil, "remaining length must be 2, got " .. #b end
  local id = sunpack(">I2", b)
  if id == 0 then return nil, "packet id 0" end
  return { id = id }
end

local function empty(b)
  if #b ~= 0 then return nil, "remaining length must be 0, got " .. #b end
  return {}
end

local DECODE = {}
DECODE[1] = function(b)
  local name, pos = utf8_at(b, 1, "protocol name")
  if not name then return nil, pos end
  if name ~= "MQTT" then return nil, "protocol name must be MQTT, got " .. ("%q"):format(name) end
  if pos + 3 > #b then return nil, "truncated variable header" end
  local level, cf, ka
  level, cf, ka, pos = sunpack(">BBI2", b, pos)
  if level ~= 4 then return nil, "protocol level must be 4, got " .. level end
  if cf & 1 ~= 0 then return nil, "reserved connect flag set" end
  local p = { keepalive = ka, clean_session = cf & 2 ~= 0 }
  local err
  p.client_id, pos = utf8_at(b, pos, "client id")
  if not p.client_id then return nil, pos end
  local wqos = (cf >> 3) & 3
  if cf & 4 ~= 0 then
    if wqos == 3 then return nil, "will QoS 3" end
    local w = { qos = wqos, retain = cf & 32 ~= 0 }
    w.topic, pos = utf8_at(b, pos, "will topic")
    if not w.topic then return nil, pos end
    w.payload, pos = bin_at(b, pos, "will message")
    if not w.payload then return nil, pos end
    p.will = w
  elseif wqos ~= 0 or cf & 32 ~= 0 then
    return nil, "will QoS/retain set without a will"
  end
  if cf & 128 ~= 0 then
    p.username, pos = utf8_at(b, pos, "user name")
    if not p.username then return nil, pos end
  elseif cf & 64 ~= 0 then
    return nil, "password without a user name"
  end
  if cf & 64 ~= 0 then
    p.password, err = bin_at(b, pos, "password")
    if not p.password then return nil, err end
    pos = err
  end
  if pos <= #b then return nil, (#b - pos + 1) .. " bytes after the payload" end
  return p
end
DECODE[2] = function(b)
  if #b ~= 2 then return nil, "remaining length must be 2, got " .. #b end
  local ack, code = sbyte(b, 1, 2)
  if ack > 1 then return nil, "reserved connack flags set" end
  if code > 5 then return nil, "connack return code " .. code end
  if code ~= 0 and ack ~= 0 then return nil, "session present with a refusal" end
  return { session_present = ack == 1, code = code }
end
DECODE[3] = function(b, flags)
  local qos = (flags >> 1) & 3
  if qos == 3 then return nil, "publish QoS 3" end
  local dup = flags & 8 ~= 0
  if qos == 0 and dup then return nil, "DUP set on a QoS 0 publish" end
  local topic, pos = utf8_at(b, 1, "topic")
  if not topic then return nil, pos end
  if topic == "" then return nil, "empty topic" end
  if topic:find("[+#]") then return nil, "wildcard in a publish topic" end
  local p = { topic = topic, qos = qos, dup = dup, retain = flags & 1 ~= 0 }
  if qos > 0 then
    if pos + 1 > #b then return nil, "truncated packet id" end
    p.id, pos = sunpack(">I2", b, pos)
    if p.id == 0 then return nil, "packet id 0" end
  end
  p.payload = b:sub(pos)
  return p
end
DECODE[4], DECODE[5], DECODE[6], DECODE[7], DECODE[11] = id_only, id_only, id_only, id_only, id_only
-- SUBSCRIBE (with_qos: each filter followed by its requested QoS) and
-- UNSUBSCRIBE: a packet id, then one or more topic filters.
local function filter_list(b, with_qos, what)
  if #b < 2 then return nil, "truncated packet id" end
  local id, pos = sunpack(">I2", b)
  if id == 0 then return nil, "packet id 0" end
  local topics = {}
  while pos <= #b do
    local f
    f, pos = utf8_at(b, pos, "topic filter")
    if not f then return nil, pos end
    local why = P.filter_problem(f)
    if why then return nil, "topic filter " .. why end
    if with_qos then
      local q = sbyte(b, pos)
      if not q then return nil, "truncated requested QoS" end
      if q > 2 then return nil, "requested QoS byte " .. q end
      topics[#topics + 1] = { f, q }
      pos = pos + 1
    else
      topics[#topics + 1] = f
    end
  end
  if #topics == 0 then return nil, what .. " without topic filters" end
  return { id = id, topics = topics }
end
DECODE[8] = function(b) return filter_list(b, true, "subscribe") end
DECODE[9] = function(b)
  if #b < 3 then return nil, "suback needs a packet id and a return code" end
  local id = sunpack(">I2", b)
  if id == 0 then return nil, "packet id 0" end
  local codes = { sbyte(b, 3, #b) }
  for _, c in ipairs(codes) do
    if c > 2 and c ~= 0x80 then return nil, "suback return code " .. c end
  end
  return { id = id, codes = codes }
end
DECODE[10] = function(b) return filter_list(b, false, "unsubscribe") end
DECODE[12], DECODE[13], DECODE[14] = empty, empty, empty

--- A packet's body (after the fixed header): `kind` is the first byte.
function P.decode_body(first, body)
  local t, flags = first >> 4, first & 15
  local dec = DECODE[t]
  if not dec then return nil, "malformed packet: reserved packet type " .. t end
  if t ~= 3 and flags ~= (FLAGS[t] or 0) then
    return nil, ("malformed packet: %s with flags 0x%x"):format(NAMES[t], flags)
  end
  local p, err = dec(body, flags)
  if not p then return nil, "malformed packet: " .. NAMES[t] .. ": " .. err end
  p.type = NAMES[t]
  return p
end

--- The packet at `pos` (default 1) of string `s`: packet, position after
-- it | nil, err. err is "truncated" when `s` ends inside the packet (more
-- bytes would complete it), else "malformed packet: ..." naming the fault.
-- `max` (default P.MAX_LENGTH) bounds the remaining length.
function P.decode(s, pos, max)
  if type(s) ~= "string" then argerr("mqtt.packet.decode", 1, "data", "must be a string, got " .. type(s)) end
  pos = pos or 1
  check_pos("mqtt.packet.decode", 2, pos)
  if max ~= nil and (math.type(max) ~= "integer" or max < 0) then
    argerr("mqtt.packet.decode", 3, "max", "must be a non-negative integer, got " .. type(max))
  end
  local first = sbyte(s, pos)
  if not first then return nil, "truncated" end
  local len, bpos = P.decode_length(s, pos + 1)
  if not len then return nil, bpos end
  if len > (max or P.MAX_LENGTH) then
    return nil, ("malformed packet: remaining length %d over the limit %d"):format(len, max or P.MAX_LENGTH)
  end
  if bpos + len - 1 > #s then return nil, "truncated" end
  local p, err = P.decode_body(first, s:sub(bpos, bpos + len - 1))
  if not p then return nil, err end
  return p, bpos + len
end

---------------------------------------------------------------------------
-- Client
---------------------------------------------------------------------------
local Client = {}
Client.__index = Client

local INBOUND_QOS2_MAX = 256 -- received QoS 2 messages awaiting their PUBREL
M.client = {}

local POLICIES = { reject = true, drop_oldest = true, block = true }

local function now()
  return sys.uptime()
end

local function opt_type(fname, opts, key, ty)
  local v = opts[key]
  if v ~= nil and type(v) ~= ty then
    argerr(fname, 2, "option '" .. key .. "'", "must be a " .. ty .. ", got " .. type(v), 3)
  end
  return v
end

local function opt_num(fname, opts, key, lo, hi, int)
  local v = opts[key]
  if v == nil then return nil end
  if type(v) ~= "number" or v ~= v or v < lo or v > hi or (int and math.type(v) ~= "integer") then
    argerr(fname, 2, "option '" .. key .. "'", ("must be %s from %s to %s"):format(
      int and "an integer" or "a number", lo, hi), 3)
  end
  return v
end

local KNOWN = {
  host = true, port = true, tls = true, username = true, password = true, keepalive = true,
  clean_session = true, will = true, reconnect = true, timeout = true, queue = true,
  max_inflight = true, max_packet = true, on_connect = true, on_disconnect = true,
  on_message = true,
}

--- mqtt.client.new(client_id, opts) -> client (docs/mqtt.md).
function M.client.new(client_id, opts)
  local F = "mqtt.client.new"
  if type(client_id) ~= "string" then
    argerr(F, 1, "client_id", "must be a string, got " .. type(client_id))
  end
  if #client_id > 65535 or not valid_utf8(client_id) then
    argerr(F, 1, "client_id", "must be valid UTF-8 of at most 65535 bytes")
  end
  opts = opts or {}
  if type(opts) ~= "table" then argerr(F, 2, "opts", "must be a table, got " .. type(opts)) end
  for k in pairs(opts) do
    if not KNOWN[k] then
      local names = {}
      for n in pairs(KNOWN) do names[#names + 1] = tostring(n) end
      table.sort(names)
      argerr(F, 2, "opts", ("has an unknown option '%s'%s"):format(tostring(k),
        require("argcheck").hint(tostring(k), names)))
    end
  end
  local self = setmetatable({}, Client)
  self.client_id = client_id
  self.host = opt_type(F, opts, "host", "string") or "localhost"
  self.tls = opts.tls
  if self.tls ~= nil and self.tls ~= true and self.tls ~= false and type(self.tls) ~= "table" then
    argerr(F, 2, "option 'tls'", "must be true, false or a table, got " .. type(self.tls))
  end
  if self.tls == false then self.tls = nil end
  self.port = opt_num(F, opts, "port", 1, 65535, true) or (self.tls and 8883 or 1883)
  self.username = opt_type(F, opts, "username", "string")
  self.password = opt_type(F, opts, "password", "string")
  -- MQTT-3.1.3-11: a UTF-8 string; every CONNECT field has a 2-byte length
  if self.username and (#self.username > 65535 or not valid_utf8(self.username)) then
    argerr(F, 2, "option 'username'", "must be valid UTF-8 of at most 65535 bytes")
  end
  if self.password and #self.password > 65535 then
    argerr(F, 2, "option 'password'", "is longer than 65535 bytes")
  end
  if self.password and not self.username then
    argerr(F, 2, "option 'password'", "needs a username (MQTT 3.1.1)")
  end
  self.keepalive = opt_num(F, opts, "keepalive", 0, 65535, true) or 60
  self.clean_session = opts.clean_session
  if self.clean_session == nil then self.clean_session = true end
  if type(self.clean_session) ~= "boolean" then
    argerr(F, 2, "option 'clean_session'", "must be a boolean")
  end
  if client_id == "" and not self.clean_session then
    argerr(F, 1, "client_id", "must not be empty with clean_session = false")
  end
  if opts.will ~= nil then
    local w = opts.will
    if type(w) ~= "table" then argerr(F, 2, "option 'will'", "must be a table, got " .. type(w)) end
    check_topic(F, 2, w.topic, 1)
    if w.payload ~= nil and type(w.payload) ~= "string" then
      argerr(F, 2, "option 'will.payload'", "must be a string")
    end
    if w.payload and #w.payload > 65535 then
      argerr(F, 2, "option 'will.payload'", "is longer than 65535 bytes")
    end
    if w.retain ~= nil and type(w.retain) ~= "boolean" then
      argerr(F, 2, "option 'will.retain'", "must be a boolean")
    end
    if w.qos ~= nil and w.qos ~= 0 and w.qos ~= 1 and w.qos ~= 2 then
      argerr(F, 2, "option 'will.qos'", "must be 0, 1 or 2")
    end
    self.will = { topic = w.topic, payload = w.payload or "", qos = w.qos or 0, retain = not not w.retain }
  end
  local rc = opts.reconnect
  if rc == nil or rc == true then rc = {} end
  if rc ~= false then
    if type(rc) ~= "table" then argerr(F, 2, "option 'reconnect'", "must be a boolean or a table") end
    local mn = opt_num(F, rc, "min", 1, 86400000) or 500
    local mx = opt_num(F, rc, "max", mn, 86400000) or math.max(mn, 30000)
    self.reconnect = { min = mn, max = mx }
  end
  self.timeout = opt_num(F, opts, "timeout", 1, 86400000) or 10000
  local q = opts.queue or {}
  if type(q) ~= "table" then argerr(F, 2, "option 'queue'", "must be a table") end
  self.queue_max = opt_num(F, q, "max", 1, 1000000, true) or 64
  self.queue_bytes = opt_num(F, q, "bytes", 1, 1 << 30, true) or 32768
  self.queue_policy = q.policy or "reject"
  if not POLICIES[self.queue_policy] then
    argerr(F, 2, "option 'queue.policy'", "must be 'reject', 'drop_oldest' or 'block', got "
      .. tostring(self.queue_policy))
  end
  self.max_inflight = opt_num(F, opts, "max_inflight", 1, 65535, true) or 16
  self.max_packet = opt_num(F, opts, "max_packet", 16, P.MAX_LENGTH, true) or 65536 + 1024
  for _, k in ipairs({ "on_connect", "on_disconnect", "on_message" }) do
    self[k] = opt_type(F, opts, k, "function")
  end

  self.state = "new"       -- new, connecting, connected, offline, closed
  self.subs = {}           -- filter -> {qos=, fn=}; kept across reconnects
  self.sub_order = {}      -- filters in subscription order
  self.unsubs = {}         -- filter -> true: unsubscribed, UNSUBACK not seen (a kept session has it)
  self.waiting = {}        -- messages not yet sent (oldest first)
  self.inflight = {}       -- id -> message sent, not acknowledged
  self.inflight_n = 0
  self.held_bytes = 0      -- bytes of the messages in waiting + inflight
  self.pending = {}        -- id -> {kind=, ...}: subscribe / unsubscribe awaiting ack
  self.inbound_qos2 = {}   -- ids of received QoS 2 messages before PUBREL
  self.inbound_qos2_n = 0
  self.next_id = 0
  self.seq = 0
  self.out, self.out_bytes, self.out_ev = {}, 0, {}
  self.st = { sent = 0, received = 0, dropped = 0, reconnects = 0, resent = 0, oversized = 0 }
  return self
end

-- Message memory: the topic and payload plus a fixed overhead.
local function msg_bytes(m)
  return #m.topic + #m.payload + 32
end

function Client:_alloc_id()
  for _ = 1, 65535 do
    self.next_id = self.next_id % 65535 + 1
    local id = self.next_id
    if not self.inflight[id] and not self.pending[id] then return id end
  end
  return nil
end

-- Output: packets are gathered in `out` and sent by the connection's
-- writer task in one send per burst (a loop of publishes becomes a few
-- large TCP segments, not one per message). A publisher that gets 16 KB
-- ahead sends itself, so a slow network slows it down (back-pressure).
-- Senders take turns (wbusy): a send that blocks must not be interleaved.
local OUT_FLUSH = 16384

function Client:_flush(sock, deadline)
  while self.sock == sock and #self.out > 0 do
    while self.wbusy do
      task.wait(self, deadline and math.max(1, math.min(1000, deadline - now())) or 1000)
      if self.sock ~= sock then return nil, "not connected" end
      if deadline and now() >= deadline then return nil, "timeout" end
    end
    if #self.out == 0 then break end
    local data = table.concat(self.out)
    self.out, self.out_bytes = {}, 0
    self.wbusy = sock
    -- a broker that stops reading (a full window) would block this send
    -- forever, and the keepalive with it: 1.5 intervals, as brokers allow
    -- (MQTT-3.1.2-24). The deadline is taken at the call (the reader sets
    -- its own before each receive).
    local to = self.keepalive > 0 and self.keepalive * 1500 or nil
    if deadline then to = math.max(1, math.min(to or math.huge, deadline - now())) end
    sock:settimeout(to)
    local ok, err = sock:send(data)
    if self.wbusy == sock then self.wbusy = nil end
    task.signal(self)
    if not ok then
      if err == "timeout" then err = "keepalive timeout (send blocked: the broker stopped reading)" end
      self:_drop_connection(sock, err)
      return nil, err
    end
  end
  if self.sock ~= sock then return nil, "not connected" end
  return true
end

function Client:_write(data)
  local sock = self.sock
  if not sock then return nil, "not connected" end
  if self.disconnecting == sock then return nil, "closed" end -- MQTT-3.14.4-1: DISCONNECT is the last
  local out = self.out
  out[#out + 1] = data
  self.out_bytes = self.out_bytes + #data
  self.last_out = now()
  if self.out_bytes >= OUT_FLUSH then return self:_flush(sock) end
  task.signal(self.out_ev)
  return true
end

-- The writer also keeps the connection alive: a PINGREQ when nothing was
-- sent for most of the keepalive interval, or nothing received for all of
-- it; the connection is dropped when the PINGRESP does not come within the
-- interval.
function Client:_writer(sock)
  local ka = self.keepalive * 1000
  local step = ka > 0 and math.max(ka / 4, 50) or nil
  while self.sock == sock do
    if #self.out > 0 then
      self:_flush(sock)
    else
      task.wait(self.out_ev, step)
      if step and self.sock == sock then
        local t = now()
        if self.ping_sent and t - self.ping_sent >= ka then
          if not self.delivering then
            self:_drop_connection(sock, "keepalive timeout (no PINGRESP)")
            return
          end
          -- The reader is inside a handler, so the PINGRESP may be waiting
          -- unread: keep the broker's keepalive fed and judge the broker
          -- once the reader reads again.
          self.ping_sent = t
          self:_write(P.encode({ type = "pingreq" }))
        end
        -- idle output, or nothing heard for an interval (a broker that
        -- stalls while this side keeps publishing QoS 0 is noticed too)
        if not self.ping_sent and (t - self.last_out >= ka - step or t - self.last_in >= ka) then
          self.ping_sent = t
          self:_write(P.encode({ type = "pingreq" }))
        end
      end
    end
  end
end

-- Sends a message now (QoS 0: fire and forget; QoS 1/2: into the in-flight
-- table first, so that a failed send leaves it to be sent again).
function Client:_transmit(m)
  if m.qos > 0 then
    if not m.id then
      m.id = self:_alloc_id()
      if not m.id then return nil, "no free packet id" end
    end
    if not self.inflight[m.id] then
      self.inflight[m.id] = m
      self.inflight_n = self.inflight_n + 1
    end
    m.state = "publish"
  else
    self.held_bytes = self.held_bytes - msg_bytes(m)
  end
  local ok, err = self:_write(P.encode({ type = "publish", topic = m.topic, payload = m.payload, qos = m.qos,
    retain = m.retain, dup = m.dup, id = m.id }))
  if ok then
    self.st.sent = self.st.sent + 1
    if m.qos == 0 then m.done, m.ok = true, true end
  end
  return ok, err
end

-- Sends waiting messages while connected and the in-flight window has room.
-- One pump at a time (a pump may block in a send); the task is kept, not
-- a flag, so that a pump whose task was cancelled does not block the next.
function Client:_pump()
  local p = self.pumping
  if p and p:status() ~= "dead" and p ~= task.current() then return end
  self.pumping = task.current()
  while self.state == "connected" and #self.waiting > 0 do
    local m = self.waiting[1]
    if m.qos > 0 and self.inflight_n >= self.max_inflight then break end
    table.remove(self.waiting, 1)
    task.signal(self.waiting) -- room in the queue (policy "block")
    if not self:_transmit(m) then
      -- QoS 0: lost with the connection; QoS 1/2 are in flight (resent),
      -- or, without a free packet id, back at the head of the queue
      if m.qos > 0 and not m.id then table.insert(self.waiting, 1, m) end
      break
    end
  end
  self.pumping = nil
end

function Client:_complete(m, ok, err)
  if m.id and self.inflight[m.id] == m then
    self.inflight[m.id] = nil
    self.inflight_n = self.inflight_n - 1
  end
  self.held_bytes = self.held_bytes - msg_bytes(m)
  m.done, m.ok, m.err = true, ok, err
  task.signal(self.waiting)
  task.signal(m)
end

function Client:_drop_connection(sock, err)
  if self.sock ~= sock or not sock then return end
  self.sock = nil
  self.wbusy = nil -- a writer still in send on this socket gets "closed"
  self.out, self.out_bytes = {}, 0 -- QoS 1/2 are resent from `inflight`
  sock:close()
  local me = task.current()
  local writer = self.writer_task
  self.writer_task = nil
  if writer and writer ~= me then writer:cancel() end
  if self.state == "connected" then
    self.state = self.closing and "closed" or "offline"
    self.last_error = err
    if self.on_disconnect then
      local okc, e = pcall(self.on_disconnect, self, err)
      if not okc then log.warn("mqtt: on_disconnect: %s", tostring(e)) end
    end
  end
  -- waiters for SUBACK/UNSUBACK: the connection is gone (the subscription
  -- itself is kept and made again on reconnect)
  for id, w in pairs(self.pending) do
    self.pending[id] = nil
    task.signal(w, nil, "connection lost")
  end
  self.ping_sent = nil
  if not self.reconnect then
    -- nobody will reconnect: publishers waiting for an acknowledgement
    -- learn it now (their messages stay in flight for a later c:connect)
    for _, m in pairs(self.inflight) do task.signal(m) end
    for _, m in ipairs(self.waiting) do task.signal(m) end
  end
  task.signal(self)
end

-- Reads one packet from the socket: packet | nil, err. `deadline`
-- (sys.uptime ms, nil: none) bounds the whole packet; each receive takes
-- its timeout at its start (a send in another task sets its own).
local function read_packet(self, sock, deadline)
  local function recv(n)
    if deadline then
      local left = deadline - now()
      if left <= 0 then return nil, "timeout" end
      sock:settimeout(left)
    else
      sock:settimeout(nil)
    end
    return sock:receive(n)
  end
  local h, err = recv(1)
  if not h then return nil, err end
  local len, mult = 0, 1
  for i = 1, 5 do
    if i == 5 then return nil, "malformed packet: remaining length longer than 4 bytes" end
    local b
    b, err = recv(1)
    if not b then return nil, err end
    b = sbyte(b)
    len = len + (b & 127) * mult
    if b < 128 then break end
    mult = mult * 128
  end
  if len > self.max_packet then
    -- connected (no deadline), a PUBLISH is read past in small pieces and
    -- acknowledged: a kept session would send it again on each reconnect
    if deadline or (sbyte(h) >> 4) ~= 3 or (sbyte(h) >> 1) & 3 == 3 then
      return nil, ("packet too large: %d bytes (max_packet %d)"):format(len, self.max_packet)
    end
    local left = len
    local function take(n) -- n bytes of the body, kept only when small
      local keep = {}
      while n > 0 do
        local k = math.min(n, 4096)
        local d, e = recv(k)
        if not d then return nil, e end
        if n <= self.max_packet then keep[#keep + 1] = d end
        n, left = n - k, left - k
      end
      return table.concat(keep)
    end
    local qos = (sbyte(h) >> 1) & 3
    local d, e = take(2)
    if not d then return nil, e end
    local tlen = sunpack(">I2", d)
    if tlen + 2 + (qos > 0 and 2 or 0) > len then return nil, "malformed packet: publish: truncated topic" end
    local topic
    topic, e = take(tlen)
    if not topic then return nil, e end
    local id
    if qos > 0 then
      d, e = take(2)
      if not d then return nil, e end
      id = sunpack(">I2", d)
      if id == 0 then return nil, "malformed packet: publish: packet id 0" end
    end
    d, e = take(left)
    if not d then return nil, e end
    return { type = "publish", oversized = len, topic = topic, qos = qos, id = id }
  end
  local body = ""
  if len > 0 then
    body, err = recv(len)
    if not body then return nil, err end
  end
  return P.decode_body(sbyte(h), body)
end

-- Opens the TCP (or TLS) connection and runs CONNECT/CONNACK in the
-- calling task; then resends what is in flight and sends what waits.
function Client:_open()
  self.state = "connecting"
  local ok, sp = self:_open_connection()
  if self.state == "connecting" then self.state = "offline" end
  return ok, sp
end

function Client:_open_connection()
  local deadline = now() + self.timeout -- TCP (TLS) connect, CONNECT and CONNACK together
  local sopts = { timeout = self.timeout }
  if self.tls then sopts.tls = self.tls end
  local sock, err = socket.connect(self.host, self.port, sopts)
  if not sock then return nil, err end
  pcall(sock.setoption, sock, "nodelay", true)
  local cp = { type = "connect", client_id = self.client_id, keepalive = self.keepalive,
    clean_session = self.clean_session, username = self.username, password = self.password, will = self.will }
  local ok
  sock:settimeout(math.max(1, deadline - now()))
  ok, err = sock:send(P.encode(cp))
  if not ok then sock:close() return nil, err end
  local pkt
  pkt, err = read_packet(self, sock, deadline)
  if not pkt then sock:close() return nil, err == "closed" and "connection closed by the broker" or err end
  if pkt.type ~= "connack" then
    sock:close()
    return nil, "protocol error: expected CONNACK, got " .. pkt.type:upper()
  end
  if pkt.code ~= 0 then
    sock:close()
    return nil, "connection refused by the broker: " .. P.connack_reasons[pkt.code]
  end
  if pkt.session_present and self.clean_session then
    -- MQTT-3.2.2-1: a broker that claims to keep a session it was told to
    -- discard would leave the subscriptions unmade
    sock:close()
    return nil, "protocol error: CONNACK with session present for a clean session"
  end
  if self.closing then -- c:disconnect() from another task while this one connected
    sock:close()
    return nil, "closed"
  end
  self.sock = sock
  self.state = "connected"
  self.last_out = now()
  self.last_in = now()
  self.connected_at = self.last_in
  self.ping_sent = nil
  self.session_present = pkt.session_present
  if not pkt.session_present then self.inbound_qos2, self.inbound_qos2_n = {}, 0 end
  self.out, self.out_bytes = {}, 0
  self.writer_task = task.spawn(self._writer, self, sock)
  -- subscriptions: the broker forgot them unless it kept the session
  -- (and those made while offline were never sent)
  for _, f in ipairs(self.sub_order) do
    local s = self.subs[f]
    if not pkt.session_present then s.acked = false end
    if not s.acked then
      local id = self:_alloc_id()
      if not id then break end
      self.pending[id] = { kind = "resubscribe", filter = f }
      if not self:_write(P.encode({ type = "subscribe", id = id, topics = { { f, s.qos } } })) then break end
    end
  end
  -- unsubscribed while offline (or before the UNSUBACK): a kept session
  -- still has the subscription
  if not pkt.session_present then self.unsubs = {} end
  for f in pairs(self.unsubs) do
    local id = self:_alloc_id()
    if not id or self.state ~= "connected" then break end
    self.pending[id] = { kind = "reunsubscribe", filter = f }
    self:_write(P.encode({ type = "unsubscribe", id = id, topics = { f } }))
  end
  -- in flight, in the order they were first sent
  local list = {}
  for _, m in pairs(self.inflight) do list[#list + 1] = m end
  -- (PUBRELs by their PUBREC, to a kept session; else all are PUBLISHed again)
  local function key(m) return pkt.session_present and m.state == "pubrel" and m.rec_seq or m.seq end
  table.sort(list, function(a, b) return key(a) < key(b) end)
  for _, m in ipairs(list) do
    if self.state ~= "connected" then break end
    self.st.resent = self.st.resent + 1
    -- PUBREL only to the session that sent the PUBREC: a broker that lost
    -- it (mosquitto delivers QoS 2 on PUBREL) would answer PUBCOMP and drop
    -- the message; PUBLISH again instead (at least once beats lost)
    if m.state == "pubrel" and pkt.session_present then
      self:_write(P.encode({ type = "pubrel", id = m.id }))
    else
      m.dup = true
      self:_transmit(m)
    end
  end
  self:_pump()
  if self.on_connect and self.state == "connected" then
    local okc, e = pcall(self.on_connect, self, pkt.session_present)
    if not okc then log.warn("mqtt: on_connect: %s", tostring(e)) end
  end
  return self.state == "connected", pkt.session_present
end

function Client:_deliver(p)
  self.delivering = true
  local handled = false
  for _, f in ipairs(self.sub_order) do
    local s = self.subs[f]
    if s and P.match(f, p.topic) then
      handled = true
      local ok, err = pcall(s.fn, p.topic, p.payload, p)
      if not ok then log.warn("mqtt: handler of %s: %s", f, tostring(err)) end
    end
  end
  if not handled and self.on_message then
    local ok, err = pcall(self.on_message, p.topic, p.payload, p)
    if not ok then log.warn("mqtt: on_message: %s", tostring(err)) end
  end
  self.delivering = false
end

function Client:_handle(p)
  self.last_in = now()
  local ty = p.type
  if ty == "publish" then
    self.st.received = self.st.received + 1
    if p.oversized then
      self.st.oversized = self.st.oversized + 1
      log.warn("mqtt: %s: PUBLISH of %d bytes (topic %q) over max_packet %d: skipped", self.client_id,
        p.oversized, p.topic, self.max_packet)
      if p.qos > 0 then self:_write(P.encode({ type = p.qos == 1 and "puback" or "pubrec", id = p.id })) end
    elseif p.qos == 0 then
      self:_deliver(p)
    elseif p.qos == 1 then
      self:_deliver(p)
      self:_write(P.encode({ type = "puback", id = p.id }))
    else
      if not self.inbound_qos2[p.id] then
        -- bounded: a broker that never sends PUBREL cannot fill the memory
        if self.inbound_qos2_n >= INBOUND_QOS2_MAX then
          return nil, ("protocol error: more than %d QoS 2 messages without PUBREL"):format(INBOUND_QOS2_MAX)
        end
        self.inbound_qos2[p.id] = true
        self.inbound_qos2_n = self.inbound_qos2_n + 1
        self:_deliver(p)
      end
      self:_write(P.encode({ type = "pubrec", id = p.id }))
    end
  elseif ty == "pubrel" then
    if self.inbound_qos2[p.id] then
      self.inbound_qos2[p.id] = nil
      self.inbound_qos2_n = self.inbound_qos2_n - 1
    end
    self:_write(P.encode({ type = "pubcomp", id = p.id }))
  elseif ty == "puback" or ty == "pubcomp" then
    local m = self.inflight[p.id]
    if m and m.qos == (ty == "puback" and 1 or 2) then self:_complete(m, true) end
    self:_pump()
  elseif ty == "pubrec" then
    local m = self.inflight[p.id]
    if m and m.qos == 2 and m.state ~= "pubrel" then
      m.state = "pubrel"
      -- resent PUBRELs go in the order of their PUBRECs (MQTT-4.6.0-3)
      self.seq = self.seq + 1
      m.rec_seq = self.seq
    end
    self:_write(P.encode({ type = "pubrel", id = p.id }))
  elseif ty == "suback" or ty == "unsuback" then
    local w = self.pending[p.id]
    if w then
      self.pending[p.id] = nil
      local want = (w.kind == "subscribe" or w.kind == "resubscribe") and "suback" or "unsuback"
      if ty ~= want then
        local err = ("protocol error: %s for %s"):format(ty:upper(),
          want == "suback" and "a SUBSCRIBE" or "an UNSUBSCRIBE")
        task.signal(w, nil, err)
        return nil, err
      end
      if ty == "suback" and #p.codes ~= 1 then -- MQTT-3.8.4-5: one code per filter (one is sent)
        local err = ("protocol error: SUBACK with %d return codes for 1 topic filter"):format(#p.codes)
        task.signal(w, nil, err)
        return nil, err
      end
      -- the broker has forgotten the subscription (see unsubscribe)
      if ty == "unsuback" and w.filter then self.unsubs[w.filter] = nil end
      if w.kind == "resubscribe" then
        local s = self.subs[w.filter]
        if p.codes[1] == 0x80 then
          log.warn("mqtt: the broker refused the subscription to %s", w.filter)
        elseif s then
          s.acked = true
        end
      elseif w.kind ~= "reunsubscribe" then
        task.signal(w, p)
      end
    end
  elseif ty == "pingresp" then
    self.ping_sent = nil
  else
    return nil, "protocol error: unexpected " .. ty:upper() .. " from the broker"
  end
  return true
end

-- The connection's reader; reconnects (with backoff) when it breaks.
function Client:_reader()
  local delay
  while not self.closing do
    local sock = self.sock
    if sock then
      local p, err = read_packet(self, sock)
      if p then
        local ok, perr = self:_handle(p)
        if not ok then self:_drop_connection(sock, perr) end
      elseif self.sock == sock then
        self:_drop_connection(sock, err)
      end
      if not self.sock and not self.closing then
        log.warn("mqtt: %s: connection lost: %s", self.client_id, tostring(self.last_error or err or p))
        -- the backoff starts again only after a connection that lasted: a
        -- broker that drops each one at once (a client id in use twice)
        -- must not get a reconnect every `min` ms
        if self.reconnect and now() - (self.connected_at or 0) >= self.reconnect.max then delay = nil end
      end
    else
      if not self.reconnect then break end
      delay = delay and math.min(delay * 2, self.reconnect.max) or self.reconnect.min
      -- jitter (0.75 .. 1.25) so that a fleet does not reconnect in step
      task.sleep(delay * (0.75 + math.random() / 2))
      if self.closing then break end
      -- c:connect() from another task may have connected (or be at it) meanwhile
      local err
      if not self.sock and self.state ~= "connecting" then
        local ok, e = self:_open()
        if not ok then err = type(e) == "string" and e or self.last_error end
      end
      if self.sock then
        self.st.reconnects = self.st.reconnects + 1
      elseif self.state == "connecting" then
        task.sleep(100)
      elseif not self.closing then
        self.state = "offline"
        self.last_error = err
        log.warn("mqtt: %s: reconnect to %s:%d failed: %s", self.client_id, self.host, self.port,
          tostring(err))
      end
    end
  end
  self.reader_task = nil
end

--- c:connect([{retry = true}]) -> true, session_present | nil, err
function Client:connect(opts)
  if opts ~= nil and type(opts) ~= "table" then
    argerr("c:connect", 1, "opts", "must be a table, got " .. type(opts))
  end
  if self.state == "connected" then return nil, "already connected" end
  if self.state == "connecting" then return nil, "already connecting" end
  self.closing = false
  local ok, sp = self:_open()
  if not ok then
    if sp == false then sp = self.last_error or "connection lost" end
    self.last_error = sp
    -- retry: the reconnect loop takes over from this first failure
    if opts and opts.retry and self.reconnect and not self.reader_task then
      self.reader_task = task.spawn(self._reader, self)
    end
    return nil, sp
  end
  if not self.reader_task then self.reader_task = task.spawn(self._reader, self) end
  return true, sp
end

--- c:disconnect() -> true: DISCONNECT (the will is not sent), no reconnect.
function Client:disconnect()
  self.closing = true
  local sock = self.sock
  if sock then
    self:_write(P.encode({ type = "disconnect" }))
    self.disconnecting = sock
    self:_flush(sock, now() + self.timeout) -- bounded: the broker may have stopped reading
    self:_drop_connection(self.sock, "closed")
  end
  self.state = "closed"
  task.signal(self.waiting)
  if self.reader_task and self.reader_task ~= task.current() then
    self.reader_task:cancel()
    self.reader_task = nil
  end
  return true
end

local PUB_KEYS = { qos = true, retain = true, wait = true, timeout = true }

--- c:publish(topic, payload, [{qos=, retain=, wait=, timeout=}]) -> true | nil, err
function Client:publish(topic, payload, opts)
  local F = "c:publish"
  check_topic(F, 1, topic, 1)
  if type(payload) ~= "string" then
    if type(payload) == "number" then payload = tostring(payload)
    else argerr(F, 2, "payload", "must be a string, got " .. type(payload)) end
  end
  opts = opts or {}
  if type(opts) ~= "table" then argerr(F, 3, "opts", "must be a table, got " .. type(opts)) end
  for k in pairs(opts) do
    if not PUB_KEYS[k] then argerr(F, 3, "opts", "has an unknown option '" .. tostring(k) .. "'") end
  end
  local qos = opts.qos or 0
  if qos ~= 0 and qos ~= 1 and qos ~= 2 then argerr(F, 3, "option 'qos'", "must be 0, 1 or 2") end
  local to = opts.timeout
  if to ~= nil and (type(to) ~= "number" or to ~= to or to < 0) then
    argerr(F, 3, "option 'timeout'", "must be a non-negative number of ms")
  end
  if self.state == "closed" or self.closing then return nil, "closed" end
  local wait = opts.wait
  if wait and task.current() == self.reader_task then
    error("c:publish: wait = true inside a message handler would wait for itself; spawn a task", 2)
  end
  self.seq = self.seq + 1
  local m = { topic = topic, payload = payload, qos = qos, retain = not not opts.retain, seq = self.seq }
  local size = msg_bytes(m)
  if 2 + #topic + (qos > 0 and 2 or 0) + #payload > P.MAX_LENGTH then
    return nil, ("message larger than an MQTT packet (%d bytes)"):format(P.MAX_LENGTH)
  end
  if size > self.queue_bytes then
    return nil, ("message larger than the queue (%d bytes, queue.bytes %d)"):format(size, self.queue_bytes)
  end
  -- Room in memory: waiting + in flight are bounded together.
  local deadline = opts.timeout and now() + opts.timeout
  while #self.waiting + self.inflight_n >= self.queue_max or self.held_bytes + size > self.queue_bytes do
    local pol = self.queue_policy
    if pol == "drop_oldest" and #self.waiting > 0 then
      local old = table.remove(self.waiting, 1)
      self.held_bytes = self.held_bytes - msg_bytes(old)
      self.st.dropped = self.st.dropped + 1
      old.done, old.err = true, "dropped"
      task.signal(old)
    elseif pol == "block" and self.state ~= "closed" and task.current() ~= self.reader_task then
      local left = deadline and deadline - now()
      if left and left <= 0 then return nil, "queue full" end
      task.wait(self.waiting, left and math.min(left, 1000) or 1000)
      if self.state == "closed" then return nil, "closed" end
    else
      return nil, "queue full"
    end
  end
  self.held_bytes = self.held_bytes + size
  local window = qos == 0 or self.inflight_n < self.max_inflight
  if self.state == "connected" and #self.waiting == 0 and window then
    local ok, err = self:_transmit(m)
    if not ok and qos == 0 then return nil, err end
    if not ok and not m.id then self.waiting[#self.waiting + 1] = m end -- no free packet id yet
  else
    self.waiting[#self.waiting + 1] = m
  end
  if not wait then return true end
  -- about to wait anyway: send now rather than through the writer task
  if self.sock and #self.out > 0 then self:_flush(self.sock) end
  while not m.done do
    if self.state == "closed" then return nil, "closed" end
    if not self.reconnect and not self.sock and self.state ~= "connecting" then
      return nil, "not connected (" .. tostring(self.last_error or "no c:connect() yet") ..
        "; reconnect = false: the message is sent by the next c:connect())"
    end
    local left = deadline and deadline - now()
    if left and left <= 0 then return nil, "timeout" end
    task.wait(m, left and math.min(left, 1000) or 1000)
  end
  if m.ok then return true end
  return nil, m.err
end

local function check_sub_args(F, filter, qos)
  local why = P.filter_problem(filter)
  if why then argerr(F, 1, "filter", why, 2) end
  if qos ~= 0 and qos ~= 1 and qos ~= 2 then argerr(F, 2, "qos", "must be 0, 1 or 2", 2) end
end

--- c:subscribe(filter, qos, fn) -> granted_qos | nil, err
function Client:subscribe(filter, qos, fn)
  local F = "c:subscribe"
  qos = qos or 0
  check_sub_args(F, filter, qos)
  if type(fn) ~= "function" then argerr(F, 3, "fn", "must be a function, got " .. type(fn)) end
  if self.state == "closed" then return nil, "closed" end
  if task.current() == self.reader_task then
    error("c:subscribe: inside a message handler it would wait for itself; spawn a task", 2)
  end
  if not self.subs[filter] then self.sub_order[#self.sub_order + 1] = filter end
  self.subs[filter] = { qos = qos, fn = fn }
  self.unsubs[filter] = nil
  if self.state ~= "connected" then return nil, "not connected (subscribed on connect)" end
  -- (no free id: it is sent on the next reconnect)
  local p, err = self:_request({ kind = "subscribe" },
    { type = "subscribe", topics = { { filter, qos } } })
  if not p then return nil, err end
  if p.type ~= "suback" then return nil, "protocol error" end
  local code = p.codes[1]
  if self.subs[filter] then self.subs[filter].acked = code ~= 0x80 end
  if code == 0x80 then
    self:_drop_sub(filter)
    return nil, "subscription refused by the broker"
  end
  return code
end

-- Forget a subscription (it is not made again on reconnects).
function Client:_drop_sub(filter)
  self.subs[filter] = nil
  for i, f in ipairs(self.sub_order) do
    if f == filter then table.remove(self.sub_order, i) break end
  end
end

-- Send `pkt` under a fresh packet id and wait for the reader to hand `w`
-- its answer (SUBACK/UNSUBACK): the answer packet | nil, err.
function Client:_request(w, pkt)
  local id = self:_alloc_id()
  if not id then return nil, "no free packet id" end
  pkt.id = id
  self.pending[id] = w
  local ok, err = self:_write(P.encode(pkt))
  if not ok then self.pending[id] = nil return nil, err end
  local p, werr = task.wait(w, self.timeout)
  if not p then
    self.pending[id] = nil
    return nil, werr
  end
  return p
end

--- c:unsubscribe(filter) -> true | nil, err
function Client:unsubscribe(filter)
  local F = "c:unsubscribe"
  local why = P.filter_problem(filter)
  if why then argerr(F, 1, "filter", why) end
  if task.current() == self.reader_task and self.state == "connected" then
    error("c:unsubscribe: inside a message handler it would wait for itself; spawn a task", 2)
  end
  self:_drop_sub(filter)
  -- until the UNSUBACK, a persistent session may still hold it: sent
  -- again on a reconnect that finds the session kept
  if not self.clean_session then self.unsubs[filter] = true end
  if self.state ~= "connected" then return true end
  local p, err = self:_request({ kind = "unsubscribe", filter = filter },
    { type = "unsubscribe", topics = { filter } })
  if not p then return nil, err end
  return true
end

--- c:status() -> "new" | "connecting" | "connected" | "offline" | "closed", last error
function Client:status()
  return self.state, self.last_error
end

--- c:stats() -> {sent=, received=, dropped=, reconnects=, resent=, queued=, inflight=, bytes=}
function Client:stats()
  local s = {}
  for k, v in pairs(self.st) do s[k] = v end
  s.queued, s.inflight, s.bytes = #self.waiting, self.inflight_n, self.held_bytes
  return s
end

--- c:flush([timeout_ms]) -> true | nil, "timeout": waits until nothing is
-- queued or in flight.
function Client:flush(timeout)
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout < 0) then
    argerr("c:flush", 1, "timeout", "must be a non-negative number of ms")
  end
  if task.current() == self.reader_task and (#self.waiting > 0 or self.inflight_n > 0) then
    error("c:flush: inside a message handler it would wait for itself; spawn a task", 2)
  end
  local deadline = timeout and now() + timeout
  while #self.waiting > 0 or self.inflight_n > 0 do
    if self.state == "closed" then return nil, "closed" end
    local left = deadline and deadline - now()
    if left and left <= 0 then return nil, "timeout" end
    task.wait(self.waiting, left and math.min(left, 200) or 200)
  end
  return true
end

Client.__name = "mqtt.client"
function Client.__tostring(c)
  return ("mqtt.client %s (%s)"):format(c.client_id, c.state)
end

return M
