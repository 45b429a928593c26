#define _POSIX_C_SOURCE 200809L
#include "host.h"

#include <errno.h>
#include <poll.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "hal/hal_clock.h"
#include "hal/hal_console.h"

#define HOST_MAX_FDS 8

static struct {
  struct pollfd pfd[HOST_MAX_FDS];
  host_fd_fn fn[HOST_MAX_FDS];
  void *ud[HOST_MAX_FDS];
  int n;
  uint64_t boot_ns;
  bool booted;
} H;

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t hal_clock_us(void) {
  if (!H.booted) {
    H.boot_ns = mono_ns();
    H.booted = true;
#ifdef PR_SET_TIMERSLACK
    /* Wake-ups on time: the default 50 us slack lets the kernel defer our
     * sleeps to batch them with others (measured in bench/rt_timers.lua). */
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
#endif
  }
  return (mono_ns() - H.boot_ns) / 1000u;
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

void hal_clock_idle(uint64_t deadline_us) {
  int timeout = -1;
  if (deadline_us != UINT64_MAX) {
    uint64_t now = hal_clock_us();
    if (deadline_us <= now) {
      /* Past deadline: only look at input, never wait. */
      if (H.n > 0 && poll(H.pfd, (nfds_t)H.n, 0) > 0) dispatch();
      return;
    }
    uint64_t ms = (deadline_us - now + 999) / 1000;
    timeout = ms > 60000 ? 60000 : (int)ms;
  }
  if (H.n == 0) {
    if (timeout < 0) {
      /* Nothing can wake us: the loop only asks when something else will. */
      pause();
      return;
    }
    /* Sleep precisely rather than in whole milliseconds. */
    uint64_t now = hal_clock_us();
    uint64_t us = deadline_us - now;
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return;
  }
  if (poll(H.pfd, (nfds_t)H.n, timeout) > 0) dispatch();
}

void hal_console_write(const char *buf, size_t len) {
  fwrite(buf, 1, len, stdout);
  fflush(stdout);
}

void hal_panic(const char *msg) {
  fprintf(stderr, "luaos: PANIC: %s\n", msg);
  fflush(stderr);
  abort();
}
