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
        pid, fd = pty.fork()
        if pid == 0:
            os.environ["HOME"] = TMP
            os.execv(LUAOS, [LUAOS, "repl"])
        out = b""

        def read_until(token, timeout=5):
            nonlocal out
            end = time.time() + timeout
            while token not in out and time.time() < end:
                r, _, _ = select.select([fd], [], [], 0.1)
                if r:
                    try:
                        out += os.read(fd, 4096)
                    except OSError:
                        break
            return token in out

        self.assertTrue(read_until(b"> "))
        os.write(fd, b"21*3\x7f2\r")  # backspace edits the line
        self.assertTrue(read_until(b"42"))
        os.write(fd, b"\x04")  # ^D quits
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        with open(os.path.join(TMP, ".luaos_history")) as f:
            self.assertIn("21*2", f.read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
