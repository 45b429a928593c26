/* Host side of the HAL: clock, console on stdout, and the file descriptors
 * the idle wait polls (REPL input now; TAP and SDL later). */
#ifndef SIM_HOST_H
#define SIM_HOST_H

#include <stdbool.h>
#include <stddef.h>

typedef void (*host_fd_fn)(int fd, void *ud);

/* Watch `fd` for input while idle; fn runs in the loop. */
bool host_watch_fd(int fd, host_fd_fn fn, void *ud);
void host_unwatch_fd(int fd);

/* Console output goes to `fn` instead of stdout (NULL: back to stdout);
 * the REPL uses it to keep its prompt and typed line intact. */
typedef void (*host_console_fn)(const char *buf, size_t len);
void host_set_console_hook(host_console_fn fn);

#endif
