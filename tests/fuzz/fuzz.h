/* Fuzz targets build two ways: with clang -fsanitize=fuzzer (libFuzzer
 * drives LLVMFuzzerTestOneInput), or as a plain program (fuzz_main.c) that
 * replays a corpus and then mutates inputs for a bounded number of runs,
 * which is what CI does under ASan+UBSan with gcc. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
