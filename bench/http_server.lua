-- The device's HTTP server for tools/bench-http: GET /status answers a
-- fixed 64-byte JSON body (so ab sees no length changes), GET /static a
-- fixed 1 KB text. Arguments: port [tls CERT KEY] (https).
local http = require("http")
local port_arg, tls_arg, cert, key = ...
local port = math.tointeger(tonumber(port_arg)) or 8080
local tls = tls_arg == "tls" and {cert = cert, key = key} or nil
local body64 = '{"ok":true,"board":"devkit","pad":"' .. ("x"):rep(27) .. '"}'
assert(#body64 == 64)
local kb = ("0123456789abcdef"):rep(64)
local srv = assert(http.server{port = port, max_clients = 64, tls = tls, routes = {
  ["GET /status"] = function(_, res) res:send(body64, "application/json") end,
  ["GET /static"] = function() return kb end,
}})
print(("http bench server on %d"):format(srv.port))
io.stdout:flush()
