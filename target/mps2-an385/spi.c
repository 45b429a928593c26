/* SPI over ARM PL022 SSP controllers (polled, 8-bit Motorola frames).
 *   bus 0: the shield 0 SPI (0x40026000), for parts on the shield header;
 *   bus 1: the shield 1 SPI (0x40027000) kept in the PL022's loopback
 *          mode (LBM), so every transfer returns what it sent: the same
 *          "loopback bus 1, cs 0" the simulator's default board has.
 * Each PL022 has one frame-select line, so cs 0 is the only chip select.
 * The PL022 sends MSB first only; lsb_first is done by bit reversal. */
#include "board.h"
#include "hal/hal_spi.h"
#include "regs.h"

#define SPI_BUSES 2
#define SPI_SPIN_LIMIT 100000 /* status polls before a transfer is declared stuck */

static const uint32_t spi_base[SPI_BUSES] = {MPS2_SPI_SHIELD0_BASE, MPS2_SPI_SHIELD1_BASE};
static const uint32_t spi_cr1[SPI_BUSES] = {0, SSP_CR1_LBM};

static struct {
  uint8_t lsb_first[SPI_BUSES];
} P;

int hal_spi_bus_count(void) { return SPI_BUSES; }

/* Bit rate = 25 MHz / (CPSDVSR * (1 + SCR)), CPSDVSR even in 2..254, SCR
 * 0..255: pick the fastest rate not above the request. */
static void spi_divisors(uint32_t hz, uint32_t *cpsdvsr, uint32_t *scr) {
  for (uint32_t cp = 2; cp <= 254; cp += 2) {
    uint32_t per = MPS2_SYSCLK_HZ / cp; /* rate with SCR = 0 */
    /* smallest 1+SCR with per/(1+SCR) <= hz */
    uint32_t div = (per + hz - 1) / hz;
    if (div == 0) div = 1;
    if (div <= 256) {
      *cpsdvsr = cp;
      *scr = div - 1;
      return;
    }
  }
  *cpsdvsr = 254;
  *scr = 255; /* slowest: about 385 Hz */
}

int hal_spi_configure(int bus, const hal_spi_config_t *cfg) {
  if (bus < 0 || bus >= SPI_BUSES) return HAL_EINVAL;
  if (cfg->cs != 0) return HAL_ENODEV;
  if (cfg->bits != 8 || cfg->mode > 3 || cfg->speed_hz == 0) return HAL_EINVAL;
  uint32_t b = spi_base[bus], cpsdvsr, scr;
  spi_divisors(cfg->speed_hz, &cpsdvsr, &scr);
  SSP_CR1(b) = spi_cr1[bus]; /* disable while reconfiguring */
  SSP_IMSC(b) = 0;
  SSP_CPSR(b) = cpsdvsr;
  SSP_CR0(b) = (scr << 8) | ((cfg->mode & 2u) ? SSP_CR0_SPO : 0) |
               ((cfg->mode & 1u) ? SSP_CR0_SPH : 0) | (8u - 1u); /* DSS: 8 bits */
  /* Drop anything left in the receive FIFO. */
  for (int i = 0; i < 8 && (SSP_SR(b) & SSP_SR_RNE); i++) (void)SSP_DR(b);
  SSP_CR1(b) = spi_cr1[bus] | SSP_CR1_SSE;
  P.lsb_first[bus] = cfg->lsb_first;
  return HAL_OK;
}

static uint8_t reverse8(uint8_t v) {
  uint32_t r;
  __asm__("rbit %0, %1" : "=r"(r) : "r"((uint32_t)v));
  return (uint8_t)(r >> 24);
}

int hal_spi_transfer(int bus, const uint8_t *tx, uint8_t *rx, size_t len) {
  if (bus < 0 || bus >= SPI_BUSES) return HAL_EINVAL;
  uint32_t b = spi_base[bus];
  if (!(SSP_CR1(b) & SSP_CR1_SSE)) return HAL_EIO; /* never configured */
  bool rev = P.lsb_first[bus];
  /* Keep at most the FIFO depth in flight so the receive FIFO never
   * overflows; read back as frames complete. */
  size_t sent = 0, got = 0;
  int spin = 0;
  while (got < len) {
    uint32_t sr = SSP_SR(b);
    if (sent < len && sent - got < 8 && (sr & SSP_SR_TNF)) {
      uint8_t v = tx ? tx[sent] : 0xFF;
      SSP_DR(b) = rev ? reverse8(v) : v;
      sent++;
      spin = 0;
      continue;
    }
    if (sr & SSP_SR_RNE) {
      uint8_t v = (uint8_t)SSP_DR(b);
      if (rx) rx[got] = rev ? reverse8(v) : v;
      got++;
      spin = 0;
      continue;
    }
    if (++spin > SPI_SPIN_LIMIT) return HAL_EIO;
  }
  return HAL_OK;
}
