/* Host side of the HAL: clock, console on stdout, and the file descriptors
 * the idle wait polls (REPL input now; TAP and SDL later). */
#ifndef SIM_HOST_H
#define SIM_HOST_H

#include <stdbool.h>

typedef void (*host_fd_fn)(int fd, void *ud);

/* Watch `fd` for input while idle; fn runs in the loop. */
bool host_watch_fd(int fd, host_fd_fn fn, void *ud);
void host_unwatch_fd(int fd);

#endif
