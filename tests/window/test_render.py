#!/usr/bin/env python3
"""The window's renderer offscreen (no X server): `luaos run --headless
--screenshot` draws the same frame on a software renderer; known board
state must give known pixels at the places --layout-json reports, and the
board file's panel keys must place and colour the parts.
usage: test_render.py path/to/luaos"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import winlib  # noqa: E402

LUAOS = os.path.abspath(sys.argv[1])
TMP = tempfile.mkdtemp(prefix="luaos-render-")

BOARD = """
return {
  name = "paneltest", gpio = 8, spi = 1,
  parts = {
    { type = "led", name = "GRN", pin = 0, panel = { x = 0, y = 0, color = "#00ff00" } },
    { type = "led", name = "BLU", pin = 1, panel = { x = 120, y = 0, color = "blue" } },
    { type = "button", name = "GO", pin = 2, panel = { x = 240, y = 0, key = "g" } },
    { type = "switch", name = "SW", pin = 3 },
    { type = "bme280", name = "env", bus = 0, cs = 0, panel = { x = 0, y = 60 } },
  },
}
"""

APP = """
local sim = require("sim")
gpio.mode("GRN", "out")
gpio.write("GRN", 1)
gpio.mode("BLU", "out")
gpio.write("BLU", 0)
sim.part("env"):set("temperature", 60)
sim.fault("env", "stuck")
sim.switch("SW", true)
print("console line")
"""


def run(app, board, *extra):
    a = os.path.join(TMP, "app.lua")
    b = os.path.join(TMP, "board.lua")
    with open(a, "w") as f:
        f.write(app)
    with open(b, "w") as f:
        f.write(board)
    return subprocess.run([LUAOS, "run", a, "--board", b, "--headless"] + list(extra),
                          capture_output=True, text=True, timeout=60)


def mix(a, b, f):
    return tuple(int(x + (y - x) * f + 0.5) for x, y in zip(a, b))


def test_known_state_known_pixels():
    png, lay = os.path.join(TMP, "s.png"), os.path.join(TMP, "s.json")
    p = run(APP, BOARD, "--screenshot", png, "--layout-json", lay)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "console line\n", p.stdout
    w, h, rows = winlib.read_png(png)
    layout = winlib.load_layout(lay)
    assert (w, h) == (layout["width"], layout["height"]) == (1000, 700)

    def at(x, y):
        return rows[y][x]

    # panel = {x, y}: logical pixels from the board area's top left (10, 36)
    g = winlib.widget(layout, "led", "GRN")
    assert (g["x"], g["y"]) == (10, 36), g
    assert (winlib.widget(layout, "led", "BLU")["x"], winlib.widget(layout, "button", "GO")["x"]) \
        == (130, 250)
    env = winlib.widget(layout, "card", "env")
    assert (env["x"], env["y"]) == (10, 96), env
    # a lit LED is its colour; an unlit one a dark tint of it
    assert at(g["x"] + 22, g["y"] + g["h"] // 2) == (0, 255, 0)
    b = winlib.widget(layout, "led", "BLU")
    assert at(b["x"] + 22, b["y"] + b["h"] // 2) == mix((0x30, 0x70, 0xFF), (0x20, 0x20, 0x20), 0.8)
    # the slider's knob sits at the model's value (60 degC of -40..85)
    sl = winlib.widget(layout, "slider", "env", key="temperature")
    kx = sl["x"] + int((60 - sl["min"]) / (sl["max"] - sl["min"]) * (sl["w"] - 1))
    assert at(kx, sl["y"] + 1) == (0xE0, 0xE0, 0xE0), at(kx, sl["y"] + 1)
    assert at(kx + 6, sl["y"] + 1) != (0xE0, 0xE0, 0xE0)
    # the injected fault's toggle is lit, the others not
    st = winlib.widget(layout, "fault", "env", fault="stuck")
    dc = winlib.widget(layout, "fault", "env", fault="disconnect")
    assert at(st["x"] + 2, st["y"] + 2) == (0xFF, 0x80, 0x40)
    assert at(dc["x"] + 2, dc["y"] + 2) == (0x33, 0x3A, 0x44)
    # the switch is on: its slider is green
    sw = winlib.widget(layout, "switch", "SW")
    assert at(sw["x"] + 8, sw["y"] + 16) == (0x3C, 0xCB, 0x5A)
    # the console pane shows the app's output (some light pixels in its first row)
    con = winlib.widget(layout, "console", "")
    row = [at(x, con["y"] + 10) for x in range(con["x"] + 6, con["x"] + 100)]
    assert any(max(px) > 0xA0 for px in row), "no text in the console pane"


def test_io_write_reaches_the_console_pane():
    # io.write to stdout goes through the console like print (once, in
    # order); to another file it stays the stock io.write
    png, lay = os.path.join(TMP, "w.png"), os.path.join(TMP, "w.json")
    out = os.path.join(TMP, "w.txt")
    app = ('io.write("written ", 42, "\\n") '
           'local f = io.open(%r, "w") io.output(f) io.write("to file") io.output(io.stdout) f:close() '
           'print(io.write("x") == io.stdout, pcall(io.write, {}))' % out)
    p = run(app, BOARD, "--screenshot", png, "--layout-json", lay)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "written 42\nxtrue\tfalse\tbad argument #1 to 'io.write' " \
        "(string expected, got table)\n", p.stdout
    with open(out) as f:
        assert f.read() == "to file"
    w, h, rows = winlib.read_png(png)
    con = winlib.widget(winlib.load_layout(lay), "console", "")
    row = [rows[con["y"] + 10][x] for x in range(con["x"] + 6, con["x"] + 100)]
    assert any(max(px) > 0xA0 for px in row), "io.write's text is not in the console pane"


def test_sim_screenshot_shows_the_console_so_far():
    """sim.screenshot without a window or --screenshot: the console pane
    shows what print and the log wrote before it, one line each."""
    png, lay = os.path.join(TMP, "con.png"), os.path.join(TMP, "con.json")
    a = os.path.join(TMP, "con.lua")
    with open(a, "w") as f:
        f.write('print("printed first") log.info("logged second") '
                'require("sim").screenshot(arg[1])')
    p = subprocess.run([LUAOS, "run", a, "--headless", "--layout-json", lay, "--", png],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("printed first\n"), p.stdout
    _, _, rows = winlib.read_png(png)
    con = winlib.widget(winlib.load_layout(lay), "console", "")

    def lit(line):  # a text row of the pane (15 px each, from y + 4)
        y = con["y"] + 4 + 15 * line
        return any(max(rows[yy][x]) > 0xA0 for yy in range(y, y + 12)
                   for x in range(con["x"] + 6, con["x"] + 200))
    assert lit(0), "print's line is not in the console pane"
    assert lit(1), "the log line is not in the console pane"
    assert not lit(2), "a third line in the console pane"


def test_pwm_led_is_drawn_at_its_duty():
    """A pin toggling fast: the LED at its brightness (the part's duty over
    the last 20 ms), the other one at its level."""
    png, lay = os.path.join(TMP, "pwm.png"), os.path.join(TMP, "pwm.json")
    app = """
local sim = require("sim")
gpio.mode("LED0", "out")
gpio.mode("LED1", "out")
gpio.write("LED1", 1)
for _ = 1, 40 do
  gpio.write("LED0", 1) task.sleep(1)
  gpio.write("LED0", 0) task.sleep(3)
end
print(sim.part("LED0"):get("brightness"))
sim.screenshot(arg[1])
"""
    a = os.path.join(TMP, "pwm.lua")
    with open(a, "w") as f:
        f.write(app)
    p = subprocess.run([LUAOS, "run", a, "--headless", "--virtual-time", "--layout-json", lay,
                        "--", png], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    b = float(p.stdout.split()[0])
    assert abs(b - 0.25) < 0.01, b
    layout = winlib.load_layout(lay)
    _, _, rows = winlib.read_png(png)
    red = (0xFF, 0x20, 0x20)
    off = mix(red, (0x20, 0x20, 0x20), 0.8)
    l0, l1 = winlib.widget(layout, "led", "LED0"), winlib.widget(layout, "led", "LED1")
    assert rows[l0["y"] + l0["h"] // 2][l0["x"] + 22] == mix(off, red, b)
    assert rows[l1["y"] + l1["h"] // 2][l1["x"] + 22] == red


def test_default_layout_without_panel_keys():
    png, lay = os.path.join(TMP, "d.png"), os.path.join(TMP, "d.json")
    p = subprocess.run([LUAOS, "run", "/dev/null", "--headless", "--screenshot", png,
                        "--layout-json", lay], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    layout = winlib.load_layout(lay)
    kinds = [(w["kind"], w["part"]) for w in layout["widgets"]]
    for want in [("led", "LED0"), ("led", "LED1"), ("button", "BTN0"), ("button", "BTN1"),
                 ("switch", "SW0"), ("card", "env"), ("card", "accel"), ("card", "loop"),
                 ("slider", "env"), ("slider", "accel"), ("spi", ""), ("net", ""),
                 ("console", "")]:
        assert want in kinds, (want, kinds)
    # nothing overlaps but what is inside a card
    boxes = [w for w in layout["widgets"] if w["kind"] not in ("slider", "fault")]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            apart = (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"] or
                     a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])
            assert apart, (a, b)
    assert winlib.read_png(png)[:2] == (1000, 700)


def test_bad_panel_keys_and_options():
    cases = [
        ('panel = { x = 1 }', "panel needs both x and y"),
        ('panel = { x = 1, y = 2, colour = "red" }', "unknown key 'colour'"),
        ('panel = { x = -5, y = 2 }', "panel.x must be a whole number"),
        ('panel = { x = 1.5, y = 2 }', "panel.x must be a whole number"),
        ('panel = { color = "puce" }', "panel.color must be"),
        ('panel = { key = "F1" }', "panel.key must be one character"),
        ('panel = "left"', "'panel' must be a table"),
    ]
    for field, msg in cases:
        board = 'return { gpio = 4, parts = { { type = "led", name = "L", pin = 0, %s } } }' % field
        p = run("", board)
        assert p.returncode == 1 and msg in p.stderr and "parts[1]" in p.stderr, (field, p.stderr)
    # Any bytes in a part's name: the layout stays valid JSON, the picture is drawn.
    lay, png = os.path.join(TMP, "odd.json"), os.path.join(TMP, "odd.png")
    board = (r'return { gpio = 4, parts = { { type = "led", name = "q\"\\\n\255\1", pin = 0 }, '
             r'{ type = "button", name = "' + "\\\\" * 31 + r'", pin = 1 } } }')
    p = run("", board, "--screenshot", png, "--layout-json", lay)
    assert p.returncode == 0, p.stderr
    names = [w["part"] for w in winlib.load_layout(lay)["widgets"] if w["part"]]
    assert names == ['q"\\\n\xff\x01', "\\" * 31], names
    for args, msg in [(["--screenshot"], "needs a file name"),
                      (["--screenshot", "x.jpg"], "must end in .png"),
                      (["--layout-json"], "needs a file name")]:
        p = subprocess.run([LUAOS, "run", "/dev/null"] + args, capture_output=True, text=True)
        assert p.returncode == 2 and msg in p.stderr, (args, p.stderr)
    p = subprocess.run([LUAOS, "run", "/dev/null", "--headless", "--screenshot",
                        "/nonexistent/dir/x.png"], capture_output=True, text=True)
    assert p.returncode == 1 and "cannot write /nonexistent/dir/x.png" in p.stderr, p.stderr


LCD_APP = """
local ili9341 = require("ili9341")
local sim = require("sim")
local lcd = ili9341.new(0, 2, { dc = "LCD_DC", reset = "LCD_RST" })
lcd:fill(ili9341.rgb(0, 0, 128))
lcd:rect(10, 10, 50, 30, ili9341.RED)
for i = 0, 200 do lcd:pixel(i, 100 + i % 7, ili9341.rgb(i, 255 - i, i * 37 % 256)) end
lcd:text(4, 60, "Hello", ili9341.WHITE, ili9341.BLUE, 2)
local w, h, px = sim.display_pixels("lcd")
local f = assert(io.open(..., "wb"))
f:write(string.pack("<I2I2", w, h), px)
f:close()
"""


def test_display_glass_pixel_exact():
    """The devkit's display in the picture: every pixel of the model's frame
    buffer, RGB565 widened by repeating its top bits, at the integer zoom."""
    if not os.path.exists("lua/ili9341.lua"):  # run from the source folder (ctest does)
        print("     (no lua/ili9341.lua: skipped)")
        return
    png, lay, fb = (os.path.join(TMP, n) for n in ("lcd.png", "lcd.json", "lcd.bin"))
    a = os.path.join(TMP, "lcd.lua")
    with open(a, "w") as f:
        f.write(LCD_APP)
    p = subprocess.run([LUAOS, "run", a, "--headless", "--screenshot", png, "--layout-json", lay,
                        "--", fb], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    data = open(fb, "rb").read()
    w, h = int.from_bytes(data[0:2], "little"), int.from_bytes(data[2:4], "little")
    layout = winlib.load_layout(lay)
    scr = winlib.widget(layout, "screen", "lcd")
    k = layout["screen_scale"]
    assert (scr["w"], scr["h"]) == (w * k, h * k)
    _, _, rows = winlib.read_png(png)
    bad = 0
    for y in range(h * k):
        for x in range(w * k):
            v = int.from_bytes(data[4 + 2 * ((y // k) * w + x // k):][:2], "little")
            r, g, b = v >> 11, (v >> 5) & 63, v & 31
            want = ((r << 3) | (r >> 2), (g << 2) | (g >> 4), (b << 3) | (b >> 2))
            if rows[scr["y"] + y][scr["x"] + x] != want:
                bad += 1
    assert bad == 0, "%d pixels differ from the frame buffer" % bad


TWO_LCD_BOARD = """
return {
  name = "twolcd", gpio = 8, spi = 1,
  pins = { DC1 = 1, RST1 = 2, DC2 = 3, RST2 = 4 },
  parts = {
    { type = "ili9341", name = "lcd_a", bus = 0, cs = 0, dc = "DC1", reset = "RST1" },
    { type = "ili9341", name = "lcd_b", bus = 0, cs = 1, dc = "DC2", reset = "RST2" },
  },
}
"""

TWO_LCD_APP = """
local ili9341 = require("ili9341")
local a = ili9341.new(0, 0, { dc = "DC1", reset = "RST1" })
local b = ili9341.new(0, 1, { dc = "DC2", reset = "RST2" })
a:fill(ili9341.RED)
b:fill(ili9341.BLUE)
b:rect(0, 0, 20, 10, ili9341.WHITE)
"""


def test_two_displays_both_drawn():
    """A board with two displays: each in the picture, pixel for pixel,
    where the layout says, and apart."""
    if not os.path.exists("lua/ili9341.lua"):
        print("     (no lua/ili9341.lua: skipped)")
        return
    png, lay = os.path.join(TMP, "two.png"), os.path.join(TMP, "two.json")
    p = run(TWO_LCD_APP, TWO_LCD_BOARD, "--screenshot", png, "--layout-json", lay)
    assert p.returncode == 0, p.stderr
    layout = winlib.load_layout(lay)
    top, bottom = winlib.widget(layout, "screen", "lcd_a"), winlib.widget(layout, "screen", "lcd_b")
    k = layout["screen_scale"]
    assert (top["w"], top["h"]) == (240 * k, 320 * k) == (bottom["w"], bottom["h"])
    # apart (stacked or, as two 240x320 in the default window, side by side)
    assert (top["y"] + top["h"] <= bottom["y"] or bottom["y"] + bottom["h"] <= top["y"] or
            top["x"] + top["w"] <= bottom["x"] or bottom["x"] + bottom["w"] <= top["x"])
    assert bottom["x"] + bottom["w"] <= layout["width"] and top["y"] + top["h"] <= layout["height"]
    _, _, rows = winlib.read_png(png)
    red, blue, white = (255, 0, 0), (0, 0, 255), (255, 255, 255)
    for x, y in ((0, 0), (239, 319), (120, 160)):
        assert rows[top["y"] + y * k][top["x"] + x * k] == red, (x, y)
    assert rows[bottom["y"]][bottom["x"]] == white
    assert rows[bottom["y"] + 9 * k][bottom["x"] + 19 * k] == white
    assert rows[bottom["y"] + 10 * k][bottom["x"] + 20 * k] == blue
    assert rows[bottom["y"] + 319 * k][bottom["x"] + 239 * k] == blue


def main():
    probe = subprocess.run([LUAOS, "run", "/dev/null", "--headless", "--screenshot",
                            os.path.join(TMP, "probe.png")], capture_output=True, text=True)
    if "built without the window" in probe.stderr:
        print("SKIP: " + probe.stderr.strip())
        return 77
    failed = 0
    for name, t in sorted(globals().items()):
        if name.startswith("test_"):
            try:
                t()
                print("ok   " + name)
            except Exception as e:  # noqa: BLE001
                failed += 1
                print("FAIL %s: %r" % (name, e))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
