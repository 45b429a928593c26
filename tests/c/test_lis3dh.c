/* LIS3DH model driven byte by byte through its SPI ops, with a fake clock
 * and a recorder for the INT1 pin. No Lua. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lis3dh_model.h"
#include "vhw_spi_test.h"

static int test_failures;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      test_failures++;                                                     \
    }                                                                      \
  } while (0)

#define CHECK_EQ(a, b)                                                                  \
  do {                                                                                  \
    long a_ = (long)(a), b_ = (long)(b);                                                \
    if (a_ != b_) {                                                                     \
      fprintf(stderr, "%s:%d: %s = %ld, want %ld\n", __FILE__, __LINE__, #a, a_, b_);   \
      test_failures++;                                                                  \
    }                                                                                   \
  } while (0)

enum {
  REG_WHO_AM_I = 0x0F,
  REG_CTRL0 = 0x1E,
  REG_CTRL1 = 0x20,
  REG_CTRL3 = 0x22,
  REG_CTRL4 = 0x23,
  REG_CTRL5 = 0x24,
  REG_CTRL6 = 0x25,
  REG_STATUS = 0x27,
  REG_OUT_X_L = 0x28,
  REG_FIFO_SRC = 0x2F,
  ODR_100HZ = 5 << 4,
  ODR_1HZ = 1 << 4,
  READ = 0x80,
  MS = 0x40
};

typedef struct {
  uint64_t now;
  int pin, level, edges; /* last drive_pin call and how many */
} test_board_t;

static uint64_t test_now(void *ctx) { return ((test_board_t *)ctx)->now; }

static void test_drive(void *ctx, int pin, int level) {
  test_board_t *b = ctx;
  b->pin = pin;
  b->level = level;
  b->edges++;
}

/* Read n registers from reg; multi-byte reads set MS (auto-increment). */
static void test_read(vhw_part_t *p, uint8_t reg, uint8_t *out, size_t n) {
  uint8_t tx[16] = {0}, rx[16];
  tx[0] = (uint8_t)(READ | (n > 1 ? MS : 0) | reg);
  test_xfer(p, tx, rx, n + 1);
  memcpy(out, rx + 1, n);
}

static uint8_t test_read8(vhw_part_t *p, uint8_t reg) {
  uint8_t v;
  test_read(p, reg, &v, 1);
  return v;
}

static void test_write8(vhw_part_t *p, uint8_t reg, uint8_t v) {
  uint8_t tx[2] = {reg, v};
  test_xfer(p, tx, NULL, 2);
}

/* X, Y, Z as the registers hold them (little-endian, left-justified). */
static void test_read_xyz(vhw_part_t *p, int16_t xyz[3]) {
  uint8_t b[6];
  test_read(p, REG_OUT_X_L, b, 6);
  for (int i = 0; i < 3; i++) xyz[i] = (int16_t)(b[2 * i] | b[2 * i + 1] << 8);
}

static vhw_part_t *test_new(test_board_t *b) {
  vhw_env_t env = {test_now, test_drive, b};
  vhw_part_t *p = vhw_lis3dh_new(&env);
  CHECK(p != NULL);
  if (!p) exit(1);
  return p;
}

static void test_registers(void) {
  test_board_t b = {0, -1, -1, 0};
  vhw_part_t *p = test_new(&b);
  CHECK(strcmp(p->ops->type, "lis3dh") == 0);
  CHECK_EQ(p->spi_modes, 0x9);
  CHECK_EQ(p->spi_max_hz, 10000000);
  CHECK_EQ(test_read8(p, REG_WHO_AM_I), 0x33);
  CHECK_EQ(test_read8(p, REG_CTRL0), 0x10);
  CHECK_EQ(test_read8(p, REG_CTRL1), 0x07);
  CHECK_EQ(test_read8(p, REG_CTRL4), 0x00);
  CHECK_EQ(test_read8(p, REG_FIFO_SRC), 0x20);
  CHECK_EQ(test_read8(p, 0x08), 0); /* ADC outputs read 0 */

  /* Without MS the address stays: the same register twice. */
  uint8_t tx[3] = {READ | REG_WHO_AM_I, 0, 0}, rx[3];
  test_xfer(p, tx, rx, 3);
  CHECK(rx[1] == 0x33 && rx[2] == 0x33);
  /* With MS writes auto-increment too. */
  uint8_t w[4] = {MS | REG_CTRL1, 0x57, 0x00, 0x10};
  test_xfer(p, w, NULL, 4);
  uint8_t r[4];
  test_read(p, REG_CTRL1, r, 4);
  CHECK(r[0] == 0x57 && r[1] == 0x00 && r[2] == 0x10 && r[3] == 0x00);
  /* Read-only registers ignore writes. */
  test_write8(p, REG_WHO_AM_I, 0);
  CHECK_EQ(test_read8(p, REG_WHO_AM_I), 0x33);
  /* BOOT clears itself. */
  test_write8(p, REG_CTRL5, 0x88);
  CHECK_EQ(test_read8(p, REG_CTRL5), 0x08);

  /* Keys, ranges, faults. */
  CHECK(p->ops->set(p, "x", 101) == VHW_ERANGE);
  CHECK(p->ops->set(p, "fault", 4) == VHW_ERANGE);
  CHECK(p->ops->set(p, "w", 0) == VHW_EKEY);
  double v;
  CHECK(p->ops->get(p, "z", &v) == VHW_OK && v == 1.0);
  CHECK(p->ops->get(p, "w", &v) == VHW_EKEY);
  CHECK(p->ops->keys && strcmp(p->ops->keys[0], "x") == 0 && p->ops->keys[4] == NULL);
  CHECK(p->ops->set(p, "fault", 1) == VHW_OK);
  CHECK_EQ(test_read8(p, REG_WHO_AM_I), 0xFF);
  test_write8(p, REG_CTRL4, 0x30);
  CHECK(p->ops->set(p, "fault", 0) == VHW_OK);
  CHECK_EQ(test_read8(p, REG_CTRL4), 0x00);
  /* Unpowered: SDO low; power returns with the power-on registers. */
  test_write8(p, REG_CTRL4, 0x30);
  CHECK(p->ops->set(p, "fault", 3) == VHW_OK && p->fault == VHW_FAULT_UNPOWERED);
  CHECK_EQ(test_read8(p, REG_WHO_AM_I), 0x00);
  CHECK(p->ops->set(p, "fault", 0) == VHW_OK);
  CHECK_EQ(test_read8(p, REG_WHO_AM_I), 0x33);
  CHECK_EQ(test_read8(p, REG_CTRL4), 0x00);
  CHECK_EQ(test_read8(p, REG_CTRL1), 0x07);
  p->ops->destroy(p);
}

static void test_data(void) {
  test_board_t b = {0, -1, -1, 0};
  vhw_part_t *p = test_new(&b);
  int16_t xyz[3];
  p->ops->set(p, "x", 0.5);
  p->ops->set(p, "y", -0.3);
  p->ops->set(p, "z", 1.0);

  /* Power-down: no data, whatever the time. */
  b.now += 5000000;
  CHECK_EQ(test_read8(p, REG_STATUS), 0);

  /* Normal mode, +-2 g, 100 Hz: 10-bit, 4 mg/digit. */
  test_write8(p, REG_CTRL1, ODR_100HZ | 0x07);
  b.now += 9999;
  CHECK_EQ(test_read8(p, REG_STATUS), 0);
  b.now += 1;
  CHECK_EQ(test_read8(p, REG_STATUS), 0x0F); /* ZYXDA and each axis */
  test_read_xyz(p, xyz);
  CHECK_EQ(xyz[0], 125 * 64);
  CHECK_EQ(xyz[1], -75 * 64);
  CHECK_EQ(xyz[2], 250 * 64);
  CHECK_EQ(test_read8(p, REG_STATUS), 0); /* reading the outputs cleared it */

  /* Stuck: the sample clock stops; it restarts from when the fault clears. */
  CHECK(p->ops->set(p, "fault", 2) == VHW_OK);
  b.now += 50000;
  CHECK_EQ(test_read8(p, REG_STATUS), 0);
  CHECK(p->ops->set(p, "fault", 0) == VHW_OK);
  b.now += 9999;
  CHECK_EQ(test_read8(p, REG_STATUS), 0);
  b.now += 1;
  CHECK_EQ(test_read8(p, REG_STATUS), 0x0F);
  test_read_xyz(p, xyz);

  /* High resolution: 12-bit, 1 mg/digit. */
  test_write8(p, REG_CTRL4, 0x08);
  b.now += 10000;
  test_read_xyz(p, xyz);
  CHECK_EQ(xyz[0], 500 * 16);
  CHECK_EQ(xyz[1], -300 * 16);
  CHECK_EQ(xyz[2], 1000 * 16);

  /* Low power: 8-bit, 16 mg/digit, data in the high byte only. */
  test_write8(p, REG_CTRL4, 0x00);
  test_write8(p, REG_CTRL1, ODR_100HZ | 0x08 | 0x07);
  b.now += 10000;
  uint8_t raw[6];
  test_read(p, REG_OUT_X_L, raw, 6);
  CHECK(raw[0] == 0 && raw[2] == 0 && raw[4] == 0);
  CHECK_EQ((int8_t)raw[1], 31);  /* 500 / 16 = 31.25 */
  CHECK_EQ((int8_t)raw[3], -19); /* -300 / 16 = -18.75 */
  CHECK_EQ((int8_t)raw[5], 63);  /* 1000 / 16 = 62.5 */

  /* Full scales in high resolution: 1, 2, 4, 12 mg/digit, clamped at
   * the full scale. */
  test_write8(p, REG_CTRL1, ODR_100HZ | 0x07);
  static const struct {
    uint8_t fs;
    double g;
    long counts;
  } fs[] = {{0, 5.0, 2000}, {1, 3.0, 1500}, {2, 20.0, 2000}, {3, 20.0, 1333}, {3, -16.0, -1333}};
  for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
    test_write8(p, REG_CTRL4, (uint8_t)(0x08 | fs[i].fs << 4));
    p->ops->set(p, "x", fs[i].g);
    b.now += 10000;
    test_read_xyz(p, xyz);
    CHECK_EQ(xyz[0] / 16, fs[i].counts);
  }

  /* Overrun: two samples without reading. */
  b.now += 20000;
  CHECK_EQ(test_read8(p, REG_STATUS), 0xFF);
  test_read_xyz(p, xyz);
  CHECK_EQ(test_read8(p, REG_STATUS), 0x00);

  /* Disabled axes get no data. */
  test_write8(p, REG_CTRL1, ODR_100HZ | 0x01);
  b.now += 10000;
  CHECK_EQ(test_read8(p, REG_STATUS), 0x09);

  /* The sample clock follows the ODR: 1 Hz. */
  test_write8(p, REG_CTRL1, ODR_1HZ | 0x07);
  test_read_xyz(p, xyz);
  b.now += 999999;
  CHECK_EQ(test_read8(p, REG_STATUS), 0);
  b.now += 1;
  CHECK_EQ(test_read8(p, REG_STATUS) & 0x08, 0x08);
  p->ops->destroy(p);
}

static void test_bdu_and_endianness(void) {
  test_board_t b = {0, -1, -1, 0};
  vhw_part_t *p = test_new(&b);
  p->ops->set(p, "x", 1.0);
  test_write8(p, REG_CTRL4, 0x88); /* BDU, HR, +-2 g */
  test_write8(p, REG_CTRL1, ODR_100HZ | 0x07);
  b.now += 10000;
  uint8_t lo = test_read8(p, REG_OUT_X_L);
  p->ops->set(p, "x", -1.0);
  b.now += 10000; /* a new sample arrives between the two halves */
  uint8_t hi = test_read8(p, REG_OUT_X_L + 1);
  CHECK_EQ((int16_t)(lo | hi << 8), 1000 * 16); /* both halves of one sample */
  b.now += 10000;
  int16_t xyz[3];
  test_read_xyz(p, xyz);
  CHECK_EQ(xyz[0], -1000 * 16);

  /* BLE: the MSB at the lower address. */
  test_write8(p, REG_CTRL4, 0x08 | 0x40);
  b.now += 10000;
  uint8_t be[2];
  test_read(p, REG_OUT_X_L, be, 2);
  CHECK_EQ((int16_t)(be[0] << 8 | be[1]), -1000 * 16);
  p->ops->destroy(p);
}

static void test_int1(void) {
  test_board_t b = {0, -1, -1, 0};
  vhw_part_t *p = test_new(&b);
  p->irq_pin = 8;
  test_write8(p, REG_CTRL3, 0x10); /* I1_ZYXDA */
  CHECK(b.edges == 1 && b.pin == 8 && b.level == 0);
  test_write8(p, REG_CTRL1, ODR_100HZ | 0x07);
  b.now += 10000;
  CHECK_EQ(test_read8(p, REG_STATUS), 0x0F);
  CHECK_EQ(b.level, 1);
  int16_t xyz[3];
  test_read_xyz(p, xyz);
  CHECK_EQ(b.level, 0);
  CHECK_EQ(b.edges, 3);
  /* Active-low polarity. */
  test_write8(p, REG_CTRL6, 0x02);
  CHECK_EQ(b.level, 1);
  b.now += 10000;
  test_read8(p, REG_WHO_AM_I);
  CHECK_EQ(b.level, 0);
  /* Not routed: the pin stays inactive. */
  test_write8(p, REG_CTRL6, 0x00);
  test_write8(p, REG_CTRL3, 0x00);
  b.now += 10000;
  test_read8(p, REG_WHO_AM_I);
  CHECK_EQ(b.level, 0);
  p->ops->destroy(p);
}

int main(void) {
  test_registers();
  test_data();
  test_bdu_and_endianness();
  test_int1();
  if (test_failures) {
    fprintf(stderr, "test_lis3dh: %d check(s) failed\n", test_failures);
    return 1;
  }
  printf("test_lis3dh: ok\n");
  return 0;
}
