/* The simulator built without SDL2, SDL2_ttf or libpng: no window, and
 * --screenshot / sim.screenshot say why. */
#include <stdio.h>

#include "window.h"

#define WHY "this luaos was built without the window (SDL2, SDL2_ttf and libpng " \
            "development files were missing: apt-get install libsdl2-dev libsdl2-ttf-dev " \
            "libpng-dev, then rebuild)"

bool window_available(char *why, size_t len) {
  snprintf(why, len, "%s", WHY);
  return false;
}

bool window_start(lua_State *L, const window_opts_t *o, char *err, size_t errlen) {
  (void)L;
  if (o->screenshot || o->layout_json) {
    snprintf(err, errlen, "cannot write %s: %s", o->screenshot ? o->screenshot : o->layout_json,
             WHY);
    return false;
  }
  return true;
}

bool window_finish(void) { return true; }

bool window_screenshot(const char *path, char *err, size_t errlen) {
  snprintf(err, errlen, "cannot write %s: %s", path, WHY);
  return false;
}
