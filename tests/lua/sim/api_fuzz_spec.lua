-- Every Lua API, fed wrong types and out-of-range values: each call must
-- return or raise a Lua error, never crash or hang the process.
local sim = require("sim")

local weird = {
  false, true, 0, -1, 1, 2, 255, 256, 65536, -2 ^ 63, 2 ^ 63, 1e308, -1e308, 0 / 0,
  math.huge, -math.huge, 0.5, "", "LED0", "BTN0", "nope", ("x"):rep(10000), "\0",
  {}, {1, 2, 300}, {mode = 9, speed = -1, cs = 1e9}, {cs = "a"},
  function() end, coroutine.create(function() end), io.stdout,
}

local modules = {gpio = gpio, spi = spi, task = task, timer = timer, log = log, sys = sys, sim = sim}

-- Calls that would legitimately stop the spec itself are made in tasks,
-- which are cancelled after a moment if they block.
local function try(f, ...)
  local args = table.pack(...)
  local outcome
  local t = task.spawn(function()
    local r = table.pack(pcall(f, table.unpack(args, 1, args.n)))
    outcome = r
    if r[1] then
      for i = 2, r.n do
        local v = r[i]
        -- do not leave timers and handlers behind
        if type(v) == "userdata" and tostring(v):match("^timer") then v:cancel() end
      end
    end
  end)
  task.sleep(1)
  if t:status() ~= "dead" then t:cancel() end
  return outcome
end

local function quiet() end

local function cleanup()
  for pin = 0, gpio.count() - 1 do gpio.off(pin) end
  log.sink(quiet) -- fuzzed log calls would flood the output
  log.level("info")
end

describe("API robustness", function()
  before_each(cleanup)
  after_each(cleanup)
  teardown(function() log.sink(nil) end)

  for mname, mod in pairs(modules) do
    local names = {}
    for k, v in pairs(mod) do if type(v) == "function" then names[#names + 1] = k end end
    table.sort(names)
    for _, fname in ipairs(names) do
      it(mname .. "." .. fname .. " survives bad arguments", function()
        local f = mod[fname]
        local calls, errors = 0, 0
        -- no arguments, then each weird value in each of the first three positions
        local r = try(f)
        calls = calls + 1
        if r and not r[1] then errors = errors + 1 end
        for pos = 1, 3 do
          for _, v in ipairs(weird) do
            local args = {"LED0", 1, function() end}
            if mname == "spi" then args = {1, "ab", 1} end
            args[pos] = v
            r = try(f, args[1], args[2], args[3])
            calls = calls + 1
            if r and not r[1] then
              errors = errors + 1
              assert.are.equal("string", type(r[2]))
            end
            cleanup()
          end
        end
        assert.is_true(calls > 0)
      end)
    end
  end

  it("type errors name the argument", function()
    local cases = {
      {gpio.write, {}, "#1", "gpio.write"},
      {gpio.write, {0, "high"}, "#2", "gpio.write"},
      {gpio.on, {0, "sideways", function() end}, "#2", "gpio.on"},
      {spi.setup, {"zero"}, "#1", "spi.setup"},
      {spi.read, {1, "many"}, "#2", "spi.read"},
      {task.spawn, {42}, "#1", "spawn"},
      {task.sleep, {"long"}, "#1", "task.sleep"},
      {task.sleep, {-5}, "#1", "task.sleep"},
      {task.wait, {nil}, "#1", "wait"},
      {task.channel, {0}, "#1", "channel"},
      {timer.after, {10, 10}, "#2", "timer.after"},
      {log.level, {"loud"}, "#1", "level"},
      {log.tag, {""}, "#1", "tag"},
      {sys.reload, {{}}, "#1", "reload"},
      {sim.part, {1}, "#1", "part"},
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(c[1], table.unpack(c[2]))
      assert.is_false(ok)
      -- Qualified names ('gpio.write') are exact: the module names its
      -- functions as the docs do; others may be named as they were reached.
      local name = c[4]:find(".", 1, true) and c[4]:gsub("%.", "%%.") or "[%w.]*" .. c[4]
      local want = "bad argument " .. c[3] .. " to '" .. name .. "'"
      assert.truthy(err:find(want), err .. " ~= " .. want)
    end
  end)
end)

