/* Hierarchical timer wheel (microsecond ticks). Add, cancel and the
 * next-deadline query are O(1) in the number of timers; advancing time
 * touches only slots that became due, each timer cascading at most once
 * per level. Cost does not grow with the number of sleeping tasks. */
#ifndef TW_H
#define TW_H

#include <stdbool.h>
#include <stdint.h>

#define TW_BITS 6
#define TW_SLOTS (1u << TW_BITS)
#define TW_LEVELS 8 /* 48 bits of microseconds: about 8.9 years */

typedef struct tw_timer {
  struct tw_timer *next, **pprev; /* intrusive list; pprev NULL = idle */
  uint64_t expires;
  uint8_t level, slot; /* where it sits; level TW_LEVELS = expired list */
} tw_timer_t;

typedef struct {
  tw_timer_t *head;
} tw_list_t;

typedef struct {
  uint64_t now;
  uint64_t pending[TW_LEVELS]; /* bit s: slot s of that level non-empty */
  tw_list_t slot[TW_LEVELS][TW_SLOTS];
  tw_list_t expired;           /* due, not yet taken */
  tw_timer_t **expired_tail;
  uint32_t count;
} tw_t;

void tw_init(tw_t *w, uint64_t now);
void tw_add(tw_t *w, tw_timer_t *t, uint64_t expires);
void tw_cancel(tw_t *w, tw_timer_t *t);
static inline bool tw_active(const tw_timer_t *t) { return t->pprev != 0; }
/* Move time forward to `now`; due timers go to the expired list. */
void tw_advance(tw_t *w, uint64_t now);
/* Pop one expired timer or NULL. */
tw_timer_t *tw_pop_expired(tw_t *w);
/* A time <= the earliest pending expiry (exact when it is near), or
 * UINT64_MAX when no timer is pending. Advancing to it and asking again
 * converges on the exact expiry. */
uint64_t tw_next(const tw_t *w);

#endif
