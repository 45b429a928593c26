#include "bundle.h"

#include <string.h>

const struct bundle_entry *bundle_find(const char *name) {
  /* A few dozen entries: a linear scan is cheaper than keeping an order
   * that matches strcmp across dotted names. */
  for (unsigned i = 0; i < bundle_count; i++)
    if (strcmp(bundle_table[i].name, name) == 0) return &bundle_table[i];
  return NULL;
}
