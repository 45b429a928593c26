/* SPI HAL: a bus controller with numbered chip selects. A transfer asserts
 * the configured chip select for its whole length (full duplex). */
#ifndef HAL_SPI_H
#define HAL_SPI_H

#include "hal.h"

typedef struct {
  uint32_t speed_hz;   /* clock; the port picks the nearest rate not above */
  uint8_t mode;        /* CPOL/CPHA, 0..3 */
  uint8_t bits;        /* word size, 8 on every port today */
  uint8_t cs;          /* chip select index on this bus */
  uint8_t lsb_first;
} hal_spi_config_t;

int hal_spi_bus_count(void);
int hal_spi_configure(int bus, const hal_spi_config_t *cfg);
/* tx may be NULL (sends 0xFF), rx may be NULL (discards). */
int hal_spi_transfer(int bus, const uint8_t *tx, uint8_t *rx, size_t len);

#endif
