/* What the window shows: a copy of the board's state taken in the
 * scheduler thread (sim/window.c) and drawn in the render thread
 * (sim/win_draw.c). Plain data: no pointer into the models, so the render
 * thread never touches what the scheduler owns. */
#ifndef SIM_WIN_SNAP_H
#define SIM_WIN_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board.h"

#define WS_MAX_Q 6       /* sliders per part */
#define WS_LINE 120      /* characters per text line */
#define WS_SPI_LINES 12  /* transactions shown per bus */
#define WS_CON_LINES 48  /* console lines kept */
#define WS_MAX_SCREENS 4 /* displays drawn (the first four of the board) */

typedef struct {
  int part;      /* index into parts */
  int w, h;
  bool on;
  uint32_t gen;  /* its pixels changed */
} ws_screen_t;

#define WS_MAX_FAULTS 4

typedef enum { WK_LED, WK_BUTTON, WK_SWITCH, WK_SENSOR, WK_DISPLAY, WK_OTHER } ws_kind_t;

typedef struct {
  char key[16], unit[8];
  double min, max, value;
} ws_quantity_t;

typedef struct {
  char name[32], type[16];
  ws_kind_t kind;
  bool has_pos, has_color;
  int x, y;            /* panel position (logical pixels), when has_pos */
  uint32_t color;      /* 0xRRGGBB, when has_color */
  char shortcut;       /* key for buttons and switches, 0: none */
  double level;        /* LED brightness 0..1; button pressed / switch on: 0 or 1 */
  int nq;
  ws_quantity_t q[WS_MAX_Q];
  int nr;              /* other readable keys (parts without sliders) */
  char rkey[4][16];
  double rval[4];
  int nfaults;         /* faults offered (parts with a "fault" key) */
  int fault;           /* current vhw_fault_t */
  int bus, cs, pin;
} ws_part_t;

typedef struct {
  int n;
  char line[WS_SPI_LINES][WS_LINE]; /* oldest first */
} ws_bus_t;

typedef struct {
  char board[64];
  uint64_t now_us;
  bool virtual_time;
  int nparts;
  ws_part_t parts[BOARD_MAX_PARTS];
  int nbuses;
  ws_bus_t bus[BOARD_MAX_BUSES];
  uint64_t spi_total;
  /* network pane */
  bool net_present, net_up;
  char net_addr[40];
  uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes;
  /* console: a ring of whole lines plus the line being written */
  char con[WS_CON_LINES][WS_LINE];
  int con_first, con_n;
  char con_partial[WS_LINE];
  bool repl;
  /* the displays' glass: the parts with a screen, in board order; their
   * pixels sit in one buffer, screen k right after screen k-1 */
  int nscr;
  ws_screen_t scr[WS_MAX_SCREENS];
  uint32_t scr_gen; /* any screen's pixels changed */
} win_snap_t;

/* Where screen k's pixels start in the buffer, and the buffer's length. */
static inline size_t ws_screen_offset(const win_snap_t *s, int k) {
  size_t o = 0;
  for (int i = 0; i < k; i++) o += (size_t)s->scr[i].w * (size_t)s->scr[i].h;
  return o;
}
static inline size_t ws_screen_pixels(const win_snap_t *s) { return ws_screen_offset(s, s->nscr); }

#endif
