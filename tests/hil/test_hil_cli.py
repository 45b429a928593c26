#!/usr/bin/env python3
"""`luaos hil list|check` and the HIL keys of board files (docs/hil.md):
messages for hostile board files, wiring checks through the emulator."""
import os
import subprocess
import sys
import tempfile
import unittest

LUAOS = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else "build/sim/luaos"
TMP = tempfile.mkdtemp(prefix="luaos-hil-")
APP = os.path.join(TMP, "app.lua")
with open(APP, "w") as f:
    f.write("print('ran')\n")


def run(*args, timeout=30):
    return subprocess.run([LUAOS, *args], capture_output=True, text=True, timeout=timeout)


def board(text):
    path = os.path.join(TMP, "b%d.lua" % abs(hash(text)))
    with open(path, "w") as f:
        f.write(text)
    return path


class HilCli(unittest.TestCase):
    def test_list(self):
        r = run("hil", "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("emu://ft232h", r.stdout)
        # this machine has no adapter; a developer's shows its URL
        self.assertTrue("no FTDI adapters attached" in r.stdout or "ftdi://" in r.stdout)

    def test_usage(self):
        self.assertEqual(run("hil").returncode, 2)
        r = run("hil", "frob")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown subcommand 'frob' (list, check)", r.stderr)
        self.assertIn("which board?", run("hil", "check").stderr)
        self.assertEqual(run("hil", "--help").returncode, 0)

    def test_check_emulated(self):
        r = run("hil", "check", "hil-emu")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("emu://ft232h (FT232H, emulated): open", r.stdout)
        self.assertIn("env      (bme280): id 0x60 ok", r.stdout)
        self.assertIn("accel    (lis3dh): id 0x33 ok", r.stdout)
        self.assertIn("lcd      (ili9341): id 0x41 ok", r.stdout)  # RDID4, D/C on ADBUS7

    def test_check_finds_bad_wiring(self):
        # explicit chip selects; then an adapter that refuses, and one not attached
        b = board('local A = "emu://ft232h"\n'
                  'return { spi = { [0] = { ftdi = A, cs = { [0] = "ADBUS3", [1] = "ADBUS4" } } },'
                  ' parts = { { type = "bme280", name = "env", bus = 0, cs = 0 } } }\n')
        self.assertEqual(run("hil", "check", b).returncode, 0)
        b = board('return { spi = { [0] = { ftdi = "emu://ft232h?fault=permission" } },'
                  ' parts = { { type = "bme280", name = "env", bus = 0, cs = 0 } } }\n')
        r = run("hil", "check", b)
        self.assertEqual(r.returncode, 1)
        self.assertIn("permission denied", r.stdout)
        r = run("hil", "check", "devkit")
        self.assertEqual(r.returncode, 1)
        self.assertIn("board devkit has no FTDI adapter: nothing to check", r.stdout)
        r = run("hil", "check", "nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn("board 'nope' not found", r.stderr)
        r = run("hil", "check", "hil")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no adapter 0403:6014 attached", r.stdout)

    def test_skip_message(self):
        r = run("test", "--board", "hil", "tests/lua/sim/lis3dh_spec.lua")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("skipped: FTDI adapter ftdi://0403:6014/1: no adapter 0403:6014 attached",
                      r.stdout)
        self.assertIn("1 skipped (no adapter)", r.stdout)

    def test_board_file_errors(self):
        cases = [
            ('{ [0] = { ftdi = "usb://x" } }', None,
             "spi[0]: adapter URL 'usb://x' must start with ftdi://"),
            ('{ [0] = { ftdi = "ftdi://0403/1" } }', None, "expected ftdi://VID:PID[/SERIAL]/"),
            ('{ [0] = { ftdi = "ftdi://0403:6014/SER/9" } }', None, "the interface is 1..4"),
            ('{ [0] = { ftdi = "emu://ft9999" } }', None, "unknown emulated chip"),
            ('{ [0] = { ftdi = "emu://ft232h/2" } }', None, "the FT232H has MPSSE interface 1 only"),
            ('{ [0] = { ftdi = "emu://ft232h?fault=boom" } }', None, "unknown fault 'boom'"),
            ('{ [0] = { fdti = "emu://ft232h" } }', None,
             "spi[0]: unknown key 'fdti'; did you mean 'ftdi'?"),
            ('{ [0] = { ftdi = 5 } }', None, "'ftdi' must be an adapter URL"),
            ('{ [7] = { ftdi = "emu://ft232h" } }', None, "spi: keys are bus numbers 0..3"),
            ('{ [0] = "emu://ft232h" }', None, "spi[0] must be a table"),
            ('{ [0] = { ftdi = "emu://ft232h" }, [1] = { ftdi = "emu://ft232h" } }', None,
             "already carries spi[0]"),
            ('{ [0] = { ftdi = "emu://ft232h", cs = { [0] = "ADBUS1" } } }', None,
             "ADBUS1 is an SPI line"),
            ('{ [0] = { ftdi = "emu://ft232h", cs = { [0] = "ADBUS3", [1] = "ADBUS3" } } }', None,
             "both on ADBUS3"),
            ('{ [0] = { cs = { [0] = "ADBUS3" } } }', None, "'cs' needs 'ftdi'"),
            ('{ [0] = { ftdi = "emu://ft232h" } }', '{ X = { ftdi = "emu://ft232h", pin = "ADBUS0" } }',
             "pins.X: ADBUS0 of emu://ft232h is an SPI line"),
            ('{}', '{ X = { ftdi = "emu://ft4232h", pin = "ACBUS0" } }',
             "'pin' must name a pin ADBUS0..ADBUS7 of the FT4232H (got ACBUS0)"),
            ('{}', '{ X = { ftdi = "emu://ft232h", pin = "XDBUS1" } }', "'pin' must name a pin"),
            ('{}', '{ X = { ftdi = "emu://ft232h" } }', "'pin' must name a pin"),
            ('{}', '{ X = { pin = "ADBUS4" } }', "pins.X needs 'ftdi'"),
            ('{}', '{ X = { ftdi = "emu://ft232h", pin = "ADBUS4", speed = 1 } }',
             "pins.X: unknown key 'speed'"),
            ('{}', '{ X = { ftdi = "emu://ft232h", pin = "ADBUS4" }, '
                   'Y = { ftdi = "emu://ft232h", pin = "ADBUS4" } }', "is already pin"),
        ]
        for spi, pins, msg in cases:
            text = "return { spi = %s, %s parts = { %s } }\n" % (
                spi, ("pins = %s," % pins) if pins else "",
                '{ type = "bme280", name = "env", bus = 0, cs = 0 }' if "ftdi" in spi and
                "[0]" in spi and "cs = {" not in spi else "")
            r = run("run", "--board", board(text), APP)
            self.assertEqual(r.returncode, 1, (text, r.stdout))
            self.assertIn(msg, r.stderr, text)
            self.assertNotIn("ran", r.stdout)

    def test_part_chip_select_checks(self):
        b = board('return { spi = { [0] = { ftdi = "emu://ft232h", cs = { [0] = "ADBUS3" } } },'
                  ' parts = { { type = "bme280", name = "env", bus = 0, cs = 1 } } }\n')
        r = run("run", "--board", b, APP)
        self.assertIn("part 'env': chip select 1 of spi[0] has no adapter pin", r.stderr)
        b = board('return { spi = { [0] = { ftdi = "emu://ft232h" } },'
                  ' pins = { X = { ftdi = "emu://ft232h", pin = "ADBUS3" } },'
                  ' parts = { { type = "bme280", name = "env", bus = 0, cs = 0 } } }\n')
        r = run("run", "--board", b, APP)
        self.assertIn("part 'env': its chip select ADBUS3 is also pin 'X'", r.stderr)
        # the default chip select of a spi.setup on a GPIO pin is refused at run time
        app = os.path.join(TMP, "cs.lua")
        with open(app, "w") as f:
            f.write("print(pcall(spi.setup, 0, {cs = 1}))\n")
        b = board('return { spi = { [0] = { ftdi = "emu://ft232h" } },'
                  ' pins = { X = { ftdi = "emu://ft232h", pin = "ADBUS4" } }, parts = {} }\n')
        r = run("run", "--board", b, app)
        self.assertIn("chip select 1 would be ADBUS4, which is pin 'X'", r.stdout)


if __name__ == "__main__":
    unittest.main()
