-- The device's HTTP server for tools/bench-http: GET /status answers a
-- fixed 64-byte JSON body (so ab sees no length changes), GET /static a
-- fixed 1 KB text.
local http = require("http")
local port = math.tointeger(tonumber((...))) or 8080
local body64 = '{"ok":true,"board":"devkit","pad":"' .. ("x"):rep(27) .. '"}'
assert(#body64 == 64)
local kb = ("0123456789abcdef"):rep(64)
local srv = assert(http.server{port = port, max_clients = 64, routes = {
  ["GET /status"] = function(_, res) res:send(body64, "application/json") end,
  ["GET /static"] = function() return kb end,
}})
print(("http bench server on %d"):format(srv.port))
io.stdout:flush()
