#include "panel.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  vhw_part_t base;
  int active_low;   /* LED: lit when the pin is low; button/switch: drives low */
  int on;           /* button pressed / switch closed */
  const vhw_pins_t *pins; /* LED: the wires it reads (vhw_led_attach) */
  uint32_t changes0;      /* LED: the pin's change count when attached */
} vhw_panel_t;

static void panel_destroy(vhw_part_t *p) { free(p); }

/* ---- LED ---- */

/* Brightness is the share of the last BRIGHT_US of device time the LED
 * was lit, from the times of its pin's last changes (a PWM or a fast
 * blink looks dimmed, as to an eye). */
enum { LED_EDGES = 64, BRIGHT_US = 20000 };

typedef struct {
  vhw_panel_t panel;
  uint64_t t[LED_EDGES];   /* change times, a ring */
  uint8_t level[LED_EDGES]; /* the level after each change */
  uint32_t n;
} vhw_led_t;

static const char *const led_keys[] = {"lit", "changes", "brightness", "active_low", NULL};

/* An LED is read, not told: its state is its pin's level and its change
 * count the pin's, so a gpio.write costs the LED nothing but the time
 * stamp of a change. */
void vhw_led_attach(vhw_part_t *p, const vhw_pins_t *pins) {
  vhw_panel_t *l = (vhw_panel_t *)p;
  l->pins = pins;
  l->changes0 = p->pin >= 0 ? vhw_pins_changes(pins, p->pin) : 0;
}

static void led_pin_changed(vhw_part_t *p, int pin, int level) {
  vhw_led_t *l = (vhw_led_t *)p;
  (void)pin;
  uint32_t i = l->n++ % LED_EDGES;
  l->t[i] = vhw_now(p);
  l->level[i] = (uint8_t)(level != 0);
}

static double led_brightness(vhw_led_t *l) {
  vhw_panel_t *b = &l->panel;
  if (!b->pins || b->base.pin < 0) return 0;
  uint64_t now = vhw_now(&b->base);
  uint64_t from = now > BRIGHT_US ? now - BRIGHT_US : 0, end = now, lit_us = 0;
  int level = vhw_pins_level(b->pins, b->base.pin);
  if (now == from) return level != b->active_low;
  uint32_t kept = l->n < LED_EDGES ? l->n : LED_EDGES;
  for (uint32_t k = 1; k <= kept; k++) {
    uint32_t i = (l->n - k) % LED_EDGES;
    if (l->t[i] <= from) break;
    if ((l->level[i] != 0) != (b->active_low != 0)) lit_us += end - l->t[i];
    end = l->t[i];
    level = !l->level[i]; /* what the wire was before this change */
  }
  if ((level != 0) != (b->active_low != 0)) lit_us += end - from;
  return (double)lit_us / (double)(now - from);
}

static int led_get(vhw_part_t *p, const char *key, double *v) {
  vhw_panel_t *l = (vhw_panel_t *)p;
  bool wired = l->pins && p->pin >= 0;
  if (strcmp(key, "lit") == 0)
    *v = wired && (vhw_pins_level(l->pins, p->pin) != l->active_low);
  else if (strcmp(key, "changes") == 0)
    *v = wired ? vhw_pins_changes(l->pins, p->pin) - l->changes0 : 0;
  else if (strcmp(key, "brightness") == 0)
    *v = led_brightness((vhw_led_t *)p);
  else if (strcmp(key, "active_low") == 0) *v = l->active_low;
  else return VHW_EKEY;
  return VHW_OK;
}

static int led_set(vhw_part_t *p, const char *key, double v) {
  vhw_panel_t *l = (vhw_panel_t *)p;
  if (strcmp(key, "active_low") == 0) {
    l->active_low = v != 0;
    return VHW_OK;
  }
  return VHW_EKEY; /* an LED shows what the pin says; it cannot be set */
}

static const vhw_ops_t led_ops = {.type = "led",
                                  .set = led_set,
                                  .get = led_get,
                                  .pin_changed = led_pin_changed,
                                  .destroy = panel_destroy,
                                  .keys = led_keys};

vhw_part_t *vhw_led_new(const vhw_env_t *env) {
  return vhw_part_alloc(sizeof(vhw_led_t), &led_ops, env);
}

/* ---- button and switch: both drive their pin; a button springs back ---- */

static const char *const button_keys[] = {"pressed", "active_low", NULL};
static const char *const switch_keys[] = {"on", "active_low", NULL};

static void drive(vhw_panel_t *b) {
  if (b->base.pin < 0 || !b->base.env.drive_pin) return;
  int level = b->active_low ? !b->on : b->on;
  b->base.env.drive_pin(b->base.env.ctx, b->base.pin, level);
}

static int input_set(vhw_part_t *p, const char *key, double v, const char *onkey) {
  vhw_panel_t *b = (vhw_panel_t *)p;
  if (strcmp(key, "active_low") == 0) {
    b->active_low = v != 0;
  } else if (strcmp(key, onkey) == 0) {
    if (v != 0 && v != 1) return VHW_ERANGE;
    b->on = (int)v;
  } else {
    return VHW_EKEY;
  }
  drive(b);
  return VHW_OK;
}

static int input_get(vhw_part_t *p, const char *key, double *v, const char *onkey) {
  vhw_panel_t *b = (vhw_panel_t *)p;
  if (strcmp(key, onkey) == 0) *v = b->on;
  else if (strcmp(key, "active_low") == 0) *v = b->active_low;
  else return VHW_EKEY;
  return VHW_OK;
}

static int button_set(vhw_part_t *p, const char *k, double v) { return input_set(p, k, v, "pressed"); }
static int button_get(vhw_part_t *p, const char *k, double *v) { return input_get(p, k, v, "pressed"); }
static int switch_set(vhw_part_t *p, const char *k, double v) { return input_set(p, k, v, "on"); }
static int switch_get(vhw_part_t *p, const char *k, double *v) { return input_get(p, k, v, "on"); }

static const vhw_ops_t button_ops = {.type = "button",
                                     .set = button_set,
                                     .get = button_get,
                                     .destroy = panel_destroy,
                                     .keys = button_keys};
static const vhw_ops_t switch_ops = {.type = "switch",
                                     .set = switch_set,
                                     .get = switch_get,
                                     .destroy = panel_destroy,
                                     .keys = switch_keys};

vhw_part_t *vhw_button_new(const vhw_env_t *env) {
  return vhw_part_alloc(sizeof(vhw_panel_t), &button_ops, env);
}

vhw_part_t *vhw_switch_new(const vhw_env_t *env) {
  return vhw_part_alloc(sizeof(vhw_panel_t), &switch_ops, env);
}

/* ---- SPI loopback jumper ---- */

static const char *const loopback_keys[] = {"bytes", NULL};

typedef struct {
  vhw_part_t base;
  uint32_t bytes;
} vhw_loopback_t;

static void loopback_select(vhw_part_t *p, bool active) {
  (void)p;
  (void)active;
}

static uint8_t loopback_exchange(vhw_part_t *p, uint8_t mosi) {
  ((vhw_loopback_t *)p)->bytes++;
  return mosi;
}

static int loopback_get(vhw_part_t *p, const char *key, double *v) {
  if (strcmp(key, "bytes") != 0) return VHW_EKEY;
  *v = ((vhw_loopback_t *)p)->bytes;
  return VHW_OK;
}

static int loopback_set(vhw_part_t *p, const char *key, double v) {
  (void)p;
  (void)key;
  (void)v;
  return VHW_EKEY;
}

static const vhw_ops_t loopback_ops = {.type = "loopback",
                                       .spi_select = loopback_select,
                                       .spi_exchange = loopback_exchange,
                                       .set = loopback_set,
                                       .get = loopback_get,
                                       .destroy = panel_destroy,
                                       .keys = loopback_keys};

vhw_part_t *vhw_loopback_new(const vhw_env_t *env) {
  vhw_part_t *p = vhw_part_alloc(sizeof(vhw_loopback_t), &loopback_ops, env);
  if (p) {
    p->spi_modes = 0xF;
    p->spi_max_hz = 0;
  }
  return p;
}
