/* The host's clock and idle wait (sim/host.c, built here with a clock the
 * test controls): a clock that jumps forwards or backwards between two
 * reads (the process preempted, a clock stepped) must never turn into a
 * negative wait taken as a huge unsigned one. Each case runs in a child
 * process that the parent kills when it does not finish in time: a hang
 * is a failure, not a stuck test. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "hal/hal_clock.h"
#include "host.h"

/* ---- the controlled clock: queued values, then `after` ---- */

#define BASE 1000000000000ull /* raw ns at boot: far from 0 */
static uint64_t queue[8];
static int nqueue, qpos;
static uint64_t after = BASE;
static int reads;

uint64_t host_test_mono_ns(void);
uint64_t host_test_mono_ns(void) {
  reads++;
  return qpos < nqueue ? queue[qpos++] : after;
}

static void script(int n, const uint64_t *v, uint64_t then) {
  if (n) memcpy(queue, v, sizeof *v * (size_t)n);
  nqueue = n;
  qpos = 0;
  after = then;
}

/* The test's own, real clock. */
static double real_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define MS 1000000ull /* ns */
#define S (1000 * MS)

/* ---- cases ---- */

static void boot(void) {
  script(0, NULL, BASE);
  CHECK_EQ_U64(hal_clock_us(), 0);
}

/* Preempted between the reads of one decision: the deadline (1 ms ahead
 * at the first read) has passed by the second. */
static void forward_jump_between_reads(void) {
  boot();
  uint64_t v[] = {BASE, BASE + 5 * MS};
  script(2, v, BASE + 5 * MS);
  double t0 = real_s();
  hal_clock_idle(1000);
  CHECK(real_s() - t0 < 0.5);
}

/* Jumps far forwards: the deadline is long past, no wait at all. */
static void forward_jump_past_deadline(void) {
  boot();
  script(0, NULL, BASE + 3600 * S);
  double t0 = real_s();
  hal_clock_idle(1000);
  hal_clock_idle(3600ull * 1000000u); /* deadline == now */
  CHECK(real_s() - t0 < 0.1);
}

/* Steps back 10 s after a read of 10 s: time never runs backwards, so a
 * 1 ms wait stays a 1 ms wait. */
static void backward_jump(void) {
  boot();
  script(0, NULL, BASE + 10 * S);
  uint64_t t = hal_clock_us();
  CHECK_EQ_U64(t, 10000000);
  script(0, NULL, BASE);
  double t0 = real_s();
  hal_clock_idle(t + 1000);
  CHECK(real_s() - t0 < 0.5);
  CHECK(hal_clock_us() >= t);
}

/* Raw clock below its value at boot: 0 (or the last value), never a
 * wrapped-around huge one. */
static void below_boot(void) {
  boot();
  script(0, NULL, BASE - 5 * S);
  CHECK_EQ_U64(hal_clock_us(), 0);
  double t0 = real_s();
  hal_clock_idle(2000);
  CHECK(real_s() - t0 < 0.5);
}

/* One clock read per decision. */
static void one_read_per_wait(void) {
  boot();
  reads = 0;
  hal_clock_idle(500); /* sleeps 0.5 ms */
  CHECK_EQ_U64(reads, 1);
  reads = 0;
  hal_clock_idle(0); /* past */
  CHECK_EQ_U64(reads, 1);
}

/* A signal ends a long wait (the loop then looks at what it brought, e.g.
 * Ctrl-C), rather than the wait resuming where it was. */
static void on_alarm(int sig) { (void)sig; }
static void signal_ends_wait(void) {
  boot();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm; /* no SA_RESTART */
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 0}, {0, 50000}};
  setitimer(ITIMER_REAL, &it, NULL);
  double t0 = real_s();
  hal_clock_idle(3600ull * 1000000u);
  CHECK(real_s() - t0 < 1.0);
}

/* With a watched descriptor the wait is a poll: input ends it at once,
 * whatever the deadline; a clock jump between reads cannot stretch it. */
static int fired;
static void on_input(int fd, void *ud) {
  char c;
  CHECK(read(fd, &c, 1) == 1);
  *(int *)ud += 1;
}
static void poll_wait(void) {
  boot();
  int p[2];
  CHECK(pipe(p) == 0);
  CHECK(host_watch_fd(p[0], on_input, &fired));
  double t0 = real_s();
  hal_clock_idle(2000); /* no input: the deadline ends it */
  CHECK(real_s() - t0 < 0.5);
  CHECK(write(p[1], "x", 1) == 1);
  hal_clock_idle(3600ull * 1000000u);
  CHECK_EQ_U64(fired, 1);
  uint64_t v[] = {BASE, BASE + 5 * MS};
  script(2, v, BASE + 5 * MS);
  t0 = real_s();
  hal_clock_idle(1000);
  CHECK(real_s() - t0 < 0.5);
  host_unwatch_fd(p[0]);
}

/* Every ready descriptor of one wake-up is dispatched, not just the first;
 * one that an earlier callback of the same wake-up unwatched is skipped. */
static int calls_a, calls_b, calls_c;
static int pipe_b[2];
static void on_a(int fd, void *ud) {
  (void)ud;
  char c;
  CHECK(read(fd, &c, 1) == 1);
  calls_a++;
}
static void on_b(int fd, void *ud) {
  (void)fd;
  (void)ud;
  calls_b++;
}
static void on_c_unwatches_b(int fd, void *ud) {
  (void)ud;
  char c;
  CHECK(read(fd, &c, 1) == 1);
  calls_c++;
  host_unwatch_fd(pipe_b[0]);
}
static void all_ready_dispatched(void) {
  boot();
  int pa[2], pc[2];
  CHECK(pipe(pa) == 0 && pipe(pipe_b) == 0 && pipe(pc) == 0);
  CHECK(host_watch_fd(pa[0], on_a, NULL));
  CHECK(host_watch_fd(pc[0], on_c_unwatches_b, NULL));
  CHECK(host_watch_fd(pipe_b[0], on_b, NULL));
  CHECK(write(pa[1], "x", 1) == 1);
  CHECK(write(pipe_b[1], "x", 1) == 1);
  hal_clock_idle(3600ull * 1000000u);
  CHECK_EQ_U64(calls_a, 1);
  CHECK_EQ_U64(calls_b, 1); /* both in one wake-up */
  CHECK(write(pc[1], "x", 1) == 1);
  CHECK(write(pa[1], "x", 1) == 1);
  hal_clock_idle(3600ull * 1000000u); /* b still readable: c unwatches it first */
  CHECK_EQ_U64(calls_c, 1);
  CHECK_EQ_U64(calls_a, 2);
  CHECK_EQ_U64(calls_b, 1);
}

/* A poller adds its descriptors before the wait, may shorten it, and reads
 * the results after it (libslirp's slirp_pollfds_fill/poll). */
static struct {
  int fd, idx, fills, polls;
  short revents;
  bool error;
  uint32_t timeout_in, shorten_to;
} PL;
static void pl_fill(void *ud, uint32_t *timeout_ms) {
  (void)ud;
  PL.fills++;
  PL.timeout_in = *timeout_ms;
  PL.idx = host_poll_add(PL.fd, POLLIN);
  if (PL.shorten_to < *timeout_ms) *timeout_ms = PL.shorten_to;
}
static void pl_poll(void *ud, bool error) {
  (void)ud;
  PL.polls++;
  PL.error = error;
  PL.revents = host_poll_revents(PL.idx);
  if (PL.revents & POLLIN) {
    char c;
    CHECK(read(PL.fd, &c, 1) == 1);
  }
}
static void poller(void) {
  boot();
  int p[2];
  CHECK(pipe(p) == 0);
  memset(&PL, 0, sizeof PL);
  PL.fd = p[0];
  PL.shorten_to = 20;
  host_poller_t pl = {pl_fill, pl_poll, NULL};
  CHECK(host_add_poller(&pl));
  CHECK(host_poll_add(p[0], POLLIN) == -1); /* only while filling */
  double t0 = real_s();
  hal_clock_idle(3600ull * 1000000u); /* the poller's 20 ms end the wait */
  CHECK(real_s() - t0 < 0.5);
  CHECK_EQ_U64(PL.fills, 1);
  CHECK_EQ_U64(PL.polls, 1);
  CHECK_EQ_U64(PL.timeout_in, 60000); /* the loop's own cap, in ms */
  CHECK(PL.idx >= 0 && PL.revents == 0 && !PL.error);
  CHECK(write(p[1], "x", 1) == 1);
  PL.shorten_to = UINT32_MAX;
  hal_clock_idle(UINT64_MAX); /* no deadline: the input ends it */
  CHECK_EQ_U64(PL.polls, 2);
  CHECK(PL.timeout_in == UINT32_MAX);
  CHECK(PL.revents & POLLIN);
  CHECK_EQ_U64(host_poll_revents(PL.idx), 0); /* only while polling */
  host_remove_poller(&pl);
  PL.shorten_to = 0;
  hal_clock_idle(1000); /* gone: neither filled nor polled */
  CHECK_EQ_U64(PL.fills, 2);
}

/* ---- runner ---- */

static int run_case(const char *name, void (*fn)(void)) {
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    fn();
    _exit(0);
  }
  double t0 = real_s();
  int status;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (real_s() - t0 > 3.0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      fprintf(stderr, "FAIL %s: the idle wait hung\n", name);
      return 1;
    }
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "FAIL %s\n", name);
    return 1;
  }
  printf("ok %s\n", name);
  return 0;
}

int main(void) {
  int failed = 0;
  failed += run_case("forward jump between reads", forward_jump_between_reads);
  failed += run_case("forward jump past the deadline", forward_jump_past_deadline);
  failed += run_case("backward jump", backward_jump);
  failed += run_case("raw clock below boot", below_boot);
  failed += run_case("one clock read per wait", one_read_per_wait);
  failed += run_case("a signal ends a wait", signal_ends_wait);
  failed += run_case("poll wait", poll_wait);
  failed += run_case("every ready descriptor dispatched", all_ready_dispatched);
  failed += run_case("poller", poller);
  return failed ? 1 : 0;
}
