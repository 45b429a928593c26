"""Helpers for the window tests: a PNG reader (8-bit RGB/RGBA, no
dependencies beyond zlib), an Xvfb server of our own, and the layout the
simulator dumps with --layout-json."""
import json
import os
import shutil
import struct
import subprocess
import time
import zlib


def read_png(path):
    """Returns (width, height, rows) with rows[y][x] = (r, g, b)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), "only 8-bit RGB(A)"
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows


def load_layout(path):
    with open(path) as f:
        return json.load(f)


def widget(layout, kind, part=None, **kw):
    for wd in layout["widgets"]:
        if wd["kind"] == kind and (part is None or wd["part"] == part) and all(
                wd.get(k) == v for k, v in kw.items()):
            return wd
    raise AssertionError("no %s widget for %r in the layout" % (kind, part))


def centre(wd):
    return wd["x"] + wd["w"] // 2, wd["y"] + wd["h"] // 2


class Xvfb:
    """`Xvfb :N -nolisten tcp` on a free display number, killed at exit."""

    def __init__(self):
        self.proc = None
        self.display = None

    def __enter__(self):
        for n in range(90, 190):
            if os.path.exists("/tmp/.X%d-lock" % n) or os.path.exists("/tmp/.X11-unix/X%d" % n):
                continue
            proc = subprocess.Popen(["Xvfb", ":%d" % n, "-nolisten", "tcp", "-screen", "0",
                                     "1280x800x24"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            for _ in range(100):
                if os.path.exists("/tmp/.X11-unix/X%d" % n) or proc.poll() is not None:
                    break
                time.sleep(0.05)
            if proc.poll() is None:
                self.proc, self.display = proc, ":%d" % n
                time.sleep(0.2)
                return self
        raise RuntimeError("no free X display number")

    def __exit__(self, *exc):
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def env(self):
        e = dict(os.environ)
        e["DISPLAY"] = self.display
        # ASan builds: SDL's X11 video leaves a few blocks at exit in the
        # libraries it loads (D-Bus, Xlib; lsan.supp) and in ones it has
        # unloaded again, which no suppression can name: no leak check for
        # windowed runs. The offscreen tests (test_render.py,
        # test_win_draw.c) check the window's own code with leaks on.
        supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lsan.supp")
        e["LSAN_OPTIONS"] = "suppressions=%s:print_suppressions=0:detect_leaks=0" % supp
        return e

    def xdotool(self, *args, check=True):
        r = subprocess.run(["xdotool"] + [str(a) for a in args], env=self.env(),
                           capture_output=True, text=True, timeout=20)
        if check and r.returncode != 0:
            raise AssertionError("xdotool %s: %s" % (" ".join(map(str, args)), r.stderr))
        return r.stdout.strip()


def tools_missing():
    return [t for t in ("Xvfb", "xdotool") if not shutil.which(t)]
