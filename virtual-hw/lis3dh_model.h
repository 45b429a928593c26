/* Register-level model of an ST LIS3DH 3-axis accelerometer on SPI: data
 * at the configured output data rate in device time, 8/10/12-bit modes,
 * the four full scales, BDU, STATUS_REG flags and data-ready on INT1. The
 * board sets the acceleration ("x", "y", "z" in g) and "fault" (0 ok,
 * 1 no response). See docs/lis3dh.md. */
#ifndef VHW_LIS3DH_MODEL_H
#define VHW_LIS3DH_MODEL_H

#include "vhw.h"

vhw_part_t *vhw_lis3dh_new(const vhw_env_t *env);

#endif
