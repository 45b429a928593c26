-- LuaCheck configuration: Lua 5.4 plus the Lua OS core modules, which are
-- globals (opened on first use) in every app, spec and REPL.
std = "lua54"
read_globals = { "gpio", "spi", "task", "timer", "log", "sys" }
max_line_length = 110

files["tests/lua"] = { std = "+busted" }
files["tests/lua/portable"] = { std = "+busted" }
files["virtual-hw/boards"] = { std = "min" }
