#include "tw.h"

#include <stddef.h>

#define TW_MASK (TW_SLOTS - 1)
#define TW_SPAN_BITS (TW_BITS * TW_LEVELS)
#define TW_EXPIRED (TW_LISTS - 1)
/* tw_next reads the exact earliest expiry from a slot this short (one
 * jump instead of one per level, and fewer cascades); longer slots give
 * the slot's start. */
#define TW_SCAN_MAX 8
/* Nodes a cascade prefetches ahead of the one it places. */
#define TW_AHEAD 8
/* An emptied array bigger than this goes back to the allocator. */
#define TW_KEEP_CAP 256

/* ---- the node pool ----
 * One array, indexed from 1 (0: none); it doubles when full. Nothing
 * keeps a node's address across a growth: lists hold indices. */

static inline tw_node_t *node(const tw_t *w, uint32_t i) { return &w->nodes[i]; }

static bool grow_pool(tw_t *w) {
  if (!w->alloc || w->cap >= (1u << 30)) return false;
  uint32_t ncap = w->cap ? w->cap * 2 : 16;
  tw_node_t *p = w->alloc(w->alloc_ud, w->nodes, w->nodes ? (w->cap + 1) * sizeof *p : 0,
                          (ncap + 1) * sizeof *p);
  if (!p) return false;
  w->nodes = p;
  for (uint32_t i = ncap; i > w->cap; i--) { /* lower indices first out */
    p[i].owner = NULL;
    p[i].pos = w->free;
    w->free = i;
  }
  w->cap = ncap;
  return true;
}

static uint32_t take_node(tw_t *w) {
  if (!w->free && !grow_pool(w)) return 0;
  uint32_t i = w->free;
  w->free = node(w, i)->pos;
  return i;
}

static void free_node(tw_t *w, uint32_t i) {
  tw_node_t *n = node(w, i);
  n->owner = NULL;
  n->pos = w->free;
  w->free = i;
}

/* ---- arrays ---- */

static bool reserve(tw_t *w, uint32_t **e, uint32_t *cap, uint32_t need) {
  if (need <= *cap) return true;
  uint32_t ncap = *cap ? *cap : 8;
  while (ncap < need) ncap *= 2;
  if (!w->alloc) return false;
  uint32_t *p = w->alloc(w->alloc_ud, *e, *e ? *cap * sizeof **e : 0, ncap * sizeof **e);
  if (!p) return false;
  *e = p;
  *cap = ncap;
  return true;
}

static void release(tw_t *w, uint32_t **e, uint32_t *cap) {
  if (*e) w->alloc(w->alloc_ud, *e, *cap * sizeof **e, 0);
  *e = NULL;
  *cap = 0;
}

static inline bool list_append(tw_t *w, uint32_t l, uint32_t i) {
  tw_list_t *L = &w->list[l];
  if (L->len == L->cap && !reserve(w, &L->e, &L->cap, L->len + 1)) return false;
  tw_node_t *n = node(w, i);
  n->list = (uint16_t)l;
  n->pos = L->len;
  L->e[L->len++] = i;
  L->live++;
  return true;
}

/* Squeeze the zeros out of a list (order kept). */
static void compact(tw_t *w, uint32_t l) {
  tw_list_t *L = &w->list[l];
  uint32_t j = l == TW_EXPIRED ? w->expired_first : 0;
  for (uint32_t k = j; k < L->len; k++) {
    uint32_t i = L->e[k];
    if (!i) continue;
    node(w, i)->pos = j;
    L->e[j++] = i;
  }
  L->len = j;
}

static int msb64(uint64_t v) { return 63 - __builtin_clzll(v); }

void tw_init(tw_t *w, uint64_t now, tw_alloc_fn alloc, void *ud) {
  for (int l = 0; l < TW_LEVELS; l++) w->pending[l] = 0;
  for (unsigned i = 0; i < TW_LISTS; i++) {
    w->list[i].e = NULL;
    w->list[i].len = w->list[i].cap = w->list[i].live = 0;
  }
  w->expired_first = 0;
  w->free = 0;
  w->cap = 0;
  w->nodes = NULL;
  w->scratch = NULL;
  w->scratch_cap = 0;
  w->overflow = NULL;
  w->overflow_tail = &w->overflow;
  w->alloc = alloc;
  w->alloc_ud = ud;
  w->now = now;
  w->count = 0;
}

void tw_free(tw_t *w) {
  for (uint32_t i = 1; i <= w->cap; i++)
    if (node(w, i)->owner) {
      tw_timer_t *t = node(w, i)->owner;
      t->state = TW_IDLE;
      t->node = 0;
    }
  for (tw_timer_t *t = w->overflow, *nx; t; t = nx) {
    nx = t->onext;
    t->state = TW_IDLE;
    t->onext = NULL;
    t->opprev = NULL;
  }
  for (unsigned i = 0; i < TW_LISTS; i++) release(w, &w->list[i].e, &w->list[i].cap);
  release(w, &w->scratch, &w->scratch_cap);
  if (w->nodes) w->alloc(w->alloc_ud, w->nodes, (w->cap + 1) * sizeof *w->nodes, 0);
  tw_init(w, w->now, w->alloc, w->alloc_ud);
}

/* ---- the overflow list (no node or no room in an array) ---- */

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

/* ---- placing ---- */

/* Node i (no list) into its slot or the expired list; with no room
 * there, its timer moves to the overflow list. */
/* No room in the list's array (memory short): the timer goes to the
 * overflow list. */
static __attribute__((noinline)) void place_slow(tw_t *w, uint32_t l, uint32_t i) {
  if (list_append(w, l, i)) {
    if (l != TW_EXPIRED) w->pending[l / TW_SLOTS] |= (uint64_t)1 << (l % TW_SLOTS);
    return;
  }
  tw_timer_t *t = node(w, i)->owner;
  free_node(w, i);
  t->node = 0;
  overflow_push(w, t);
}

/* Level of a timer from the highest bit where its expiry and now differ. */
static const uint8_t level_of[64] = {
#define L6(x) x, x, x, x, x, x
    L6(0), L6(1), L6(2), L6(3), L6(4), L6(5), L6(6), L6(7), 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7
#undef L6
};

static inline void place(tw_t *w, uint32_t i) {
  tw_node_t *n = node(w, i);
  uint64_t at = n->expires, now = w->now;
  uint32_t l;
  if (at <= now) {
    l = TW_EXPIRED; /* FIFO: timers due at the same time fire in the order they were set */
  } else {
    /* Beyond the wheel's span: park at the far end; it cascades back in. */
    uint64_t span = (uint64_t)1 << (TW_SPAN_BITS - 1);
    if (at - now >= span) at = now + span;
    unsigned level = level_of[msb64(at ^ now)];
    l = level * TW_SLOTS + ((unsigned)(at >> (level * TW_BITS)) & TW_MASK);
  }
  tw_list_t *L = &w->list[l];
  if (L->len == L->cap) {
    place_slow(w, l, i);
    return;
  }
  n->list = l;
  n->pos = L->len;
  L->e[L->len++] = i;
  L->live++;
  if (l != TW_EXPIRED) w->pending[l / TW_SLOTS] |= (uint64_t)1 << (l % TW_SLOTS);
}

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
  node(w, i)->owner = t;
  node(w, i)->expires = expires;
  place(w, i);
}

/* A list whose last live entry went: empty it (its slot is no longer
 * pending), giving a big array back. */
static void list_emptied(tw_t *w, uint32_t l) {
  tw_list_t *L = &w->list[l];
  L->len = 0;
  if (l == TW_EXPIRED)
    w->expired_first = 0;
  else
    w->pending[l / TW_SLOTS] &= ~((uint64_t)1 << (l % TW_SLOTS));
  if (L->cap > TW_KEEP_CAP) release(w, &L->e, &L->cap);
}

void tw_cancel(tw_t *w, tw_timer_t *t) {
  if (t->state == TW_IDLE) return;
  if (t->state == TW_OVERFLOW) {
    overflow_unlink(w, t);
  } else {
    uint32_t i = t->node;
    tw_node_t *n = node(w, i);
    uint32_t l = n->list;
    tw_list_t *L = &w->list[l];
    L->e[n->pos] = 0;
    L->live--;
    free_node(w, i);
    t->node = 0;
    if (!L->live)
      list_emptied(w, l);
    else if (L->len - L->live > L->live + 16)
      compact(w, l);
  }
  t->state = TW_IDLE;
  w->count--;
}

tw_timer_t *tw_pop_expired(tw_t *w) {
  tw_list_t *L = &w->list[TW_EXPIRED];
  if (L->live) {
    uint32_t i;
    while (!(i = L->e[w->expired_first])) w->expired_first++;
    w->expired_first++;
    L->live--;
    tw_timer_t *t = node(w, i)->owner;
    free_node(w, i);
    if (!L->live) list_emptied(w, TW_EXPIRED);
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
  const tw_list_t *L = &w->list[TW_EXPIRED];
  for (uint32_t k = w->expired_first; k < L->len && n < max; k++)
    if (L->e[k]) out[n++] = node(w, L->e[k])->owner;
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

/* Place the entries e[0..n) (zeros skipped), prefetching ahead. */
static void place_all(tw_t *w, const uint32_t *e, uint32_t n) {
  for (uint32_t k = 0; k < n; k++) {
    if (k + TW_AHEAD < n && e[k + TW_AHEAD]) __builtin_prefetch(node(w, e[k + TW_AHEAD]), 1);
    if (e[k]) place(w, e[k]);
  }
}

void tw_advance(tw_t *w, uint64_t now) {
  if (now <= w->now) return;
  /* The due slots of each level that moved, and how many entries. */
  uint64_t due[TW_LEVELS];
  int nl = 0;
  uint32_t total = 0;
  for (; nl < TW_LEVELS; nl++) {
    uint64_t old_pos = w->now >> (nl * TW_BITS);
    uint64_t new_pos = now >> (nl * TW_BITS);
    if (old_pos == new_pos) break; /* higher levels did not move either */
    uint64_t d = w->pending[nl];
    if (d) d &= range_mask((unsigned)old_pos & TW_MASK, new_pos - old_pos);
    for (uint64_t x = d; x; x &= x - 1)
      total += w->list[(uint32_t)nl * TW_SLOTS + (unsigned)__builtin_ctzll(x)].len;
    due[nl] = d;
  }
  w->now = now;
  if (!total) return;
  /* Collect every due entry first, highest level first (for one expiry,
   * the timers set earliest sit highest: same-time timers keep the order
   * they were set), then place them from the new time: a due slot is
   * then empty, so nothing lands in one still to be read. */
  uint32_t small[64];
  uint32_t *buf = small;
  if (total > 64) buf = reserve(w, &w->scratch, &w->scratch_cap, total) ? w->scratch : NULL;
  uint32_t n = 0;
  for (int l = nl - 1; l >= 0; l--) {
    for (uint64_t d = due[l]; d; d &= d - 1) {
      unsigned s = (unsigned)__builtin_ctzll(d);
      tw_list_t *L = &w->list[(uint32_t)l * TW_SLOTS + s];
      w->pending[l] &= ~((uint64_t)1 << s);
      uint32_t len = L->len;
      L->len = L->live = 0;
      if (buf) {
        for (uint32_t k = 0; k < len; k++) buf[n++] = L->e[k];
      } else {
        /* No room to collect (memory short): place straight from the
         * slot's array, detached so placing cannot append to it. */
        uint32_t *e = L->e, cap = L->cap;
        L->e = NULL;
        L->cap = 0;
        place_all(w, e, len);
        if (!L->e && !L->len) { /* nothing landed here meanwhile: keep it */
          L->e = e;
          L->cap = cap;
        } else {
          release(w, &e, &cap);
        }
      }
      if (L->cap > TW_KEEP_CAP) release(w, &L->e, &L->cap);
    }
  }
  if (buf) place_all(w, buf, n);
  if (w->scratch_cap > TW_KEEP_CAP * 16) release(w, &w->scratch, &w->scratch_cap);
}

uint64_t tw_next(const tw_t *w) {
  uint64_t best = UINT64_MAX;
  if (w->overflow) {
    for (const tw_timer_t *t = w->overflow; t; t = t->onext)
      if (t->expires < best) best = t->expires;
    if (best <= w->now) return w->now;
  }
  if (w->list[TW_EXPIRED].live) return w->now;
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
      const tw_list_t *L = &w->list[(uint32_t)l * TW_SLOTS + s];
      if (L->live <= TW_SCAN_MAX) {
        uint64_t min = UINT64_MAX;
        for (uint32_t k = 0; k < L->len; k++)
          if (L->e[k] && node(w, L->e[k])->expires < min) min = node(w, L->e[k])->expires;
        /* (A timer at UINT64_MAX, "never", must not read as "none".) */
        if (min != UINT64_MAX) return min < best ? min : best;
      }
    }
    int shift = (l + 1) * TW_BITS;
    uint64_t base = shift >= 64 ? 0 : (w->now >> shift) << shift;
    uint64_t at = base | ((uint64_t)s << (l * TW_BITS));
    return at < best ? at : best;
  }
  return best;
}
