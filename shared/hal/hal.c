#include "hal.h"

const char *hal_strerror(int err) {
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
