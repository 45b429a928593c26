#define _POSIX_C_SOURCE 200809L
#include "host.h"

#include <poll.h>
#include <sys/random.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "hal/hal_clock.h"
#include "hal/hal_console.h"
#include "hal/hal_random.h"

#define HOST_MAX_FDS 8

static struct {
  struct pollfd pfd[HOST_MAX_FDS];
  host_fd_fn fn[HOST_MAX_FDS];
  void *ud[HOST_MAX_FDS];
  int n;
  uint64_t boot_ns;
  uint64_t last_us; /* last value of hal_clock_us */
  bool booted;
} H;

#ifdef HOST_TEST_CLOCK
/* tests/c/test_host.c builds this file with a clock it controls (one that
 * jumps between two reads); the simulator reads the real one directly. */
uint64_t host_test_mono_ns(void);
#define mono_ns host_test_mono_ns
#else
static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif

/* Saturating and never backwards: a raw clock below its boot value or
 * below an earlier reading (a stepped or misbehaving clock) repeats the
 * last value instead of wrapping around to a huge one. */
uint64_t hal_clock_us(void) {
  uint64_t raw = mono_ns();
  if (!H.booted) {
    H.boot_ns = raw;
    H.booted = true;
#ifdef PR_SET_TIMERSLACK
    /* Wake-ups on time: the default 50 us slack lets the kernel defer our
     * sleeps to batch them with others (measured in bench/rt_timers.lua). */
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
#endif
  }
  uint64_t us = raw > H.boot_ns ? (raw - H.boot_ns) / 1000u : 0;
  if (us < H.last_us) us = H.last_us;
  H.last_us = us;
  return us;
}

bool host_watch_fd(int fd, host_fd_fn fn, void *ud) {
  if (H.n >= HOST_MAX_FDS) return false;
  H.pfd[H.n].fd = fd;
  H.pfd[H.n].events = POLLIN;
  H.fn[H.n] = fn;
  H.ud[H.n] = ud;
  H.n++;
  return true;
}

void host_unwatch_fd(int fd) {
  for (int i = 0; i < H.n; i++)
    if (H.pfd[i].fd == fd) {
      H.n--;
      H.pfd[i] = H.pfd[H.n];
      H.fn[i] = H.fn[H.n];
      H.ud[i] = H.ud[H.n];
      return;
    }
}

static void dispatch(void) {
  for (int i = 0; i < H.n; i++)
    if (H.pfd[i].revents) {
      int fd = H.pfd[i].fd;
      H.pfd[i].revents = 0;
      H.fn[i](fd, H.ud[i]);
      break; /* the list may have changed */
    }
}

/* Longest single wait; the loop asks again (keeps any error in a deadline
 * from becoming a sleep of years). */
#define HOST_MAX_WAIT_US 60000000u

/* One clock read decides the wait, and `deadline <= now` means no wait: a
 * second read could be later than the deadline (the process preempted in
 * between), and `deadline - now` would then wrap to a huge sleep. A signal
 * ends the wait early (the loop then looks at what it brought). */
void hal_clock_idle(uint64_t deadline_us) {
  uint64_t wait_us = UINT64_MAX; /* none: until input or a signal */
  if (deadline_us != UINT64_MAX) {
    uint64_t now = hal_clock_us();
    wait_us = deadline_us > now ? deadline_us - now : 0;
    if (wait_us > HOST_MAX_WAIT_US) wait_us = HOST_MAX_WAIT_US;
  }
  if (H.n == 0) {
    if (wait_us == 0) return;
    if (wait_us == UINT64_MAX) {
      /* Nothing can wake us but a signal: the loop only asks when one can
       * (or when something else will). */
      pause();
      return;
    }
    /* Sleep precisely rather than in whole milliseconds. */
    struct timespec ts = {(time_t)(wait_us / 1000000u), (long)(wait_us % 1000000u) * 1000};
    nanosleep(&ts, NULL);
    return;
  }
  int timeout = wait_us == UINT64_MAX ? -1 : (int)((wait_us + 999) / 1000);
  if (poll(H.pfd, (nfds_t)H.n, timeout) > 0) dispatch();
}

/* The REPL's hook (sim/repl_host.c): redraws its prompt around output. */
static host_console_fn console_hook;

void host_set_console_hook(host_console_fn fn) { console_hook = fn; }

void hal_console_write(const char *buf, size_t len) {
  if (console_hook) {
    console_hook(buf, len);
    return;
  }
  fwrite(buf, 1, len, stdout);
  fflush(stdout);
}

void hal_panic(const char *msg) {
  fprintf(stderr, "luaos: PANIC: %s\n", msg);
  fflush(stderr);
  abort();
}

void hal_random(void *buf, size_t len) {
  uint8_t *p = buf;
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n <= 0) { /* only before the kernel's pool is ready: time, at least */
      uint64_t t = hal_clock_us() ^ (uint64_t)getpid() << 32;
      for (; len > 0; len--, p++, t = t * 6364136223846793005u + 1442695040888963407u)
        *p = (uint8_t)(t >> 56);
      return;
    }
    p += n;
    len -= (size_t)n;
  }
}
