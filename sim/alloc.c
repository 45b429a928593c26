#define _GNU_SOURCE
#include "alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lua.h"
#include "rt.h"
#include "sched.h"

#if defined(SIM_ALLOC_PLAIN)

bool sim_alloc_install(void) { return false; }

#else

/* Blocks of ALLOC_BLOCK bytes, carved in order from one reserved range of
 * address space (pages appear when touched), so "is this ours" is a range
 * check and a block is found by division. 1536 is not a power of two on
 * purpose: the same field of different tasks lands in different cache
 * sets. A block is a bump allocator: it is freed (for reuse) when its
 * last object is. */
#define ALLOC_BLOCK 1536
/* The block's header (16 bytes), then its objects, from offset 40: a
 * task's record (sched.c), the first object, then starts on a cache line
 * (after the userdata header, 40 bytes, and its three user values). Lua
 * needs 8-byte alignment (LUAI_MAXALIGN), which is what objects get. */
#define ALLOC_HEAD 40
#define ALLOC_SMALL 768            /* larger requests go to malloc */
#define ALLOC_RANGE_MAX (64ull << 30) /* reserved, not committed; less if refused */
#define ALLOC_RANGE_MIN (256ull << 20)

typedef struct {
  uint32_t top;  /* bump offset */
  uint16_t live; /* objects in it */
  uint16_t after_thread; /* the last object is a thread: its stack comes next */
  uint32_t last; /* offset of the last object (it may grow in place) */
  uint32_t next; /* free list (block index + 1) */
} block_t;

static struct {
  char *base;
  size_t range;
  size_t made;   /* blocks carved so far */
  uint32_t free; /* free blocks (index + 1) */
} A;

static bool ours(const void *p) {
  return A.base && (uintptr_t)p - (uintptr_t)A.base < A.made * ALLOC_BLOCK;
}

static block_t *block_of(const void *p) {
  size_t k = (size_t)((const char *)p - A.base) / ALLOC_BLOCK;
  return (block_t *)(A.base + k * ALLOC_BLOCK);
}

static block_t *block_new(void) {
  block_t *b;
  if (A.free) {
    b = (block_t *)(A.base + (size_t)(A.free - 1) * ALLOC_BLOCK);
    A.free = b->next;
  } else {
    if ((A.made + 1) * ALLOC_BLOCK > A.range) return NULL;
    b = (block_t *)(A.base + A.made * ALLOC_BLOCK);
    A.made++;
  }
  b->top = ALLOC_HEAD;
  b->live = 0;
  b->after_thread = 0;
  b->last = 0;
  b->next = 0;
  return b;
}

static void block_release(block_t *b) {
  /* Not while it is the group being filled: the scheduler still points
   * at it (a spawn interrupted by an error can leave that so). */
  void **g = sched_alloc_group();
  if (g && *g == b) return;
  b->next = A.free;
  A.free = (uint32_t)(((char *)b - A.base) / ALLOC_BLOCK) + 1;
}

/* Lua needs 8-byte alignment (LUAI_MAXALIGN). */
static size_t round8(size_t n) { return (n + 7) & ~(size_t)7; }

/* A thread (lua_State) goes at 24 mod 64, so the fields a resume reads
 * (status .. errorJmp, hook .. hookmask) take 3 cache lines, not 4 or 5
 * (lstate.h, Lua 5.4: lua_State is at +8, after LUA_EXTRASPACE); the
 * stack lua_newthread allocates next starts on a line. */
#define ALLOC_THREAD_AT 24
/* An object of one line (a CallInfo on 64-bit hosts) gets a line. */
#define ALLOC_LINE_SIZED 64

/* Offset >= top for an object of this type in a block. */
static uint32_t place_at(const block_t *b, size_t n, size_t tag) {
  uint32_t at = b->top;
  if (tag == LUA_TTHREAD) return at + (uint32_t)((ALLOC_THREAD_AT - at % 64 + 64) % 64);
  if (b->after_thread || n == ALLOC_LINE_SIZED) return (at + 63) & ~(uint32_t)63;
  return at;
}

/* An object of n bytes (Lua type `tag`, 0 if none) in the current
 * group's block, or NULL. */
static void *group_alloc(size_t n, size_t tag) {
  if (n > ALLOC_SMALL) return NULL;
  void **g = sched_alloc_group();
  if (!g) return NULL;
  block_t *b = *g;
  if (!b) {
    b = block_new();
    if (!b) return NULL;
    *g = b;
  }
  uint32_t at = place_at(b, n, tag);
  size_t need = round8(n);
  if (at + need > ALLOC_BLOCK) return NULL;
  void *p = (char *)b + at;
  b->last = at;
  b->top = at + (uint32_t)need;
  b->after_thread = tag == LUA_TTHREAD;
  b->live++;
  return p;
}

static void block_free(void *p) {
  block_t *b = block_of(p);
  if (b->last == (uint32_t)((char *)p - (char *)b)) { /* the last one: give its room back */
    b->top = b->last;
    b->last = 0;
  }
  if (--b->live == 0) block_release(b);
}

/* rt.c's backend: realloc/free semantics, sizes exact (osize is the old
 * size when ptr is set, else the new object's Lua type). */
static void *sim_alloc(void *ptr, size_t osize, size_t nsize) {
  if (nsize == 0) {
    if (ours(ptr))
      block_free(ptr);
    else
      free(ptr);
    return NULL;
  }
  if (!ptr) { /* osize: the object's type */
    void *p = group_alloc(nsize, osize);
    return p ? p : malloc(nsize);
  }
  if (!ours(ptr)) return realloc(ptr, nsize);
  block_t *b = block_of(ptr);
  uint32_t off = (uint32_t)((char *)ptr - (char *)b);
  if (nsize <= round8(osize)) return ptr; /* shrinking: stays */
  if (b->last == off && off + round8(nsize) <= ALLOC_BLOCK) { /* the last one: grow in place */
    b->top = off + (uint32_t)round8(nsize);
    return ptr;
  }
  void *p = group_alloc(nsize, 0);
  if (!p) p = malloc(nsize);
  if (!p) return NULL;
  memcpy(p, ptr, osize);
  block_free(ptr);
  return p;
}

bool sim_alloc_install(void) {
  const char *plain = getenv("LUAOS_PLAIN_MALLOC");
  if (plain && *plain && strcmp(plain, "0") != 0) return false;
  /* (Valgrind, for one, refuses the biggest reservations; a 32-bit host
   * has less address space.) */
  for (uint64_t range = ALLOC_RANGE_MAX; range >= ALLOC_RANGE_MIN; range /= 4) {
    if (range > SIZE_MAX / 2) continue;
    void *base = mmap(NULL, (size_t)range, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) continue;
    A.base = base;
    A.range = (size_t)range;
    break;
  }
  if (!A.base) return false;
  rt_set_backend(sim_alloc);
  return true;
}

#endif
