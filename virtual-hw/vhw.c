#include "vhw.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vhw_part_t *vhw_part_alloc(size_t size, const vhw_ops_t *ops, const vhw_env_t *env) {
  vhw_part_t *p = calloc(1, size);
  if (!p) return NULL;
  p->ops = ops;
  p->bus = p->cs = p->pin = p->irq_pin = -1;
  p->dc_pin = p->reset_pin = -1;
  p->spi_modes = 0;
  p->spi_max_hz = 0;
  p->fault = VHW_FAULT_NONE;
  if (env) p->env = *env;
  return p;
}

uint64_t vhw_now(const vhw_part_t *p) {
  return p->env.now_us ? p->env.now_us(p->env.ctx) : 0;
}

void vhw_text_put(char *out, size_t outlen, size_t *k, const char *fmt, ...) {
  if (*k >= outlen) return;
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(out + *k, outlen - *k, fmt, ap);
  va_end(ap);
  if (w > 0) *k += (size_t)w;
}

size_t vhw_text_len(size_t k, size_t outlen) { return k < outlen ? k : outlen - 1; }

const vhw_model_t *vhw_model_find(const char *type) {
  for (const vhw_model_t *m = vhw_models; m->type; m++)
    if (strcmp(m->type, type) == 0) return m;
  return NULL;
}

const char *const vhw_fault_names[] = {"disconnect", "stuck", "unpowered", NULL};

int vhw_fault_find(const char *name) {
  for (int i = 0; vhw_fault_names[i]; i++)
    if (strcmp(vhw_fault_names[i], name) == 0) return i + 1;
  return -1;
}
