/* Shared by the chip-model tests: drive a model's SPI side directly. */
#ifndef VHW_SPI_TEST_H
#define VHW_SPI_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "vhw.h"

/* One SPI transaction: chip select, n bytes each way (tx NULL sends 0xFF,
 * rx NULL discards), deselect. */
static inline void test_xfer(vhw_part_t *p, const uint8_t *tx, uint8_t *rx, size_t n) {
  p->ops->spi_select(p, true);
  for (size_t i = 0; i < n; i++) {
    uint8_t in = p->ops->spi_exchange(p, tx ? tx[i] : 0xFF);
    if (rx) rx[i] = in;
  }
  p->ops->spi_select(p, false);
}

#endif
