/* Virtual hardware: register-level models of chips and panel parts that
 * the simulator wires to the HAL. Models know nothing of Lua or of the
 * simulator; they see bytes on a bus, pin levels and a clock. */
#ifndef VHW_H
#define VHW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { VHW_OK = 0, VHW_EKEY = -1, VHW_ERANGE = -2, VHW_EINVAL = -3 };

typedef struct vhw_part vhw_part_t;

/* Faults a test injects after start-up (sim.fault): what a driver sees
 * when a chip goes away or misbehaves. Parts that model them take the
 * number as their "fault" key (set: VHW_ERANGE for one they do not model)
 * and keep the current one in vhw_part_t.fault. */
typedef enum {
  VHW_FAULT_NONE = 0,
  VHW_FAULT_DISCONNECT = 1, /* nobody drives MISO: every byte reads 0xFF */
  VHW_FAULT_STUCK = 2,      /* conversions never complete, data never ready */
  VHW_FAULT_UNPOWERED = 3   /* no supply: MISO reads 0x00; power-on reset when it returns */
} vhw_fault_t;

/* Names of the faults above, index = value - 1, NULL-terminated. */
extern const char *const vhw_fault_names[];
/* The fault named `name`, or -1. */
int vhw_fault_find(const char *name);

/* What the board gives a part: a clock and a way to drive pins it is wired
 * to (interrupt outputs, buttons). */
typedef struct {
  uint64_t (*now_us)(void *ctx);
  void (*drive_pin)(void *ctx, int pin, int level); /* level -1: release */
  void *ctx;
} vhw_env_t;

/* A physical quantity a person may turn (the window's sliders): the key of
 * set/get, the range the part's datasheet specifies, and its unit. */
typedef struct {
  const char *key;
  double min, max;
  const char *unit; /* "degC", "Pa", "%RH", "g" */
} vhw_quantity_t;

/* A part with a screen (a display controller): its glass as the viewer
 * sees it. Pixels RGB565, row-major, width * height; `generation` changes
 * whenever pixels, size or `on` change, so a viewer copies only then. */
typedef struct {
  int width, height;
  const uint16_t *pixels;
  uint32_t generation;
  bool on; /* display on and out of sleep (else the glass is dark) */
} vhw_screen_t;

typedef struct {
  const char *type;
  /* SPI slave: chip select went active/inactive; one byte each way. NULL
   * for parts that are not on a bus. */
  void (*spi_select)(vhw_part_t *p, bool active);
  uint8_t (*spi_exchange)(vhw_part_t *p, uint8_t mosi);
  /* Physical values and controls by name ("temperature", "x", "pressed",
   * "fault"...). set: VHW_OK, VHW_EKEY (unknown) or VHW_ERANGE. */
  int (*set)(vhw_part_t *p, const char *key, double value);
  int (*get)(vhw_part_t *p, const char *key, double *value);
  /* A pin the part listens to changed (LEDs: their pin). May be NULL. */
  void (*pin_changed)(vhw_part_t *p, int pin, int level);
  /* Bring the part up to the current device time (it may drive its pins)
   * and return when it next changes by itself (device time, us), or
   * UINT64_MAX. The board calls it then, while someone listens to the
   * part's interrupt pin. May be NULL. */
  uint64_t (*poll)(vhw_part_t *p);
  void (*destroy)(vhw_part_t *p);
  const char *const *keys; /* NULL-terminated names accepted by set/get */
  /* Optional (NULL when the part has none), kept last so models that
   * predate them need no change: */
  /* Physical inputs, {NULL} ended. */
  const vhw_quantity_t *quantities;
  /* One SPI transaction of this part in words, for people (the window's
   * SPI view): "read 0xF7 press_msb.. = 52 3a 00", "write CASET 0..239".
   * tx/rx hold the first n of len bytes. Writes at most outlen bytes
   * (NUL-terminated, truncated); returns 0 if it has nothing to say. */
  size_t (*spi_describe)(const vhw_part_t *p, const uint8_t *tx, const uint8_t *rx, size_t n,
                         size_t len, char *out, size_t outlen);
  /* The screen of a display part, or NULL. */
  const vhw_screen_t *(*screen)(vhw_part_t *p);
} vhw_ops_t;

struct vhw_part {
  const vhw_ops_t *ops;
  char name[32];
  int bus, cs;        /* SPI position, -1 if none */
  int pin;            /* main GPIO (LED, button, switch), -1 if none */
  int irq_pin;        /* interrupt output (e.g. LIS3DH INT1), -1 if none */
  uint8_t spi_modes;  /* bit m set: SPI mode m supported */
  uint32_t spi_max_hz;
  vhw_fault_t fault;  /* set through the part's "fault" key */
  vhw_env_t env;
  /* Extra input pins of a display controller (board keys dc, reset), -1 if
   * none: the board reports their changes through pin_changed. */
  int dc_pin, reset_pin;
};

/* Factory: a model by type name. `opts` are numeric options from the board
 * file (NULL-terminated key list with values), e.g. {"sdo", 1}. */
typedef vhw_part_t *(*vhw_new_fn)(const vhw_env_t *env);

typedef struct {
  const char *type;
  vhw_new_fn create;
  const char *summary;
} vhw_model_t;

/* All models, NULL-terminated (virtual-hw/vhw_models.c). */
extern const vhw_model_t vhw_models[];
const vhw_model_t *vhw_model_find(const char *type);

/* Helpers for models. */
vhw_part_t *vhw_part_alloc(size_t size, const vhw_ops_t *ops, const vhw_env_t *env);
uint64_t vhw_now(const vhw_part_t *p);
/* Append to a bounded text (spi_describe): writes at out + *k, moves *k;
 * past outlen it writes nothing more. Return value for spi_describe:
 * vhw_text_len(*k, outlen). */
void vhw_text_put(char *out, size_t outlen, size_t *k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
size_t vhw_text_len(size_t k, size_t outlen);

#endif
