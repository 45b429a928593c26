#!/usr/bin/env python3
"""Size report for a firmware image: text/data/bss, flash and RAM split by
component (from the linker map: every input section is attributed to the
object or archive member it came from), and the largest symbols.

usage: fw-size.py [--nm NM] [--size SIZE] [--bundle BUNDLE.c] [--out FILE] [--json FILE] ELF MAP

--bundle: the generated bundle (cmake/bundle-gen.cmake) for a line per
bundled module (stored bytes, and its bytecode's size when packed) and
module names on its arrays in the symbol list.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import textwrap

# Output sections that occupy the image (flash) and RAM. .data is in both:
# its initial values are stored in flash and copied at start-up.
FLASH_SECTIONS = {".text", ".ARM.exidx", ".ARM.extab", ".data", ".rodata"}
RAM_SECTIONS = {".data", ".bss", ".noinit"}

COMPONENTS = ["Lua VM", "libc/libgcc", "core (shared/)", "networking (lwIP, net)",
              "tls (mbedTLS, net/tls.c)", "drivers (drivers/ + board port)",
              "bundled Lua", "other"]


def component(origin):
    """Map a map-file origin ('libfoo.a(x.c.obj)' or a path) to a component."""
    o = origin.replace("\\", "/")
    m = re.match(r"(.*?)\((.*)\)$", o)
    archive, member = (m.group(1), m.group(2)) if m else (o, "")
    base = os.path.basename(archive)
    if base == "libluaos_lua.a":
        return "Lua VM", member
    if base == "libluaos_core.a":
        return "core (shared/)", member
    if base in ("libluaos_mbedtls.a", "libluaos_tls_ca.a") or (
            base == "libluaos_net.a" and member.startswith("tls.c")):
        return "tls (mbedTLS, net/tls.c)", ("mbedtls/" if "mbedtls" in base else "") + member
    if base in ("libluaos_lwip.a", "libluaos_net.a"):
        return "networking (lwIP, net)", ("lwip/" if "lwip" in base else "net/") + member
    if "/eth/" in o and base.endswith(".obj"):
        return "networking (lwIP, net)", "eth/" + base
    if base == "libluaos_drivers.a":
        return "drivers (drivers/ + board port)", "drivers/" + member
    if "bundle_" in base and base.endswith(".obj"):
        return "bundled Lua", base
    if base.endswith(".obj") or base.endswith(".o") and "/CMakeFiles/" in o:
        if "CMakeFiles" in o:
            return "drivers (drivers/ + board port)", "port/" + base
    if base.startswith("lib") and base.endswith(".a") or base.endswith(".o"):
        return "libc/libgcc", base + (":" + member if member else "")
    return "other", o


def parse_map(path):
    """Yield (output_section, input_section, size, origin) for each input section."""
    with open(path, errors="replace") as f:
        lines = f.read().splitlines()
    try:
        start = lines.index("Linker script and memory map")
    except ValueError:
        sys.exit("fw-size: %s does not look like a GNU ld map" % path)
    out = None
    pending = None
    head = re.compile(r"^(\.\S+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+")
    full = re.compile(r"^ (\S+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
    cont = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
    for line in lines[start + 1:]:
        if line and not line.startswith(" "):
            m = head.match(line)
            out = m.group(1) if m else (line.split()[0] if line.split() else None)
            pending = None
            continue
        if pending is not None:
            m = cont.match(line)
            if m:
                yield out, pending, int(m.group(2), 16), m.group(3)
            pending = None
            continue
        m = full.match(line)
        if m:
            if m.group(1) != "*fill*":
                yield out, m.group(1), int(m.group(3), 16), m.group(4)
            continue
        m = re.match(r"^ (\.\S+)$", line)
        if m:
            pending = m.group(1)


def bundle_modules(path):
    """[(module, array symbol, stored bytes, bytecode bytes or None)] of a bundle C file."""
    with open(path) as f:
        src = f.read()
    bc_dir = os.path.join(os.path.dirname(path), "bundle-bc")
    mods = []
    for m in re.finditer(r'\{"([^"]+)", (bundle_m\d+), (\d+)\}', src):
        bc = os.path.join(bc_dir, m.group(1) + ".luac")
        unpacked = os.path.getsize(bc) if os.path.exists(bc + ".lz") else None
        mods.append((m.group(1), m.group(2), int(m.group(3)), unpacked))
    return mods


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nm", default="arm-none-eabi-nm")
    ap.add_argument("--size", default="arm-none-eabi-size")
    ap.add_argument("--lua-src", default=None)
    ap.add_argument("--source-dir", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--bundle", default=None)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("elf")
    ap.add_argument("map")
    a = ap.parse_args()

    rep = []
    size_out = subprocess.run([a.size, "-A", a.elf], capture_output=True, text=True, check=True).stdout
    secs = {}
    for line in size_out.splitlines():
        p = line.split()
        if len(p) >= 3 and p[0].startswith(".") and p[1].isdigit():
            secs[p[0]] = int(p[1])
    text = secs.get(".text", 0) + secs.get(".ARM.exidx", 0) + secs.get(".ARM.extab", 0)
    data = secs.get(".data", 0)
    bss = secs.get(".bss", 0) + secs.get(".noinit", 0)
    image = text + data
    rep.append("%s" % os.path.basename(a.elf))
    rep.append("  text %7d   data %6d   bss %6d   image (flash) %7d bytes = %.1f KB"
               % (text, data, bss, image, image / 1024.0))
    rep.append("  static RAM (data+bss, excl. stack %s and heap) %d bytes"
               % (fmt_kb(secs.get(".stack", 0)), data + bss))

    flash = {c: 0 for c in COMPONENTS}
    ram = {c: 0 for c in COMPONENTS}
    detail = {}
    for out, _sec, size, origin in parse_map(a.map):
        if size == 0:
            continue
        comp, unit = component(origin)
        if out in FLASH_SECTIONS:
            flash[comp] += size
            detail[(comp, unit)] = detail.get((comp, unit), 0) + size
        if out in RAM_SECTIONS:
            ram[comp] += size
    rep.append("")
    rep.append("  %-34s %9s %8s %9s" % ("component", "flash", "%", "RAM"))
    total = sum(flash.values()) or 1
    for c in COMPONENTS:
        if flash[c] or ram[c]:
            rep.append("  %-34s %9d %7.1f%% %9d" % (c, flash[c], 100.0 * flash[c] / total, ram[c]))
    rep.append("  %-34s %9d %8s %9d" % ("total", sum(flash.values()), "", sum(ram.values())))
    rep.append("")
    rep.append("  largest units per component (flash bytes):")
    for c in COMPONENTS:
        units = sorted(((s, u) for (cc, u), s in detail.items() if cc == c), reverse=True)[:6]
        if units:
            rep.append("    %s: %s" % (c, ", ".join("%s %d" % (u, s) for s, u in units)))

    mods = bundle_modules(a.bundle) if a.bundle else []
    if mods:
        rep.append("")
        packed = any(u is not None for _m, _s, _n, u in mods)
        rep.append("  bundled modules (flash bytes%s):"
                   % (", packed; the bytecode's size in brackets" if packed else ""))
        items = ["%s %d" % (name, n) + (" (%d)" % unpacked if unpacked is not None else "")
                 for name, _sym, n, unpacked in sorted(mods, key=lambda m: -m[2])]
        rep.extend(textwrap.wrap(", ".join(items), 96, initial_indent="    ",
                                 subsequent_indent="    "))
        rep.append("    total %d%s" % (sum(m[2] for m in mods),
                   " (%d)" % sum(m[3] or m[2] for m in mods) if packed else ""))
    array_module = {sym: name for name, sym, _n, _u in mods}

    nm_out = subprocess.run([a.nm, "--size-sort", "-S", "-r", a.elf],
                            capture_output=True, text=True, check=True).stdout
    rep.append("")
    rep.append("  top %d symbols by size:" % a.top)
    n = 0
    for line in nm_out.splitlines():
        p = line.split()
        if len(p) < 4:
            continue
        size, kind, name = int(p[1], 16), p[2], p[3]
        if kind.lower() in ("b",) and name in ("__stack_size",):
            continue
        rep.append("    %7d  %s  %s" % (size, kind, name)
                   + (" (%s)" % array_module[name] if name in array_module else ""))
        n += 1
        if n >= a.top:
            break

    text_out = "\n".join(rep) + "\n"
    sys.stdout.write(text_out)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text_out)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"text": text, "data": data, "bss": bss, "image": image,
                       "flash": flash, "ram": ram}, f, indent=1)


def fmt_kb(n):
    return "%d KB" % (n // 1024)


if __name__ == "__main__":
    main()
