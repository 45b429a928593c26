/* Common HAL definitions. The core calls only the functions declared in
 * hal_*.h; the simulator implements them over virtual-hw/, boards over
 * registers. All functions return HAL_OK (0) or a negative HAL_E* code. */
#ifndef HAL_H
#define HAL_H

#include <stddef.h>
#include <stdint.h>

enum {
  HAL_OK = 0,
  HAL_EINVAL = -1,   /* bad argument (pin/bus out of range, bad mode) */
  HAL_ENODEV = -2,   /* nothing there: unknown bus, no device on chip select */
  HAL_EIO = -3,      /* the transfer failed */
  HAL_ENOTSUP = -4,  /* the port cannot do this (e.g. a mode the pin lacks) */
  HAL_EBUSY = -5
};

/* Short text for a HAL error code, for Lua error messages. */
const char *hal_strerror(int err);

#ifndef LUAOS_TARGET
/* Host port: the words hal_strerror gives (once) for the code `err` it
 * is about to return, e.g. "FTDI adapter emu://ft232h: unplugged". */
void hal_set_error_detail(int err, const char *text);
#endif

#endif
