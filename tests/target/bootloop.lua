-- An app that makes the board reset at every boot, each time another way
-- (checked by tests/target/bootloop-test): after power-on a panic, after
-- a panic a stall in C (the watchdog), after a watchdog reset a C stack
-- overflow. The board must give up after three and open the REPL. After
-- mps2.reset() it runs healthily past the healthy window, then panics:
-- that failure is not counted as a boot failure.
local mps2 = require("mps2")
local cause = mps2.reset_cause()
print(("app: boot after %s, failures %d"):format(cause, (mps2.boot_failures())))
if cause == "software" then
  task.sleep(10500)
  print(("app: healthy, failures %d"):format((mps2.boot_failures())))
  mps2.fault("panic")
elseif cause == "panic" then
  mps2.watchdog(300)
  -- Backtracking in C: neither the instruction budget nor the loop can stop it.
  print(("a"):rep(40):find(("a*"):rep(40) .. "b"))
elseif cause == "watchdog" then
  mps2.fault("stack")
else
  mps2.fault("panic")
end
