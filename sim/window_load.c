/* The window's side in the executable: loads libluaos_window.so when a
 * window or a picture is wanted and forwards to it (sim/win_mod.h). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lwip/ip4_addr.h"
#include "net.h"
#include "win_mod.h"

#ifndef LUAOS_WINDOW_MODULE
#define LUAOS_WINDOW_MODULE "libluaos_window.so"
#endif

static struct {
  void *h;
  bool tried, started;
  char why[300];
  bool (*start)(lua_State *, const window_opts_t *, char *, size_t);
  bool (*finish)(void);
  bool (*shot)(const char *, char *, size_t);
} M;

/* Next to the executable first (a build tree), then where the build put it. */
static bool load(void) {
  if (M.tried) return M.h != NULL;
  M.tried = true;
  char exe[PATH_MAX], path[PATH_MAX + 32];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  const char *cands[2] = {NULL, LUAOS_WINDOW_MODULE};
  if (n > 0) {
    exe[n] = 0;
    snprintf(path, sizeof path, "%s/libluaos_window.so", dirname(exe));
    cands[0] = path;
  }
  for (int i = 0; i < 2 && !M.h; i++) {
    if (!cands[i]) continue;
    M.h = dlopen(cands[i], RTLD_NOW | RTLD_LOCAL);
    if (!M.h) snprintf(M.why, sizeof M.why, "cannot load the window module: %s", dlerror());
  }
  if (!M.h) return false;
  *(void **)&M.start = dlsym(M.h, "winmod_start");
  *(void **)&M.finish = dlsym(M.h, "winmod_finish");
  *(void **)&M.shot = dlsym(M.h, "winmod_screenshot");
  if (!M.start || !M.finish || !M.shot) {
    snprintf(M.why, sizeof M.why, "the window module lacks its entry points");
    dlclose(M.h);
    M.h = NULL;
    return false;
  }
  return true;
}

bool window_have_display(void) {
  const char *d = getenv("DISPLAY"), *wl = getenv("WAYLAND_DISPLAY");
  return (d && d[0]) || (wl && wl[0]);
}

bool window_available(char *why, size_t len) {
  if (load()) return true;
  snprintf(why, len, "%s", M.why);
  return false;
}

bool window_start(lua_State *L, const window_opts_t *o, char *err, size_t errlen) {
  bool want = o->screenshot || o->layout_json || (!o->headless && window_have_display());
  if (!want) return true; /* nothing of SDL is loaded */
  if (!load()) {
    if (o->screenshot || o->layout_json) {
      snprintf(err, errlen, "cannot write %s: %s",
               o->screenshot ? o->screenshot : o->layout_json, M.why);
      return false;
    }
    fprintf(stderr, "luaos: no window (%s), running headless\n", M.why);
    return true;
  }
  M.started = M.start(L, o, err, errlen);
  return M.started;
}

bool window_finish(void) {
  if (!M.started) return true;
  M.started = false;
  return M.finish();
}

bool window_screenshot(const char *path, char *err, size_t errlen) {
  if (!load()) {
    snprintf(err, errlen, "cannot write %s: %s", path, M.why);
    return false;
  }
  return M.shot(path, err, errlen);
}

void win_net_info(win_snap_t *s) {
  struct netif *nif = net_netif();
  s->net_present = nif != NULL;
  if (!nif) return;
  s->net_up = net_is_up();
  ip4addr_ntoa_r(netif_ip4_addr(nif), s->net_addr, sizeof s->net_addr);
  if (strcmp(s->net_addr, "0.0.0.0") == 0) s->net_addr[0] = 0;
  net_counters_t c;
  net_counters(&c);
  s->rx_packets = c.rx_packets;
  s->tx_packets = c.tx_packets;
  s->rx_bytes = c.rx_bytes;
  s->tx_bytes = c.tx_bytes;
}
