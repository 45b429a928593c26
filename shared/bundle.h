/* The read-only image of bundled Lua modules (bytecode), generated at build
 * time by cmake/bundle-gen.cmake and linked into the binary. */
#ifndef BUNDLE_H
#define BUNDLE_H

#include <stddef.h>

struct bundle_entry {
  const char *name;
  const unsigned char *data;
  size_t len;
};

extern const struct bundle_entry bundle_table[];
extern const unsigned bundle_count;

const struct bundle_entry *bundle_find(const char *name);

#endif
