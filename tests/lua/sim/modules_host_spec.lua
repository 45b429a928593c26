-- Module loading from files on the host: text only, untrusted package.path.
local function write(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

describe("file modules", function()
  local dir, saved_path
  before_each(function()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    saved_path = package.path
    package.path = dir .. "/?.lua;" .. package.path
  end)
  after_each(function()
    package.path = saved_path
    os.execute("rm -rf " .. dir)
  end)

  it("require loads text modules and refuses bytecode files", function()
    write(dir .. "/txt_mod.lua", "return {v = 1}")
    assert.are.equal(1, require("txt_mod").v)
    package.loaded.txt_mod = nil
    write(dir .. "/bin_mod.lua", string.dump(function() return {v = 2} end))
    local ok, err = pcall(require, "bin_mod")
    assert.is_false(ok)
    assert.truthy(err:find("binary chunk refused", 1, true), err)
    assert.truthy(err:find("bin_mod.lua", 1, true), err)
  end)

  it("loadfile and dofile refuse bytecode in every mode", function()
    local bin = dir .. "/b.luac"
    write(bin, string.dump(function() return 3 end))
    for _, mode in ipairs({"b", "bt"}) do
      local f, err = loadfile(bin, mode)
      assert.is_nil(f)
      assert.truthy(err:find("binary chunk refused", 1, true), err)
    end
    assert.is_nil((loadfile(bin)))
    local ok, err = pcall(dofile, bin)
    assert.is_false(ok)
    assert.truthy(err:find("binary chunk refused", 1, true), err)
    write(dir .. "/t.lua", "return 4, ...")
    assert.are.equal(4, dofile(dir .. "/t.lua"))
    assert.are.equal(5, loadfile(dir .. "/t.lua", "t", {})(5) and select(2, loadfile(dir .. "/t.lua")(5)))
  end)

  it("a package.path that is not a string is a clean error", function()
    package.path = 5
    local ok, err = pcall(require, "no_such_module_here")
    assert.is_false(ok)
    assert.truthy(err:find("'package.path' must be a string", 1, true), err)
  end)

  it("a package.path with thousands of entries is searched without overflow", function()
    package.path = string.rep(dir .. "/?.x;", 5000) .. ";;"
    local ok, err = pcall(require, "no_such_module_here")
    assert.is_false(ok)
    assert.truthy(err:find("no file", 1, true))
    write(dir .. "/far_mod.lua", "return 9")
    package.path = string.rep(dir .. "/?.x;", 5000) .. dir .. "/?.lua"
    assert.are.equal(9, require("far_mod"))
    package.loaded.far_mod = nil
  end)

  it("searchers called directly with odd arguments fail cleanly", function()
    for i = 1, #package.searchers do
      local ok = pcall(package.searchers[i], {})
      assert.is_false(ok)
    end
  end)
end)

describe("log on the host", function()
  after_each(function() log.sink(nil) end)

  -- The Lua stack grows by doubling and is capped at 1,000,000 slots: with
  -- 600,000 arguments, copying them (as log did) overflowed it.
  it("formats 600000 arguments without copying them", function()
    local got
    log.sink(function(_, _, msg) got = msg end)
    local t = {}
    for i = 1, 600000 do t[i] = i % 10 end
    log.info(string.rep("%s", 600000), table.unpack(t))
    assert.are.equal(600000, #got)
  end)
end)
