/* Host side of the HAL: clock, console on stdout, and the file descriptors
 * the idle wait polls: plain watches (REPL input, a TAP or VDE netif) and
 * pollers that choose their descriptors before each wait (libslirp). */
#ifndef SIM_HOST_H
#define SIM_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*host_fd_fn)(int fd, void *ud);

/* Watch `fd` for input (POLLIN) while idle; fn runs in the loop. Every
 * ready descriptor of a wake-up is dispatched; a watch removed by an
 * earlier callback of the same wake-up is skipped. */
bool host_watch_fd(int fd, host_fd_fn fn, void *ud);
void host_unwatch_fd(int fd);

/* A poller, driven as QEMU's main loop drives libslirp: before each wait
 * `fill` adds descriptors with host_poll_add() and may shorten the wait
 * (*timeout_ms, UINT32_MAX: none); after it `poll` reads the results with
 * host_poll_revents() (error: the wait itself failed, e.g. EINTR; the
 * results are then meaningless). Both run in the loop. */
typedef struct host_poller {
  void (*fill)(void *ud, uint32_t *timeout_ms);
  void (*poll)(void *ud, bool error);
  void *ud;
} host_poller_t;

/* `p` must stay valid until removed. */
bool host_add_poller(const host_poller_t *p);
void host_remove_poller(const host_poller_t *p);
/* During fill: poll `fd` for `events` (POLLIN, POLLOUT, POLLPRI); returns
 * the index to ask host_poll_revents() about, or -1 (out of memory). */
int host_poll_add(int fd, short events);
/* During poll: the revents (POLLIN, POLLOUT, POLLPRI, POLLERR, POLLHUP,
 * POLLNVAL) of an index host_poll_add() returned; 0 for a bad index. */
short host_poll_revents(int idx);

/* Console output goes to `fn` instead of stdout (NULL: back to stdout);
 * the REPL uses it to keep its prompt and typed line intact. */
typedef void (*host_console_fn)(const char *buf, size_t len);
void host_set_console_hook(host_console_fn fn);
/* A copy of all console output, wherever it goes (the window's console
 * pane). NULL: none. */
void host_set_console_tap(host_console_fn fn);
/* The last bytes of console output (up to HOST_CONSOLE_TAIL), oldest
 * first, into out[0..cap); returns how many. A window or a picture made
 * after the output was written shows it from here. */
#define HOST_CONSOLE_TAIL 8192
size_t host_console_tail(char *out, size_t cap);

#endif
