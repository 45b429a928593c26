/* Two threads, one copy of the state between them.
 *
 * The scheduler thread owns the models. From a host poller (run before
 * each idle wait, and at least once a millisecond while busy) and, in
 * virtual time, from the loop's idle hook, it takes a snapshot of what the
 * window shows, at most every WIN_FRAME_US of wall time and only when
 * something changed, and hands it over under a mutex (a memcpy; it never
 * waits for drawing). The render thread owns SDL: it sleeps in
 * SDL_WaitEvent until input or a new snapshot arrives, draws, and turns
 * clicks, keys and drags into commands; those go back through a queue and
 * an eventfd the scheduler's idle wait watches, and are applied in the
 * scheduler thread, as sim.press and part:set do. */
#define _GNU_SOURCE
#include "win_mod.h"

#include <SDL.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "board.h"
#include "board_panel.h"
#include "hal/hal_spi.h"
#include "hal/hal_console.h"
#include "host.h"
#include "lauxlib.h"
#include "lua_sim.h"
#include "repl.h"
#include "sched.h"
#include "win_draw.h"
#include "win_png.h"

#define WIN_FRAME_US 16000   /* at most ~60 snapshots a second */
#define WIN_MAX_SCREEN 1024  /* largest display side copied */
#define WIN_QUEUE 256
#define WIN_DUTY_MIN_CHANGES 4 /* a pin toggling this often per frame shows its duty */

typedef enum { CMD_SET, CMD_FAULT, CMD_CLOSE, CMD_REPL } cmd_op_t;

typedef struct {
  cmd_op_t op;
  int part;
  char key[16];
  double value;
  char text[WS_LINE];
} win_cmd_t;

static struct {
  bool started, windowed;
  window_opts_t o;
  lua_State *L;
  /* scheduler thread */
  win_snap_t stage, last;
  uint16_t *stage_px;
  size_t stage_px_cap;
  uint32_t last_px_gen[WS_MAX_SCREENS];
  bool px_changed;
  uint64_t last_pub_ns;
  size_t spi_seen;
  size_t gpio_seen;
  uint64_t duty_t0;
  uint64_t hi_us[BOARD_MAX_PINS], last_t[BOARD_MAX_PINS];
  uint8_t lvl[BOARD_MAX_PINS];
  int changes[BOARD_MAX_PINS];
  host_poller_t poller;
  int efd;
  /* shared, under lock */
  SDL_mutex *lock;
  win_snap_t shared;
  uint16_t *shared_px;
  size_t shared_px_cap;
  uint32_t shared_px_gen;
  unsigned shared_seq;
  win_cmd_t q[WIN_QUEUE];
  int qn;
  atomic_int queued; /* commands wait: the idle hook looks without the lock */
  int cur_w, cur_h;   /* the window's logical size (render thread writes) */
  double cur_scale;
  /* start-up handshake */
  SDL_cond *cond;
  int startup; /* 0 waiting, 1 up, -1 failed */
  char startup_err[200];
  SDL_Thread *thread;
  Uint32 ev_snapshot;
  /* LUAOS_WINDOW_STATS=1: counts printed at the end (tools/bench-window) */
  unsigned frames, snapshots; /* frames: render thread, under lock */
  uint64_t draw_ns;           /* time spent drawing them */
  uint64_t start_ns;
} W;

static uint64_t wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- console tap (scheduler thread) ---- */

static void con_push_line(void) {
  win_snap_t *s = &W.stage;
  int slot;
  if (s->con_n < WS_CON_LINES) {
    slot = (s->con_first + s->con_n++) % WS_CON_LINES;
  } else {
    slot = s->con_first;
    s->con_first = (s->con_first + 1) % WS_CON_LINES;
  }
  memcpy(s->con[slot], s->con_partial, WS_LINE);
  memset(s->con_partial, 0, WS_LINE);
}

static void console_tap(const char *buf, size_t len) {
  win_snap_t *s = &W.stage;
  size_t n = strlen(s->con_partial);
  for (size_t i = 0; i < len; i++) {
    char c = buf[i];
    if (c == '\n') {
      con_push_line();
      n = 0;
    } else if (c == '\r') {
      continue;
    } else if (n < WS_LINE - 1) {
      s->con_partial[n++] = c == '\t' || (unsigned char)c < 0x20 ? ' ' : c;
    }
  }
}

/* The console pane from what was written before the tap was set (boot
 * lines, or everything when a picture is made without a window). */
static void con_from_tail(void) {
  win_snap_t *s = &W.stage;
  s->con_n = s->con_first = 0;
  memset(s->con_partial, 0, sizeof s->con_partial);
  char *buf = malloc(HOST_CONSOLE_TAIL);
  if (!buf) return;
  size_t n = host_console_tail(buf, HOST_CONSOLE_TAIL), from = 0;
  if (n == HOST_CONSOLE_TAIL) { /* it may start inside a line: from the next one */
    while (from < n && buf[from] != '\n') from++;
    if (from < n) from++;
  }
  console_tap(buf + from, n - from);
  free(buf);
}

/* ---- snapshot (scheduler thread) ---- */

/* Until a model lists its quantities, these ranges (the datasheets'
 * operating ranges) give its sliders. */
static const vhw_quantity_t fallback_q[] = {{"temperature", -40, 85, "degC"},
                                            {"pressure", 30000, 110000, "Pa"},
                                            {"humidity", 0, 100, "%RH"},
                                            {"x", -2, 2, "g"},
                                            {"y", -2, 2, "g"},
                                            {"z", -2, 2, "g"},
                                            {NULL, 0, 0, NULL}};

static bool has_key(const vhw_part_t *p, const char *key) {
  for (const char *const *k = p->ops->keys; k && *k; k++)
    if (strcmp(*k, key) == 0) return true;
  return false;
}

static void fill_quantities(ws_part_t *sp, vhw_part_t *p) {
  const vhw_quantity_t *qs = p->ops->quantities;
  bool fb = !qs;
  if (fb) qs = fallback_q;
  for (const vhw_quantity_t *q = qs; q->key && sp->nq < WS_MAX_Q; q++) {
    if (fb && !has_key(p, q->key)) continue;
    ws_quantity_t *o = &sp->q[sp->nq];
    double v = 0;
    if (!p->ops->get || p->ops->get(p, q->key, &v) != VHW_OK) continue;
    snprintf(o->key, sizeof o->key, "%s", q->key);
    snprintf(o->unit, sizeof o->unit, "%s", q->unit ? q->unit : "");
    o->min = q->min;
    o->max = q->max;
    o->value = v;
    sp->nq++;
  }
}

/* LED brightness, when its pin toggles fast: the part's own "brightness"
 * (duty over the last 20 ms of device time) if it has one, else the share
 * of device time its pin was lit since the last snapshot, from the GPIO
 * trace; otherwise whether it is lit. */
static void duty_scan(void) {
  const board_gpio_rec_t *recs;
  size_t first, n = board_gpio_trace(&recs, &first);
  if (n < W.gpio_seen) W.gpio_seen = 0; /* the trace was cleared */
  size_t from = W.gpio_seen > first ? W.gpio_seen : first;
  bool lost = W.gpio_seen < first;
  for (size_t i = from; i < n; i++) {
    const board_gpio_rec_t *r = &recs[i % BOARD_TRACE_MAX];
    int pin = r->pin;
    if (pin >= BOARD_MAX_PINS) continue;
    uint64_t t = r->t_us > W.duty_t0 ? r->t_us : W.duty_t0;
    if (W.lvl[pin] && t > W.last_t[pin]) W.hi_us[pin] += t - W.last_t[pin];
    W.last_t[pin] = t;
    W.lvl[pin] = r->level;
    W.changes[pin]++;
  }
  if (lost)
    for (int p = 0; p < BOARD_MAX_PINS; p++) W.changes[p] = 0; /* unknown: show the level */
  W.gpio_seen = n;
}

static double led_level(vhw_part_t *p, uint64_t now) {
  double v = 0, lit = 0, al = 0, changes = 0;
  p->ops->get(p, "lit", &lit);
  int pin = p->pin;
  if (pin < 0 || pin >= BOARD_MAX_PINS) return lit;
  /* Fast: toggled several times since the last frame (window), or at all
   * (an offscreen picture has no last frame). A pin switched once shows
   * its level, not a fraction of the part's 20 ms average. */
  bool fast = W.windowed ? W.changes[pin] >= WIN_DUTY_MIN_CHANGES
                         : p->ops->get(p, "changes", &changes) == VHW_OK &&
                               changes >= WIN_DUTY_MIN_CHANGES;
  if (!fast) return lit;
  if (p->ops->get(p, "brightness", &v) == VHW_OK) return v;
  if (!W.windowed || now <= W.duty_t0) return lit;
  p->ops->get(p, "active_low", &al);
  uint64_t hi = W.hi_us[pin] + (W.lvl[pin] && now > W.last_t[pin] ? now - W.last_t[pin] : 0);
  double f = (double)hi / (double)(now - W.duty_t0);
  return al != 0 ? 1 - f : f;
}

static void duty_reset(uint64_t now) {
  for (int p = 0; p < BOARD_MAX_PINS; p++) {
    W.hi_us[p] = 0;
    W.last_t[p] = now;
    W.changes[p] = 0;
    W.lvl[p] = (uint8_t)(board_pin_level(p) > 0);
  }
  W.duty_t0 = now;
}

static void describe_rec(const board_spi_rec_t *r, char *out, size_t outlen) {
  vhw_part_t *p = NULL;
  for (int i = 0; i < board_part_count() && !p; i++) {
    vhw_part_t *c = board_part(i);
    if (c->bus == r->bus && c->cs == r->cs && c->ops->spi_exchange) p = c;
  }
  size_t kept = r->len < BOARD_TRACE_BYTES ? r->len : BOARD_TRACE_BYTES;
  int n = snprintf(out, outlen, "cs%u %s: ", r->cs, p ? p->name : "?");
  if (n < 0 || (size_t)n >= outlen) return;
  if (r->fault) {
    snprintf(out + n, outlen - (size_t)n, "%s (%zu B)",
             r->fault == 1 ? "no device" : "bad mode or speed", r->len);
    return;
  }
  if (p && p->ops->spi_describe &&
      p->ops->spi_describe(p, r->tx, r->rx, kept, r->len, out + n, outlen - (size_t)n) > 0)
    return;
  /* Raw: what went out, what came back. */
  size_t o = (size_t)n;
  o += (size_t)snprintf(out + o, outlen - o, "tx");
  for (size_t i = 0; i < kept && i < 6 && o + 4 < outlen; i++)
    o += (size_t)snprintf(out + o, outlen - o, " %02x", r->tx[i]);
  if (o + 4 < outlen) o += (size_t)snprintf(out + o, outlen - o, " rx");
  for (size_t i = 0; i < kept && i < 6 && o + 4 < outlen; i++)
    o += (size_t)snprintf(out + o, outlen - o, " %02x", r->rx[i]);
  if (o + 12 < outlen) snprintf(out + o, outlen - o, " (%zu B)", r->len);
}

/* The SPI view: per bus, each part's last transactions (a run of equal
 * ones, a display's pixel stream, is one line with its count), so a busy
 * part does not push a quiet one out of view. Scheduler thread only. */
#define SPI_GROUPS WS_SPI_LINES /* parts shown per bus (+1: no device) */
static struct {
  int n, quota;
  bool closed; /* full, and its oldest run has ended */
  char line[WS_SPI_LINES][WS_LINE];
  int rep[WS_SPI_LINES];
} G[BOARD_MAX_BUSES][SPI_GROUPS + 1];

/* Group of a transaction on its bus: the part's rank among the bus's
 * parts, SPI_GROUPS for "no device", -1 when there are too many parts. */
static int spi_group(int bus, int cs) {
  int rank = 0;
  for (int i = 0; i < board_part_count(); i++) {
    vhw_part_t *p = board_part(i);
    if (p->bus != bus || !p->ops->spi_exchange) continue;
    if (p->cs == cs) return rank < SPI_GROUPS ? rank : -1;
    rank++;
  }
  return SPI_GROUPS;
}

static void spi_fill(win_snap_t *s) {
  const board_spi_rec_t *recs;
  size_t first, n = board_spi_trace(&recs, &first);
  s->spi_total = n;
  if (n == W.spi_seen) return;
  W.spi_seen = n;
  memset(s->bus, 0, sizeof s->bus);
  int nb = s->nbuses;
  int open = 0; /* groups still taking lines */
  for (int b = 0; b < nb; b++) {
    int parts = 0;
    for (int i = 0; i < board_part_count(); i++)
      if (board_part(i)->bus == b && board_part(i)->ops->spi_exchange) parts++;
    int q = WS_SPI_LINES / (parts > 0 ? parts : 1);
    for (int g = 0; g <= SPI_GROUPS; g++) {
      G[b][g].n = 0;
      G[b][g].closed = false;
      G[b][g].quota = g < parts ? (q > 0 ? q : 1) : g == SPI_GROUPS ? 2 : 0;
      open += g < parts;
    }
  }
  char line[WS_LINE];
  /* Newest first, at most the whole ring, until every part has its lines. */
  for (size_t i = n; i > first && open > 0 && n - i < BOARD_TRACE_MAX; i--) {
    const board_spi_rec_t *r = &recs[(i - 1) % BOARD_TRACE_MAX];
    if (r->bus >= nb) continue;
    int g = spi_group(r->bus, r->cs);
    if (g < 0) continue;
    __typeof__(&G[0][0]) grp = &G[r->bus][g];
    if (grp->closed) continue;
    if (grp->n >= grp->quota && grp->n > 0) {
      /* Full; only a run continuing its oldest line still counts. */
      describe_rec(r, line, sizeof line);
      if (strcmp(grp->line[grp->n - 1], line) == 0) grp->rep[grp->n - 1]++;
      else grp->closed = true;
      continue;
    }
    if (grp->quota == 0) continue;
    describe_rec(r, line, sizeof line);
    if (grp->n > 0 && strcmp(grp->line[grp->n - 1], line) == 0) {
      grp->rep[grp->n - 1]++;
      continue;
    }
    memcpy(grp->line[grp->n], line, WS_LINE);
    grp->rep[grp->n++] = 1;
    if (grp->n == grp->quota && g < SPI_GROUPS) open--;
  }
  for (int b = 0; b < nb; b++) {
    ws_bus_t *bus = &s->bus[b];
    for (int g = 0; g <= SPI_GROUPS; g++)
      for (int k = G[b][g].n - 1; k >= 0 && bus->n < WS_SPI_LINES; k--) {
        char *out = bus->line[bus->n++];
        memcpy(out, G[b][g].line[k], WS_LINE);
        if (G[b][g].rep[k] > 1) {
          char suffix[16];
          int m = snprintf(suffix, sizeof suffix, "  x%d", G[b][g].rep[k] % 100000);
          size_t at = strlen(out);
          if (at + (size_t)m >= WS_LINE) at = WS_LINE - 1 - (size_t)m;
          memcpy(out + at, suffix, (size_t)m + 1);
        }
      }
  }
}

static void screen_fill(win_snap_t *s) {
  const vhw_screen_t *scr[WS_MAX_SCREENS];
  int n = 0;
  bool same = W.stage_px != NULL;
  for (int i = 0; i < board_part_count() && n < WS_MAX_SCREENS; i++) {
    vhw_part_t *p = board_part(i);
    if (!p->ops->screen) continue;
    const vhw_screen_t *c = p->ops->screen(p);
    if (!c || c->width <= 0 || c->height <= 0 || c->width > WIN_MAX_SCREEN ||
        c->height > WIN_MAX_SCREEN || !c->pixels)
      continue;
    ws_screen_t *o = &s->scr[n];
    if (n >= s->nscr || o->part != i || o->w != c->width || o->h != c->height ||
        W.last_px_gen[n] != c->generation)
      same = false;
    o->part = i;
    o->on = c->on;
    scr[n++] = c;
  }
  if (n != s->nscr) same = false;
  s->nscr = n;
  if (same || n == 0) return;
  size_t need = 0;
  for (int k = 0; k < n; k++) need += (size_t)scr[k]->width * (size_t)scr[k]->height;
  if (need > W.stage_px_cap) {
    uint16_t *np = realloc(W.stage_px, need * sizeof *np);
    if (!np) {
      s->nscr = 0;
      return;
    }
    W.stage_px = np;
    W.stage_px_cap = need;
  }
  size_t at = 0;
  for (int k = 0; k < n; k++) {
    ws_screen_t *o = &s->scr[k];
    size_t len = (size_t)scr[k]->width * (size_t)scr[k]->height;
    memcpy(W.stage_px + at, scr[k]->pixels, len * sizeof *W.stage_px);
    at += len;
    if (o->w != scr[k]->width || o->h != scr[k]->height || W.last_px_gen[k] != scr[k]->generation)
      o->gen++;
    o->w = scr[k]->width;
    o->h = scr[k]->height;
    W.last_px_gen[k] = scr[k]->generation;
  }
  s->scr_gen++;
  W.px_changed = true;
}

static void snap_fill(void) {
  win_snap_t *s = &W.stage;
  uint64_t now = sched_now();
  snprintf(s->board, sizeof s->board, "%s", board_name());
  s->now_us = now;
  s->virtual_time = sched_virtual();
  s->repl = W.o.repl;
  memset(s->parts, 0, sizeof s->parts);
  s->nparts = board_part_count();
  s->nbuses = hal_spi_bus_count();
  duty_scan();
  char next_key = '1';
  for (int i = 0; i < s->nparts; i++) {
    vhw_part_t *p = board_part(i);
    ws_part_t *sp = &s->parts[i];
    const board_panel_t *pn = board_panel_get(i);
    snprintf(sp->name, sizeof sp->name, "%s", p->name);
    snprintf(sp->type, sizeof sp->type, "%s", p->ops->type);
    sp->has_pos = pn->has_pos;
    sp->x = pn->x;
    sp->y = pn->y;
    sp->has_color = pn->has_color;
    sp->color = pn->color;
    sp->bus = p->bus;
    sp->cs = p->cs;
    sp->pin = p->pin;
    double v = 0;
    const char *t = p->ops->type;
    if (strcmp(t, "led") == 0) {
      sp->kind = WK_LED;
      sp->level = led_level(p, now);
    } else if (strcmp(t, "button") == 0 || strcmp(t, "switch") == 0) {
      bool button = t[0] == 'b';
      sp->kind = button ? WK_BUTTON : WK_SWITCH;
      p->ops->get(p, button ? "pressed" : "on", &v);
      sp->level = v;
      sp->shortcut = pn->key ? pn->key : next_key <= '9' ? next_key++ : 0;
    } else if (p->ops->screen) {
      sp->kind = WK_DISPLAY;
    } else {
      fill_quantities(sp, p);
      sp->kind = sp->nq > 0 ? WK_SENSOR : WK_OTHER;
      for (const char *const *k = p->ops->keys; sp->nq == 0 && k && *k && sp->nr < 4; k++) {
        if (strcmp(*k, "fault") == 0 || !p->ops->get || p->ops->get(p, *k, &v) != VHW_OK)
          continue;
        snprintf(sp->rkey[sp->nr], sizeof sp->rkey[0], "%s", *k);
        sp->rval[sp->nr++] = v;
      }
    }
    if (has_key(p, "fault")) {
      int nf = 0;
      while (vhw_fault_names[nf] && nf < WS_MAX_FAULTS) nf++;
      sp->nfaults = nf;
      sp->fault = p->fault;
    }
  }
  spi_fill(s);
  win_net_info(s);
  screen_fill(s);
}

/* Hand the stage to the render thread if it differs from the last one
 * (device time alone is no change: an idle board is not redrawn). */
static void publish(void) {
  snap_fill();
  uint64_t now = sched_now();
  W.last.now_us = W.stage.now_us;
  bool changed = W.px_changed || memcmp(&W.stage, &W.last, sizeof W.stage) != 0;
  if (W.windowed) duty_reset(now);
  if (!changed) return;
  memcpy(&W.last, &W.stage, sizeof W.stage);
  if (!W.windowed) {
    W.px_changed = false;
    return;
  }
  SDL_LockMutex(W.lock);
  memcpy(&W.shared, &W.stage, sizeof W.stage);
  if (W.px_changed && W.stage.nscr > 0) {
    size_t need = ws_screen_pixels(&W.stage);
    if (need > W.shared_px_cap) {
      uint16_t *np = realloc(W.shared_px, need * sizeof *np);
      if (np) {
        W.shared_px = np;
        W.shared_px_cap = need;
      }
    }
    if (need <= W.shared_px_cap) memcpy(W.shared_px, W.stage_px, need * sizeof(uint16_t));
    W.shared_px_gen = W.stage.scr_gen;
  }
  W.shared_seq++;
  W.snapshots++;
  SDL_UnlockMutex(W.lock);
  W.px_changed = false;
  SDL_Event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = W.ev_snapshot;
  SDL_PushEvent(&ev); /* wakes the render thread's SDL_WaitEvent */
}

/* Called often (each idle wait, each ms while busy): cheap unless a frame
 * is due. Returns the ms until the next frame slot if one is wanted. */
static uint32_t tick(void) {
  uint64_t t = wall_ns();
  uint64_t since = t - W.last_pub_ns;
  if (since < (uint64_t)WIN_FRAME_US * 1000u) {
    return (uint32_t)((WIN_FRAME_US * 1000u - since) / 1000000u + 1);
  }
  W.last_pub_ns = t;
  publish();
  return UINT32_MAX;
}

static void poller_fill(void *ud, uint32_t *timeout_ms) {
  (void)ud;
  uint32_t t = tick();
  if (t < *timeout_ms) *timeout_ms = t;
}

static void poller_poll(void *ud, bool error) {
  (void)ud;
  (void)error;
}

/* ---- commands from the render thread (applied in the scheduler) ---- */

static void push_cmd(const win_cmd_t *c) {
  SDL_LockMutex(W.lock);
  /* A drag sends many values: keep only the newest per slider. Presses
   * and releases stay in order, each one (a merged press would be lost). */
  bool merged = false;
  bool quantity = c->op == CMD_SET && strcmp(c->key, "pressed") != 0 && strcmp(c->key, "on") != 0;
  for (int i = W.qn - 1; quantity && i >= 0 && !merged; i--) {
    win_cmd_t *l = &W.q[i];
    if (l->op == CMD_SET && l->part == c->part && strcmp(l->key, c->key) == 0) {
      l->value = c->value;
      merged = true;
    }
  }
  if (!merged && W.qn < WIN_QUEUE) W.q[W.qn++] = *c;
  atomic_store(&W.queued, 1);
  SDL_UnlockMutex(W.lock);
  uint64_t one = 1;
  (void)!write(W.efd, &one, sizeof one);
}

static void apply(const win_cmd_t *c) {
  vhw_part_t *p = board_part(c->part);
  switch (c->op) {
    case CMD_SET:
      if (p && p->ops->set && p->ops->set(p, c->key, c->value) == VHW_OK) board_parts_changed();
      break;
    case CMD_FAULT:
      if (p && p->ops->set && p->ops->set(p, "fault", c->value) == VHW_OK) board_parts_changed();
      break;
    case CMD_CLOSE:
      /* As Ctrl-C would: run ends (130); the REPL's loop stops. */
      if (W.o.repl)
        sched_stop();
      else
        raise(SIGINT);
      break;
    case CMD_REPL:
      if (repl_busy()) {
        console_tap("(busy: the last line still runs)\n", 34);
      } else {
        /* The typed line in the pane (the terminal sees only its output). */
        char echo[WS_LINE + 4];
        int n = snprintf(echo, sizeof echo, "%s%s\n", repl_prompt(), c->text);
        if (n > 0) console_tap(echo, strlen(echo));
        repl_line(W.L, c->text, strlen(c->text));
      }
      break;
  }
}

static void drain_cmds(void) {
  win_cmd_t batch[WIN_QUEUE];
  if (!atomic_exchange(&W.queued, 0)) return;
  SDL_LockMutex(W.lock);
  int n = W.qn;
  memcpy(batch, W.q, sizeof batch[0] * (size_t)n);
  W.qn = 0;
  SDL_UnlockMutex(W.lock);
  for (int i = 0; i < n; i++) apply(&batch[i]);
}

static void on_efd(int fd, void *ud) {
  (void)ud;
  uint64_t v;
  (void)!read(fd, &v, sizeof v);
  drain_cmds();
}

/* Virtual time jumps without waiting: the idle hook stands in for the
 * poller there. */
static void idle_hook(lua_State *L, void *ud) {
  (void)L;
  (void)ud;
  static unsigned calls;
  drain_cmds();
  /* Jumps come by the million: the clock is read on every 16th. */
  if ((++calls & 15) == 0) tick();
}

/* ---- render thread ---- */

typedef struct {
  SDL_Window *win;
  SDL_Renderer *ren;
  win_draw_t *draw;
  double scale;
  win_snap_t snap;
  uint16_t *px;
  size_t px_cap;
  uint32_t px_gen;
  unsigned seq;
  win_layout_t lay;
  win_ui_t ui;
  int drag; /* slider widget being dragged, -1 */
  char layout_for[128];
  bool shoot; /* F12: read the next frame back */
} render_t;

static void copy_snapshot(render_t *r) {
  SDL_LockMutex(W.lock);
  if (W.shared_seq != r->seq) {
    r->seq = W.shared_seq;
    memcpy(&r->snap, &W.shared, sizeof r->snap);
    size_t need = ws_screen_pixels(&r->snap);
    if (W.shared_px_gen != r->px_gen && need > 0 && need <= W.shared_px_cap) {
      if (need > r->px_cap) {
        uint16_t *np = realloc(r->px, need * sizeof *np);
        if (np) {
          r->px = np;
          r->px_cap = need;
        }
      }
      if (need <= r->px_cap) {
        memcpy(r->px, W.shared_px, need * sizeof *r->px);
        r->px_gen = W.shared_px_gen;
      }
    }
    /* Pixels that did not fit a buffer: no glass rather than a short read. */
    if (need > W.shared_px_cap || need > r->px_cap) r->snap.nscr = 0;
  }
  SDL_UnlockMutex(W.lock);
}

static bool write_png_surface(SDL_Surface *surf, const char *path, char *err, size_t errlen) {
  return win_png_write(path, surf->pixels, surf->w, surf->h, surf->pitch, err, errlen);
}

/* F12: what the window shows, read back from its renderer before the
 * frame is presented (after it the back buffer is undefined). */
static void read_back(render_t *r) {
  int pw, ph;
  if (SDL_GetRendererOutputSize(r->ren, &pw, &ph) != 0) return;
  SDL_Surface *s = SDL_CreateRGBSurfaceWithFormat(0, pw, ph, 32, SDL_PIXELFORMAT_RGB888);
  if (!s) return;
  char path[64], err[200];
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  strftime(path, sizeof path, "luaos-%Y%m%d-%H%M%S.png", &tm);
  if (SDL_RenderReadPixels(r->ren, NULL, SDL_PIXELFORMAT_RGB888, s->pixels, s->pitch) == 0 &&
      write_png_surface(s, path, err, sizeof err))
    snprintf(r->ui.status, sizeof r->ui.status, "screenshot: %s", path);
  else
    snprintf(r->ui.status, sizeof r->ui.status, "screenshot failed: %s", SDL_GetError());
  SDL_FreeSurface(s);
}

static void render_frame(render_t *r) {
  int ww, wh, pw, ph;
  SDL_GetWindowSize(r->win, &ww, &wh);
  if (SDL_GetRendererOutputSize(r->ren, &pw, &ph) != 0) pw = ww;
  double scale = ww > 0 ? (double)pw / ww : 1;
  if (scale < 1) scale = 1;
  if (!r->draw || scale != r->scale) {
    char err[200];
    win_draw_free(r->draw);
    r->draw = win_draw_new(r->ren, scale, err, sizeof err);
    r->scale = scale;
    if (!r->draw) {
      fprintf(stderr, "luaos: window: %s\n", err);
      return;
    }
  }
  win_layout(&r->snap, ww, wh, &r->lay);
  SDL_LockMutex(W.lock);
  W.cur_w = r->lay.w;
  W.cur_h = r->lay.h;
  W.cur_scale = scale;
  W.frames++;
  SDL_UnlockMutex(W.lock);
  uint64_t t0 = wall_ns();
  win_draw_frame(r->draw, &r->snap, r->px, &r->lay, &r->ui);
  if (r->shoot) {
    r->shoot = false;
    read_back(r);
  }
  SDL_RenderPresent(r->ren);
  uint64_t dt = wall_ns() - t0;
  SDL_LockMutex(W.lock);
  W.draw_ns += dt;
  SDL_UnlockMutex(W.lock);
  char sig[128];
  /* (the screens' parts and sizes) */
  int sl = snprintf(sig, sizeof sig, "%dx%d@%d", ww, wh, r->snap.nparts);
  for (int k = 0; k < r->snap.nscr && sl > 0 && (size_t)sl < sizeof sig; k++)
    sl += snprintf(sig + sl, sizeof sig - (size_t)sl, "/%d:%dx%d", r->snap.scr[k].part,
                   r->snap.scr[k].w, r->snap.scr[k].h);
  if (W.o.layout_json && strcmp(sig, r->layout_for) != 0) {
    char err[200];
    if (!win_layout_json(&r->snap, &r->lay, scale, W.o.layout_json, err, sizeof err))
      fprintf(stderr, "luaos: %s\n", err);
    snprintf(r->layout_for, sizeof r->layout_for, "%s", sig);
  }
}

static void set_cmd(int part, const char *key, double v) {
  win_cmd_t c = {.op = CMD_SET, .part = part, .value = v};
  snprintf(c.key, sizeof c.key, "%s", key);
  push_cmd(&c);
}

static void on_mouse_down(render_t *r, int x, int y) {
  int h = win_hit(&r->lay, x, y);
  r->ui.pressed = h;
  if (h < 0) {
    r->ui.repl_focus = false;
    return;
  }
  const ww_widget_t *w = &r->lay.wd[h];
  const ws_part_t *p = w->part >= 0 ? &r->snap.parts[w->part] : NULL;
  if (w->kind != WW_CONSOLE && r->ui.repl_focus) {
    r->ui.repl_focus = false;
    SDL_StopTextInput();
  }
  switch (w->kind) {
    case WW_BUTTON: set_cmd(w->part, "pressed", 1); break;
    case WW_SWITCH: set_cmd(w->part, "on", p->level > 0.5 ? 0 : 1); break;
    case WW_SLIDER:
      r->drag = h;
      set_cmd(w->part, p->q[w->idx].key, win_slider_value(&r->snap, w, x));
      break;
    case WW_FAULT: {
      win_cmd_t c = {.op = CMD_FAULT, .part = w->part,
                     .value = p->fault == w->idx + 1 ? 0 : w->idx + 1};
      push_cmd(&c);
      break;
    }
    case WW_CONSOLE:
      if (r->snap.repl) {
        r->ui.repl_focus = true;
        SDL_StartTextInput();
      }
      break;
    default: break;
  }
}

static void on_mouse_up(render_t *r) {
  int h = r->ui.pressed;
  if (h >= 0 && h < r->lay.n && r->lay.wd[h].kind == WW_BUTTON)
    set_cmd(r->lay.wd[h].part, "pressed", 0);
  r->ui.pressed = -1;
  r->drag = -1;
}

static int part_for_key(const render_t *r, SDL_Keycode k) {
  if (k > 127) return -1;
  for (int i = 0; i < r->snap.nparts; i++)
    if (r->snap.parts[i].shortcut && r->snap.parts[i].shortcut == (char)k) return i;
  return -1;
}

static void on_key(render_t *r, const SDL_KeyboardEvent *k, bool down) {
  SDL_Keycode sym = k->keysym.sym;
  if (down && sym == SDLK_F12) {
    r->shoot = true; /* the caller draws a frame next */
    return;
  }
  if (r->ui.repl_focus) {
    if (!down) return;
    size_t n = strlen(r->ui.repl_text);
    if (sym == SDLK_RETURN || sym == SDLK_KP_ENTER) {
      win_cmd_t c = {.op = CMD_REPL};
      snprintf(c.text, sizeof c.text, "%s", r->ui.repl_text);
      push_cmd(&c);
      r->ui.repl_text[0] = 0;
    } else if (sym == SDLK_BACKSPACE && n > 0) {
      r->ui.repl_text[n - 1] = 0;
    } else if (sym == SDLK_ESCAPE) {
      r->ui.repl_focus = false;
      SDL_StopTextInput();
    }
    return;
  }
  if (k->repeat) return;
  int i = part_for_key(r, sym);
  if (i < 0) return;
  const ws_part_t *p = &r->snap.parts[i];
  if (p->kind == WK_BUTTON) {
    set_cmd(i, "pressed", down ? 1 : 0);
  } else if (p->kind == WK_SWITCH && down) {
    set_cmd(i, "on", p->level > 0.5 ? 0 : 1);
  }
}

static void on_text(render_t *r, const char *t) {
  if (!r->ui.repl_focus) return;
  size_t n = strlen(r->ui.repl_text), m = strlen(t);
  if (n + m < sizeof r->ui.repl_text) memcpy(r->ui.repl_text + n, t, m + 1);
}

static int render_main(void *ud) {
  (void)ud;
  /* Signals (Ctrl-C, the CPU tick) belong to the scheduler thread. */
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  render_t *r = calloc(1, sizeof *r);
  /* Only X11 when there is no Wayland display: SDL's probing of the
   * others prints noise (libwayland) and may end on an invisible one. */
  const char *wl = getenv("WAYLAND_DISPLAY");
  if (!getenv("SDL_VIDEODRIVER") && !(wl && wl[0])) SDL_SetHint(SDL_HINT_VIDEODRIVER, "x11");
  bool ok = r && SDL_InitSubSystem(SDL_INIT_VIDEO) == 0;
  /* With the display unreachable SDL falls back to drivers nobody sees
   * ("offscreen"): that is no window (unless SDL_VIDEODRIVER asks). */
  const char *drv = ok ? SDL_GetCurrentVideoDriver() : NULL;
  if (ok && !getenv("SDL_VIDEODRIVER") && drv && strcmp(drv, "x11") != 0 &&
      strcmp(drv, "wayland") != 0) {
    SDL_SetError("the display cannot be opened (SDL fell back to its '%s' driver)", drv);
    SDL_QuitSubSystem(SDL_INIT_VIDEO);
    ok = false;
  }
  if (ok) {
    char title[96];
    snprintf(title, sizeof title, "luaos - %s", W.shared.board);
    r->win = SDL_CreateWindow(title, SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED,
                              WIN_DEFAULT_W, WIN_DEFAULT_H,
                              SDL_WINDOW_RESIZABLE | SDL_WINDOW_ALLOW_HIGHDPI);
    r->ren = r->win ? SDL_CreateRenderer(r->win, -1, 0) : NULL;
    ok = r->ren != NULL;
    if (r->win) SDL_SetWindowMinimumSize(r->win, WIN_MIN_W, WIN_MIN_H);
  }
  if (ok) W.ev_snapshot = SDL_RegisterEvents(2); /* a new snapshot; +1: quit */
  ok = ok && W.ev_snapshot != (Uint32)-1;
  SDL_LockMutex(W.lock);
  if (!ok) snprintf(W.startup_err, sizeof W.startup_err, "%s", r ? SDL_GetError() : "out of memory");
  W.startup = ok ? 1 : -1;
  SDL_CondSignal(W.cond);
  SDL_UnlockMutex(W.lock);
  if (!ok) {
    if (r && r->win) SDL_DestroyWindow(r->win);
    free(r);
    return 1;
  }
  r->ui.pressed = r->drag = -1;
  copy_snapshot(r);
  bool quit = false, dirty = true;
  while (!quit) {
    if (dirty) {
      render_frame(r);
      dirty = false;
    }
    SDL_Event e;
    if (!SDL_WaitEvent(&e)) continue;
    do {
      switch (e.type) {
        case SDL_QUIT: {
          win_cmd_t c = {.op = CMD_CLOSE};
          push_cmd(&c);
          break;
        }
        case SDL_WINDOWEVENT: dirty = true; break;
        case SDL_MOUSEBUTTONDOWN:
          if (e.button.button == SDL_BUTTON_LEFT) on_mouse_down(r, e.button.x, e.button.y);
          dirty = true;
          break;
        case SDL_MOUSEBUTTONUP:
          if (e.button.button == SDL_BUTTON_LEFT) on_mouse_up(r);
          dirty = true;
          break;
        case SDL_MOUSEMOTION:
          if (r->drag >= 0 && r->drag < r->lay.n) {
            const ww_widget_t *w = &r->lay.wd[r->drag];
            set_cmd(w->part, r->snap.parts[w->part].q[w->idx].key,
                    win_slider_value(&r->snap, w, e.motion.x));
          }
          break;
        case SDL_KEYDOWN: on_key(r, &e.key, true); dirty = true; break;
        case SDL_KEYUP: on_key(r, &e.key, false); break;
        case SDL_TEXTINPUT: on_text(r, e.text.text); dirty = true; break;
        default:
          if (e.type == W.ev_snapshot) {
            dirty = true;
          } else if (e.type == W.ev_snapshot + 1) {
            quit = true;
          }
          break;
      }
    } while (SDL_PollEvent(&e));
    copy_snapshot(r);
  }
  win_draw_free(r->draw);
  SDL_DestroyRenderer(r->ren);
  SDL_DestroyWindow(r->win);
  SDL_QuitSubSystem(SDL_INIT_VIDEO);
  free(r->px);
  free(r);
  return 0;
}

/* ---- offscreen (scheduler thread) ---- */

bool winmod_screenshot(const char *path, char *err, size_t errlen) {
  if (!W.started) con_from_tail(); /* no window: no tap saw the output */
  snap_fill();
  W.px_changed = true; /* the stage's pixels are fresh: publish them next time */
  int w = WIN_DEFAULT_W, h = WIN_DEFAULT_H;
  double scale = 1;
  if (W.windowed && W.lock) {
    SDL_LockMutex(W.lock);
    if (W.cur_w > 0) {
      w = W.cur_w;
      h = W.cur_h;
      scale = W.cur_scale;
    }
    SDL_UnlockMutex(W.lock);
  }
  int pw = (int)(w * scale), ph = (int)(h * scale);
  SDL_Surface *surf = SDL_CreateRGBSurfaceWithFormat(0, pw, ph, 32, SDL_PIXELFORMAT_RGB888);
  SDL_Renderer *ren = surf ? SDL_CreateSoftwareRenderer(surf) : NULL;
  win_draw_t *d = ren ? win_draw_new(ren, scale, err, errlen) : NULL;
  if (!d) {
    if (!ren) snprintf(err, errlen, "offscreen renderer: %s", SDL_GetError());
    if (ren) SDL_DestroyRenderer(ren);
    if (surf) SDL_FreeSurface(surf);
    return false;
  }
  win_layout_t *lay = malloc(sizeof *lay);
  bool ok = lay != NULL;
  if (ok) {
    win_layout(&W.stage, w, h, lay);
    win_draw_frame(d, &W.stage, W.stage.nscr > 0 ? W.stage_px : NULL, lay, NULL);
    SDL_RenderFlush(ren);
    ok = win_png_write(path, surf->pixels, surf->w, surf->h, surf->pitch, err, errlen);
    if (ok && W.o.layout_json && !W.windowed)
      ok = win_layout_json(&W.stage, lay, scale, W.o.layout_json, err, errlen);
  } else {
    snprintf(err, errlen, "out of memory");
  }
  free(lay);
  win_draw_free(d);
  SDL_DestroyRenderer(ren);
  SDL_FreeSurface(surf);
  return ok;
}


/* print() and io.write() through the console: the pane shows them too. */
static void install_print(lua_State *L) { sim_console_io(L); }

/* ---- start and end ---- */

bool winmod_start(lua_State *L, const window_opts_t *o, char *err, size_t errlen) {
  (void)err;
  (void)errlen;
  memset(&W, 0, sizeof W);
  W.o = *o;
  W.L = L;
  W.efd = -1;
  W.started = true;
  con_from_tail();
  host_set_console_tap(console_tap);
  snap_fill();
  if (o->screenshot) install_print(L);
  if (o->headless || !window_have_display()) {
    if (o->layout_json) {
      win_layout_t *lay = malloc(sizeof *lay);
      if (lay) {
        win_layout(&W.stage, WIN_DEFAULT_W, WIN_DEFAULT_H, lay);
        char e2[200];
        if (!win_layout_json(&W.stage, lay, 1, o->layout_json, e2, sizeof e2))
          fprintf(stderr, "luaos: %s\n", e2);
        free(lay);
      }
    }
    return true;
  }
  W.lock = SDL_CreateMutex();
  W.cond = SDL_CreateCond();
  W.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (!W.lock || !W.cond || W.efd < 0) {
    fprintf(stderr, "luaos: no window (out of resources), running headless\n");
    return true;
  }
  memcpy(&W.shared, &W.stage, sizeof W.stage);
  W.thread = SDL_CreateThread(render_main, "luaos-window", NULL);
  SDL_LockMutex(W.lock);
  while (W.thread && W.startup == 0) SDL_CondWait(W.cond, W.lock);
  SDL_UnlockMutex(W.lock);
  if (!W.thread || W.startup < 0) {
    if (W.thread) SDL_WaitThread(W.thread, NULL);
    W.thread = NULL;
    fprintf(stderr, "luaos: no window (%s), running headless\n",
            W.startup_err[0] ? W.startup_err : SDL_GetError());
    close(W.efd);
    W.efd = -1;
    return true;
  }
  W.windowed = true;
  W.start_ns = wall_ns();
  install_print(L); /* the REPL's own on a terminal replaces it: same path */
  board_gpio_trace_listen(true); /* LED brightness from the pin's changes */
  duty_reset(sched_now());
  W.poller = (host_poller_t){poller_fill, poller_poll, NULL};
  host_add_poller(&W.poller);
  host_watch_fd(W.efd, on_efd, NULL);
  if (sched_virtual() && !o->repl) sched_set_idle_hook(idle_hook, NULL);
  W.last_pub_ns = 0;
  return true;
}

bool winmod_finish(void) {
  if (!W.started) return true;
  bool ok = true;
  if (W.o.screenshot) {
    char err[300];
    ok = winmod_screenshot(W.o.screenshot, err, sizeof err);
    if (!ok) fprintf(stderr, "luaos: --screenshot: %s\n", err);
  }
  host_set_console_tap(NULL);
  const char *stats = getenv("LUAOS_WINDOW_STATS");
  if (stats && stats[0] == '1' && W.windowed) {
    double secs = (double)(wall_ns() - W.start_ns) / 1e9;
    struct timespec cpu;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu); /* we are the scheduler thread */
    fprintf(stderr, "luaos: window: scheduler thread CPU %.3f s\n",
            (double)cpu.tv_sec + (double)cpu.tv_nsec / 1e9);
    SDL_LockMutex(W.lock);
    fprintf(stderr,
            "luaos: window: %u frames, %u snapshots in %.2f s (%.1f fps, %.2f ms a frame)\n",
            W.frames, W.snapshots, secs, secs > 0 ? W.frames / secs : 0,
            W.frames ? (double)W.draw_ns / W.frames / 1e6 : 0);
    SDL_UnlockMutex(W.lock);
  }
  if (W.windowed) {
    if (sched_virtual() && !W.o.repl) sched_set_idle_hook(NULL, NULL);
    host_remove_poller(&W.poller);
    host_unwatch_fd(W.efd);
    SDL_Event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = W.ev_snapshot + 1;
    SDL_PushEvent(&ev);
    SDL_WaitThread(W.thread, NULL);
    SDL_Quit();
  }
  if (W.efd >= 0) close(W.efd);
  if (W.lock) SDL_DestroyMutex(W.lock);
  if (W.cond) SDL_DestroyCond(W.cond);
  free(W.stage_px);
  free(W.shared_px);
  memset(&W, 0, sizeof W);
  return ok;
}
