-- A board file must reach no function: string methods (a backtracking
-- match runs in C, out of reach of the instruction budget), coercions.
local s = ("a"):rep(30)
return { name = s:match(("a*"):rep(30) .. "b") .. ("10" + 1), gpio = #s, parts = {} }
