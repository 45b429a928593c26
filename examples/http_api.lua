-- A device API over HTTP: status, LED0 and the environment sensor, JSON
-- in and out (docs/http.md).
--
--   luaos run examples/http_api.lua --net user,hostfwd=tcp:127.0.0.1:8080-:80
--   curl http://127.0.0.1:8080/status
--   curl -X PUT -d '{"on": true}' http://127.0.0.1:8080/led/0
--   curl http://127.0.0.1:8080/sensors
--
-- Arguments (after --): port (default 80), and "tls CERT KEY" to serve
-- https with a device certificate (PEM files).
local http = require("http")

local port_arg, tls_arg, cert, key = ...
local port = math.tointeger(tonumber(port_arg)) or 80

gpio.mode("LED0", "out")
gpio.write("LED0", 0)

-- The sensor is optional: a board without it still serves the rest.
local ok_env, env = pcall(function() return require("bme280").new(0, 0) end)

local requests = 0

local routes = {
  ["GET /status"] = function()
    local m = sys.memory()
    return {
      board = sys.board(), version = sys.version(), uptime_ms = math.floor(sys.uptime()),
      heap = {used = m.used, peak = m.peak}, tasks = sys.tasks(), requests = requests,
    }
  end,

  ["GET /led/:n"] = function(req, res)
    if req.params.n ~= "0" then return res:json({error = "no such LED"}, 404) end
    return {on = gpio.read("LED0") == 1}
  end,

  -- Body: {"on": true|false}; anything else is a 400 with the reason.
  ["PUT /led/:n"] = function(req, res)
    if req.params.n ~= "0" then return res:json({error = "no such LED"}, 404) end
    local body, err = req:json()
    if not body then return res:json({error = err}, 400) end
    if type(body) ~= "table" or type(body.on) ~= "boolean" then
      return res:json({error = 'expected {"on": true|false}'}, 400)
    end
    gpio.write("LED0", body.on and 1 or 0)
    return {on = body.on}
  end,

  ["GET /sensors"] = function(_, res)
    if not ok_env then return res:json({error = "no environment sensor"}, 503) end
    local ok, e = pcall(env.read, env)
    if not ok then return res:json({error = tostring(e)}, 503) end
    return {temperature = e.temperature, pressure = e.pressure, humidity = e.humidity}
  end,

  -- Echoes what it gets: for testing clients (bodies up to max_body).
  ["POST /echo"] = function(req, res)
    res:header("X-Body-Length", tostring(#req.body))
    res:send(req.body, req.headers["content-type"] or "application/octet-stream")
  end,

  -- A streamed (chunked) response of n lines.
  ["GET /count/:n"] = function(req, res)
    local n = math.tointeger(tonumber(req.params.n))
    if not n or n < 0 or n > 100000 then return res:json({error = "n: 0..100000"}, 400) end
    res:header("Content-Type", "text/plain")
    for i = 1, n do res:write(i .. "\n") end
  end,
}

local tls
if tls_arg == "tls" then tls = {cert = cert, key = key} end

-- Every handler counts the request first.
local counted = {}
for k, fn in pairs(routes) do
  counted[k] = function(...)
    requests = requests + 1
    return fn(...)
  end
end

local srv = assert(http.server{port = port, routes = counted, tls = tls, max_body = 256 * 1024,
  on_error = function(msg) log.error("http_api: %s", msg) end})
print(("http_api: listening on port %d%s"):format(srv.port, tls and " (https)" or ""))
io.stdout:flush()
