/* Fuzzing a pure-Lua parser: one simulator state (fuzz_boot: fenced, an
 * instruction budget, a heap cap) kept for many inputs, a driver chunk
 * that returns a function f(input) -> nil | "violated: ...". A Lua error
 * is an expected outcome (the parser raised); a returned message is an
 * invariant the parser broke, and aborts so the fuzzer keeps the input. */
#ifndef FUZZ_LUAPARSE_H
#define FUZZ_LUAPARSE_H

#include <stddef.h>
#include <stdint.h>

void fuzz_luaparse(const char *driver, const uint8_t *data, size_t size);

#endif
