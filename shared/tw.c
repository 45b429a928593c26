#include "tw.h"

#include <stddef.h>

#define TW_MASK (TW_SLOTS - 1)
#define TW_SPAN_BITS (TW_BITS * TW_LEVELS)
#define TW_EXPIRED (TW_LISTS - 1)
#define TW_HEAD 0x80000000u
/* tw_next reads the exact earliest expiry from a slot this short (one
 * jump instead of one per level, and fewer cascades); longer slots give
 * the slot's start. */
#define TW_SCAN_MAX 8

/* ---- the node pool ----
 * Index i >= 1 lives in chunk k = msb(i - 1 + 16) - 4 (16 << k nodes, so
 * chunks never move and the pool starts small on a board). A chunk holds
 * its nodes, then one owner pointer per node (read only on expiry). */

static inline uint32_t chunk_of(uint32_t i, uint32_t *off) {
  uint32_t x = i - 1 + (1u << TW_CHUNK0_BITS);
  uint32_t m = 31u - (uint32_t)__builtin_clz(x);
  *off = x - (1u << m);
  return m - TW_CHUNK0_BITS;
}

static inline tw_node_t *node(const tw_t *w, uint32_t i) {
  uint32_t off, k = chunk_of(i, &off);
  return &w->chunk[k][off];
}

static inline tw_timer_t **owner(const tw_t *w, uint32_t i) {
  uint32_t off, k = chunk_of(i, &off);
  return (tw_timer_t **)(w->chunk[k] + ((size_t)1 << (k + TW_CHUNK0_BITS))) + off;
}

static size_t chunk_bytes(int k) {
  return ((size_t)1 << (k + TW_CHUNK0_BITS)) * (sizeof(tw_node_t) + sizeof(tw_timer_t *));
}

static bool grow(tw_t *w) {
  int k = w->nchunks;
  if (!w->alloc || k >= TW_CHUNKS) return false;
  tw_node_t *c = w->alloc(w->alloc_ud, NULL, 0, chunk_bytes(k));
  if (!c) return false;
  w->chunk[k] = c;
  w->nchunks++;
  uint32_t n = 1u << (k + TW_CHUNK0_BITS);
  /* Lower indices first out of the free list. */
  for (uint32_t j = n; j-- > 0;) {
    c[j].prev = 0;
    c[j].next = w->free;
    w->free = w->cap + 1 + j;
  }
  w->cap += n;
  return true;
}

static uint32_t take_node(tw_t *w) {
  if (!w->free && !grow(w)) return 0;
  uint32_t i = w->free;
  w->free = node(w, i)->next;
  return i;
}

static void free_node(tw_t *w, uint32_t i) {
  tw_node_t *n = node(w, i);
  n->prev = 0;
  n->next = w->free;
  w->free = i;
}

/* ---- lists of nodes ---- */

static void list_push(tw_t *w, uint32_t list, uint32_t i) {
  tw_node_t *n = node(w, i);
  uint32_t h = w->head[list];
  n->next = h;
  n->prev = TW_HEAD | list;
  if (h) node(w, h)->prev = i;
  w->head[list] = i;
}

/* Unlink node i; returns its list id when it was the first, else -1. */
static int list_unlink(tw_t *w, uint32_t i) {
  tw_node_t *n = node(w, i);
  int list = -1;
  if (n->prev & TW_HEAD) {
    list = (int)(n->prev & ~TW_HEAD);
    w->head[list] = n->next;
  } else {
    node(w, n->prev)->next = n->next;
  }
  if (n->next) node(w, n->next)->prev = n->prev;
  return list;
}

static int msb64(uint64_t v) { return 63 - __builtin_clzll(v); }

void tw_init(tw_t *w, uint64_t now, tw_alloc_fn alloc, void *ud) {
  for (int l = 0; l < TW_LEVELS; l++) w->pending[l] = 0;
  for (unsigned i = 0; i < TW_LISTS; i++) w->head[i] = 0;
  w->expired_tail = 0;
  w->free = 0;
  w->cap = 0;
  w->nchunks = 0;
  for (int k = 0; k < TW_CHUNKS; k++) w->chunk[k] = NULL;
  w->overflow = NULL;
  w->overflow_tail = &w->overflow;
  w->alloc = alloc;
  w->alloc_ud = ud;
  w->now = now;
  w->count = 0;
}

void tw_free(tw_t *w) {
  for (uint32_t i = 1; i <= w->cap; i++)
    if (node(w, i)->prev) {
      tw_timer_t *t = *owner(w, i);
      t->state = TW_IDLE;
      t->node = 0;
    }
  for (tw_timer_t *t = w->overflow, *nx; t; t = nx) {
    nx = t->onext;
    t->state = TW_IDLE;
    t->onext = NULL;
    t->opprev = NULL;
  }
  for (int k = 0; k < w->nchunks; k++) w->alloc(w->alloc_ud, w->chunk[k], chunk_bytes(k), 0);
  tw_init(w, w->now, w->alloc, w->alloc_ud);
}

static void push_expired(tw_t *w, uint32_t i) {
  /* FIFO so timers due at the same time fire in the order they were set. */
  tw_node_t *n = node(w, i);
  n->next = 0;
  if (w->expired_tail) {
    node(w, w->expired_tail)->next = i;
    n->prev = w->expired_tail;
  } else {
    w->head[TW_EXPIRED] = i;
    n->prev = TW_HEAD | TW_EXPIRED;
  }
  w->expired_tail = i;
}

static void place(tw_t *w, uint32_t i) {
  uint64_t at = node(w, i)->expires;
  if (at <= w->now) {
    push_expired(w, i);
    return;
  }
  /* Beyond the wheel's span: park at the far end; it cascades back in. */
  uint64_t span = (uint64_t)1 << (TW_SPAN_BITS - 1);
  if (at - w->now >= span) at = w->now + span;
  int level = msb64(at ^ w->now) / TW_BITS;
  unsigned s = (unsigned)(at >> (level * TW_BITS)) & TW_MASK;
  list_push(w, (uint32_t)level * TW_SLOTS + s, i);
  w->pending[level] |= (uint64_t)1 << s;
}

/* ---- the overflow list (no node could be had) ---- */

static void overflow_push(tw_t *w, tw_timer_t *t) {
  /* Appended: the first due one popped is the oldest (FIFO, as above). */
  t->state = TW_OVERFLOW;
  t->onext = NULL;
  t->opprev = w->overflow_tail;
  *w->overflow_tail = t;
  w->overflow_tail = &t->onext;
}

static void overflow_unlink(tw_t *w, tw_timer_t *t) {
  if (w->overflow_tail == &t->onext) w->overflow_tail = t->opprev;
  *t->opprev = t->onext;
  if (t->onext) t->onext->opprev = t->opprev;
  t->onext = NULL;
  t->opprev = NULL;
}

bool tw_overflow_due(const tw_t *w) {
  for (const tw_timer_t *t = w->overflow; t; t = t->onext)
    if (t->expires <= w->now) return true;
  return false;
}

/* ---- timers ---- */

void tw_add(tw_t *w, tw_timer_t *t, uint64_t expires) {
  if (t->state != TW_IDLE) tw_cancel(w, t);
  t->expires = expires;
  w->count++;
  uint32_t i = take_node(w);
  if (!i) {
    overflow_push(w, t);
    return;
  }
  t->state = TW_POOLED;
  t->node = i;
  *owner(w, i) = t;
  node(w, i)->expires = expires;
  place(w, i);
}

void tw_cancel(tw_t *w, tw_timer_t *t) {
  if (t->state == TW_IDLE) return;
  if (t->state == TW_OVERFLOW) {
    overflow_unlink(w, t);
  } else {
    uint32_t i = t->node;
    tw_node_t *n = node(w, i);
    if (w->expired_tail == i) /* keep the expired list's tail right */
      w->expired_tail = (n->prev & TW_HEAD) ? 0 : n->prev;
    int list = list_unlink(w, i);
    if (list >= 0 && list != TW_EXPIRED && !w->head[list])
      w->pending[list / TW_SLOTS] &= ~((uint64_t)1 << (list % TW_SLOTS));
    free_node(w, i);
    t->node = 0;
  }
  t->state = TW_IDLE;
  w->count--;
}

tw_timer_t *tw_pop_expired(tw_t *w) {
  uint32_t i = w->head[TW_EXPIRED];
  if (i) {
    tw_node_t *n = node(w, i);
    tw_timer_t *t = *owner(w, i);
    /* The scheduler touches the next one's timer (its task) next. */
    if (n->next) __builtin_prefetch(*owner(w, n->next), 1);
    if (w->expired_tail == i) w->expired_tail = 0;
    list_unlink(w, i);
    free_node(w, i);
    t->node = 0;
    t->state = TW_IDLE;
    w->count--;
    return t;
  }
  for (tw_timer_t *t = w->overflow; t; t = t->onext)
    if (t->expires <= w->now) {
      overflow_unlink(w, t);
      t->state = TW_IDLE;
      w->count--;
      return t;
    }
  return NULL;
}

int tw_peek_expired(const tw_t *w, tw_timer_t **out, int max) {
  int n = 0;
  for (uint32_t i = w->head[TW_EXPIRED]; i && n < max; i = node(w, i)->next) out[n++] = *owner(w, i);
  for (tw_timer_t *t = w->overflow; t && n < max; t = t->onext)
    if (t->expires <= w->now) out[n++] = t;
  return n;
}

/* Slots (from, from+n] of a level, as a bit mask (n >= 64: all). */
static uint64_t range_mask(unsigned from, uint64_t n) {
  if (n >= TW_SLOTS) return ~(uint64_t)0;
  if (n == 0) return 0;
  uint64_t m = ((uint64_t)1 << n) - 1;
  unsigned start = (from + 1) & TW_MASK;
  return (m << start) | (start ? (m >> (TW_SLOTS - start)) : 0);
}

void tw_advance(tw_t *w, uint64_t now) {
  if (now <= w->now) return;
  /* Due slots are emptied into `todo` (linked by next, reversing each
   * slot's newest-first order), then placed again from the new time. */
  uint32_t todo = 0;
  for (int l = 0; l < TW_LEVELS; l++) {
    uint64_t old_pos = w->now >> (l * TW_BITS);
    uint64_t new_pos = now >> (l * TW_BITS);
    if (old_pos == new_pos) break; /* higher levels did not move either */
    uint64_t due = range_mask((unsigned)old_pos & TW_MASK, new_pos - old_pos) & w->pending[l];
    while (due) {
      unsigned s = (unsigned)__builtin_ctzll(due);
      due &= due - 1;
      uint32_t *h = &w->head[(uint32_t)l * TW_SLOTS + s];
      uint32_t i = *h;
      while (i) {
        tw_node_t *n = node(w, i);
        uint32_t nx = n->next;
        if (nx) __builtin_prefetch(node(w, nx), 1);
        n->next = todo;
        todo = i;
        i = nx;
      }
      *h = 0;
      w->pending[l] &= ~((uint64_t)1 << s);
    }
  }
  w->now = now;
  while (todo) {
    uint32_t i = todo;
    todo = node(w, i)->next;
    if (todo) __builtin_prefetch(node(w, todo), 1);
    place(w, i);
  }
}

uint64_t tw_next(const tw_t *w) {
  uint64_t best = UINT64_MAX;
  if (w->overflow) {
    for (const tw_timer_t *t = w->overflow; t; t = t->onext)
      if (t->expires < best) best = t->expires;
    if (best <= w->now) return w->now;
  }
  if (w->head[TW_EXPIRED]) return w->now;
  for (int l = 0; l < TW_LEVELS; l++) {
    uint64_t p = w->pending[l];
    if (!p) continue;
    /* Every timer on level l has its level-l digit above now's. */
    unsigned cur = (unsigned)(w->now >> (l * TW_BITS)) & TW_MASK;
    uint64_t above = (cur == TW_MASK) ? 0 : (p & (~(uint64_t)0 << (cur + 1)));
    if (!above) continue;
    unsigned s = (unsigned)__builtin_ctzll(above);
    if (l > 0) {
      /* This slot holds the earliest timers; when it is short, its
       * minimum is the exact next expiry. */
      uint64_t min = UINT64_MAX;
      int n = 0;
      uint32_t i = w->head[(uint32_t)l * TW_SLOTS + s];
      for (; i && n < TW_SCAN_MAX; n++) {
        const tw_node_t *nd = node(w, i);
        if (nd->expires < min) min = nd->expires;
        i = nd->next;
      }
      /* (A timer at UINT64_MAX, "never", must not read as "none".) */
      if (!i && min != UINT64_MAX) return min < best ? min : best;
    }
    int shift = (l + 1) * TW_BITS;
    uint64_t base = shift >= 64 ? 0 : (w->now >> shift) << shift;
    uint64_t at = base | ((uint64_t)s << (l * TW_BITS));
    return at < best ? at : best;
  }
  return best;
}
