#!/usr/bin/env python3
"""LZSS-pack a bundled module's bytecode for a board image (cmake/bundle-gen.cmake
with PACK); shared/bundle.c unpacks it while lua_load reads it.

Format: groups of up to 8 tokens, each group led by a flag byte whose bits
(lowest first) say literal (1: one byte follows) or match (0: two bytes
b0 b1 follow: distance ((b1 & 0xF0) << 4 | b0) + 1, 1..4096, and length
(b1 & 0x0F) + 3, 3..18). The unpacker's window is the last 4096 bytes.

usage: bundle-pack.py IN OUT    (exits non-zero if OUT would not unpack to IN)
"""
import sys

WINDOW = 4096
MIN_MATCH = 3
MAX_MATCH = 18


def longest(data, i, heads):
    """Longest earlier match for data[i:] inside the window: (length, distance)."""
    n = len(data)
    best_len, best_dist = 0, 0
    if i + MIN_MATCH > n:
        return 0, 0
    for j in reversed(heads.get(data[i:i + MIN_MATCH], ())):
        if i - j > WINDOW:
            break
        k = 0
        while k < MAX_MATCH and i + k < n and data[j + k] == data[i + k]:
            k += 1
        if k > best_len:
            best_len, best_dist = k, i - j
            if k == MAX_MATCH:
                break
    return best_len, best_dist


def pack(data):
    heads = {}

    def index(i):
        if i + MIN_MATCH <= len(data):
            heads.setdefault(data[i:i + MIN_MATCH], []).append(i)

    tokens = []
    i = 0
    while i < len(data):
        length, dist = longest(data, i, heads)
        if length >= MIN_MATCH:
            # Lazy matching: a literal now if the next position matches longer.
            index(i)
            nxt, _ = longest(data, i + 1, heads)
            if nxt > length + 1:
                tokens.append(data[i])
                i += 1
                continue
            tokens.append((length, dist))
            for k in range(1, length):
                index(i + k)
            i += length
        else:
            tokens.append(data[i])
            index(i)
            i += 1
    out = bytearray()
    for g in range(0, len(tokens), 8):
        group = tokens[g:g + 8]
        flags = 0
        body = bytearray()
        for bit, t in enumerate(group):
            if isinstance(t, int):
                flags |= 1 << bit
                body.append(t)
            else:
                length, dist = t
                d = dist - 1
                body += bytes((d & 0xFF, ((d >> 4) & 0xF0) | (length - MIN_MATCH)))
        out.append(flags)
        out += body
    return bytes(out)


def unpack(packed):
    out = bytearray()
    i = 0
    while i < len(packed):
        flags = packed[i]
        i += 1
        for bit in range(8):
            if i >= len(packed):
                break
            if flags >> bit & 1:
                out.append(packed[i])
                i += 1
            else:
                b0, b1 = packed[i], packed[i + 1]
                i += 2
                dist = ((b1 & 0xF0) << 4 | b0) + 1
                for _ in range((b1 & 0x0F) + MIN_MATCH):
                    out.append(out[-dist])
    return bytes(out)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    packed = pack(data)
    if unpack(packed) != data:
        sys.exit("bundle-pack: %s: packed data does not unpack to the input" % sys.argv[1])
    with open(sys.argv[2], "wb") as f:
        f.write(packed)


if __name__ == "__main__":
    main()
