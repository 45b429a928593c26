-- The REPL's help(): one line per module and one per function, with the
-- signatures as docs/ writes them. Loaded only when help() is called (the
-- REPL's `help` global lives in shared/repl.c and calls M.show).
local M = { _VERSION = "1.0" }

-- name -> { summary, signature, description, signature, description, ... }
local DOCS = {
  gpio = { "digital pins and edge interrupts (docs/gpio.md)",
    "gpio.mode(pin, mode)", 'configure a pin: "in", "out", "in_pullup", "in_pulldown", "open_drain"',
    "gpio.read(pin) -> level", "the pin's level, 0 or 1",
    "gpio.write(pin, level)", "set the output latch (0/1 or false/true)",
    "gpio.toggle(pin) -> level", "invert the output, return the new level",
    "gpio.on(pin, edge, fn)", 'call fn(pin, level, t) in a new task on "rising", "falling" or "both" edges',
    "gpio.off(pin)", "remove the pin's edge handler",
    "gpio.pin(pin) -> number", "the pin number for a name",
    "gpio.name(pin) -> string | nil", "the board's name for a pin",
    "gpio.count() -> n", "number of pins on the board",
    "gpio.dropped() -> n", "edge events dropped because the ring was full",
  },
  spi = { "SPI bus master (docs/spi.md)",
    "spi.setup(bus, [opts]) -> device", "a device on a bus: opts cs, mode, speed, bits, lsb_first",
    "spi.transfer(target, tx) -> rx", "full duplex: clock out tx, return what came back",
    "spi.write(target, data)", "clock out data, discard what comes back",
    "spi.read(target, n, [fill]) -> string", "clock out n fill bytes (0xFF), return n bytes",
  },
  task = { "tasks, sleeping, events and channels (docs/task.md)",
    "task.spawn(fn, ...) -> task", "run fn(...) as a new task",
    "task.sleep(ms)", "block the calling task for ms milliseconds",
    "task.yield()", "let the other ready tasks run",
    "task.wait(event, [timeout_ms]) -> ... | nil, \"timeout\"", "block until task.signal(event, ...)",
    "task.signal(event, ...) -> n", "wake every task waiting on event",
    "task.current() -> task | nothing", "the running task",
    "task.count() -> n", "number of tasks that have not ended",
    "task.channel([capacity]) -> channel", "a FIFO queue between tasks",
    "task.budget([instructions]) -> previous", "instructions a task may run without yielding (0: off)",
    "t:status() -> string", '"ready", "running", "sleeping", "waiting", "done", ...',
    "t:id() -> integer", "the task's number",
    "t:join([timeout_ms]) -> true, ... | nil, err", "wait for t to end, get its results",
    "t:cancel()", "stop t for good",
    "ch:send(value, [timeout_ms]) -> true | nil, \"timeout\" | nil, \"closed\"",
    "append, blocking while full",
    "ch:recv([timeout_ms]) -> value | nil, \"timeout\" | nil, \"closed\"", "take the oldest value",
    "ch:close()", "close the channel, wake blocked senders and receivers",
  },
  timer = { "one-shot and periodic callbacks (docs/timer.md)",
    "timer.after(ms, fn) -> timer", "call fn(timer) once, ms from now",
    "timer.every(ms, fn) -> timer", "call fn(timer) every ms milliseconds",
    "h:cancel()", "disarm the timer",
    "h:active() -> boolean", "true while the timer will still fire",
    "h:count() -> integer", "how many times it has fired",
  },
  log = { "levelled, tagged messages (docs/log.md)",
    "log.debug(fmt, ...)", "message at level debug (also log.info, log.warn, log.error)",
    "log.info(fmt, ...)", "message at level info",
    "log.warn(fmt, ...)", "message at level warn",
    "log.error(fmt, ...)", "message at level error",
    "log.tag(name) -> logger", "a logger whose messages carry name",
    "log.level([tag], [level]) -> level | previous", "get or set the default level or a tag's level",
    "log.sink(fn)", "send every message to fn(level, tag, msg) (nil: back to the console)",
  },
  sys = { "system information and hot reload (docs/sys.md)",
    "sys.uptime() -> ms", "time since boot",
    "sys.memory() -> {used =, peak =, limit =, fails =}", "Lua heap statistics in bytes",
    "sys.collect() -> used", "full garbage collection",
    "sys.version() -> string", "the Lua OS and Lua versions",
    "sys.board() -> string", "the board's name",
    "sys.tasks() -> n", "number of tasks that have not ended",
    "sys.modules() -> table", "loaded modules and their versions",
    "sys.reload(name) -> true | nil, err", "hot reload a Lua module",
  },
  bme280 = { "Bosch BME280 temperature, pressure and humidity sensor (docs/bme280.md)",
    "bme280.new(bus, cs [, opts]) -> sensor", "set up the chip on an SPI bus",
    "sensor:read() -> {temperature =, pressure =, humidity =}", "one forced measurement",
  },
  lis3dh = { "ST LIS3DH 3-axis accelerometer (docs/lis3dh.md)",
    "lis3dh.new(bus, cs [, opts]) -> accel", "set up the chip on an SPI bus",
  },
  argcheck = { "argument checking for pure-Lua modules (docs/argcheck.md)",
    "argcheck.for_module(name) -> checker", "checker.int(...), checker.fail(...), ... bound to name",
    "argcheck.nearest(word, candidates) -> name | nil", "the candidate a typo most likely meant",
    "argcheck.hint(word, candidates) -> string", "'did you mean' or the list of valid names",
    "argcheck.id_problem(id, expected) -> message | nil", "what a chip's id read back says",
  },
  mps2 = { "MPS2 AN385 board controls (docs/boards/mps2-an385.md)" },
}
-- The simulator's own modules (sim, bench) are described in help.sim,
-- which a board image does not bundle (flash); optional drivers in
-- help.<driver>, bundled with the driver. It is help's data, not a
-- module an app loaded: sys.modules() does not list it.
for _, extra in ipairs({ "help.sim", "help.ili9341" }) do
  local ok, more = pcall(require, extra)
  if ok and type(more) == "table" then
    for name, d in next, more do DOCS[name] = d end
    package.loaded[extra] = nil
  end
end
M.DOCS = DOCS

-- Not worth listing at the prompt.
local function hidden(name)
  return name == "help" or name == "main" or name:find("^help%.") ~= nil
    or name:find("^testing%.") ~= nil or name:find("%.core$") ~= nil
end

local function pad(s, n)
  return #s < n and s .. string.rep(" ", n - #s) or s .. "  "
end

-- Every module the board can load, sorted: core (native) ones, the
-- port's native ones we know of, and the bundled Lua ones.
local function available(core, bundled, native)
  local seen, list = {}, {}
  local function add(name)
    if not seen[name] and not hidden(name) then
      seen[name] = true
      list[#list + 1] = name
    end
  end
  for _, name in ipairs(core) do add(name) end
  for name in next, DOCS do
    if native(name) then add(name) end
  end
  for _, name in ipairs(bundled) do add(name) end
  table.sort(list)
  return list
end

local function list_modules(core, bundled, native)
  print("Modules (help(name) lists one's functions):")
  for _, name in ipairs(available(core, bundled, native)) do
    local d = DOCS[name]
    print("  " .. pad(name, 10) .. (d and d[1] or ""))
  end
  print("Also the Lua 5.4 standard libraries: string, table, math, utf8, coroutine, debug"
        .. (io and ", io, os" or "") .. ".")
end

-- The name under which `t` is loaded, if it is a module (raw walk). A core
-- module not used yet is only a placeholder in _G (docs/modules.md), so
-- the globals are looked at too.
local function module_name(t)
  local loaded = package and rawget(package, "loaded")
  for _, where in ipairs({type(loaded) == "table" and loaded or {}, _G}) do
    for name, v in next, where do
      if rawequal(v, t) and type(name) == "string" then return name end
    end
  end
  return nil
end

local function list_functions(name, mod)
  local d = DOCS[name]
  print(name .. (d and (" — " .. d[1]) or ""))
  local documented = {}
  if d then
    local w = 0
    for i = 2, #d, 2 do
      if #d[i] > w then w = #d[i] end
    end
    w = math.min(w, 44)
    for i = 2, #d, 2 do
      print("  " .. pad(d[i], w + 2) .. d[i + 1])
      local fn = d[i]:match("^[%w_]+%.([%w_]+)")
      if fn then documented[fn] = true end
    end
  end
  -- Fields without an entry, by name (raw: no metamethod runs).
  if type(mod) == "table" then
    local rest = {}
    for k, v in next, mod do
      if type(k) == "string" and not documented[k] and k ~= "_VERSION" then
        rest[#rest + 1] = name .. "." .. k .. (type(v) == "function" and "()" or "")
      end
    end
    table.sort(rest)
    for _, s in ipairs(rest) do print("  " .. s) end
  end
end

-- help(), help(module) or help("name"); `core`, `bundled`, `native` and
-- `nearest` come from the REPL (shared/repl.c).
function M.show(what, core, bundled, native, nearest)
  if what == nil then
    list_modules(core, bundled, native)
    return
  end
  if type(what) == "string" then
    local ok, mod = pcall(require, what)
    if not ok and not DOCS[what] then
      local guess = nearest and nearest(what, available(core, bundled, native))
      print("help: no module '" .. what .. "'; "
            .. (guess and ("did you mean '" .. guess .. "'?") or "help() lists them"))
      return
    end
    list_functions(what, ok and mod or nil)
    return
  end
  if type(what) == "table" then
    local name = module_name(what)
    local ok, mod = false, nil
    if name then ok, mod = pcall(require, name) end -- opens a placeholder
    list_functions(name or "(table)", ok and type(mod) == "table" and mod or what)
    return
  end
  print("help: give a module or its name, e.g. help(gpio) or help(\"gpio\")")
end

return M
