#include "evring.h"

void evring_init(evring_t *r) {
  atomic_store_explicit(&r->head, 0, memory_order_relaxed);
  atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
  atomic_store_explicit(&r->dropped, 0, memory_order_relaxed);
}

bool evring_put(evring_t *r, const evring_event_t *ev) {
  uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
  uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
  if (head - tail >= EVRING_SIZE) {
    /* Only the producer writes `dropped`, so a relaxed RMW is enough. */
    atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
    return false;
  }
  r->buf[head & (EVRING_SIZE - 1)] = *ev;
  /* Release: the slot contents are visible before the new head. */
  atomic_store_explicit(&r->head, head + 1, memory_order_release);
  return true;
}

bool evring_get(evring_t *r, evring_event_t *ev) {
  uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
  uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
  if (head == tail) return false;
  *ev = r->buf[tail & (EVRING_SIZE - 1)];
  atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
  return true;
}

bool evring_empty(evring_t *r) {
  return atomic_load_explicit(&r->head, memory_order_acquire) ==
         atomic_load_explicit(&r->tail, memory_order_relaxed);
}

uint32_t evring_dropped(evring_t *r) {
  return atomic_load_explicit(&r->dropped, memory_order_relaxed);
}
