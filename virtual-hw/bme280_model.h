/* Register-level model of a Bosch BME280 (humidity, pressure, temperature)
 * on SPI: the driver sees the datasheet's registers, timing and trimming
 * values; the board sets the physical values ("temperature" degC,
 * "pressure" Pa, "humidity" %RH) and "fault" (0 ok, 1 no response,
 * 2 measuring bit stuck). See docs/bme280.md. */
#ifndef VHW_BME280_MODEL_H
#define VHW_BME280_MODEL_H

#include "vhw.h"

vhw_part_t *vhw_bme280_new(const vhw_env_t *env);

#endif
