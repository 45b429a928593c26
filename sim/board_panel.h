/* The board file's `panel = {x =, y =, color =, key =}` of a part: where
 * the simulator window draws it, in which colour, and the key that works
 * it. Parsed by sim/board.c while it builds the part; read by the window. */
#ifndef SIM_BOARD_PANEL_H
#define SIM_BOARD_PANEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lua.h"

typedef struct {
  bool has_pos, has_color;
  int x, y;       /* logical pixels from the top left of the board area */
  uint32_t color; /* 0xRRGGBB */
  char key;       /* keyboard shortcut ('a'..'z', '0'..'9'), 0: default */
} board_panel_t;

/* Parse the `panel` field of the part table at `t` for part number `i`
 * (absent: nothing). False with a message in err (the caller prefixes the
 * part's place in the file). */
bool board_panel_parse(lua_State *L, int t, int i, char *err, size_t errlen);
/* The panel entry of part `i` (all zero when the file gave none). */
const board_panel_t *board_panel_get(int i);
void board_panel_clear(void);
/* A colour name (red, green, ...) or "#rrggbb"; false if neither. */
bool board_panel_color(const char *s, uint32_t *rgb);

#endif
