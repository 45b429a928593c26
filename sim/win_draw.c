#include "win_draw.h"

#include <SDL_ttf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhw.h"

/* ---- layout ---- */

#define HEADER_H 30
#define PAD 10
#define CHIP_W 112 /* LED, button, switch */
#define CHIP_H 46
#define CARD_W 340
#define ROW_H 34 /* a slider row */
#define FAULT_W 100
#define FAULT_H 20
#define RIGHT_MIN 330

static int add(win_layout_t *l, ww_kind_t k, int part, int idx, int x, int y, int w, int h) {
  if (l->n >= WD_MAX_WIDGETS) return -1;
  l->wd[l->n] = (ww_widget_t){k, part, idx, x, y, w, h};
  return l->n++;
}

static int card_height(const ws_part_t *p) {
  int rows = p->nq > 0 ? p->nq : (p->nr + 1) / 2;
  return 26 + rows * (p->nq > 0 ? ROW_H : 18) + (p->nfaults ? FAULT_H + 8 : 0) + 6;
}

/* A card's sliders and fault toggles, inside its box at (x, y). */
static void card_widgets(win_layout_t *l, const ws_part_t *p, int i, int x, int y) {
  int cy = y + 26;
  for (int q = 0; q < p->nq; q++, cy += ROW_H)
    add(l, WW_SLIDER, i, q, x + 150, cy + 4, CARD_W - 160, 16);
  if (p->nq == 0) cy += ((p->nr + 1) / 2) * 18;
  for (int f = 0; f < p->nfaults; f++)
    add(l, WW_FAULT, i, f, x + 8 + f * (FAULT_W + 6), cy + 4, FAULT_W, FAULT_H);
}

static ww_kind_t chip_kind(const ws_part_t *p) {
  return p->kind == WK_LED ? WW_LED : p->kind == WK_BUTTON ? WW_BUTTON : WW_SWITCH;
}

/* Does the box overlap one of the widgets [from, to) (the placed parts)? */
static bool collides(const win_layout_t *l, int from, int to, int x, int y, int w, int h) {
  for (int i = from; i < to; i++) {
    const ww_widget_t *o = &l->wd[i];
    if (o->kind == WW_SLIDER || o->kind == WW_FAULT) continue;
    if (x < o->x + o->w && o->x < x + w && y < o->y + o->h && o->y < y + h) return true;
  }
  return false;
}

void win_layout(const win_snap_t *s, int w, int h, win_layout_t *l) {
  memset(l, 0, sizeof *l);
  if (w < WIN_MIN_W) w = WIN_MIN_W;
  if (h < WIN_MIN_H) h = WIN_MIN_H;
  l->w = w;
  l->h = h;
  int con_h = h / 4 < 120 ? 120 : h / 4;
  int mid_top = HEADER_H + 6, mid_bot = h - con_h - PAD;
  /* Right column: the displays at the largest integer zoom at which they
   * fit, one above the other, or side by side when stacked they would not
   * fit at zoom 1; then the SPI view and the network pane. (A display the
   * board file places goes where it says.) */
  int right_w = RIGHT_MIN;
  l->scr_scale = 1;
  int maxw = 0, maxh = 0, sumw = 0, sumh = 0, free_n = 0;
  for (int k = 0; k < s->nscr; k++) {
    if (s->parts[s->scr[k].part].has_pos) continue;
    const ws_screen_t *c = &s->scr[k];
    if (c->w > maxw) maxw = c->w;
    if (c->h > maxh) maxh = c->h;
    sumw += c->w;
    sumh += c->h;
    free_n++;
  }
  int gap = 20 + PAD; /* a caption and a space between two displays */
  int room_h = (mid_bot - mid_top) * 6 / 10, room_w = w * 45 / 100;
  bool row = free_n > 1 && sumh + (free_n - 1) * gap > room_h;
  if (free_n > 0) {
    int need_w = row ? sumw : maxw, need_h = row ? maxh : sumh;
    int fixed_w = row ? (free_n - 1) * PAD : 0, fixed_h = row ? 0 : (free_n - 1) * gap;
    int k = 1;
    while ((k + 1) * need_w + fixed_w <= room_w && (k + 1) * need_h + fixed_h <= room_h) k++;
    l->scr_scale = k;
    if (k * need_w + fixed_w + 2 * PAD > right_w) right_w = k * need_w + fixed_w + 2 * PAD;
  }
  int rx = w - right_w - PAD / 2;
  int ry = mid_top, colx = rx + PAD, row_bottom = ry;
  for (int k = 0; k < s->nscr; k++) {
    const ws_screen_t *c = &s->scr[k];
    const ws_part_t *p = &s->parts[c->part];
    int sx, sy;
    if (p->has_pos) {
      sx = PAD + p->x;
      sy = mid_top + p->y + 20;
    } else if (row) {
      sx = colx;
      sy = ry + 20;
      colx += c->w * l->scr_scale + PAD;
      if (sy + c->h * l->scr_scale + PAD > row_bottom) row_bottom = sy + c->h * l->scr_scale + PAD;
    } else {
      sx = rx + PAD;
      sy = ry + 20;
      ry = sy + c->h * l->scr_scale + PAD;
    }
    add(l, WW_SCREEN, c->part, k, sx, sy, c->w * l->scr_scale, c->h * l->scr_scale);
  }
  if (row) ry = row_bottom;
  add(l, WW_CONSOLE, -1, 0, PAD, h - con_h, w - 2 * PAD, con_h - PAD / 2);

  /* Left: parts the board file placed first; then the other chips in
   * rows and cards in columns around them. */
  int left_w = rx - 2 * PAD;
  int placed_from = l->n;
  for (int i = 0; i < s->nparts; i++) {
    const ws_part_t *p = &s->parts[i];
    if (!p->has_pos) continue;
    int px = PAD + p->x, py = mid_top + p->y;
    if (p->kind == WK_LED || p->kind == WK_BUTTON || p->kind == WK_SWITCH) {
      add(l, chip_kind(p), i, 0, px, py, CHIP_W, CHIP_H);
    } else if (p->kind == WK_SENSOR || p->kind == WK_OTHER) {
      add(l, WW_CARD, i, 0, px, py, CARD_W, card_height(p));
      card_widgets(l, p, i, px, py);
    }
  }
  int placed_to = l->n;
  int x = PAD, y = mid_top;
  bool any_chip = false;
  for (int i = 0; i < s->nparts; i++) {
    const ws_part_t *p = &s->parts[i];
    if (p->has_pos || (p->kind != WK_LED && p->kind != WK_BUTTON && p->kind != WK_SWITCH))
      continue;
    for (int tries = 0; tries < 400; tries++) {
      if (x + CHIP_W > PAD + left_w && x > PAD) {
        x = PAD;
        y += CHIP_H + 6;
      }
      if (!collides(l, placed_from, placed_to, x, y, CHIP_W, CHIP_H)) break;
      x += CHIP_W + 6;
    }
    add(l, chip_kind(p), i, 0, x, y, CHIP_W, CHIP_H);
    x += CHIP_W + 6;
    any_chip = true;
  }
  int cx = PAD, cy = any_chip ? y + CHIP_H + PAD : mid_top;
  int top = cy, cards_right = PAD;
  for (int i = placed_from; i < placed_to; i++)
    if (l->wd[i].x + l->wd[i].w > cards_right && l->wd[i].y + l->wd[i].h > top)
      cards_right = l->wd[i].x + l->wd[i].w;
  for (int i = 0; i < s->nparts; i++) {
    const ws_part_t *p = &s->parts[i];
    if (p->has_pos || (p->kind != WK_SENSOR && p->kind != WK_OTHER)) continue;
    int ch = card_height(p);
    for (int tries = 0; tries < 400; tries++) {
      if (cy + ch > mid_bot && cy > top && cx + 2 * (CARD_W + PAD) <= PAD + left_w + PAD) {
        cx += CARD_W + PAD; /* next column */
        cy = top;
      }
      if (!collides(l, placed_from, placed_to, cx, cy, CARD_W, ch)) break;
      cy += 8;
    }
    add(l, WW_CARD, i, 0, cx, cy, CARD_W, ch);
    card_widgets(l, p, i, cx, cy);
    cy += ch + 6;
    if (cx + CARD_W > cards_right) cards_right = cx + CARD_W;
  }
  /* The SPI view: between the cards and the right column when there is
   * room for it (lines of ~40 characters), else under the display. */
  int net_h = 64;
  int mid_x = cards_right + PAD, mid_w = rx - PAD - mid_x;
  if (mid_w >= 280 && mid_bot - top >= 120) {
    add(l, WW_SPI, -1, 0, mid_x, top, mid_w, mid_bot - top);
    int nh = mid_bot - ry > net_h ? net_h : mid_bot - ry;
    add(l, WW_NET, -1, 0, rx, ry, right_w, nh < 40 ? 40 : nh);
  } else {
    int spi_h = mid_bot - ry - net_h - PAD;
    if (spi_h < 60) spi_h = 60;
    add(l, WW_SPI, -1, 0, rx, ry, right_w, spi_h);
    add(l, WW_NET, -1, 0, rx, ry + spi_h + PAD / 2, right_w, net_h);
  }
}

int win_hit(const win_layout_t *l, int x, int y) {
  /* Later widgets are inside earlier ones (sliders in cards): last wins. */
  for (int i = l->n - 1; i >= 0; i--) {
    const ww_widget_t *w = &l->wd[i];
    if (x >= w->x && x < w->x + w->w && y >= w->y && y < w->y + w->h) return i;
  }
  return -1;
}

double win_slider_value(const win_snap_t *s, const ww_widget_t *w, int x) {
  const ws_quantity_t *q = &s->parts[w->part].q[w->idx];
  double f = w->w > 1 ? (double)(x - w->x) / (double)(w->w - 1) : 0;
  if (f < 0) f = 0;
  if (f > 1) f = 1;
  return q->min + f * (q->max - q->min);
}

static const char *kind_name(ww_kind_t k) {
  static const char *const n[] = {"led",   "button", "switch", "card", "slider",
                                  "fault", "screen", "spi",    "net",  "console"};
  return n[k];
}

/* A JSON string: names come from board files and may hold any byte. */
static void json_str(FILE *f, const char *v) {
  fputc('"', f);
  for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
    if (*c == '"' || *c == '\\') fprintf(f, "\\%c", *c);
    else if (*c < 0x20 || *c >= 0x7F) fprintf(f, "\\u%04x", *c); /* bytes, as Latin-1 */
    else fputc(*c, f);
  }
  fputc('"', f);
}

bool win_layout_json(const win_snap_t *s, const win_layout_t *l, double scale,
                     const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "w");
  if (!f) {
    snprintf(err, errlen, "cannot write %s", path);
    return false;
  }
  fprintf(f, "{\"width\": %d, \"height\": %d, \"scale\": %.3f, \"screen_scale\": %d,\n"
             " \"widgets\": [\n",
          l->w, l->h, scale, l->scr_scale);
  for (int i = 0; i < l->n; i++) {
    const ww_widget_t *w = &l->wd[i];
    fprintf(f, "  {\"kind\": \"%s\", \"part\": ", kind_name(w->kind));
    json_str(f, w->part >= 0 ? s->parts[w->part].name : "");
    fputs(", ", f);
    if (w->kind == WW_SLIDER)
      fprintf(f, "\"key\": \"%s\", \"min\": %.6g, \"max\": %.6g, ",
              s->parts[w->part].q[w->idx].key, s->parts[w->part].q[w->idx].min,
              s->parts[w->part].q[w->idx].max);
    if (w->kind == WW_FAULT) fprintf(f, "\"fault\": \"%s\", ", vhw_fault_names[w->idx]);
    fprintf(f, "\"x\": %d, \"y\": %d, \"w\": %d, \"h\": %d}%s\n", w->x, w->y, w->w, w->h,
            i + 1 < l->n ? "," : "");
  }
  fprintf(f, " ]}\n");
  bool ok = fclose(f) == 0;
  if (!ok) snprintf(err, errlen, "cannot write %s", path);
  return ok;
}

/* ---- drawing ---- */

#define WD_FONT_PATH "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
#define WD_FONT_BOLD "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
#define WD_BUCKETS 256

enum { F_NORMAL, F_SMALL, F_BOLD, F_N };

/* Rendered strings, kept while they are drawn every frame: an unchanged
 * frame then costs no glyph rendering. */
typedef struct text_entry {
  struct text_entry *next;
  int font;
  uint32_t rgb;
  unsigned frame;
  int w, h;
  SDL_Texture *tex;
  char s[];
} text_entry_t;

/* A display's texture and its pixels in 0x00RRGGBB, redone when its
 * generation moves. */
typedef struct {
  SDL_Texture *tex;
  int w, h;
  uint32_t *rgb;
  uint32_t gen;
  bool valid;
} win_glass_t;

struct win_draw {
  SDL_Renderer *r;
  double scale;
  TTF_Font *font[F_N];
  text_entry_t *bucket[WD_BUCKETS];
  unsigned frame;
  win_glass_t glass[WS_MAX_SCREENS];
};

static SDL_mutex *ttf_lock; /* FreeType's library is shared by all contexts */
static int ttf_users;

win_draw_t *win_draw_new(SDL_Renderer *r, double scale, char *err, size_t errlen) {
  win_draw_t *d = calloc(1, sizeof *d);
  if (!d) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  d->r = r;
  d->scale = scale > 0 ? scale : 1;
  /* The render thread and a screenshot may come here at the same time. */
  static SDL_SpinLock once;
  SDL_AtomicLock(&once);
  if (!ttf_lock) ttf_lock = SDL_CreateMutex();
  SDL_AtomicUnlock(&once);
  if (!ttf_lock) {
    snprintf(err, errlen, "out of memory");
    free(d);
    return NULL;
  }
  SDL_LockMutex(ttf_lock);
  if (ttf_users++ == 0 && TTF_Init() != 0) {
    ttf_users = 0;
    SDL_UnlockMutex(ttf_lock);
    snprintf(err, errlen, "SDL_ttf: %s", TTF_GetError());
    free(d);
    return NULL;
  }
  const char *path = getenv("LUAOS_WINDOW_FONT");
  static const int sizes[F_N] = {13, 11, 13};
  for (int i = 0; i < F_N; i++) {
    const char *p = path ? path : i == F_BOLD ? WD_FONT_BOLD : WD_FONT_PATH;
    d->font[i] = TTF_OpenFont(p, (int)(sizes[i] * d->scale + 0.5));
    if (!d->font[i] && i == F_BOLD) d->font[i] = TTF_OpenFont(WD_FONT_PATH, (int)(sizes[i] * d->scale + 0.5));
    if (!d->font[i]) {
      snprintf(err, errlen, "cannot open the font %s: %s (Debian: fonts-dejavu-core)", p,
               TTF_GetError());
      SDL_UnlockMutex(ttf_lock);
      win_draw_free(d);
      return NULL;
    }
  }
  SDL_UnlockMutex(ttf_lock);
  return d;
}

static void sweep_text(win_draw_t *d, bool all) {
  for (int b = 0; b < WD_BUCKETS; b++) {
    text_entry_t **pp = &d->bucket[b];
    while (*pp) {
      text_entry_t *e = *pp;
      if (all || e->frame != d->frame) {
        *pp = e->next;
        if (e->tex) SDL_DestroyTexture(e->tex);
        free(e);
      } else {
        pp = &e->next;
      }
    }
  }
}

void win_draw_free(win_draw_t *d) {
  if (!d) return;
  sweep_text(d, true);
  for (int k = 0; k < WS_MAX_SCREENS; k++) {
    if (d->glass[k].tex) SDL_DestroyTexture(d->glass[k].tex);
    free(d->glass[k].rgb);
  }
  SDL_LockMutex(ttf_lock);
  for (int i = 0; i < F_N; i++)
    if (d->font[i]) TTF_CloseFont(d->font[i]);
  if (--ttf_users == 0) TTF_Quit();
  SDL_UnlockMutex(ttf_lock);
  free(d);
}

static SDL_Rect R(const win_draw_t *d, int x, int y, int w, int h) {
  double s = d->scale;
  int x0 = (int)(x * s), y0 = (int)(y * s);
  return (SDL_Rect){x0, y0, (int)((x + w) * s) - x0, (int)((y + h) * s) - y0};
}

static void color(const win_draw_t *d, uint32_t rgb) {
  SDL_SetRenderDrawColor(d->r, (Uint8)(rgb >> 16), (Uint8)(rgb >> 8), (Uint8)rgb, 255);
}

static void fill(const win_draw_t *d, int x, int y, int w, int h, uint32_t rgb) {
  SDL_Rect r = R(d, x, y, w, h);
  color(d, rgb);
  SDL_RenderFillRect(d->r, &r);
}

static void frame_rect(const win_draw_t *d, int x, int y, int w, int h, uint32_t rgb) {
  SDL_Rect r = R(d, x, y, w, h);
  color(d, rgb);
  SDL_RenderDrawRect(d->r, &r);
}

/* A filled disc, centre and radius in logical pixels. */
static void disc(const win_draw_t *d, int cx, int cy, int rad, uint32_t rgb) {
  int pcx = (int)(cx * d->scale), pcy = (int)(cy * d->scale), pr = (int)(rad * d->scale);
  color(d, rgb);
  for (int dy = -pr; dy <= pr; dy++) {
    int dx = 0;
    while ((dx + 1) * (dx + 1) + dy * dy <= pr * pr) dx++;
    SDL_RenderDrawLine(d->r, pcx - dx, pcy + dy, pcx + dx, pcy + dy);
  }
}

static unsigned hash_text(const char *s, int font, uint32_t rgb) {
  unsigned h = 2166136261u ^ (unsigned)font ^ rgb * 16777619u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h % WD_BUCKETS;
}

/* Draw `s` with its top left at logical (x, y), clipped to max_w logical
 * pixels (0: no limit). Returns its logical width. */
static int text(win_draw_t *d, int font, int x, int y, uint32_t rgb, int max_w, const char *s) {
  if (!s[0]) return 0;
  unsigned b = hash_text(s, font, rgb);
  text_entry_t *e = d->bucket[b];
  while (e && (e->font != font || e->rgb != rgb || strcmp(e->s, s) != 0)) e = e->next;
  if (!e) {
    size_t n = strlen(s);
    e = calloc(1, sizeof *e + n + 1);
    if (!e) return 0;
    memcpy(e->s, s, n + 1);
    e->font = font;
    e->rgb = rgb;
    SDL_Color c = {(Uint8)(rgb >> 16), (Uint8)(rgb >> 8), (Uint8)rgb, 255};
    SDL_LockMutex(ttf_lock);
    SDL_Surface *surf = TTF_RenderUTF8_Blended(d->font[font], s, c);
    SDL_UnlockMutex(ttf_lock);
    if (surf) {
      e->tex = SDL_CreateTextureFromSurface(d->r, surf);
      e->w = surf->w;
      e->h = surf->h;
      SDL_FreeSurface(surf);
    }
    e->next = d->bucket[b];
    d->bucket[b] = e;
  }
  e->frame = d->frame;
  if (!e->tex) return 0;
  int pw = e->w;
  if (max_w > 0 && pw > (int)(max_w * d->scale)) pw = (int)(max_w * d->scale);
  SDL_Rect src = {0, 0, pw, e->h};
  SDL_Rect dst = {(int)(x * d->scale), (int)(y * d->scale), pw, e->h};
  SDL_RenderCopy(d->r, e->tex, &src, &dst);
  return (int)(pw / d->scale);
}

#define C_BG 0x1E2228
#define C_PANEL 0x2A3038
#define C_EDGE 0x49515C
#define C_TEXT 0xE6E6E6
#define C_DIM 0x9AA4B0
#define C_ACCENT 0x4FA3FF
#define C_ON 0x3CCB5A
#define C_WARN 0xFF8040

static uint32_t mix(uint32_t a, uint32_t b, double f) {
  if (f < 0) f = 0;
  if (f > 1) f = 1;
  uint32_t out = 0;
  for (int sh = 0; sh <= 16; sh += 8) {
    double ca = (a >> sh) & 0xFF, cb = (b >> sh) & 0xFF;
    out |= (uint32_t)(ca + (cb - ca) * f + 0.5) << sh;
  }
  return out;
}

uint32_t win_led_rgb(const ws_part_t *p) {
  uint32_t on = p->has_color ? p->color : 0xFF2020;
  return mix(mix(on, 0x202020, 0.8), on, p->level); /* off: a dark tint of the colour */
}

static void draw_chip(win_draw_t *d, const win_snap_t *s, const ww_widget_t *w, bool held) {
  const ws_part_t *p = &s->parts[w->part];
  fill(d, w->x, w->y, w->w, w->h, held ? 0x35404C : C_PANEL);
  frame_rect(d, w->x, w->y, w->w, w->h, C_EDGE);
  char buf[48];
  if (w->kind == WW_LED) {
    disc(d, w->x + 22, w->y + w->h / 2, 13, 0x101010);
    disc(d, w->x + 22, w->y + w->h / 2, 11, win_led_rgb(p));
    text(d, F_NORMAL, w->x + 42, w->y + 6, C_TEXT, w->w - 44, p->name);
    snprintf(buf, sizeof buf, "%s %3.0f%%", p->level > 0.5 ? "on " : "off", p->level * 100);
    text(d, F_SMALL, w->x + 42, w->y + 25, C_DIM, w->w - 44, buf);
    return;
  }
  bool on = p->level > 0.5;
  if (w->kind == WW_BUTTON) {
    fill(d, w->x + 6, w->y + 8, 30, 30, on ? C_ACCENT : 0x4A525C);
    frame_rect(d, w->x + 6, w->y + 8, 30, 30, 0x101010);
  } else {
    fill(d, w->x + 6, w->y + 14, 32, 18, on ? C_ON : 0x4A525C);
    fill(d, on ? w->x + 22 : w->x + 7, w->y + 15, 15, 16, 0xE0E0E0);
  }
  text(d, F_NORMAL, w->x + 42, w->y + 6, C_TEXT, w->w - 44, p->name);
  if (p->shortcut)
    snprintf(buf, sizeof buf, "[%c] %s", p->shortcut, w->kind == WW_BUTTON ? (on ? "down" : "up")
                                                                          : (on ? "on" : "off"));
  else
    snprintf(buf, sizeof buf, "%s", on ? "on" : "off");
  text(d, F_SMALL, w->x + 42, w->y + 25, C_DIM, w->w - 44, buf);
}

static void fmt_value(char *buf, size_t n, double v, const char *unit) {
  double a = v < 0 ? -v : v;
  snprintf(buf, n, a >= 10000 ? "%.0f %s" : a >= 100 ? "%.1f %s" : "%.2f %s", v, unit);
}

static void draw_card(win_draw_t *d, const win_snap_t *s, const ww_widget_t *w) {
  const ws_part_t *p = &s->parts[w->part];
  fill(d, w->x, w->y, w->w, w->h, C_PANEL);
  frame_rect(d, w->x, w->y, w->w, w->h, p->fault ? C_WARN : C_EDGE);
  char buf[96];
  snprintf(buf, sizeof buf, "%s (%s)", p->name, p->type);
  text(d, F_BOLD, w->x + 8, w->y + 5, C_TEXT, w->w - 16, buf);
  if (p->bus >= 0) {
    snprintf(buf, sizeof buf, "spi%d cs%d", p->bus, p->cs);
    text(d, F_SMALL, w->x + w->w - 80, w->y + 7, C_DIM, 76, buf);
  }
  int y = w->y + 26;
  for (int q = 0; q < p->nq; q++, y += ROW_H) {
    text(d, F_SMALL, w->x + 8, y, C_DIM, 140, p->q[q].key);
    fmt_value(buf, sizeof buf, p->q[q].value, p->q[q].unit);
    text(d, F_NORMAL, w->x + 8, y + 14, C_TEXT, 140, buf);
  }
  if (p->nq == 0)
    for (int k = 0; k < p->nr; k++) {
      snprintf(buf, sizeof buf, "%s = %.6g", p->rkey[k], p->rval[k]);
      text(d, F_SMALL, w->x + 8 + (k % 2) * 165, y + (k / 2) * 18, C_DIM, 160, buf);
    }
}

static void draw_slider(win_draw_t *d, const win_snap_t *s, const ww_widget_t *w) {
  const ws_quantity_t *q = &s->parts[w->part].q[w->idx];
  double f = q->max > q->min ? (q->value - q->min) / (q->max - q->min) : 0;
  if (f < 0) f = 0;
  if (f > 1) f = 1;
  int cy = w->y + w->h / 2;
  fill(d, w->x, cy - 3, w->w, 6, 0x15181C);
  fill(d, w->x, cy - 3, (int)(f * (w->w - 1)) + 1, 6, C_ACCENT);
  int kx = w->x + (int)(f * (w->w - 1));
  fill(d, kx - 4, w->y, 9, w->h, 0xE0E0E0);
}

static void draw_fault(win_draw_t *d, const win_snap_t *s, const ww_widget_t *w) {
  bool on = s->parts[w->part].fault == w->idx + 1;
  fill(d, w->x, w->y, w->w, w->h, on ? C_WARN : 0x333A44);
  frame_rect(d, w->x, w->y, w->w, w->h, C_EDGE);
  text(d, F_SMALL, w->x + 6, w->y + 3, on ? 0x101010 : C_DIM, w->w - 8, vhw_fault_names[w->idx]);
}

static void draw_screen(win_draw_t *d, const win_snap_t *s, const uint16_t *px,
                        const ww_widget_t *w) {
  const ws_part_t *p = &s->parts[w->part];
  const ws_screen_t *c = &s->scr[w->idx];
  win_glass_t *g = &d->glass[w->idx];
  char buf[96];
  snprintf(buf, sizeof buf, "%s (%s) %dx%d%s", p->name, p->type, c->w, c->h,
           c->on ? "" : "  [off]");
  text(d, F_SMALL, w->x, w->y - 16, C_DIM, w->w, buf);
  SDL_Rect dst = {(int)(w->x * d->scale), (int)(w->y * d->scale), 0, 0};
  /* Whole device pixels per screen pixel, never a blend of two. */
  int k = (int)(w->w / c->w * d->scale);
  if (k < 1) k = 1;
  dst.w = c->w * k;
  dst.h = c->h * k;
  if (!c->on || !px) {
    color(d, 0x050505);
    SDL_RenderFillRect(d->r, &dst);
    return;
  }
  px += ws_screen_offset(s, w->idx);
  if (!g->tex || g->w != c->w || g->h != c->h) {
    if (g->tex) SDL_DestroyTexture(g->tex);
    free(g->rgb);
    g->rgb = malloc((size_t)c->w * (size_t)c->h * sizeof *g->rgb);
    g->tex = g->rgb ? SDL_CreateTexture(d->r, SDL_PIXELFORMAT_RGB888,
                                        SDL_TEXTUREACCESS_STREAMING, c->w, c->h)
                    : NULL;
    g->w = c->w;
    g->h = c->h;
    g->valid = false;
    if (g->tex) SDL_SetTextureScaleMode(g->tex, SDL_ScaleModeNearest);
  }
  if (!g->tex) return;
  if (!g->valid || g->gen != c->gen) {
    /* RGB565 to 8 bits a channel by repeating the top bits into the low
     * ones (0x1F -> 0xFF, 0x10 -> 0x84): our formula, not the blitter's,
     * so the PNG's pixels are known exactly (docs/simulator.md). */
    size_t n = (size_t)c->w * (size_t)c->h;
    for (size_t i = 0; i < n; i++) {
      uint32_t v = px[i], r = v >> 11, gg = (v >> 5) & 0x3F, b = v & 0x1F;
      g->rgb[i] = (r << 3 | r >> 2) << 16 | (gg << 2 | gg >> 4) << 8 | (b << 3 | b >> 2);
    }
    SDL_UpdateTexture(g->tex, NULL, g->rgb, c->w * 4);
    g->gen = c->gen;
    g->valid = true;
  }
  SDL_RenderCopy(d->r, g->tex, NULL, &dst);
}

static void draw_spi(win_draw_t *d, const win_snap_t *s, const ww_widget_t *w) {
  fill(d, w->x, w->y, w->w, w->h, C_PANEL);
  frame_rect(d, w->x, w->y, w->w, w->h, C_EDGE);
  char buf[64];
  snprintf(buf, sizeof buf, "SPI  (%llu transactions)", (unsigned long long)s->spi_total);
  text(d, F_BOLD, w->x + 8, w->y + 5, C_TEXT, w->w - 16, buf);
  int y = w->y + 24;
  for (int b = 0; b < s->nbuses && y + 14 <= w->y + w->h; b++) {
    snprintf(buf, sizeof buf, "bus %d", b);
    text(d, F_SMALL, w->x + 8, y, C_ACCENT, w->w - 16, buf);
    y += 15;
    const ws_bus_t *bus = &s->bus[b];
    if (bus->n == 0 && y + 14 <= w->y + w->h) {
      text(d, F_SMALL, w->x + 16, y, C_DIM, w->w - 24, "(quiet)");
      y += 15;
    }
    for (int i = 0; i < bus->n && y + 14 <= w->y + w->h; i++, y += 15)
      text(d, F_SMALL, w->x + 16, y, C_TEXT, w->w - 24, bus->line[i]);
  }
}

static void human_bytes(char *buf, size_t n, uint64_t v) {
  if (v >= 10u * 1024 * 1024) snprintf(buf, n, "%llu MB", (unsigned long long)(v >> 20));
  else if (v >= 10u * 1024) snprintf(buf, n, "%llu KB", (unsigned long long)(v >> 10));
  else snprintf(buf, n, "%llu B", (unsigned long long)v);
}

static void draw_net(win_draw_t *d, const win_snap_t *s, const ww_widget_t *w) {
  fill(d, w->x, w->y, w->w, w->h, C_PANEL);
  frame_rect(d, w->x, w->y, w->w, w->h, C_EDGE);
  char buf[WS_LINE], in[24], out[24];
  text(d, F_BOLD, w->x + 8, w->y + 5, C_TEXT, 60, "Network");
  if (!s->net_present) {
    text(d, F_SMALL, w->x + 80, w->y + 7, C_DIM, w->w - 88, "no interface (--net none)");
    return;
  }
  disc(d, w->x + 86, w->y + 13, 5, s->net_up ? C_ON : C_WARN);
  snprintf(buf, sizeof buf, "%s  %s", s->net_up ? "up" : "down",
           s->net_addr[0] ? s->net_addr : "(no address)");
  text(d, F_SMALL, w->x + 96, w->y + 7, C_TEXT, w->w - 104, buf);
  human_bytes(in, sizeof in, s->rx_bytes);
  human_bytes(out, sizeof out, s->tx_bytes);
  snprintf(buf, sizeof buf, "in  %llu packets, %s", (unsigned long long)s->rx_packets, in);
  text(d, F_SMALL, w->x + 8, w->y + 26, C_TEXT, w->w - 16, buf);
  snprintf(buf, sizeof buf, "out %llu packets, %s", (unsigned long long)s->tx_packets, out);
  text(d, F_SMALL, w->x + 8, w->y + 42, C_TEXT, w->w - 16, buf);
}

static void draw_console(win_draw_t *d, const win_snap_t *s, const ww_widget_t *w,
                         const win_ui_t *ui) {
  fill(d, w->x, w->y, w->w, w->h, 0x111417);
  frame_rect(d, w->x, w->y, w->w, w->h, ui && ui->repl_focus ? C_ACCENT : C_EDGE);
  int lh = 15;
  int rows = (w->h - 8) / lh;
  bool prompt = s->repl;
  int shown = rows - (prompt ? 1 : 0) - (s->con_partial[0] ? 1 : 0);
  if (shown < 0) shown = 0;
  int from = s->con_n > shown ? s->con_n - shown : 0;
  int y = w->y + 4;
  for (int i = from; i < s->con_n; i++, y += lh)
    text(d, F_SMALL, w->x + 6, y, C_TEXT, w->w - 12,
         s->con[(s->con_first + i) % WS_CON_LINES]);
  if (s->con_partial[0]) {
    text(d, F_SMALL, w->x + 6, y, C_TEXT, w->w - 12, s->con_partial);
    y += lh;
  }
  if (prompt) {
    char buf[WS_LINE + 8];
    if (ui && ui->repl_focus)
      snprintf(buf, sizeof buf, "> %s_", ui->repl_text);
    else
      snprintf(buf, sizeof buf, "> (click here to type Lua)");
    text(d, F_SMALL, w->x + 6, w->y + w->h - lh - 3, ui && ui->repl_focus ? C_ACCENT : C_DIM,
         w->w - 12, buf);
  }
}

void win_draw_frame(win_draw_t *d, const win_snap_t *s, const uint16_t *px,
                    const win_layout_t *l, const win_ui_t *ui) {
  d->frame++;
  color(d, C_BG);
  SDL_RenderClear(d->r);
  fill(d, 0, 0, l->w, HEADER_H, 0x14171B);
  char buf[160];
  uint64_t t = s->now_us;
  snprintf(buf, sizeof buf, "%s   t = %llu.%03llu s (%s)", s->board,
           (unsigned long long)(t / 1000000u), (unsigned long long)(t / 1000u % 1000u),
           s->virtual_time ? "virtual time" : "real time");
  text(d, F_BOLD, PAD, 7, C_TEXT, l->w / 2, buf);
  const char *hint = ui && ui->status[0] ? ui->status : "F12 screenshot   keys in [ ]";
  text(d, F_SMALL, l->w / 2 + PAD, 9, C_DIM, l->w / 2 - 2 * PAD, hint);
  for (int i = 0; i < l->n; i++) {
    const ww_widget_t *w = &l->wd[i];
    bool held = ui && ui->pressed == i;
    switch (w->kind) {
      case WW_LED:
      case WW_BUTTON:
      case WW_SWITCH: draw_chip(d, s, w, held); break;
      case WW_CARD: draw_card(d, s, w); break;
      case WW_SLIDER: draw_slider(d, s, w); break;
      case WW_FAULT: draw_fault(d, s, w); break;
      case WW_SCREEN: draw_screen(d, s, px, w); break;
      case WW_SPI: draw_spi(d, s, w); break;
      case WW_NET: draw_net(d, s, w); break;
      case WW_CONSOLE: draw_console(d, s, w, ui); break;
    }
  }
  sweep_text(d, false); /* strings not drawn this frame */
}
