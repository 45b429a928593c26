/* A minimal HAL for running the core in a C test without a simulator:
 * 8 pins that read back what was written, one SPI bus that echoes, and a
 * clock that only moves when the test says so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/hal_clock.h"
#include "hal/hal_console.h"
#include "hal/hal_gpio.h"
#include "hal/hal_spi.h"

static int hal_test_pins[8];
static uint64_t hal_test_now;

uint64_t hal_clock_us(void) { return hal_test_now; }
void hal_clock_idle(uint64_t deadline_us) {
  if (deadline_us != UINT64_MAX && deadline_us > hal_test_now) hal_test_now = deadline_us;
}
void hal_panic(const char *msg) {
  fprintf(stderr, "PANIC: %s\n", msg);
  abort();
}
void hal_console_write(const char *buf, size_t len) { fwrite(buf, 1, len, stdout); }

int hal_gpio_count(void) { return 8; }
int hal_gpio_find(const char *name) {
  if (strncmp(name, "P", 1) == 0 && name[1] >= '0' && name[1] <= '7' && !name[2])
    return name[1] - '0';
  return HAL_ENODEV;
}
const char *hal_gpio_name(int pin) {
  static const char *const names[] = {"P0", "P1", "P2", "P3", "P4", "P5", "P6", "P7"};
  return (pin >= 0 && pin < 8) ? names[pin] : NULL;
}
int hal_gpio_mode(int pin, hal_gpio_mode_t mode) {
  (void)mode;
  return (pin >= 0 && pin < 8) ? HAL_OK : HAL_EINVAL;
}
int hal_gpio_read(int pin) { return (pin >= 0 && pin < 8) ? hal_test_pins[pin] : HAL_EINVAL; }
int hal_gpio_write(int pin, int level) {
  if (pin < 0 || pin >= 8) return HAL_EINVAL;
  hal_test_pins[pin] = level != 0;
  return HAL_OK;
}
int hal_gpio_irq(int pin, hal_gpio_edge_t edge) {
  (void)edge;
  return (pin >= 0 && pin < 8) ? HAL_OK : HAL_EINVAL;
}

int hal_spi_bus_count(void) { return 1; }
int hal_spi_configure(int bus, const hal_spi_config_t *cfg) {
  (void)cfg;
  return bus == 0 ? HAL_OK : HAL_ENODEV;
}
int hal_spi_transfer(int bus, const uint8_t *tx, uint8_t *rx, size_t len) {
  if (bus != 0) return HAL_ENODEV;
  if (rx) {
    if (tx)
      memmove(rx, tx, len);
    else
      memset(rx, 0xFF, len);
  }
  return HAL_OK;
}
