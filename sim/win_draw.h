/* The window's layout and drawing: one code path for the window, its F12
 * screenshots and the offscreen renderer of --screenshot (a software
 * renderer over an SDL_Surface). Coordinates are logical pixels; a
 * drawing context multiplies them by its scale (HiDPI). */
#ifndef SIM_WIN_DRAW_H
#define SIM_WIN_DRAW_H

#include <SDL.h>
#include <stdbool.h>
#include <stddef.h>

#include "win_snap.h"

#define WIN_DEFAULT_W 1000
#define WIN_DEFAULT_H 700
#define WIN_MIN_W 480
#define WIN_MIN_H 360
#define WD_MAX_WIDGETS 320

typedef enum {
  WW_LED,
  WW_BUTTON,
  WW_SWITCH,
  WW_CARD,    /* a sensor's (or other part's) box */
  WW_SLIDER,  /* idx: quantity */
  WW_FAULT,   /* idx: vhw_fault_t - 1 */
  WW_SCREEN,
  WW_SPI,
  WW_NET,
  WW_CONSOLE
} ww_kind_t;

typedef struct {
  ww_kind_t kind;
  int part, idx; /* part index (-1: none), slider or fault number */
  int x, y, w, h;
} ww_widget_t;

typedef struct {
  int w, h;      /* logical size laid out for */
  int scr_scale; /* the display's integer zoom (logical pixels per screen pixel) */
  int n;
  ww_widget_t wd[WD_MAX_WIDGETS];
} win_layout_t;

/* What the render thread adds to a snapshot: mouse and typing state. */
typedef struct {
  int pressed;    /* widget index held by the mouse, -1 */
  bool repl_focus; /* typing goes to the window's REPL line */
  char repl_text[WS_LINE];
  char status[WS_LINE]; /* e.g. "screenshot written to ..." */
} win_ui_t;

void win_layout(const win_snap_t *s, int w, int h, win_layout_t *out);
/* The widget at logical (x, y), most specific first, or -1. */
int win_hit(const win_layout_t *l, int x, int y);
/* A slider's value at logical x (clamped to the quantity's range). */
double win_slider_value(const win_snap_t *s, const ww_widget_t *w, int x);
/* The layout as JSON (tests click at these places). */
bool win_layout_json(const win_snap_t *s, const win_layout_t *l, double scale,
                     const char *path, char *err, size_t errlen);

typedef struct win_draw win_draw_t;
/* Fonts at `scale` times their logical size. NULL with a message. */
win_draw_t *win_draw_new(SDL_Renderer *r, double scale, char *err, size_t errlen);
void win_draw_free(win_draw_t *d);
/* One frame; `px` the displays' pixels (s->scr[], one after the other, RGB565) or NULL. */
void win_draw_frame(win_draw_t *d, const win_snap_t *s, const uint16_t *px,
                    const win_layout_t *l, const win_ui_t *ui);
/* Colour of an LED at brightness b (0..1): what the frame fills it with. */
uint32_t win_led_rgb(const ws_part_t *p);

#endif
