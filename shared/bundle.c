#include "bundle.h"

#include <string.h>

#include "lauxlib.h"

const struct bundle_entry *bundle_find(const char *name) {
  /* A few dozen entries: a linear scan is cheaper than keeping an order
   * that matches strcmp across dotted names. */
  for (unsigned i = 0; i < bundle_count; i++)
    if (strcmp(bundle_table[i].name, name) == 0) return &bundle_table[i];
  return NULL;
}

/* LZSS unpacking (format: tools/bundle-pack.py) straight into lua_load: the
 * window is also the block handed to the loader, which copies each block
 * out before asking for the next one, so no buffer of the module's size
 * is needed and nothing goes on the Lua heap. */
#define BUNDLE_WINDOW 4096u

struct bundle_unpack {
  const unsigned char *in, *end;
  unsigned flags; /* flag bits not used yet, above a sentinel 1 */
  size_t pos;     /* bytes produced so far */
  size_t copy;    /* bytes of the current match still to copy */
  size_t from;    /* where the match reads, as a position in the output */
  unsigned char win[BUNDLE_WINDOW];
};

static const char *bundle_unpack_read(lua_State *L, void *ud, size_t *size) {
  struct bundle_unpack *u = ud;
  (void)L;
  /* The state in locals: stores to the window (unsigned char) would make
   * the compiler reload every field of *u after each byte. */
  const unsigned char *in = u->in, *end = u->end;
  unsigned char *win = u->win;
  unsigned flags = u->flags;
  size_t copy = u->copy, from = u->from;
  size_t start = u->pos % BUNDLE_WINDOW, o = start;
  while (o < BUNDLE_WINDOW) {
    if (copy == 0) {
      if (flags <= 1u) {
        if (in == end) break;
        flags = 0x100u | *in++;
      }
      if (in == end) break;
      unsigned literal = flags & 1u;
      flags >>= 1;
      if (literal) {
        win[o++] = *in++;
        continue;
      }
      if (end - in < 2) { /* truncated: the chunk ends, lua_load reports it */
        in = end;
        break;
      }
      size_t dist = ((size_t)(in[1] & 0xF0u) << 4 | in[0]) + 1;
      copy = (size_t)(in[1] & 0x0Fu) + 3;
      from = u->pos + (o - start) - dist;
      in += 2;
    }
    do {
      win[o++] = win[from++ % BUNDLE_WINDOW];
    } while (--copy > 0 && o < BUNDLE_WINDOW);
  }
  u->in = in;
  u->flags = flags;
  u->copy = copy;
  u->from = from;
  u->pos += o - start;
  *size = o - start;
  return o > start ? (const char *)win + start : NULL;
}

int bundle_load(lua_State *L, const struct bundle_entry *e, const char *chunkname) {
  /* Plain bytecode starts with the signature's ESC; a packed entry with a
   * flag byte whose low 4 bits are set (the signature's 4 literals). */
  if (e->len == 0 || e->data[0] == LUA_SIGNATURE[0])
    return luaL_loadbufferx(L, (const char *)e->data, e->len, chunkname, "b");
  struct bundle_unpack u = {.in = e->data, .end = e->data + e->len};
  return lua_load(L, bundle_unpack_read, &u, chunkname, "b");
}
