/* The window module (libluaos_window.so: sim/window.c, win_draw.c,
 * win_png.c and SDL2). The simulator loads it with dlopen only when a
 * window or a picture is wanted (sim/window_load.c), so a headless run or
 * a spec file's process does not load SDL's libraries at all. The module
 * calls back into the executable (its symbols are exported). */
#ifndef SIM_WIN_MOD_H
#define SIM_WIN_MOD_H

#include "win_snap.h"
#include "window.h"

/* The module's entry points (looked up by name: window_load.c). */
bool winmod_start(lua_State *L, const window_opts_t *o, char *err, size_t errlen);
bool winmod_finish(void);
bool winmod_screenshot(const char *path, char *err, size_t errlen);

/* In the executable, for the module: */
/* The network pane's fields of the snapshot (sim/window_load.c). */
void win_net_info(win_snap_t *s);
/* DISPLAY or WAYLAND_DISPLAY is set. */
bool window_have_display(void);

#endif
