/* Console (UART on boards, stdout/stdin on the host). Received bytes are
 * pushed by the port into the console ring (shared/console.h). */
#ifndef HAL_CONSOLE_H
#define HAL_CONSOLE_H

#include "hal.h"

void hal_console_write(const char *buf, size_t len);

#endif
