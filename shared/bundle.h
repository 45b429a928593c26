/* The read-only image of bundled Lua modules (bytecode, LZSS-packed in a
 * board image), generated at build time by cmake/bundle-gen.cmake and
 * linked into the binary. */
#ifndef BUNDLE_H
#define BUNDLE_H

#include <stddef.h>

#include "lua.h"

struct bundle_entry {
  const char *name;
  const unsigned char *data; /* bytecode, or packed by tools/bundle-pack.py */
  size_t len;                /* bytes at data */
};

extern const struct bundle_entry bundle_table[];
extern const unsigned bundle_count;

const struct bundle_entry *bundle_find(const char *name);

/* lua_load of an entry (mode "b"), unpacking it if packed: pushes the
 * chunk or the error message, returns lua_load's status. */
int bundle_load(lua_State *L, const struct bundle_entry *e, const char *chunkname);

#endif
