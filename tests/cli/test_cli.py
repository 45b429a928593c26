#!/usr/bin/env python3
"""The luaos command line: help, argument errors, exit codes, board files,
--for/--virtual-time, --watch and the REPL (piped and on a pseudo-terminal)."""
import os
import pty
import select
import subprocess
import sys
import tempfile
import time
import unittest

LUAOS = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else "build/sim/luaos"
TMP = tempfile.mkdtemp(prefix="luaos-cli-")


def run(*args, stdin=None, timeout=30):
    return subprocess.run([LUAOS, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


class Pty:
    """A luaos command on a pseudo-terminal; `out` collects what it printed."""

    def __init__(self, *args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["HOME"] = TMP
            os.execv(LUAOS, [LUAOS, *args])
        self.out = b""

    def read_until(self, token, timeout=5):
        end = time.time() + timeout
        while token not in self.out and time.time() < end:
            r, _, _ = select.select([self.fd], [], [], 0.1)
            if r:
                try:
                    self.out += os.read(self.fd, 4096)
                except OSError:
                    break
        return token in self.out

    def write(self, data):
        os.write(self.fd, data)

    def exit_code(self):
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


class Help(unittest.TestCase):
    def test_help_everywhere(self):
        for cmd in ([], ["run"], ["repl"], ["test"]):
            r = run(*cmd, "--help")
            self.assertEqual(r.returncode, 0, cmd)
            self.assertIn("usage: luaos", r.stdout)

    def test_no_command(self):
        r = run()
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage", r.stderr)

    def test_bad_arguments(self):
        cases = [
            (["frobnicate"], "unknown command"),
            (["run"], "which app"),
            (["run", "x.lua", "--for"], "needs a duration"),
            (["run", "x.lua", "--for", "soon"], "needs a duration"),
            (["run", "x.lua", "--for", "0x10"], "needs a duration"),
            (["run", "x.lua", "--for", "1e3"], "needs a duration"),
            (["run", "x.lua", "--bogus"], "unknown option"),
            (["run", "x.lua", "--mem-limit", "lots"], "byte count"),
            # a size that overflows is refused, never "no cap" (issue 6)
            (["run", "x.lua", "--mem-limit", "18014398509481984k"], "byte count"),
            (["run", "x.lua", "--mem-limit", "99999999999999999999k"], "byte count"),
            (["run", "x.lua", "--mem-limit", "17179869184G"], "byte count"),
            (["repl", "--what"], "unknown option"),
            (["test", "-j", "0"], "positive number"),
        ]
        for args, msg in cases:
            r = run(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(msg, r.stderr, args)

    def test_version(self):
        r = run("version")
        self.assertEqual(r.returncode, 0)
        self.assertIn("Lua 5.4", r.stdout)


class Run(unittest.TestCase):
    def test_exit_zero_when_done(self):
        app = write("ok.lua", "task.spawn(function() task.sleep(20) print('late') end) print('first')")
        r = run("run", app)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["first", "late"])

    def test_uncaught_error_has_traceback(self):
        app = write("bad.lua", "local function f() error('boom') end\ntask.spawn(function() f() end)")
        r = run("run", app)
        self.assertEqual(r.returncode, 1)
        self.assertIn("boom", r.stderr)
        self.assertIn("stack traceback", r.stderr)
        self.assertIn("bad.lua:1", r.stderr)

    def test_syntax_error(self):
        app = write("syntax.lua", "x = = 1")
        r = run("run", app)
        self.assertEqual(r.returncode, 1)
        self.assertIn("syntax.lua:1", r.stderr)

    def test_missing_app(self):
        r = run("run", os.path.join(TMP, "nope.lua"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("nope.lua", r.stderr)

    def test_deadlock_is_reported(self):
        app = write("dead.lua", "task.wait('nothing')")
        r = run("run", app)
        self.assertEqual(r.returncode, 1)
        self.assertIn("nothing can deliver", r.stderr)

    def test_for_stops_a_forever_app_in_virtual_time(self):
        app = write("forever.lua", "local n = 0\nwhile true do task.sleep(1000) n = n + 1 print(n) end")
        t0 = time.time()
        r = run("run", app, "--virtual-time", "--for", "1h")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split()[-1], "3600")
        self.assertLess(time.time() - t0, 5)

    def test_for_in_real_time(self):
        app = write("rt.lua", "timer.every(100, function() print('t') end)")
        t0 = time.time()
        r = run("run", app, "--for", "350ms")
        dt = time.time() - t0
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout.split(), ["t", "t", "t"])
        self.assertGreaterEqual(dt, 0.3)

    def test_args_reach_the_app(self):
        app = write("args.lua", "print(select('#', ...), table.concat({...}, ','), arg[0] ~= nil)")
        r = run("run", app, "--", "a", "b")
        self.assertEqual(r.stdout.split(), ["2", "a,b", "true"])

    def test_mem_limit(self):
        app = write("hog.lua", "local t = {} for i = 1, 1e7 do t[i] = ('x'):rep(64) .. i end")
        r = run("run", app, "--mem-limit", "256k")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not enough memory", r.stderr)

    def test_modules_from_the_app_folder(self):
        write("helper_mod.lua", "return { hi = function() return 'hi from helper' end }")
        app = write("uses.lua", "print(require('helper_mod').hi())")
        r = run("run", app)
        self.assertEqual(r.stdout.strip(), "hi from helper")


class Boards(unittest.TestCase):
    def check_bad(self, text, msg):
        board = write("board.lua", text)
        app = write("noop.lua", "")
        r = run("run", app, "--board", board)
        self.assertEqual(r.returncode, 1, text)
        self.assertIn(msg, r.stderr, text)

    def test_bad_boards(self):
        self.check_bad("return 5", "must return a table")
        self.check_bad("return {parts = {{type = 'flux', name = 'x'}}}", "unknown part type 'flux'")
        self.check_bad("return {parts = {{type = 'led', name = 'a'}}}", "needs 'pin'")
        self.check_bad("return {parts = {{type = 'led', name = 'a', pin = 99}}}", "'pin' must be")
        self.check_bad("return {parts = {{type = 'led', name = 'a', pin = 1}, {type = 'led', name = 'a', pin = 2}}}",
                       "duplicate part name")
        self.check_bad("return {parts = {{type = 'loopback', name = 'a', bus = 0, cs = 1}, "
                       "{type = 'loopback', name = 'b', bus = 0, cs = 1}}}", "chip select taken")
        self.check_bad("while true do end", "takes too long")
        self.check_bad("return {", "board.lua")

    def test_unknown_board_name(self):
        r = run("run", write("noop2.lua", ""), "--board", "nosuchboard")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not found", r.stderr)

    def test_custom_board(self):
        board = write("mine.lua", "return {name = 'mine', gpio = 4, spi = 0, parts = {{type = 'led', name = 'RED', pin = 3}}}")
        app = write("b.lua", "gpio.mode('RED', 'out') gpio.write('RED', 1) print(sys.board(), require('sim').led('RED'), gpio.count())")
        r = run("run", app, "--board", board)
        self.assertEqual(r.stdout.split(), ["mine", "true", "4"])

    def test_boards_list(self):
        r = run("boards")
        self.assertIn("devkit", r.stdout)


class BoardSandbox(unittest.TestCase):
    """Board files reach no function and end in bounded time; strict keys."""

    def check_bad(self, text, msg, limit=10):
        board = write("sandbox_board.lua", text)
        app = write("noop3.lua", "")
        t0 = time.time()
        r = run("run", app, "--board", board, timeout=30)
        self.assertLess(time.time() - t0, limit, text)
        self.assertEqual(r.returncode, 1, text)
        self.assertIn(msg, r.stderr, text)
        self.assertNotIn("PANIC", r.stderr)

    def test_no_string_methods(self):
        # A backtracking pattern used to run in C, out of the budget's reach: a hang.
        self.check_bad("return {name = ('a'):rep(30):match(('a*'):rep(30)..'b'), parts = {}}",
                       "attempt to index a string value")
        self.check_bad("return {name = ('x'):rep(1e9), parts = {}}", "attempt to index a string value")
        self.check_bad("return {gpio = '10' + 6, parts = {}}", "arithmetic on a string value")

    def test_bounded_time(self):
        self.check_bad("local s = 'x' for _ = 1, 18 do s = s .. s end local n = 0 "
                       "while true do local t = s .. n n = n + 1 end", "takes too long at line 1")
        self.check_bad("local s = 'x' for _ = 1, 40 do s = s .. s end return {parts = {}}",
                       "not enough memory")

    def test_strict_keys_name_file_and_path(self):
        board = write("typo_board.lua", "return {parts = {{type = 'bme280', name = 'env', cs = 0, "
                      "tempreature = 20}}}")
        r = run("run", write("noop4.lua", ""), "--board", board)
        self.assertEqual(r.returncode, 1)
        self.assertIn("board file " + board + ": unknown key 'parts[1].tempreature'; "
                      "did you mean 'temperature'?", r.stderr)
        self.check_bad("return {gpio = '16', parts = {}}", "'gpio' must be a pin count 1..64 (got the string '16')")
        self.check_bad("return {parts = {{type = 'led', name = 'a', pin = 1, active_low = 'yes'}}}",
                       "'active_low' must be a number or boolean")

    def test_app_keeps_string_methods(self):
        board = write("plain_board.lua", "return {name = 'p' .. #'ab', parts = {}}")
        app = write("strs.lua", "print(('x'):rep(3), '10' + 1, sys.board())")
        r = run("run", app, "--board", board)
        self.assertEqual(r.stdout.split(), ["xxx", "11", "p2"], r.stderr)


class ClosedStdFds(unittest.TestCase):
    """Started with 0, 1 or 2 closed, the app's files never get the console or the log."""

    def test_closed_fds_are_held_on_dev_null(self):
        app = write("fdapp.lua", "local f = assert(io.open(arg[1], 'w'))\n"
                    "print('to stdout') log.info('to the log') io.stderr:write('to stderr\\n')\n"
                    "f:write('data') f:close()\n")
        out = os.path.join(TMP, "fd_out.txt")
        for redir in (">&-", "2>&-", "<&-", "<&- >&- 2>&-"):
            if os.path.exists(out):
                os.remove(out)
            r = subprocess.run(["sh", "-c", 'exec "$0" run "$1" -- "$2" ' + redir, LUAOS, app, out],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, (redir, r.stderr))
            with open(out) as f:
                self.assertEqual(f.read(), "data", redir)


class RunHardening(unittest.TestCase):
    """luaos run with hostile inputs: many arguments, bytecode, odd board paths, tiny heaps."""

    def test_thousands_of_app_arguments(self):
        app = write("nargs.lua", "print(select('#', ...), (select(5000, ...)), #arg) task.sleep(1) print('ok')")
        r = run("run", app, "--", *[str(i) for i in range(1, 5001)])
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertEqual(r.stdout.split(), ["5000", "5000", "5000", "ok"])
        r = run("run", app, "--", *[str(i) for i in range(1, 17)])  # the direct path
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])

    def test_app_must_be_source_text(self):
        # A binary chunk is not verified by Lua: a patched one corrupts memory.
        path = os.path.join(TMP, "app.luac")
        with open(path, "wb") as f:
            f.write(b"\x1bLua\x54\x00\x19\x93\r\n\x1a\n\x04\x08\x08xV\x00\x00\x00")
        r = run("run", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("app.luac: attempt to load a binary chunk (mode is 't')", r.stderr)

    def test_board_must_be_a_regular_file(self):
        for path in ("/dev/zero", TMP + "/"):
            r = run("run", write("noop5.lua", ""), "--board", path, timeout=10)
            self.assertEqual(r.returncode, 1, path)
            self.assertIn("is not a regular file", r.stderr)

    def test_tiny_heaps_fail_with_a_message(self):
        app = write("small.lua", "print('ran')")
        for limit in ("1", "4k", "8k", "12k", "16k", "64k"):
            r = run("run", app, "--mem-limit", limit)
            self.assertNotIn("PANIC", r.stderr, limit)
            self.assertIn(r.returncode, (0, 1), limit)
            if r.returncode:
                self.assertTrue("not enough memory" in r.stderr or "--mem-limit too small" in r.stderr,
                                (limit, r.stderr))
            else:
                self.assertEqual(r.stdout, "ran\n", limit)


class Watch(unittest.TestCase):
    def test_watch_reloads_a_changed_module(self):
        mod = write("watched.lua", "return { v = function() return 1 end, _VERSION = '1' }")
        app = write("watcher.lua", "local m = require('watched')\n"
                    "for _ = 1, 30 do print('v', m.v()) task.sleep(100) end")
        p = subprocess.Popen([LUAOS, "run", app, "--watch", "--for", "2900ms"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(0.8)
        with open(mod, "w") as f:
            f.write("return { v = function() return 2 end, _VERSION = '2' }")
        os.utime(mod, (time.time() + 5, time.time() + 5))
        time.sleep(0.5)
        with open(mod, "w") as f:
            f.write("return { v = function() return 3 end,, }")
        os.utime(mod, (time.time() + 10, time.time() + 10))
        time.sleep(0.5)
        with open(mod, "w") as f:
            f.write("return { v = function() return 3 end, migrate = function() error('nope') end }")
        os.utime(mod, (time.time() + 15, time.time() + 15))
        out, err = p.communicate(timeout=20)
        vals = [l.split()[1] for l in out.splitlines() if l.startswith("v")]
        self.assertEqual(vals[0], "1")
        self.assertEqual(vals[-1], "2")
        self.assertIn("reloaded watched", err)
        self.assertIn("reload of watched failed", err)
        self.assertIn("unexpected symbol", err)  # the syntax error is reported
        self.assertIn("nope", err)  # and the failing migrate
        self.assertNotIn("PANIC", err)


class Repl(unittest.TestCase):
    def test_piped_repl(self):
        r = run("repl", stdin="1+1\nx = 20\n=x*2\nfor i = 1, 2 do\nprint('i', i)\nend\n"
                "print(undefined_fn())\nreturn 'still alive'\n")
        self.assertEqual(r.returncode, 0)
        out = r.stdout
        self.assertIn("2\n", out)
        self.assertIn("40\n", out)
        self.assertIn("i\t1\n", out)
        self.assertIn("i\t2\n", out)
        self.assertIn("attempt to call a nil value", out)
        self.assertIn("still alive", out)

    def test_scheduler_runs_at_the_prompt(self):
        p = subprocess.Popen([LUAOS, "repl"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        p.stdin.write("timer.every(50, function() print('tick') end)\n")
        p.stdin.flush()
        time.sleep(0.6)  # no input: the timer must still fire
        p.stdin.write("task.sleep(100) print('slept')\n")
        p.stdin.flush()
        time.sleep(0.3)
        p.stdin.close()
        # the timer keeps the REPL's loop alive after end of input: stop it
        time.sleep(0.2)
        p.terminate()
        out = p.stdout.read()
        p.wait(timeout=10)
        p.stdout.close()
        p.stderr.close()
        self.assertGreaterEqual(out.count("tick"), 8)
        self.assertIn("slept", out)

    def test_tty_repl_with_line_editing(self):
        p = Pty("repl")
        self.assertTrue(p.read_until(b"> "))
        p.write(b"21*3\x7f2\r")  # backspace edits the line
        self.assertTrue(p.read_until(b"42"))
        p.write(b"\x04")  # ^D quits
        self.assertEqual(p.exit_code(), 0)
        with open(os.path.join(TMP, ".luaos_history")) as f:
            self.assertIn("21*2", f.read())


class Signals(unittest.TestCase):
    """SIGINT/SIGTERM for luaos run, Ctrl-C at the REPL, the task budget."""

    def signal_run(self, body, sig):
        app = write("sig_app.lua", 'print("started")\nio.write("buffered")\n' + body)
        p = subprocess.Popen([LUAOS, "run", app], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline()  # the app runs
        self.assertEqual(line, "started\n")
        time.sleep(0.3)
        p.send_signal(sig)
        out, err = p.communicate(timeout=10)
        return p.returncode, out, err

    def test_sigint_interrupts_busy_and_sleeping_apps(self):
        import signal
        for body in ("while true do end\n", "while true do task.sleep(100) end\n"):
            rc, out, err = self.signal_run(body, signal.SIGINT)
            self.assertEqual(rc, 130, body)
            self.assertIn("buffered", out, body)  # output flushed
            self.assertIn("luaos: task 1: ", err, body)
            self.assertIn("interrupted", err, body)
            self.assertIn("stack traceback", err, body)

    def test_sigterm_exits_143(self):
        import signal
        for body in ("while true do end\n", "while true do task.sleep(100) end\n"):
            rc, out, _ = self.signal_run(body, signal.SIGTERM)
            self.assertEqual(rc, 143, body)
            self.assertIn("buffered", out, body)

    def test_second_sigint_exits_at_once(self):
        import signal
        # the app catches the first interrupt and goes on spinning
        app = write("sig_twice.lua", 'print("started")\n'
                    "while true do pcall(function() while true do end end) end\n")
        p = subprocess.Popen([LUAOS, "run", app, "--task-budget", "0"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.assertEqual(p.stdout.readline(), "started\n")
        time.sleep(0.3)  # in the inner loop, where pcall catches it
        p.send_signal(signal.SIGINT)
        time.sleep(0.3)
        self.assertIsNone(p.poll())  # caught by the app's pcall
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=10)
        self.assertEqual(p.returncode, 130)

    def test_task_budget_stops_a_runaway_task(self):
        app = write("runaway.lua", "task.spawn(function()\n  while true do end\nend)\n")
        r = run("run", app, "--task-budget", "1000000", timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"task 2 \(.*runaway\.lua:2\): exceeded its instruction "
                         r"budget of 1000000 without yielding")
        r = run("run", app, "--task-budget", "12")
        self.assertEqual(r.returncode, 2)
        self.assertIn("instruction count", r.stderr)

    def test_ctrl_c_at_the_repl(self):
        p = Pty("repl", "--task-budget", "0")
        self.assertTrue(p.read_until(b"> "))
        p.write(b"kept = 41\r")
        self.assertTrue(p.read_until(b"> ", 5))
        p.out = b""
        p.write(b"while true do end\r")
        time.sleep(0.5)
        p.write(b"\x03")  # Ctrl-C interrupts the running line
        self.assertTrue(p.read_until(b"interrupted"), p.out)
        self.assertTrue(p.read_until(b"> "))
        p.out = b""
        p.write(b"task.sleep(100000)\r")
        time.sleep(0.3)
        p.write(b"\x03")  # ... and a sleeping one
        self.assertTrue(p.read_until(b"interrupted"), p.out)
        p.out = b""
        p.write(b"for i = 1, 2 do\r")  # an unfinished chunk ...
        self.assertTrue(p.read_until(b">> "))
        p.write(b"\x03")  # ... is dropped by Ctrl-C
        time.sleep(0.2)
        p.write(b"half typed")
        time.sleep(0.2)
        p.write(b"\x03")  # at the prompt: clears the line
        time.sleep(0.2)
        p.write(b"kept + 1\r")
        self.assertTrue(p.read_until(b"42"), p.out)
        self.assertNotIn(b"half typedkept", p.out)
        p.write(b"\x04")
        self.assertEqual(p.exit_code(), 0)


# ---- luaos test (testcmd area) ----

class TestCommand(unittest.TestCase):
    def spec_dir(self, name, files):
        d = os.path.join(TMP, name)
        os.makedirs(d, exist_ok=True)
        for fname, text in files.items():
            with open(os.path.join(d, fname), "w") as f:
                f.write(text)
        return d

    def test_no_spec_files(self):
        empty = self.spec_dir("nospecs", {"helper.lua": "return 1\n"})
        r = run("test", empty)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no spec files found in " + empty, r.stderr)
        r = run("test", os.path.join(TMP, "does-not-exist"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("does-not-exist", r.stderr)

    def test_board_per_spec_file(self):
        d = self.spec_dir("boards", {
            "tiny.lua": 'return { name = "tiny", gpio = 4, parts = { { type = "led", name = "LAMP", pin = 3 } } }\n',
            "tiny_spec.lua": "-- luaos: board=tiny.lua\n"
                             'it("runs on tiny", function() assert.are.equal("tiny", sys.board())\n'
                             '  assert.are.equal(3, gpio.pin("LAMP")) end)\n',
            "named_spec.lua": "-- luaos: board=devkit\n"
                              'it("runs on devkit", function() assert.are.equal("devkit", sys.board()) end)\n',
            "plain_spec.lua": 'it("default board", function() assert.are.equal("devkit", sys.board()) end)\n',
        })
        r = run("test", d)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("3 spec file(s), 3 passed", r.stdout)
        # spec from another working directory: the board file is relative to the spec
        r = subprocess.run([LUAOS, "test", os.path.join(d, "tiny_spec.lua")], cwd="/",
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_bad_board_directives(self):
        cases = {
            "-- luaos: board=devkt": "unknown board 'devkt'; did you mean 'devkit'?",
            "-- luaos: bord=devkit": "unknown directive 'bord'; did you mean 'board'?",
            "-- luaos: board=missing.lua": "board file 'missing.lua' not found",
            "-- luaos: board": "expected key=value",
        }
        for i, (line, msg) in enumerate(cases.items()):
            d = self.spec_dir("baddir%d" % i, {"x_spec.lua": line + '\nit("never", function() end)\n'})
            r = run("test", d)
            self.assertEqual(r.returncode, 1, line)
            self.assertIn("x_spec.lua:1: " + msg, r.stderr, line)
            self.assertIn("0 passed, 1 failed", r.stdout, line)

    def test_log_shown_only_for_failing_tests(self):
        d = self.spec_dir("logcap", {"log_spec.lua": """
describe("capture", function()
  it("passes", function() log.info("line of a passing test") end)
  it("fails", function()
    log.tag("app").warn("before failing %d", 42)
    task.spawn(function() log.error("from a task") end):join()
    assert.are.equal(1, 2)
  end)
  it("own sink still works", function()
    local got = {}
    log.sink(function(_, _, m) got[#got + 1] = m end)
    log.info("to my sink")
    log.sink(nil)
    assert.are.same({"to my sink"}, got)
    assert.has_error(function() log.sink(42) end)
  end)
end)
"""})
        for extra in ([], ["-o", "TAP"]):
            r = run("test", d, *extra)
            self.assertEqual(r.returncode, 1)
            self.assertNotIn("line of a passing test", r.stdout + r.stderr)
            self.assertNotIn("to my sink", r.stdout + r.stderr)
            self.assertIn("log output of this test (2 lines)", r.stdout)
            self.assertIn("W app: before failing 42", r.stdout)
            self.assertIn("E from a task", r.stdout)
            # the captured lines come after the failure's message
            self.assertLess(r.stdout.index("Expected objects"), r.stdout.index("before failing"))
        for args, env in ((["-v"], None), ([], {"LUAOS_TEST_VERBOSE": "1"})):
            r = subprocess.run([LUAOS, "test", d, *args], capture_output=True, text=True, timeout=30,
                               env=dict(os.environ, **(env or {})))
            self.assertEqual(r.returncode, 1)
            self.assertIn("line of a passing test", r.stdout)

    def test_gpio_trace_records_once_sim_is_loaded(self):
        app = write("trace_app.lua", """
gpio.mode("LED0", "out")
gpio.write("LED0", 1)            -- before anyone can read the trace: not recorded
local sim = require("sim")
gpio.write("LED0", 0); gpio.write("LED0", 1)
local n = 0
for _, e in ipairs(sim.gpio_trace()) do if e.pin == gpio.pin("LED0") then n = n + 1 end end
print(n, sim.led("LED0"), sim.part("LED0"):get("changes"))
""")
        r = run("run", app)
        self.assertEqual(r.returncode, 0, r.stderr)
        # the LED model still saw all three changes
        self.assertEqual(r.stdout.split(), ["2", "true", "3.0"])

    def test_captured_log_keeps_the_last_lines(self):
        d = self.spec_dir("logcap_many", {"many_spec.lua": """
it("logs a lot, then fails", function()
  for i = 1, 600 do log.info("line %d", i) end
  assert.is_true(false)
end)
"""})
        r = run("test", d)
        self.assertEqual(r.returncode, 1)
        self.assertIn("log output of this test (600 lines)", r.stdout)
        self.assertIn("(100 earlier lines dropped)", r.stdout)
        self.assertNotIn("line 100\n", r.stdout)
        self.assertIn("line 101\n", r.stdout)
        self.assertIn("line 600", r.stdout)
        # the spec's process failed, it did not crash while exiting
        self.assertNotIn("crashed", r.stderr)
        self.assertNotIn("Sanitizer", r.stderr)

    def test_log_of_a_test_ended_by_a_task_error(self):
        d = self.spec_dir("logtaskerr", {"t_spec.lua": """
it("a task fails", function()
  log.info("context before the crash")
  task.spawn(function() error("task blew up") end)
  task.sleep(10)
end)
"""})
        r = run("test", d)
        self.assertEqual(r.returncode, 1)
        self.assertIn("task blew up", r.stderr)
        self.assertIn("context before the crash", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
