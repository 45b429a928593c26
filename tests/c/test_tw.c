/* Timer wheel against a brute-force model: random timers, random time
 * steps (small and huge), cancellations; every timer must fire exactly
 * when due (never early, never late past the advance that reaches it), and
 * tw_next must never overshoot the earliest pending expiry. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tw.h"

#define N 2000

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static tw_t wheel;

/* The wheel's allocator; refuses every request after `alloc_budget`
 * (< 0: never), so the overflow path (no node, no room in an array) is
 * tested too. */
static int alloc_budget = -1;
static size_t alloc_live;
static void *test_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud;
  if (nsize == 0) {
    alloc_live -= osize;
    free(ptr);
    return NULL;
  }
  if (alloc_budget == 0) return NULL;
  if (alloc_budget > 0) alloc_budget--;
  void *p = realloc(ptr, nsize);
  if (p) alloc_live += nsize - (ptr ? osize : 0);
  return p;
}

static void init_wheel(uint64_t now) {
  tw_free(&wheel);
  CHECK(alloc_live == 0);
  tw_init(&wheel, now, test_alloc, NULL);
}
static tw_timer_t timers[N];
static uint64_t due[N];
static int armed[N];

static uint64_t earliest(void) {
  uint64_t e = UINT64_MAX;
  for (int i = 0; i < N; i++)
    if (armed[i] && due[i] < e) e = due[i];
  return e;
}

static void drain(uint64_t now) {
  tw_timer_t *t;
  uint64_t last = 0;
  while ((t = tw_pop_expired(&wheel)) != NULL) {
    int i = (int)(t - timers);
    CHECK(armed[i]);
    CHECK(due[i] <= now); /* never early */
    (void)last;
    armed[i] = 0;
  }
  for (int i = 0; i < N; i++) CHECK(!armed[i] || due[i] > now); /* never late */
}

static void test_random(void) {
  memset(timers, 0, sizeof timers);
  memset(armed, 0, sizeof armed);
  uint64_t now = 1000;
  init_wheel(now);
  for (int round = 0; round < 20000; round++) {
    int i = (int)(rnd() % N);
    uint64_t r = rnd();
    switch (r % 4) {
      case 0: case 1: { /* arm (re-arm) */
        uint64_t span = (r >> 8) % 5 == 0 ? (rnd() % (1ull << 40)) : (rnd() % 100000);
        due[i] = now + span;
        tw_add(&wheel, &timers[i], due[i]);
        armed[i] = 1;
        break;
      }
      case 2:
        tw_cancel(&wheel, &timers[i]);
        armed[i] = 0;
        break;
      default: { /* advance, sometimes straight to the next deadline */
        uint64_t step = (r >> 8) % 3 == 0 ? (rnd() % 1000000) : (rnd() % 500);
        uint64_t next = tw_next(&wheel);
        uint64_t e = earliest();
        CHECK(next <= e); /* a lower bound */
        if (e == UINT64_MAX) CHECK(next == UINT64_MAX);
        if ((r >> 16) % 2 && next != UINT64_MAX) step = next - now;
        now += step;
        tw_advance(&wheel, now);
        drain(now);
        break;
      }
    }
  }
}

/* Jumping with tw_next converges on each exact expiry (virtual time). */
static void test_virtual_jumps(void) {
  memset(timers, 0, sizeof timers);
  memset(armed, 0, sizeof armed);
  uint64_t now = 0;
  init_wheel(now);
  for (int i = 0; i < 500; i++) {
    due[i] = 1 + rnd() % (1ull << 36);
    tw_add(&wheel, &timers[i], due[i]);
    armed[i] = 1;
  }
  int fired = 0, steps = 0;
  while (fired < 500) {
    uint64_t next = tw_next(&wheel);
    CHECK(next != UINT64_MAX);
    CHECK(next <= earliest());
    now = next;
    tw_advance(&wheel, now);
    tw_timer_t *t;
    while ((t = tw_pop_expired(&wheel)) != NULL) {
      int i = (int)(t - timers);
      CHECK_EQ_U64(due[i], now); /* exactly on time */
      armed[i] = 0;
      fired++;
    }
    steps++;
  }
  /* Each timer costs at most one extra step per wheel level. */
  CHECK(steps <= 500 * TW_LEVELS);
  CHECK(tw_next(&wheel) == UINT64_MAX);
}

static void test_same_time_fifo(void) {
  init_wheel(0);
  memset(timers, 0, sizeof timers);
  for (int i = 0; i < 10; i++) tw_add(&wheel, &timers[i], 77);
  tw_advance(&wheel, 100);
  for (int i = 0; i < 10; i++) CHECK(tw_pop_expired(&wheel) == &timers[i]);
  CHECK(tw_pop_expired(&wheel) == NULL);
  /* cancel from the middle and the end of the expired list */
  for (int i = 0; i < 5; i++) tw_add(&wheel, &timers[i], 100);
  tw_cancel(&wheel, &timers[4]);
  tw_cancel(&wheel, &timers[2]);
  tw_add(&wheel, &timers[9], 50);
  CHECK(tw_pop_expired(&wheel) == &timers[0]);
  CHECK(tw_pop_expired(&wheel) == &timers[1]);
  CHECK(tw_pop_expired(&wheel) == &timers[3]);
  CHECK(tw_pop_expired(&wheel) == &timers[9]);
  CHECK(tw_pop_expired(&wheel) == NULL);
  CHECK(wheel.count == 0);
}

/* Sparse timers (short slots): tw_next is exact, one jump per expiry,
 * and same-time timers still fire in the order they were set after
 * cascading down from a high level. */
static void test_exact_next(void) {
  init_wheel(0);
  memset(timers, 0, sizeof timers);
  tw_add(&wheel, &timers[0], 1000000);
  CHECK_EQ_U64(tw_next(&wheel), 1000000);
  tw_advance(&wheel, 1000000);
  CHECK(tw_pop_expired(&wheel) == &timers[0]);
  for (int i = 0; i < 6; i++) tw_add(&wheel, &timers[i], 5000000);
  for (int i = 6; i < 12; i++) tw_add(&wheel, &timers[i], 4000000 + 1000 * (uint64_t)i);
  int steps = 0;
  uint64_t last = 0;
  for (int fired = 0; fired < 12; steps++) {
    uint64_t next = tw_next(&wheel);
    CHECK(next > last);
    last = next;
    tw_advance(&wheel, next);
    tw_timer_t *t;
    int k = 0;
    while ((t = tw_pop_expired(&wheel)) != NULL) {
      if (next == 5000000) CHECK(t == &timers[k]); /* FIFO at the same time */
      k++;
      fired++;
    }
    CHECK(k > 0); /* every jump lands on an expiry */
  }
  CHECK(steps == 7);
}

/* Freeing the pool idles every timer still in it. */
static void test_free(void) {
  init_wheel(0);
  memset(timers, 0, sizeof timers);
  for (int i = 0; i < 100; i++) tw_add(&wheel, &timers[i], 1000 + (uint64_t)i);
  tw_advance(&wheel, 1010);
  tw_free(&wheel);
  CHECK(alloc_live == 0);
  for (int i = 0; i < 100; i++) CHECK(!tw_active(&timers[i]));
  tw_cancel(&wheel, &timers[5]); /* harmless now */
  CHECK(wheel.count == 0);
}

int main(void) {
  tw_init(&wheel, 0, test_alloc, NULL);
  test_exact_next();
  test_same_time_fifo();
  test_virtual_jumps();
  test_random();
  test_free();
  /* Again with the allocator refusing after a few requests, and with no
   * memory at all: the rest waits on the overflow list. */
  for (int b = 1; b < 40; b += 7) {
    alloc_budget = b;
    test_random();
    alloc_budget = b;
    test_same_time_fifo();
  }
  alloc_budget = 20;
  test_virtual_jumps();
  alloc_budget = 0;
  test_exact_next();
  test_same_time_fifo();
  test_virtual_jumps();
  test_random();
  alloc_budget = -1;
  test_free();
  tw_free(&wheel);
  puts("tw: ok");
  return 0;
}
