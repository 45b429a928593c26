/* Minimal assertions for the C unit tests (each test is one executable;
 * ctest reads the exit code). */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                             \
    }                                                                      \
  } while (0)

#define CHECK_EQ_U64(a, b)                                                        \
  do {                                                                            \
    unsigned long long va_ = (unsigned long long)(a), vb_ = (unsigned long long)(b); \
    if (va_ != vb_) {                                                             \
      fprintf(stderr, "%s:%d: %s == %llu, expected %s == %llu\n", __FILE__, __LINE__, \
              #a, va_, #b, vb_);                                                  \
      exit(1);                                                                    \
    }                                                                             \
  } while (0)

#endif
