/* The simulator window (SDL2): the board drawn from its description, with
 * LEDs, buttons, switches, sensors' sliders, fault toggles, SPI and network
 * activity, the console and the display's glass. The scheduler thread owns
 * the models; a render thread owns SDL. See docs/simulator.md. */
#ifndef SIM_WINDOW_H
#define SIM_WINDOW_H

#include <stdbool.h>
#include <stddef.h>

#include "lua.h"

typedef struct {
  bool headless;           /* --headless (or no DISPLAY) */
  const char *screenshot;  /* --screenshot FILE.png: written when the run ends */
  const char *layout_json; /* --layout-json FILE: widget rectangles (tests) */
  bool repl;               /* luaos repl: the console pane takes Lua lines */
} window_opts_t;

/* False (and why) when this build has no window (SDL2, SDL2_ttf or libpng
 * were missing at build time). */
bool window_available(char *why, size_t len);

/* After boot, before the loop: opens the window unless headless. False
 * with a message only for what the user asked and cannot have (a
 * --screenshot without window support); no display is not an error. */
bool window_start(lua_State *L, const window_opts_t *o, char *err, size_t errlen);
/* The run ended: the --screenshot, then the window closes. The board must
 * still be loaded. False if the screenshot failed (message printed). */
bool window_finish(void);

/* A PNG of the window as it is now (the offscreen renderer, at the
 * window's size; 1000x700 without one). Scheduler thread only. */
bool window_screenshot(const char *path, char *err, size_t errlen);

#endif
