/* Lock-free single-producer/single-consumer ring of events. One ring per
 * interrupt source: the producer is an ISR (or a host thread standing in
 * for one), the consumer is the event loop. No locks, no allocation. */
#ifndef EVRING_H
#define EVRING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
  uint8_t type;     /* EVRING_* */
  uint8_t level;    /* GPIO level after the edge */
  uint16_t source;  /* pin, UART byte, timer id ... */
  uint32_t data;
  uint64_t time_us; /* when it happened (hal_clock_us or virtual time) */
} evring_event_t;

enum { EVRING_GPIO = 1, EVRING_BYTE = 3 };

#define EVRING_SIZE 64u /* power of two */

typedef struct {
  _Atomic uint32_t head; /* written by producer */
  _Atomic uint32_t tail; /* written by consumer */
  _Atomic uint32_t dropped;
  evring_event_t buf[EVRING_SIZE];
} evring_t;

void evring_init(evring_t *r);
/* Producer side. False (and counts a drop) when full. */
bool evring_put(evring_t *r, const evring_event_t *ev);
/* Consumer side. False when empty. */
bool evring_get(evring_t *r, evring_event_t *ev);
bool evring_empty(evring_t *r);
uint32_t evring_dropped(evring_t *r);

#endif
