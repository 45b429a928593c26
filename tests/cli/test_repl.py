#!/usr/bin/env python3
"""The REPL core (shared/repl.c, the same code as on the board): the line
reader, printed results, help(), and on a pseudo-terminal tab completion
and background output. Piped input goes through repl_feed byte by byte,
exactly as the board's UART does."""
import os
import pty
import re
import select
import subprocess
import sys
import tempfile
import time
import unittest

LUAOS = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else "build/sim/luaos"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TMP = tempfile.mkdtemp(prefix="luaos-repl-")
INPUT_MAX = 1024 * 1024  # REPL_INPUT_MAX on the host


def repl(stdin, timeout=30):
    r = subprocess.run([LUAOS, "repl"], input=stdin, capture_output=True, text=True,
                       timeout=timeout, cwd=ROOT)
    return r


def results(stdin):
    """The lines the REPL printed, prompts removed."""
    r = repl(stdin)
    assert r.returncode == 0, r.stderr
    assert "PANIC" not in r.stderr, r.stderr
    out = re.sub(r"(>>? )+", "", r.stdout)
    return [l for l in out.split("\n") if l]


class LineReader(unittest.TestCase):
    def test_last_line_without_newline_runs(self):
        self.assertEqual(results("print(1)"), ["1"])
        self.assertEqual(results("x = 2\nprint(x * 21)"), ["42"])

    def test_long_lines_arrive_whole(self):
        for n in (255, 256, 300, 5000, 200000):
            s = "x" * n
            self.assertEqual(results('=#"%s"\n' % s), [str(n)], n)

    def test_too_long_line_is_an_error_not_a_truncation(self):
        out = results('=#"%s"\nprint("after")\n' % ("y" * (INPUT_MAX + 10)))
        self.assertEqual(out, ["stdin: line too long (max %d bytes), dropped" % INPUT_MAX, "after"])

    def test_pending_chunk_is_bounded(self):
        line = "-- " + "z" * 99997 + "\n"
        text = "do\n" + line * (INPUT_MAX // len(line) + 2) + "end\nprint('after')\n"
        out = results(text)
        self.assertIn("stdin: chunk too long (max %d bytes), dropped" % INPUT_MAX, out)
        self.assertEqual(out[-1], "after")

    def test_multi_line_chunks_join(self):
        out = results("t = {\n1,\n2}\nprint(#t)\nfunction f(a,\nb)\nreturn a +\nb\nend\n=f(3, 4)\n")
        self.assertEqual(out, ["2", "7"])

    def test_incomplete_chunk_at_end_of_input_is_reported(self):
        out = results("for i = 1, 2 do\nprint(i)\n")
        self.assertEqual(out, ["1"] * 0 + ["stdin:3: 'end' expected (to close 'for' at line 1) near <eof>"])

    def test_crlf_line_ends(self):
        r = repl("x = 5\r\nfor i = 1, 2 do\r\nx = x + i\r\nend\r\n=x\r\n")
        # one prompt per line: no empty line between CR and LF
        self.assertEqual(r.stdout, "> > >> >> > 8\n> ")

    def test_a_command_cancelled_from_another_task_does_not_hang(self):
        out = results("local t = task.current() task.spawn(function() t:cancel() end) task.sleep(10)\n"
                      "print('alive')\n")
        self.assertEqual(out, ["stdin: the command's task ended without finishing (cancelled)", "alive"])

    def test_control_bytes_edit_the_line(self):
        self.assertEqual(results("=1+\x7f2\n=3\x15=4\n"), ["12", "4"])


class Results(unittest.TestCase):
    def check(self, expr, want):
        self.assertEqual(results("=" + expr + "\n"), [want], expr)

    def test_tables_print_readably(self):
        self.check("{1, 2, 3}", "{1, 2, 3}")
        self.check("{a = 1, b = {c = true}}", "{a = 1, b = {c = true}}")
        self.check("{}", "{}")
        self.check('{"x", y = "a\\"b\\n\\0"}', '{"x", y = "a\\"b\\n\\000"}')
        self.check('{[1.5] = 1, ["a b"] = 2, [true] = 3, [-1] = 4, zz = 5, _a = 6, ["end"] = 7}',
                   '{[-1] = 4, [1.5] = 1, _a = 6, ["a b"] = 2, ["end"] = 7, zz = 5, [true] = 3}')
        self.check("{1, 2, nil, 4}", "{1, 2, [4] = 4}")

    def test_depth_and_size_limits(self):
        self.check("{a = {b = {c = {d = 1}}}}", "{a = {b = {c = {...}}}}")
        out = results("={}\n=(function() local t = {} for i = 1, 100 do t[i] = i end return t end)()\n")
        self.assertEqual(out[0], "{}")
        self.assertTrue(out[1].startswith("{1, 2, 3,"), out[1])
        self.assertTrue(out[1].endswith(", 40, ...}"), out[1])
        # a wide and deep value stays bounded as a whole
        out = results("t = {} for i = 1, 40 do t[i] = {} for j = 1, 40 do t[i][j] = {j} end end\n=t\n")
        self.assertLess(len(out[0]), 3000)
        self.assertTrue(out[0].endswith("...}"))
        self.check('{s = string.rep("a", 100)}', '{s = "%s"...(100 bytes)}' % ("a" * 70))

    def test_cycles_are_shown(self):
        out = results("t = {name = 'x'} t.self = t\n=t\nu = {} v = {u, u}\n=v\n")
        self.assertEqual(out, ['{name = "x", self = <cycle>}', "{{}, {}}"])

    def test_odd_keys_and_values(self):
        out = results("=({0/0, -0.0, math.huge, math.mininteger, [math.huge] = 1, [io.stdout] = 2, "
                      "[print] = 3, [{}] = 4, [-0.5] = 5, [false] = 6})\n"
                      "t = {} for i = 1, 10000 do t = {t} end\n=t\n"
                      "k = {} for i = 1, 1000 do k['k' .. i] = i end\n=k\n")
        self.assertRegex(out[0], r"^\{-?nan, -0\.0, inf, -9223372036854775808, \[-0\.5\] = 5, \[inf\] = 1, "
                         r"\[false\] = 6, .*\}$")
        for part in (r"\[FILE\*: 0x[0-9a-f]+\] = 2", r"\[function: (builtin: )?0x[0-9a-f]+\] = 3",
                     r"\[table: 0x[0-9a-f]+\] = 4"):
            self.assertRegex(out[0], part)
        self.assertEqual(out[1], "{{{{...}}}}")
        self.assertEqual(out[2].count(" = "), 40)  # unsorted beyond 64 keys, still bounded
        self.assertTrue(out[2].endswith(", ...}"))

    def test_top_level_strings_are_not_quoted(self):
        self.assertEqual(results('="a\\tb", 1, nil, 2.5\n'), ["a\tb\t1\tnil\t2.5"])

    def test_metamethods(self):
        out = results(
            'P = setmetatable({}, {__tostring = function() return "<P>" end})\n'
            '=P, {P}\n'
            '=setmetatable({}, {__tostring = function() error("boom") end})\n'
            '=setmetatable({}, {__tostring = function() return 42 end})\n'
            '=setmetatable({}, {__name = "Thing"})\n'
            '=setmetatable({1}, {__pairs = function() error("no") end, __index = function() error("no") end})\n'
            '=setmetatable({}, {__tostring = function() coroutine.yield() end})\n'
            'print("alive")\n')
        self.assertEqual(out[0], "<P>\t{<P>}")
        self.assertRegex(out[1], r"^<__tostring error: stdin:\d+: boom>$")
        self.assertEqual(out[2], "<__tostring returned a number>")
        self.assertRegex(out[3], r"^Thing: 0x[0-9a-f]+$")
        self.assertEqual(out[4], "{1}")
        self.assertRegex(out[5], r"^<__tostring error: .*yield")
        self.assertEqual(out[6], "alive")

    def test_other_values(self):
        out = results("=print, coroutine.create(print), io.stdout\n")
        self.assertRegex(out[0], r"^(function: builtin: |function: )0x[0-9a-f]+\tthread: 0x[0-9a-f]+\t"
                         r"file \(0x[0-9a-f]+\)$")

    def test_error_values_never_raise(self):
        out = results('error({code = 7}, 0)\nerror(setmetatable({}, {__tostring = function() error("x") end}))\n'
                      'print("alive")\n')
        self.assertEqual(out[0], "(error object is a table value)")
        self.assertEqual(out[-1], "alive")

    def test_many_results(self):
        out = results("=table.unpack((function() local t = {} for i = 1, 5000 do t[i] = i end return t end)())\n")
        vals = out[0].split("\t")
        self.assertEqual(len(vals), 5000)
        self.assertEqual(vals[-1], "5000")

    def test_out_of_memory_at_the_prompt_does_not_abort(self):
        def run(text):
            r = subprocess.run([LUAOS, "repl", "--mem-limit", "300K"], capture_output=True,
                               text=True, timeout=30, cwd=ROOT, input=text)
            self.assertNotIn("PANIC", r.stderr)
            self.assertEqual(r.returncode, 0)
            self.assertTrue(r.stdout.endswith("alive\n> "), r.stdout[-300:])
            return r.stdout
        # a table too big to build, then to print
        self.assertIn("not enough memory", run(
            "big = {} for i = 1, 1e6 do big[i] = {i} end\nbig = nil collectgarbage()\nprint('alive')\n"))
        # a line the heap cannot hold (repl_feed), and one it can hold but not compile
        self.assertIn("stdin: line dropped: not enough memory\n",
                      run('=#"%s"\nprint("alive")\n' % ("a" * 400000)))
        self.assertIn("stdin: not enough memory\n",
                      run('x = "%s"\nprint("alive")\n' % ("a" * 100000)))

class Help(unittest.TestCase):
    def test_help_lists_modules(self):
        out = results("help()\n")
        self.assertTrue(out[0].startswith("Modules"), out)
        names = [l.split()[0] for l in out[1:] if l.startswith("  ")]
        for m in ("gpio", "spi", "task", "timer", "log", "sys", "sim", "bme280", "lis3dh"):
            self.assertIn(m, names)
        self.assertNotIn("help", names)
        self.assertTrue(all(n.split(".")[0] != "testing" for n in names))

    def test_help_of_a_module(self):
        for arg in ("gpio", '"gpio"'):
            out = results("help(%s)\n" % arg)
            self.assertTrue(out[0].startswith("gpio — "), out)
            sigs = [l.split("  ")[1] if l.startswith("  ") else l for l in out[1:]]
            self.assertIn("gpio.write(pin, level)", [l.strip().split("  ")[0] for l in out[1:]])
            self.assertEqual(len(out), 11, out)

    def test_fields_without_entry_are_listed_by_name(self):
        out = results("gpio.extra_thing = 1\nhelp(gpio)\nhelp(string)\n")
        self.assertIn("  gpio.extra_thing", out)
        self.assertIn("  string.format()", out)

    def test_help_errors_are_clear(self):
        self.assertEqual(results('help("nope")\n'), ["help: no module 'nope'; help() lists them"])
        self.assertEqual(results('help("gpoi")\n'), ["help: no module 'gpoi'; did you mean 'gpio'?"])
        self.assertEqual(results("help(1)\n"),
                         ['help: give a module or its name, e.g. help(gpio) or help("gpio")'])

    def test_help_is_a_repl_global_only(self):
        app = os.path.join(TMP, "app.lua")
        with open(app, "w") as f:
            f.write("print(rawget(_G, 'help'))\n")
        r = subprocess.run([LUAOS, "run", app], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout.strip(), "nil")

    def test_help_matches_the_docs(self):
        """Every function heading of a module page is in the help data."""
        script = os.path.join(TMP, "sigs.lua")
        with open(script, "w") as f:
            f.write('for name, d in pairs(require("help").DOCS) do\n'
                    '  for i = 2, #d, 2 do print(name .. "\\t" .. d[i]) end\n'
                    'end\n')
        r = subprocess.run([LUAOS, "run", script], capture_output=True, text=True, timeout=30, cwd=ROOT)
        have = {}
        for line in r.stdout.splitlines():
            name, sig = line.split("\t", 1)
            have.setdefault(name, set()).add(sig.split("(")[0])
        missing = []
        for name in have:
            path = os.path.join(ROOT, "docs", name + ".md")
            with open(path) as f:
                for m in re.finditer(r"^#+ .*?`((?:%s\.|[a-z]+:)[\w]+)\(" % name, f.read(), re.M):
                    if m.group(1) not in have[name]:
                        missing.append("%s: %s" % (name, m.group(1)))
        self.assertEqual(missing, [])


class Terminal(unittest.TestCase):
    """luaos repl on a pseudo-terminal (GNU readline)."""

    def setUp(self):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["HOME"] = TMP
            os.environ["TERM"] = "xterm"
            os.chdir(ROOT)
            os.execv(LUAOS, [LUAOS, "repl"])
        self.out = b""
        self.assertTrue(self.read_until(b"> "))

    def tearDown(self):
        os.write(self.fd, b"\x15\x04")
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)

    def read_until(self, token, timeout=5):
        end = time.time() + timeout
        while time.time() < end:
            if (re.search(token, self.out) if isinstance(token, re.Pattern) else token in self.out):
                return True
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    self.out += os.read(self.fd, 65536)
                except OSError:
                    break
        return False

    def send(self, data):
        os.write(self.fd, data)

    def run_line(self, typed, want):
        """Type a line; `want` is the output line it must print (None: any)."""
        self.out = b""
        self.send(typed)
        if want is not None:
            want = re.compile(rb"\n(?:\x1b\[\?2004[hl]|\r)*" + re.escape(want) + rb"\r\n")
            self.assertTrue(self.read_until(want), (typed, self.out))
        # the prompt after the line's output, not a redraw of the line being typed
        self.assertTrue(self.read_until(re.compile(rb"\n(?:\x1b\[\?2004[hl]|\r)*> ")), (typed, self.out))

    def test_completes_globals_fields_and_methods(self):
        # gpio is not loaded yet (a lazy global): "gpi" -> "gpio.", "re" -> "read("
        self.run_line(b"=gpi\tre\t'LED0')\r", b"0")
        # a standard library not opened yet
        self.run_line(b"=math.flo\t2.5)\r", b"2")
        self.run_line(b"ch = task.channel()\r", None)
        self.run_line(b"=ch:se\t1)\r", b"true")
        self.run_line(b"=sys.mem\t).used > 0\r", b"true")
        self.run_line(b"t = {alpha = {beta = {gamma = 5}}}\r", None)
        self.run_line(b"=t.al\tbe\tga\t\r", b"5")
        # a global of the app, and a keyword
        self.run_line(b"my_long_name = 3\r", None)
        self.run_line(b"=my_lo\t\r", b"3")
        self.run_line(b"loc\tz = 4 ret\tz\r", b"4")
        # __index functions are never called: no candidates, no side effect
        self.run_line(b"x = setmetatable({}, {__index = function() print('ran') end})\r", None)
        self.out = b""
        self.send(b"x.a\t\t\x15\r")
        self.assertTrue(self.read_until(b"> "))
        time.sleep(0.2)
        # an output line "ran", not the echo of the line that defined x
        self.assertIsNone(re.search(rb"\nran\r?\n", self.out), self.out)

    def test_background_output_keeps_the_typed_line(self):
        self.send(b"timer.every(100, function() print('tick') end)\r")
        self.assertTrue(self.read_until(b"> "))
        self.out = b""
        self.send(b"abc")
        self.assertTrue(self.read_until(b"tick"))
        self.out = b""
        # after the next tick the prompt and the typed text are shown again
        self.assertTrue(self.read_until(re.compile(rb"tick\r?\n(\x1b\[[0-9;]*[A-Za-z]|\r)*> abc")), self.out)
        self.send(b"\x15")


if __name__ == "__main__":
    unittest.main(verbosity=2)
