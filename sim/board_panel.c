#include "board_panel.h"

#include <stdio.h>
#include <string.h>

#include "board.h"
#include "lauxlib.h"

static board_panel_t P[BOARD_MAX_PARTS];

static const struct {
  const char *name;
  uint32_t rgb;
} colors[] = {{"red", 0xFF2020},    {"green", 0x20E040}, {"blue", 0x3070FF},
              {"yellow", 0xFFE020}, {"orange", 0xFF9010}, {"amber", 0xFFB000},
              {"white", 0xF0F0F0},  {"cyan", 0x20E0E0},  {"magenta", 0xF020F0},
              {"purple", 0xA040FF}, {NULL, 0}};

bool board_panel_color(const char *s, uint32_t *rgb) {
  if (s[0] == '#' && strlen(s) == 7) {
    uint32_t v = 0;
    for (int i = 1; i < 7; i++) {
      char c = s[i];
      int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) return false;
      v = v << 4 | (uint32_t)d;
    }
    *rgb = v;
    return true;
  }
  for (int i = 0; colors[i].name; i++)
    if (strcmp(colors[i].name, s) == 0) {
      *rgb = colors[i].rgb;
      return true;
    }
  return false;
}

/* The window is at most a few thousand pixels wide: a position past this
 * is a typo, and keeps the layout's arithmetic far from overflow. */
#define PANEL_MAX_POS 4000

static bool pos_field(lua_State *L, int t, const char *k, int *out, bool *has, char *err,
                      size_t errlen) {
  int ty = lua_getfield(L, t, k);
  bool ok = true;
  if (ty != LUA_TNIL) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 ||
        lua_tointeger(L, -1) > PANEL_MAX_POS) {
      snprintf(err, errlen, "panel.%s must be a whole number of pixels 0..%d (got %s)", k,
               PANEL_MAX_POS, ty == LUA_TNUMBER ? "a fraction or out of range"
                                                : luaL_typename(L, -1));
      ok = false;
    } else {
      *out = (int)lua_tointeger(L, -1);
      *has = true;
    }
  }
  lua_pop(L, 1);
  return ok;
}

bool board_panel_parse(lua_State *L, int t, int i, char *err, size_t errlen) {
  if (i < 0 || i >= BOARD_MAX_PARTS) return true;
  memset(&P[i], 0, sizeof P[i]);
  int ty = lua_getfield(L, t, "panel");
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
    return true;
  }
  if (ty != LUA_TTABLE) {
    snprintf(err, errlen, "'panel' must be a table {x =, y =, color =, key =} (got a %s)",
             luaL_typename(L, -1));
    lua_pop(L, 1);
    return false;
  }
  int pt = lua_gettop(L);
  bool ok = true;
  /* Only the four keys: a typo ("colour") must not be ignored. */
  lua_pushnil(L);
  while (ok && lua_next(L, pt)) {
    lua_pop(L, 1);
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (!k || (strcmp(k, "x") && strcmp(k, "y") && strcmp(k, "color") && strcmp(k, "key"))) {
      snprintf(err, errlen, "panel: unknown key %s%.40s%s (known: x, y, color, key)",
               k ? "'" : "a ", k ? k : luaL_typename(L, -1), k ? "'" : "");
      ok = false;
      lua_pop(L, 1);
    }
  }
  bool hx = false, hy = false;
  if (ok) ok = pos_field(L, pt, "x", &P[i].x, &hx, err, errlen);
  if (ok) ok = pos_field(L, pt, "y", &P[i].y, &hy, err, errlen);
  if (ok && hx != hy) {
    snprintf(err, errlen, "panel needs both x and y (or neither)");
    ok = false;
  }
  P[i].has_pos = hx && hy;
  if (ok) {
    ty = lua_getfield(L, pt, "color");
    if (ty == LUA_TSTRING) {
      ok = board_panel_color(lua_tostring(L, -1), &P[i].color);
      if (!ok)
        snprintf(err, errlen,
                 "panel.color must be \"#rrggbb\" or one of red, green, blue, yellow, orange, "
                 "amber, white, cyan, magenta, purple (got '%.40s')",
                 lua_tostring(L, -1));
      P[i].has_color = ok;
    } else if (ty == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0 &&
               lua_tointeger(L, -1) <= 0xFFFFFF) {
      P[i].color = (uint32_t)lua_tointeger(L, -1);
      P[i].has_color = true;
    } else if (ty != LUA_TNIL) {
      snprintf(err, errlen, "panel.color must be \"#rrggbb\", a colour name or 0xRRGGBB");
      ok = false;
    }
    lua_pop(L, 1);
  }
  if (ok) {
    ty = lua_getfield(L, pt, "key");
    if (ty != LUA_TNIL) {
      const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
      char c = s && strlen(s) == 1 ? s[0] : 0;
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
        snprintf(err, errlen, "panel.key must be one character a-z or 0-9");
        ok = false;
      } else {
        P[i].key = c;
      }
    }
    lua_pop(L, 1);
  }
  lua_settop(L, pt - 1);
  if (!ok) memset(&P[i], 0, sizeof P[i]);
  return ok;
}

const board_panel_t *board_panel_get(int i) {
  static const board_panel_t none;
  return i >= 0 && i < BOARD_MAX_PARTS ? &P[i] : &none;
}

void board_panel_clear(void) { memset(P, 0, sizeof P); }
