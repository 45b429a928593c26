-- json: the strict RFC 8259 decoder (every rejection with its reason and
-- byte offset, depth and size limits) and the encoder (round trips,
-- arrays vs objects, values without a JSON form).
local json = require("json")

describe("json.decode", function()
  it("decodes every kind of value", function()
    local v = assert(json.decode(' {"a": [1, -2.5, 1e3, 2E-2, true, false, null], "s": "x\\u00e9\\n\\/"} '))
    assert.are.equal(1, v.a[1])
    assert.are.equal("integer", math.type(v.a[1]))
    assert.are.equal(-2.5, v.a[2])
    assert.are.equal(1000.0, v.a[3])
    assert.are.equal(0.02, v.a[4])
    assert.is_true(v.a[5])
    assert.is_false(v.a[6])
    assert.are.equal(json.null, v.a[7])
    assert.are.equal("xé\n/", v.s)
    assert.are.equal(3, json.decode("3"))
    assert.are.equal("", json.decode('""'))
    assert.are.equal("😀", json.decode('"\\ud83d\\ude00"'))
    assert.are.equal(9.2233720368547758e18, json.decode("9223372036854775808"))
    assert.are.equal(math.mininteger, json.decode("-9223372036854775808"))
  end)

  it("refuses what RFC 8259 does not allow, saying why and where", function()
    local cases = {
      {"", "value expected, got the end at byte 1"},
      {"01", "leading zero in number at byte 1"},
      {"1.", "digit expected after '.' at byte 2"},
      {".5", "unexpected character at byte 1"},
      {"1e", "digit expected in exponent at byte 2"},
      {"+1", "unexpected character at byte 1"},
      {"[1,]", "unexpected character at byte 4"},
      {"[1 2]", "',' or ']' expected at byte 4"},
      {'{"a":1,}', "string key expected at byte 8"},
      {"{a:1}", "string key expected at byte 2"},
      {'{"a" 1}', "':' expected at byte 6"},
      {'{"a":1,"a":2}', "duplicate key 'a' at byte 8"},
      {'"abc', "unterminated string at byte 1"},
      {'"a\tb"', "control character 0x09 in string (escape it) at byte 3"},
      {'"\\x"', "bad escape in string at byte 2"},
      {'"\\u12"', "bad \\u escape (4 hex digits expected) at byte 2"},
      {'"\\ud800"', "unpaired surrogate in \\u escape at byte 2"},
      {'"\\udc00"', "unpaired surrogate in \\u escape at byte 2"},
      {'"\xff"', "invalid UTF-8 in string at byte 2"},
      {'"\xc0\xaf"', "invalid UTF-8 in string at byte 2"},
      {"[1]x", "trailing characters after the value at byte 4"},
      {"tru", "unexpected character at byte 1"},
      {"NaN", "unexpected character at byte 1"},
      {"[", "value expected, got the end at byte 2"},
      {"[1", "unterminated array at byte 3"},
      {'{"a":1', "unterminated object at byte 7"},
      {"\v1", "unexpected character at byte 1"},
      {"1e999", "number out of range at byte 1"},
      {"\"\xff" .. ("\xa9"):rep(10) .. "\"", "invalid UTF-8 in string at byte 2"},
      {"-1e400", "number out of range at byte 1"},
    }
    for _, c in ipairs(cases) do
      local v, err = json.decode(c[1])
      assert.is_nil(v, c[1])
      assert.are.equal("json: " .. c[2], err, c[1])
    end
  end)

  it("limits nesting depth and text size", function()
    assert.truthy(json.decode(("["):rep(64) .. ("]"):rep(64)))
    assert.are.same({nil, "json: nesting deeper than 64 at byte 65"},
      {json.decode(("["):rep(65) .. ("]"):rep(65))})
    -- a hostile depth fails fast, it does not overflow a stack
    assert.is_nil(json.decode(("[{\"a\":"):rep(100000)))
    assert.are.same({nil, "json: nesting deeper than 3 at byte 4"},
      {json.decode("[[[[]]]]", {max_depth = 3})})
    assert.are.same({nil, "json: text of 9 bytes exceeds the limit of 8"},
      {json.decode('"1234567"', {max_size = 8})})
    assert.has_error(function() json.decode("1", {depth = 3}) end,
      "bad argument #2 to 'json.decode' (unknown option 'depth'; valid: max_depth, max_size)")
    assert.has_error(function() json.decode(42) end,
      "bad argument #1 to 'json.decode' (string expected, got number)")
  end)
end)

describe("json.encode", function()
  it("round-trips through decode", function()
    local text = '{"a":[1,2.5,true,false,null,"x\\n\\u0001\\"\\\\é"],"b":{},"c":[],"d":-0.1}'
    assert.are.equal(text, json.encode(json.decode(text)))
  end)

  it("encodes plain tables, sorted keys, marked arrays and objects", function()
    assert.are.equal('{"a":1,"b":[1,2,3]}', json.encode({b = {1, 2, 3}, a = 1}))
    assert.are.equal("{}", json.encode({}))
    assert.are.equal("[]", json.encode(json.array()))
    assert.are.equal("{}", json.encode(json.object({})))
    assert.are.equal("[null,2]", json.encode({json.null, 2}))
    assert.are.equal("0.1", json.encode(0.1))
    assert.are.equal("1e+300", json.encode(1e300))
    assert.are.equal(1 / 3, json.decode(json.encode(1 / 3)))
    assert.are.equal("9223372036854775807", json.encode(math.maxinteger))
  end)

  it("raises for values with no JSON form", function()
    local t = {}
    t.self = t
    assert.has_error(function() json.encode(t) end)
    local ok, err = pcall(json.encode, t)
    assert.is_false(ok)
    assert.truthy(err:find("cycle at $.self", 1, true))
    assert.truthy(select(2, pcall(json.encode, {1, nil, 3})):find("holes", 1, true))
    assert.truthy(select(2, pcall(json.encode, {1, x = 2})):find("mixes keys", 1, true))
    assert.truthy(select(2, pcall(json.encode, {f = print})):find("function at $.f", 1, true))
    assert.truthy(select(2, pcall(json.encode, 0 / 0)):find("no JSON form", 1, true))
    assert.truthy(select(2, pcall(json.encode, math.huge)):find("no JSON form", 1, true))
    assert.truthy(select(2, pcall(json.encode, "\xff")):find("invalid UTF-8", 1, true))
    assert.truthy(select(2, pcall(json.encode, {[true] = 1})):find("keys must be strings", 1, true))
  end)
end)
