-- A full heap never aborts the process: apps run under a small
-- --mem-limit (in a child luaos) end with "not enough memory" in the task
-- that ran out, never with a PANIC, whatever the limit.
local function luaos_exe()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("n")
  f:close()
  local p = assert(io.popen("readlink /proc/" .. pid .. "/exe"))
  local exe = p:read("l")
  p:close()
  return exe
end

local exe = luaos_exe()
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))

local function run(code, limit)
  local app = dir .. "/app.lua"
  local f = assert(io.open(app, "w"))
  f:write(code)
  f:close()
  local p = assert(io.popen(("%q run --task-budget 0 --mem-limit %s %q 2>&1; echo \"rc=$?\"")
    :format(exe, limit, app)))
  local out = p:read("a")
  p:close()
  return out, tonumber(out:match("rc=(%d+)%s*$"))
end

local apps = {
  hog = "task.spawn(function() local t = {} for i = 1, 1e7 do t[i] = ('x'):rep(64) .. i end end)\n" ..
        "task.sleep(10)\n",
  results = "local t = task.spawn(function() local r = {} for i = 1, 20000 do r[i] = {i} end\n" ..
            "  return table.unpack(r) end)\nprint(select('#', t:join()))\n",
  timers = "for i = 1, 2000 do timer.after(i % 5, function()\n" ..
           "  local s = {} for k = 1, 100 do s[k] = {k} end end) end\ntask.sleep(50)\n",
}

describe("a full heap", function()
  teardown(function() os.execute("rm -rf " .. dir) end)

  for name, code in pairs(apps) do
    it("ends '" .. name .. "' with an error, never a PANIC", function()
      for _, limit in ipairs({"120k", "200k", "400k"}) do
        local out, rc = run(code, limit)
        assert.is_nil(out:find("PANIC", 1, true), out)
        assert.is_true(rc == 0 or rc == 1, out)
        if rc == 1 then assert.truthy(out:find("not enough memory", 1, true), out) end
      end
    end)
  end

  it("names the task that ran out", function()
    local out, rc = run(apps.hog, "300k")
    assert.are.equal(1, rc)
    assert.truthy(out:find("task 2: not enough memory", 1, true), out)
  end)
end)
