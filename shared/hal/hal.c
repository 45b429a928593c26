#include "hal.h"

#ifndef LUAOS_TARGET
#include <stdio.h>

/* The host port's words for the error code it returns next (an FTDI
 * adapter unplugged, a clock it cannot make); boards have none. */
static struct {
  int err;
  char text[420];
  char out[420];
} detail;

void hal_set_error_detail(int err, const char *text) {
  detail.err = err;
  snprintf(detail.text, sizeof detail.text, "%s", text ? text : "");
}
#endif

static const char *plain(int err) {
  switch (err) {
    case HAL_OK: return "ok";
    case HAL_EINVAL: return "invalid argument";
    case HAL_ENODEV: return "no such device";
    case HAL_EIO: return "I/O error";
    case HAL_ENOTSUP: return "not supported by this board";
    case HAL_EBUSY: return "busy";
    default: return "unknown error";
  }
}

const char *hal_strerror(int err) {
#ifndef LUAOS_TARGET
  if (err < 0 && detail.err == err && detail.text[0]) {
    detail.err = 0; /* once: a later error without words gets none */
    snprintf(detail.out, sizeof detail.out, "%s", detail.text);
    return detail.out;
  }
#endif
  return plain(err);
}
