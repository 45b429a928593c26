#define _GNU_SOURCE /* ppoll */
#include "host.h"

#include <malloc.h>
#include <poll.h>
#include <sys/random.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hal/hal_clock.h"
#include "hal/hal_console.h"
#include "hal/hal_random.h"

#define HOST_MAX_WATCHES 16
#define HOST_MAX_POLLERS 8

typedef struct {
  int fd;
  host_fd_fn fn;
  void *ud;
  unsigned serial; /* tells a watch from a later one on the same slot */
} watch_t;

static struct {
  watch_t w[HOST_MAX_WATCHES];
  int nw;
  unsigned serial;
  const host_poller_t *pollers[HOST_MAX_POLLERS];
  int np;
  /* The descriptors of one wait: watches first, then pollers' (grown as
   * pollers add them; slirp adds one per NAT'ed connection). */
  struct pollfd *pfd;
  size_t npfd, cap;
  bool filling, polled;
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
#ifdef M_TRIM_THRESHOLD
    /* A stream read in 64 KB strings frees and reallocates the top of the
     * heap all the time: glibc's default trims it back to the kernel at
     * 128 KB (brk, then a page fault for every page touched again), which
     * was a quarter of the simulator's time in bench/net_sink.lua. Freed
     * memory stays with the process up to 64 MB; blocks up to 4 MB come
     * from the heap, not from a fresh mmap each time. */
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 4 * 1024 * 1024);
#endif
  }
  uint64_t us = raw > H.boot_ns ? (raw - H.boot_ns) / 1000u : 0;
  if (us < H.last_us) us = H.last_us;
  H.last_us = us;
  return us;
}

bool host_watch_fd(int fd, host_fd_fn fn, void *ud) {
  if (H.nw >= HOST_MAX_WATCHES) return false;
  H.w[H.nw++] = (watch_t){fd, fn, ud, ++H.serial};
  return true;
}

void host_unwatch_fd(int fd) {
  for (int i = 0; i < H.nw; i++)
    if (H.w[i].fd == fd) {
      H.w[i] = H.w[--H.nw];
      return;
    }
}

bool host_add_poller(const host_poller_t *p) {
  if (H.np >= HOST_MAX_POLLERS) return false;
  H.pollers[H.np++] = p;
  return true;
}

void host_remove_poller(const host_poller_t *p) {
  for (int i = 0; i < H.np; i++)
    if (H.pollers[i] == p) {
      H.pollers[i] = H.pollers[--H.np];
      return;
    }
}

static bool pfd_push(int fd, short events) {
  if (H.npfd == H.cap) {
    size_t cap = H.cap ? H.cap * 2 : 32;
    struct pollfd *n = realloc(H.pfd, cap * sizeof *n);
    if (!n) return false;
    H.pfd = n;
    H.cap = cap;
  }
  H.pfd[H.npfd++] = (struct pollfd){.fd = fd, .events = events, .revents = 0};
  return true;
}

int host_poll_add(int fd, short events) {
  if (!H.filling || !pfd_push(fd, events)) return -1;
  return (int)(H.npfd - 1);
}

short host_poll_revents(int idx) {
  if (!H.polled || idx < 0 || (size_t)idx >= H.npfd) return 0;
  return H.pfd[idx].revents;
}

static bool watch_alive(unsigned serial) {
  for (int i = 0; i < H.nw; i++)
    if (H.w[i].serial == serial) return true;
  return false;
}

static bool poller_alive(const host_poller_t *p) {
  for (int i = 0; i < H.np; i++)
    if (H.pollers[i] == p) return true;
  return false;
}

/* Every ready watch, then every poller. Callbacks may add or remove
 * watches and pollers: the lists are copied first and each entry is
 * checked to be still registered before it is called. */
static void dispatch(int nw, int rc) {
  watch_t ready[HOST_MAX_WATCHES];
  int nready = 0;
  for (int i = 0; i < nw; i++)
    if (rc > 0 && H.pfd[i].revents) ready[nready++] = H.w[i];
  const host_poller_t *pl[HOST_MAX_POLLERS];
  int np = H.np;
  memcpy(pl, H.pollers, sizeof pl[0] * (size_t)np);
  H.polled = true;
  for (int i = 0; i < np; i++)
    if (poller_alive(pl[i])) pl[i]->poll(pl[i]->ud, rc < 0);
  H.polled = false;
  for (int i = 0; i < nready; i++)
    if (watch_alive(ready[i].serial)) ready[i].fn(ready[i].fd, ready[i].ud);
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
  if (H.nw == 0 && H.np == 0) {
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
  H.npfd = 0;
  int nw = 0;
  for (int i = 0; i < H.nw; i++, nw++)
    if (!pfd_push(H.w[i].fd, POLLIN)) break;
  /* Pollers may only shorten the wait. */
  uint32_t tmo_ms = wait_us == UINT64_MAX ? UINT32_MAX : (uint32_t)((wait_us + 999) / 1000);
  H.filling = true;
  for (int i = 0; i < H.np; i++) {
    uint32_t t = tmo_ms;
    H.pollers[i]->fill(H.pollers[i]->ud, &t);
    if (t < tmo_ms) tmo_ms = t;
  }
  H.filling = false;
  if (tmo_ms != UINT32_MAX && (uint64_t)tmo_ms * 1000u < wait_us)
    wait_us = (uint64_t)tmo_ms * 1000u;
  /* ppoll, not poll: microseconds, like the sleep above. */
  struct timespec ts = {(time_t)(wait_us / 1000000u), (long)(wait_us % 1000000u) * 1000};
  int rc = ppoll(H.pfd, (nfds_t)H.npfd, wait_us == UINT64_MAX ? NULL : &ts, NULL);
  dispatch(nw, rc);
}

/* The REPL's hook (sim/repl_host.c): redraws its prompt around output. */
static host_console_fn console_hook;

void host_set_console_hook(host_console_fn fn) { console_hook = fn; }

static host_console_fn console_tap;

void host_set_console_tap(host_console_fn fn) { console_tap = fn; }

/* The console's tail: a byte ring (total counts every byte ever written). */
static struct {
  char ring[HOST_CONSOLE_TAIL];
  uint64_t total;
} tail;

static void tail_add(const char *buf, size_t len) {
  if (len > HOST_CONSOLE_TAIL) { /* only the end can survive */
    buf += len - HOST_CONSOLE_TAIL;
    tail.total += len - HOST_CONSOLE_TAIL;
    len = HOST_CONSOLE_TAIL;
  }
  size_t at = (size_t)(tail.total % HOST_CONSOLE_TAIL);
  size_t first = HOST_CONSOLE_TAIL - at < len ? HOST_CONSOLE_TAIL - at : len;
  memcpy(tail.ring + at, buf, first);
  memcpy(tail.ring, buf + first, len - first);
  tail.total += len;
}

size_t host_console_tail(char *out, size_t cap) {
  size_t kept = tail.total < HOST_CONSOLE_TAIL ? (size_t)tail.total : HOST_CONSOLE_TAIL;
  size_t n = kept < cap ? kept : cap;
  size_t at = (size_t)((tail.total - n) % HOST_CONSOLE_TAIL);
  size_t first = HOST_CONSOLE_TAIL - at < n ? HOST_CONSOLE_TAIL - at : n;
  memcpy(out, tail.ring + at, first);
  memcpy(out + first, tail.ring, n - first);
  return n;
}

void hal_console_write(const char *buf, size_t len) {
  tail_add(buf, len);
  if (console_tap) console_tap(buf, len);
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
