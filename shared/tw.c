#include "tw.h"

#include <stddef.h>

#define TW_MASK (TW_SLOTS - 1)
#define TW_SPAN_BITS (TW_BITS * TW_LEVELS)
/* tw_next reads the exact earliest expiry from a slot this short (one
 * jump instead of one per level, and fewer cascades); longer slots give
 * the slot's start. */
#define TW_SCAN_MAX 8

static void list_push(tw_list_t *l, tw_timer_t *t) {
  t->next = l->head;
  if (l->head) l->head->pprev = &t->next;
  l->head = t;
  t->pprev = &l->head;
}

static void list_unlink(tw_timer_t *t) {
  *t->pprev = t->next;
  if (t->next) t->next->pprev = t->pprev;
  t->next = NULL;
  t->pprev = NULL;
}

static int msb64(uint64_t v) { return 63 - __builtin_clzll(v); }

void tw_init(tw_t *w, uint64_t now) {
  for (int l = 0; l < TW_LEVELS; l++) {
    w->pending[l] = 0;
    for (unsigned s = 0; s < TW_SLOTS; s++) w->slot[l][s].head = NULL;
  }
  w->expired.head = NULL;
  w->expired_tail = &w->expired.head;
  w->now = now;
  w->count = 0;
}

static void push_expired(tw_t *w, tw_timer_t *t) {
  /* FIFO so timers due at the same time fire in the order they were set. */
  t->next = NULL;
  t->level = TW_LEVELS;
  t->pprev = w->expired_tail;
  *w->expired_tail = t;
  w->expired_tail = &t->next;
}

static void place(tw_t *w, tw_timer_t *t) {
  if (t->expires <= w->now) {
    push_expired(w, t);
    return;
  }
  uint64_t at = t->expires;
  /* Beyond the wheel's span: park at the far end; it cascades back in. */
  uint64_t span = (uint64_t)1 << (TW_SPAN_BITS - 1);
  if (at - w->now >= span) at = w->now + span;
  int level = msb64(at ^ w->now) / TW_BITS;
  unsigned s = (unsigned)(at >> (level * TW_BITS)) & TW_MASK;
  list_push(&w->slot[level][s], t);
  t->level = (uint8_t)level;
  t->slot = (uint8_t)s;
  w->pending[level] |= (uint64_t)1 << s;
}

void tw_add(tw_t *w, tw_timer_t *t, uint64_t expires) {
  if (t->pprev) tw_cancel(w, t);
  t->expires = expires;
  w->count++;
  place(w, t);
}

void tw_cancel(tw_t *w, tw_timer_t *t) {
  if (!t->pprev) return;
  if (t->level == TW_LEVELS) {
    /* Keep the expired list's tail right when removing its last element. */
    if (w->expired_tail == &t->next) w->expired_tail = t->pprev;
    list_unlink(t);
  } else {
    unsigned l = t->level, s = t->slot;
    list_unlink(t);
    if (!w->slot[l][s].head) w->pending[l] &= ~((uint64_t)1 << s);
  }
  w->count--;
}

tw_timer_t *tw_pop_expired(tw_t *w) {
  tw_timer_t *t = w->expired.head;
  if (!t) return NULL;
  if (w->expired_tail == &t->next) w->expired_tail = &w->expired.head;
  if (t->next) __builtin_prefetch(t->next, 1); /* the scheduler pops it next */
  list_unlink(t);
  w->count--;
  return t;
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
  tw_list_t todo = {NULL};
  for (int l = 0; l < TW_LEVELS; l++) {
    uint64_t old_pos = w->now >> (l * TW_BITS);
    uint64_t new_pos = now >> (l * TW_BITS);
    if (old_pos == new_pos) break; /* higher levels did not move either */
    uint64_t due = range_mask((unsigned)old_pos & TW_MASK, new_pos - old_pos) & w->pending[l];
    while (due) {
      unsigned s = (unsigned)__builtin_ctzll(due);
      due &= due - 1;
      tw_list_t *sl = &w->slot[l][s];
      while (sl->head) {
        tw_timer_t *t = sl->head;
        /* Big slots are cold (a timer's node is in its task): fetch the
         * next node while this one moves. */
        if (t->next) __builtin_prefetch(t->next, 1);
        list_unlink(t);
        list_push(&todo, t);
      }
      w->pending[l] &= ~((uint64_t)1 << s);
    }
  }
  w->now = now;
  while (todo.head) {
    tw_timer_t *t = todo.head;
    if (t->next) __builtin_prefetch(t->next, 1);
    list_unlink(t);
    place(w, t);
  }
}

uint64_t tw_next(const tw_t *w) {
  if (w->expired.head) return w->now;
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
      const tw_timer_t *t = w->slot[l][s].head;
      for (; t && n < TW_SCAN_MAX; t = t->next, n++)
        if (t->expires < min) min = t->expires;
      /* (A timer at UINT64_MAX, "never", must not read as "none".) */
      if (!t && min != UINT64_MAX) return min;
    }
    int shift = (l + 1) * TW_BITS;
    uint64_t base = shift >= 64 ? 0 : (w->now >> shift) << shift;
    return base | ((uint64_t)s << (l * TW_BITS));
  }
  return UINT64_MAX;
}
