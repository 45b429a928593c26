/* Hierarchical timer wheel (microsecond ticks). Add, cancel and the
 * next-deadline query are O(1) in the number of timers; advancing time
 * touches only slots that became due, each timer cascading at most once
 * per level. Cost does not grow with the number of sleeping tasks.
 *
 * Memory layout, for many timers: a slot is an array of 32-bit node
 * indices; a node (expiry, its timer, where it sits: 24 bytes) lives in
 * one pool array. A cascade reads a slot's array in order and the nodes
 * it names (independent loads, prefetched ahead), never the timers: a
 * timer (embedded in a task or a C object, anywhere in the heap) is
 * touched when it is added, cancelled and when it expires. With list
 * links inside the tasks, 100 000 sleeping tasks made every cascade step
 * a dependent cache miss. A cancelled entry is zeroed in place (the order
 * of the others stays) and a slot is compacted when zeros outnumber its
 * live entries.
 *
 * The pool and the arrays grow from `alloc`. Adding never fails: a timer
 * that cannot get a node or a place in an array waits on a plain list
 * that tw_next/tw_pop_expired scan (slower, only while memory is short). */
#ifndef TW_H
#define TW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TW_BITS 6
#define TW_SLOTS (1u << TW_BITS)
#define TW_LEVELS 8 /* 48 bits of microseconds: about 8.9 years */
#define TW_LISTS (TW_LEVELS * TW_SLOTS + 1) /* the slots, then the expired list */

/* A lua_Alloc-compatible allocator (ptr NULL: new block; nsize 0: free). */
typedef void *(*tw_alloc_fn)(void *ud, void *ptr, size_t osize, size_t nsize);

enum { TW_IDLE = 0, TW_POOLED, TW_OVERFLOW };

typedef struct tw_timer {
  uint32_t node;                      /* pool index while TW_POOLED */
  uint8_t state;                      /* TW_IDLE / TW_POOLED / TW_OVERFLOW */
  uint64_t expires;
  struct tw_timer *onext, **opprev;   /* the overflow list (TW_OVERFLOW) */
} tw_timer_t;

typedef struct {
  uint64_t expires;
  struct tw_timer *owner; /* NULL: free */
  uint32_t pos;           /* index in its list's array; next free node when free */
  uint32_t list;          /* list id */
} tw_node_t;

typedef struct {
  uint32_t *e;    /* node indices in order; 0: a cancelled entry */
  uint32_t len, cap, live;
} tw_list_t;

typedef struct {
  uint64_t now;
  uint64_t pending[TW_LEVELS]; /* bit s: slot s of that level non-empty */
  tw_list_t list[TW_LISTS];
  uint32_t expired_first;      /* entries of the expired list before it are taken */
  uint32_t free;               /* free nodes, linked by pos */
  uint32_t cap;                /* nodes in the pool */
  uint32_t count;              /* active timers */
  tw_node_t *nodes;            /* [1..cap] */
  uint32_t *scratch;           /* a cascade's entries */
  uint32_t scratch_cap;
  tw_timer_t *overflow;        /* timers that got no node, oldest first */
  tw_timer_t **overflow_tail;
  tw_alloc_fn alloc;
  void *alloc_ud;
} tw_t;

/* `alloc` (may be NULL: every timer goes to the overflow list) provides
 * the node pool. tw_init forgets any previous pool: tw_free it first. */
void tw_init(tw_t *w, uint64_t now, tw_alloc_fn alloc, void *ud);
/* Give the pool back; every timer still in the wheel becomes idle. */
void tw_free(tw_t *w);
void tw_add(tw_t *w, tw_timer_t *t, uint64_t expires);
void tw_cancel(tw_t *w, tw_timer_t *t);
static inline bool tw_active(const tw_timer_t *t) { return t->state != TW_IDLE; }
/* Move time forward to `now`; due timers go to the expired list. */
void tw_advance(tw_t *w, uint64_t now);
/* Pop one expired timer or NULL. Timers that expire at the same time
 * come out in the order they were added. */
tw_timer_t *tw_pop_expired(tw_t *w);
bool tw_overflow_due(const tw_t *w);
/* Something expired is waiting for tw_pop_expired. */
static inline bool tw_has_expired(const tw_t *w) {
  return w->list[TW_LISTS - 1].live != 0 || (w->overflow && tw_overflow_due(w));
}
/* The next (up to) `max` timers tw_pop_expired returns, in that order,
 * into out[] (for prefetching); returns how many. */
int tw_peek_expired(const tw_t *w, tw_timer_t **out, int max);
/* A time <= the earliest pending expiry (exact when it is near), or
 * UINT64_MAX when no timer is pending. Advancing to it and asking again
 * converges on the exact expiry. */
uint64_t tw_next(const tw_t *w);

#endif
