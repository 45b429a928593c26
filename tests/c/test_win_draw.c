/* The window's renderer offscreen, on a snapshot made up here: a display
 * part's glass must come out pixel-exact (each RGB565 pixel one block of
 * k x k device pixels, k the integer zoom times the HiDPI scale), LEDs in
 * their colour, and clicks must find the widget drawn at that place. */
#include <SDL.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "win_draw.h"

static int failures;
#define CHECK(c)                                                        \
  do {                                                                  \
    if (!(c)) {                                                         \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
      failures++;                                                       \
    }                                                                   \
  } while (0)

#define SW 40
#define SH 30
#define SW2 24 /* a second display, another size */
#define SH2 16

static uint16_t px[SW * SH + SW2 * SH2]; /* both displays, one after the other */

/* What SDL makes of an RGB565 pixel in a 32-bit surface: each channel's
 * bits repeated into the low ones (0x1F -> 0xFF). */
static uint32_t expand(uint16_t p) {
  uint32_t r = p >> 11, g = (p >> 5) & 0x3F, b = p & 0x1F;
  return (r << 3 | r >> 2) << 16 | (g << 2 | g >> 4) << 8 | (b << 3 | b >> 2);
}

static void make_snap(win_snap_t *s) {
  memset(s, 0, sizeof *s);
  snprintf(s->board, sizeof s->board, "fake");
  s->nparts = 2;
  s->nbuses = 1;
  ws_part_t *d = &s->parts[0];
  snprintf(d->name, sizeof d->name, "lcd");
  snprintf(d->type, sizeof d->type, "fakescreen");
  d->kind = WK_DISPLAY;
  d->bus = 0;
  ws_part_t *l = &s->parts[1];
  snprintf(l->name, sizeof l->name, "LED");
  snprintf(l->type, sizeof l->type, "led");
  l->kind = WK_LED;
  l->has_color = true;
  l->color = 0x10A0F0;
  l->level = 1;
  s->nscr = 1;
  s->scr[0] = (ws_screen_t){.part = 0, .w = SW, .h = SH, .on = true};
  for (int y = 0; y < SH; y++)
    for (int x = 0; x < SW; x++) px[y * SW + x] = (uint16_t)(x * 0x0841u ^ y * 0x1234u);
  px[0] = 0xF800;        /* pure red */
  px[1] = 0x07E0;        /* pure green */
  px[SW * SH - 1] = 0x001F; /* pure blue */
  for (int i = 0; i < SW2 * SH2; i++) px[SW * SH + i] = (uint16_t)(0xFFFFu - i * 37u);
}

/* The board gets a second display (part 2). */
static void add_second_screen(win_snap_t *s) {
  ws_part_t *d = &s->parts[2];
  snprintf(d->name, sizeof d->name, "lcd2");
  snprintf(d->type, sizeof d->type, "fakescreen");
  d->kind = WK_DISPLAY;
  s->nparts = 3;
  s->nscr = 2;
  s->scr[1] = (ws_screen_t){.part = 2, .w = SW2, .h = SH2, .on = true};
}

static uint32_t at(SDL_Surface *s, int x, int y) {
  return ((uint32_t *)((uint8_t *)s->pixels + y * s->pitch))[x] & 0xFFFFFF;
}

static void render(const win_snap_t *snap, int w, int h, double scale, win_layout_t *lay,
                   SDL_Surface **out) {
  SDL_Surface *surf = SDL_CreateRGBSurfaceWithFormat(0, (int)(w * scale), (int)(h * scale), 32,
                                                     SDL_PIXELFORMAT_RGB888);
  SDL_Renderer *r = SDL_CreateSoftwareRenderer(surf);
  char err[200];
  win_draw_t *d = win_draw_new(r, scale, err, sizeof err);
  if (!d) {
    fprintf(stderr, "%s\n", err);
    exit(1);
  }
  win_layout(snap, w, h, lay);
  win_draw_frame(d, snap, px, lay, NULL);
  SDL_RenderFlush(r);
  win_draw_free(d);
  SDL_DestroyRenderer(r);
  *out = surf;
}

static void check_screen(const win_snap_t *snap, int w, int h, double scale) {
  win_layout_t lay;
  SDL_Surface *s;
  render(snap, w, h, scale, &lay, &s);
  int seen = 0, i = -1;
  for (int j = 0; j < lay.n; j++) {
    if (lay.wd[j].kind != WW_SCREEN) continue;
    const ww_widget_t *wd = &lay.wd[j];
    const ws_screen_t *c = &snap->scr[wd->idx];
    const uint16_t *sp = px + ws_screen_offset(snap, wd->idx);
    if (wd->idx == 0) i = j;
    seen++;
    CHECK(wd->part == c->part);
    int k = (int)(lay.scr_scale * scale);
    CHECK(wd->w == c->w * lay.scr_scale && wd->h == c->h * lay.scr_scale);
    int x0 = (int)(wd->x * scale), y0 = (int)(wd->y * scale);
    int bad = 0;
    for (int y = 0; y < c->h * k; y++)
      for (int x = 0; x < c->w * k; x++)
        if (at(s, x0 + x, y0 + y) != expand(sp[(y / k) * c->w + x / k]) && bad++ < 3)
          fprintf(stderr, "screen %d pixel (%d,%d) at zoom %d: %06x, want %06x\n", wd->idx,
                  x / k, y / k, k, at(s, x0 + x, y0 + y), expand(sp[(y / k) * c->w + x / k]));
    CHECK(bad == 0);
    /* The click finds the screen where it is drawn. */
    CHECK(win_hit(&lay, wd->x + 1, wd->y + 1) == j);
    /* No two screens overlap. */
    for (int m = 0; m < j; m++)
      if (lay.wd[m].kind == WW_SCREEN)
        CHECK(wd->y >= lay.wd[m].y + lay.wd[m].h || wd->y + wd->h <= lay.wd[m].y ||
              wd->x >= lay.wd[m].x + lay.wd[m].w || wd->x + wd->w <= lay.wd[m].x);
  }
  CHECK(seen == snap->nscr);
  CHECK(i >= 0);
  if (i < 0) return;
  {
    const ww_widget_t *wd = &lay.wd[i];
    int k = (int)(lay.scr_scale * scale);
    int x0 = (int)(wd->x * scale), y0 = (int)(wd->y * scale);
    CHECK(at(s, x0, y0) == 0xFF0000 && at(s, x0 + k, y0) == 0x00FF00);
    /* Just outside the glass: not the image. */
    CHECK(at(s, x0 + SW * k, y0) != expand(px[SW - 1]) ||
          expand(px[SW - 1]) == at(s, x0 + SW * k + 1, y0));
  }
  /* The LED is drawn in its colour at full brightness. */
  for (int j = 0; j < lay.n; j++)
    if (lay.wd[j].kind == WW_LED) {
      const ww_widget_t *l = &lay.wd[j];
      CHECK(at(s, (int)((l->x + 22) * scale), (int)((l->y + l->h / 2) * scale)) == 0x10A0F0);
      CHECK(win_hit(&lay, l->x + 2, l->y + 2) == j);
    }
  SDL_FreeSurface(s);
}

int main(void) {
  static win_snap_t snap;
  make_snap(&snap);
  check_screen(&snap, 1000, 700, 1); /* the default size: zoom 1 or more */
  check_screen(&snap, 480, 360, 1);  /* smallest window */
  check_screen(&snap, 1000, 700, 2); /* HiDPI: 2 device pixels per logical one */
  /* Zoom 1 exactly: a screen as big as the space allows. */
  win_layout_t lay;
  win_layout(&snap, 480, 360, &lay);
  CHECK(lay.scr_scale >= 1);
  /* The screen switched off: dark glass, none of the image. */
  snap.scr[0].on = false;
  SDL_Surface *s;
  render(&snap, 1000, 700, 1, &lay, &s);
  for (int k = 0; k < lay.n; k++)
    if (lay.wd[k].kind == WW_SCREEN) CHECK(at(s, lay.wd[k].x, lay.wd[k].y) == 0x050505);
  SDL_FreeSurface(s);
  /* Two displays: both drawn, pixel-exact, one above the other, at every
   * size (the first switched on again). */
  snap.scr[0].on = true;
  add_second_screen(&snap);
  check_screen(&snap, 1000, 700, 1);
  check_screen(&snap, 480, 360, 1);
  check_screen(&snap, 1000, 700, 2);
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  else printf("win_draw: ok\n");
  return failures ? 1 : 0;
}
