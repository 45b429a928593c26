/* lwIP's architecture header for Lua OS, host and board alike: C11 types
 * from <stdint.h>, diagnostics to our log, assertions as a panic of the
 * port (a broken stack invariant is not recoverable), random numbers from
 * the net core's generator (seeded by the port's entropy, hal_net.h). */
#ifndef LUAOS_LWIP_ARCH_CC_H
#define LUAOS_LWIP_ARCH_CC_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define LWIP_ERRNO_STDINCLUDE 1
#define LWIP_ERRNO_INCLUDE <errno.h>
#define LWIP_TIMEVAL_PRIVATE 0



uint32_t net_rand32(void);
void net_lwip_diag(const char *fmt, ...);
void net_lwip_assert(const char *msg, const char *file, int line);

#define LWIP_RAND() net_rand32()
#define LWIP_PLATFORM_DIAG(x) do { net_lwip_diag x; } while (0)
#define LWIP_PLATFORM_ASSERT(x) net_lwip_assert((x), __FILE__, __LINE__)

#endif
