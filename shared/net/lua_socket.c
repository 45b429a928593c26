/* socket: TCP and UDP for tasks, on lwIP's raw API (docs/socket.md).
 *
 * Ownership. Each socket's state (conn_t) lives in lwIP's heap, not in Lua
 * memory, and the Lua userdata only points at it: lwIP's callback argument
 * never points into the Lua heap. A conn has exactly one owner, its
 * userdata or (not yet accepted) a server's queue, and the owner detaches
 * lwIP (callbacks cleared, pcb closed or aborted) before freeing it. The
 * conn itself is freed only by __gc: tasks parked on its wait queues hold
 * the userdata on their stacks, and the scheduler may look at a queue a
 * task was woken from until that task runs.
 *
 * Blocking calls park the calling task on the conn's wait queues
 * (keepalive: the outside world wakes them); lwIP's callbacks only record
 * what happened and sched_wake. They never call Lua.
 *
 * Received TCP data stays in lwIP's pbufs until Lua takes it, and the
 * window is reopened (tcp_recved) only as it is taken: a slow reader closes
 * the peer's window instead of growing memory. */
#include <string.h>

#include "lauxlib.h"
#include "lstr.h"
#include "luaos.h"
#include "lwip/igmp.h"
#include "lwip/mem.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"
#include "net.h"
#include "net_lua.h"
#include "sched.h"
#include "tls.h"

#define TCP_MT "luaos.socket.tcp"
#define SERVER_MT "luaos.socket.server"
#define UDP_MT "luaos.socket.udp"

#if defined(LUAOS_TARGET)
#define SOCK_BACKLOG 4
#define SOCK_UDP_QUEUE 8
#else
#define SOCK_BACKLOG 32
#define SOCK_UDP_QUEUE 64
#endif
#define SOCK_UDP_QUEUE_MAX 4096
#define SOCK_UDP_MAX 65507 /* largest IPv4 UDP payload */

/* Received data is held as pbuf chains of at most SOCK_RX_CHAIN bytes
 * (16 KB: appending walks the chain, so long chains cost a fast stream;
 * a chain's length is 16 bits anyway). New data joins the last chain
 * while it fits, so two neighbours always hold more than SOCK_RX_CHAIN:
 * this many chains hold a window. */
#define SOCK_RX_CHAIN 16384u
#define SOCK_RX_CHAINS (2 * (TCP_WND / SOCK_RX_CHAIN) + 4)

#define CONN_MAGIC 0x736f636bu
#define NO_DEADLINE (-1)

enum { K_TCP = 1, K_SERVER, K_UDP };

typedef struct {
  struct pbuf *p;
  ip_addr_t addr;
  u16_t port;
} dgram_t;

/* A queue of received data: chains of pbufs (see SOCK_RX_CHAIN). */
typedef struct {
  struct pbuf *ch[SOCK_RX_CHAINS];
  uint8_t head, n;
  size_t len;
  size_t nolf; /* the first nolf bytes queued hold no LF (scanned) */
} rxq_t;

typedef struct conn {
  uint32_t magic;
  uint8_t kind;
  bool connected; /* TCP: handshake done */
  bool peer_fin;  /* TCP: the peer closed its side */
  bool tx_shut, rx_shut;
  bool closed;    /* close() or __gc */
  err_t err;      /* from tcp_err (the pcb is gone); ERR_OK: none */
  union {
    struct tcp_pcb *tcp;
    struct udp_pcb *udp;
  } pcb;
  sched_waitq_t rq, wq; /* readers/acceptors; writers/connectors */
  /* Plain TCP: the fewest queued bytes that let a waiting reader finish
   * or drain (the least over the readers waiting since the last wake-up),
   * so a receive(65536) is not resumed for every segment of a stream. */
  size_t rx_need;
  uint64_t timeout_us;  /* per blocking call; UINT64_MAX: none */
  ip_addr_t lip, rip;   /* TCP: kept for after the pcb is gone */
  u16_t lport, rport;
  /* TLS (tls.h): the session and its configuration (a server's is shared
   * by its accepted connections); received records wait in `cin` (the
   * plaintext goes to u.rx); tls_end: TLS_EOF/TLS_FAIL once reading ended;
   * tls_wlen: a record mbedTLS holds, counted as sent, still to flush. */
  tls_sess_t *tls;
  tls_conf_t *tls_conf;
  rxq_t *cin;
  int tls_end;
  size_t tls_wlen;
  bool tls_nomem;
  bool tls_nagle; /* Nagle is off for the handshake only */
  union {
    rxq_t rx;
    struct {
      struct conn **q;
      uint16_t head, n, cap;
    } acc;
    struct {
      dgram_t *q;
      uint16_t head, n, cap;
      uint32_t dropped;
    } ud;
  } u;
} conn_t;

typedef struct {
  conn_t *c;
} box_t;

/* What a userdata points at after __gc (a finalizer may still reach it). */
static conn_t dead_conn = {.closed = true};

static const char *err_msg(err_t e) {
  switch (e) {
    case ERR_RST: return "connection reset";
    case ERR_ABRT: return "connection aborted";
    case ERR_CLSD: return "closed";
    case ERR_USE: return "address in use";
    case ERR_RTE: return "network is unreachable";
    case ERR_MEM:
    case ERR_BUF: return "out of network memory";
    case ERR_CONN: return "not connected";
    case ERR_TIMEOUT: return "timeout";
    default: return "network error";
  }
}

static int fail(lua_State *L, const char *msg) {
  luaL_pushfail(L);
  lua_pushstring(L, msg);
  return 2;
}

/* ---- conn lifetime ---- */

/* mem_free, also for NULL (lwIP's own heap takes NULL, the C library
 * variant of the simulator asserts): closing twice frees nothing twice. */
static void mem_release(void *p) {
  if (p) mem_free(p);
}

static conn_t *conn_new(uint8_t kind) {
  conn_t *c = mem_malloc(sizeof *c);
  if (!c) return NULL;
  memset(c, 0, sizeof *c);
  c->magic = CONN_MAGIC;
  c->kind = kind;
  c->rq.keepalive = c->wq.keepalive = true;
  c->timeout_us = UINT64_MAX;
  c->rx_need = SIZE_MAX; /* no reader waits */
  return c;
}

/* Every lwIP callback checks its argument: a freed conn would be a bug here. */
static conn_t *cb_conn(void *arg) {
  conn_t *c = arg;
  LWIP_ASSERT("socket: callback on a freed socket", !c || c->magic == CONN_MAGIC);
  return c;
}

static void wake_all(conn_t *c) {
  sched_wake(&c->rq, -1);
  sched_wake(&c->wq, -1);
}

static void rxq_clear(rxq_t *q) {
  while (q->n) {
    pbuf_free(q->ch[q->head]);
    q->head = (uint8_t)((q->head + 1) % SOCK_RX_CHAINS);
    q->n--;
  }
  q->len = 0;
  q->nolf = 0;
}

static void rx_clear(conn_t *c) { rxq_clear(&c->u.rx); }

/* The TLS session ends with its socket (close_notify first when graceful). */
static void tls_release(conn_t *c, bool graceful) {
  if (c->tls) {
    if (graceful && c->pcb.tcp && !c->tx_shut) tls_close_notify(c->tls);
    tls_sess_free(c->tls);
    c->tls = NULL;
  }
  if (c->cin) {
    rxq_clear(c->cin);
    mem_release(c->cin);
    c->cin = NULL;
  }
  tls_conf_unref(c->tls_conf);
  c->tls_conf = NULL;
}

/* Take lwIP's pcb away from the conn: no callback reaches it any more. */
static struct tcp_pcb *tcp_detach(conn_t *c) {
  struct tcp_pcb *p = c->pcb.tcp;
  c->pcb.tcp = NULL;
  if (!p) return NULL;
  tcp_arg(p, NULL);
  if (p->state == LISTEN) {
    tcp_accept(p, NULL);
  } else {
    tcp_recv(p, NULL);
    tcp_sent(p, NULL);
    tcp_err(p, NULL);
  }
  return p;
}

/* Close the connection: gracefully (lwIP finishes it alone), or with a RST. */
static void tcp_release(conn_t *c, bool abort) {
  tls_release(c, !abort);
  struct tcp_pcb *p = tcp_detach(c);
  if (p) {
    if (abort || tcp_close(p) != ERR_OK) tcp_abort(p);
    net_kick();
  }
  rx_clear(c);
}

static void conn_free(conn_t *c);

static void conn_release(conn_t *c, bool abort) {
  if (c->kind == K_TCP) {
    tcp_release(c, abort);
  } else if (c->kind == K_SERVER) {
    /* Queued connections first: aborting them updates the listener's backlog. */
    while (c->u.acc.n) {
      conn_t *a = c->u.acc.q[c->u.acc.head];
      c->u.acc.head = (uint16_t)((c->u.acc.head + 1) % c->u.acc.cap);
      c->u.acc.n--;
      conn_free(a);
    }
    struct tcp_pcb *p = tcp_detach(c);
    if (p) tcp_close(p); /* never fails for a listener */
    net_kick();
    tls_conf_unref(c->tls_conf);
    c->tls_conf = NULL;
    mem_release(c->u.acc.q);
    c->u.acc.q = NULL;
    c->u.acc.cap = 0;
  } else if (c->kind == K_UDP) {
    if (c->pcb.udp) {
      udp_recv(c->pcb.udp, NULL, NULL);
      udp_remove(c->pcb.udp);
      c->pcb.udp = NULL;
    }
    while (c->u.ud.n) {
      pbuf_free(c->u.ud.q[c->u.ud.head].p);
      c->u.ud.head = (uint16_t)((c->u.ud.head + 1) % c->u.ud.cap);
      c->u.ud.n--;
    }
    mem_release(c->u.ud.q);
    c->u.ud.q = NULL;
    c->u.ud.cap = 0;
  }
  c->closed = true;
  wake_all(c);
}

static void conn_free(conn_t *c) {
  conn_release(c, true);
  c->magic = 0;
  mem_release(c);
}

/* ---- userdata ---- */

static box_t *push_box(lua_State *L, const char *mt) {
  box_t *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->c = &dead_conn;
  luaL_setmetatable(L, mt);
  return b;
}

static conn_t *check_tcp(lua_State *L) {
  return ((box_t *)luaos_checkudata(L, 1, TCP_MT, "tcp socket"))->c;
}
static conn_t *check_server(lua_State *L) {
  return ((box_t *)luaos_checkudata(L, 1, SERVER_MT, "tcp server"))->c;
}
static conn_t *check_udp(lua_State *L) {
  return ((box_t *)luaos_checkudata(L, 1, UDP_MT, "udp socket"))->c;
}

/* End the box's connection and free its state at once: a closed socket
 * holds nothing of lwIP's heap until Lua collects its userdata (a busy
 * server would otherwise run lwIP's small heap dry while Lua's is fine).
 * Graceful for TCP: lwIP finishes the close. Tasks woken by the release
 * find the box pointing at dead_conn ("closed"). */
static void box_end(box_t *b) {
  if (b->c == &dead_conn) return;
  conn_t *c = b->c;
  b->c = &dead_conn;
  conn_release(c, false);
  sched_waitq_forget(&c->rq);
  sched_waitq_forget(&c->wq);
  conn_free(c);
}

static int box_gc(lua_State *L) {
  box_end(lua_touserdata(L, 1));
  return 0;
}

/* ---- deadlines (a slot on the stack: absolute us, or NO_DEADLINE) ---- */

static void push_deadline(lua_State *L, uint64_t timeout_us) {
  uint64_t now = sched_now();
  if (timeout_us == UINT64_MAX || timeout_us > (uint64_t)INT64_MAX - now)
    lua_pushinteger(L, NO_DEADLINE);
  else
    lua_pushinteger(L, (lua_Integer)(now + timeout_us));
}

static uint64_t deadline_left(lua_State *L, int idx) {
  lua_Integer d = lua_tointeger(L, idx);
  if (d == NO_DEADLINE) return UINT64_MAX;
  uint64_t now = sched_now();
  return (uint64_t)d > now ? (uint64_t)d - now : 0;
}

/* ---- addresses ---- */

static u16_t check_port(lua_State *L, int arg, bool zero_ok) {
  lua_Integer p = luaos_checkinteger(L, arg);
  if (p < (zero_ok ? 0 : 1) || p > 65535)
    luaos_argerror(L, arg, zero_ok ? "port must be 0..65535" : "port must be 1..65535");
  return (u16_t)p;
}

/* A local address: "*", "0.0.0.0", "localhost" or a dotted quad. */
static bool local_addr(const char *s, ip_addr_t *a) {
  if (strcmp(s, "*") == 0) {
    ip_addr_set_any(0, a);
    return true;
  }
  if (strcmp(s, "localhost") == 0) {
    ip_addr_set_loopback(0, a);
    return true;
  }
  return net_lua_parse_ip(s, a);
}

static int push_addr(lua_State *L, const ip_addr_t *a, u16_t port) {
  net_lua_push_ip(L, a);
  lua_pushinteger(L, port);
  return 2;
}

/* ---- TCP: lwIP callbacks ---- */

static bool rxq_push(rxq_t *q, struct pbuf *p) {
  u16_t len = p->tot_len;
  if (q->n) {
    struct pbuf *t = q->ch[(q->head + q->n - 1) % SOCK_RX_CHAINS];
    if ((uint32_t)t->tot_len + len <= SOCK_RX_CHAIN) {
      pbuf_cat(t, p);
      q->len += len;
      return true;
    }
  }
  if (q->n == SOCK_RX_CHAINS) return false;
  q->ch[(q->head + q->n++) % SOCK_RX_CHAINS] = p;
  q->len += len;
  return true;
}

/* Received data: TLS records wait for mbedTLS, plain data for Lua. */
static bool rx_push(conn_t *c, struct pbuf *p) {
  if (c->cin) {
    if (!rxq_push(c->cin, p)) return false;
    sched_wake(&c->wq, -1); /* a handshake may wait in a writer's call */
    return true;
  }
  return rxq_push(&c->u.rx, p);
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
  (void)err;
  conn_t *c = cb_conn(arg);
  if (!c) {
    if (p) {
      tcp_recved(pcb, p->tot_len);
      pbuf_free(p);
    }
    return ERR_OK;
  }
  if (!p) {
    c->peer_fin = true;
    /* Both sides done: lwIP finishes the close (TIME_WAIT ends without a
     * callback, so the pcb must not stay ours). */
    if (c->tx_shut) tcp_detach(c);
    wake_all(c);
    return ERR_OK;
  }
  if (c->rx_shut) { /* shutdown("receive"): discard, keep the window open */
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
  }
#if defined(LUAOS_TARGET)
  /* A board's receive pool is small (12 frames) and shared by every
   * connection and by ARP/DHCP: data waiting for a slow reader moves to
   * the heap, so it cannot starve the driver. Heap full: it stays. */
  if (pbuf_get_allocsrc(p) == PBUF_TYPE_ALLOC_SRC_MASK_STD_MEMP_PBUF_POOL) {
    struct pbuf *q = pbuf_clone(PBUF_RAW, PBUF_RAM, p);
    if (q) {
      pbuf_free(p);
      p = q;
    }
  }
#endif
  if (!rx_push(c, p)) return ERR_MEM; /* lwIP keeps it and offers it again */
  if (c->cin || c->u.rx.len >= c->rx_need || c->u.rx.n == SOCK_RX_CHAINS) {
    c->rx_need = SIZE_MAX; /* the woken readers say again what they need */
    sched_wake(&c->rq, -1);
  }
  return ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len) {
  (void)len;
  conn_t *c = cb_conn(arg);
  /* Wake writers when a useful amount is free, or when all is acked. */
  if (c && ((tcp_sndbuf(pcb) >= TCP_SNDLOWAT && tcp_sndqueuelen(pcb) < TCP_SNDQUEUELOWAT) ||
            !pcb->unacked)) {
    sched_wake(&c->wq, -1);
    if (c->tls) sched_wake(&c->rq, -1); /* a reader may flush a record or handshake */
  }
  return ERR_OK;
}

static void on_err(void *arg, err_t err) {
  conn_t *c = cb_conn(arg);
  if (!c) return;
  c->pcb.tcp = NULL; /* lwIP has freed it */
  c->err = err;
  wake_all(c);
}

static void tcp_setup(conn_t *c, struct tcp_pcb *p) {
  c->pcb.tcp = p;
  tcp_arg(p, c);
  tcp_recv(p, on_recv);
  tcp_sent(p, on_sent);
  tcp_err(p, on_err);
}

static void keep_addrs(conn_t *c, const struct tcp_pcb *p) {
  c->lip = p->local_ip;
  c->lport = p->local_port;
  c->rip = p->remote_ip;
  c->rport = p->remote_port;
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err) {
  (void)err;
  conn_t *c = cb_conn(arg);
  if (!c) return ERR_OK;
  c->connected = true;
  keep_addrs(c, pcb);
  sched_wake(&c->wq, -1);
  return ERR_OK;
}

static bool conn_tls_start(conn_t *c, tls_conf_t *conf, const char *host);

static err_t on_accept(void *arg, struct tcp_pcb *newpcb, err_t err) {
  conn_t *s = cb_conn(arg);
  if (err != ERR_OK || !newpcb) return ERR_OK; /* no memory for it: nothing to do */
  conn_t *c = (s && !s->closed && s->u.acc.n < s->u.acc.cap) ? conn_new(K_TCP) : NULL;
  if (!c) {
    tcp_abort(newpcb);
    return ERR_ABRT;
  }
  if (s->tls_conf && !conn_tls_start(c, s->tls_conf, NULL)) {
    mem_release(c);
    tcp_abort(newpcb);
    return ERR_ABRT;
  }
  tcp_setup(c, newpcb);
  c->connected = true;
  keep_addrs(c, newpcb);
  /* Counted in the listener's backlog until Lua accepts it: lwIP ignores
   * further SYNs while the queue is full. */
  tcp_backlog_delayed(newpcb);
  s->u.acc.q[(s->u.acc.head + s->u.acc.n++) % s->u.acc.cap] = c;
  sched_wake(&s->rq, -1);
  return ERR_OK;
}

/* ---- TCP: receiving ---- */

/* Move n bytes (n <= rx.len) from the queue to `flat` (n bytes of room)
 * or else to b (both NULL: drop them), reopening the window by as much.
 * With `nocr`, CRs are left out (b only). */
static void rx_take(conn_t *c, luaL_Buffer *b, char *flat, size_t n, bool nocr) {
  /* Room for all of it at once: n spans chains, and growing the buffer
   * chain by chain reallocated and copied it (receive(65536) of 64 KB
   * chains: a 128 KB buffer and a second copy of every byte). */
  if (b && !flat && n > 0) luaL_prepbuffsize(b, n < c->u.rx.len ? n : c->u.rx.len);
  size_t taken = 0;
  while (n > 0 && c->u.rx.n) {
    struct pbuf *h = c->u.rx.ch[c->u.rx.head];
    u16_t k = (u16_t)(n < h->tot_len ? n : h->tot_len);
    if (k && flat) {
      pbuf_copy_partial(h, flat + taken, k, 0);
    } else if (k && b) {
      char *d = luaL_prepbuffsize(b, k);
      pbuf_copy_partial(h, d, k, 0);
      size_t kept = k;
      if (nocr) {
        kept = 0;
        for (size_t i = 0; i < k; i++)
          if (d[i] != '\r') d[kept++] = d[i];
      }
      luaL_addsize(b, kept);
    }
    h = k ? pbuf_free_header(h, k) : h;
    if (h && h->tot_len == 0) { /* an empty pbuf left at the head */
      pbuf_free(h);
      h = NULL;
    }
    if (h) {
      c->u.rx.ch[c->u.rx.head] = h;
    } else {
      c->u.rx.head = (uint8_t)((c->u.rx.head + 1) % SOCK_RX_CHAINS);
      c->u.rx.n--;
    }
    c->u.rx.len -= k;
    c->u.rx.nolf = c->u.rx.nolf > k ? c->u.rx.nolf - k : 0;
    n -= k;
    taken += k;
  }
  /* One window update for all of it (tcp_recved takes at most 64 KB).
   * TLS: the window moves as mbedTLS takes the records (tls_io_recv). */
  for (size_t left = c->cin ? 0 : taken; c->pcb.tcp && left > 0;) {
    u16_t k = (u16_t)(left < 0xffff ? left : 0xffff);
    tcp_recved(c->pcb.tcp, k);
    left -= k;
  }
  if (c->pcb.tcp) net_kick(); /* a window update may be due */
}

/* A receive still waiting for its pattern moves the data into Lua strings
 * once half a window is queued, so that the window reopens (a line or a
 * count larger than the window, "*a" of a long stream). The window is 64 KB
 * when the peer does no window scaling. */
static size_t rx_drain_at(const conn_t *c) {
  return c->pcb.tcp ? TCP_WND_MAX(c->pcb.tcp) / 2 : TCP_WND / 2;
}

/* Offset of the first '\n' in the queue, or -1. What was scanned in vain
 * is not scanned again when more arrives (a long line in small segments). */
static long rx_find_lf(conn_t *c) {
  size_t off = 0, from = c->u.rx.nolf;
  for (unsigned i = 0; i < c->u.rx.n; i++) {
    for (const struct pbuf *q = c->u.rx.ch[(c->u.rx.head + i) % SOCK_RX_CHAINS]; q; q = q->next) {
      if (off + q->len > from) {
        size_t skip = from > off ? from - off : 0;
        const char *p = (const char *)q->payload + skip;
        const char *hit = memchr(p, '\n', q->len - skip);
        if (hit) return (long)(off + (size_t)(hit - (const char *)q->payload));
      }
      off += q->len;
    }
  }
  c->u.rx.nolf = off;
  return -1;
}

/* ---- TLS: mbedTLS's records over the connection (engine: tls.c) ---- */

/* Plaintext moves from mbedTLS into pbufs of at most this (lwIP's heap is
 * 20 KB on the board: a whole 16 KB record would rarely fit in one piece). */
#if defined(LUAOS_TARGET)
#define TLS_RX_PIECE 1024u
#else
#define TLS_RX_PIECE 16384u
#endif

/* mbedTLS takes up to n bytes of received records; the window reopens by as much. */
static int tls_io_recv(void *arg, unsigned char *buf, size_t n) {
  conn_t *c = arg;
  rxq_t *q = c->cin;
  if (!q->len) {
    if (c->peer_fin || c->rx_shut) return TLS_EOF;
    if (!c->pcb.tcp) return c->err == ERR_OK || c->err == ERR_CLSD ? TLS_EOF : TLS_FAIL;
    return TLS_WANT_READ;
  }
  if (n > INT32_MAX) n = INT32_MAX;
  size_t got = 0;
  while (got < n && q->n) {
    struct pbuf *h = q->ch[q->head];
    u16_t k = (u16_t)(n - got < h->tot_len ? n - got : h->tot_len);
    pbuf_copy_partial(h, buf + got, k, 0);
    h = k ? pbuf_free_header(h, k) : h;
    if (h && h->tot_len == 0) {
      pbuf_free(h);
      h = NULL;
    }
    if (h) {
      q->ch[q->head] = h;
    } else {
      q->head = (uint8_t)((q->head + 1) % SOCK_RX_CHAINS);
      q->n--;
    }
    q->len -= k;
    got += k;
  }
  for (size_t left = got; c->pcb.tcp && left > 0;) {
    u16_t k = (u16_t)(left < 0xffff ? left : 0xffff);
    tcp_recved(c->pcb.tcp, k);
    left -= k;
  }
  if (c->pcb.tcp) net_kick();
  return (int)got;
}

static int tls_io_send(void *arg, const unsigned char *buf, size_t n) {
  conn_t *c = arg;
  struct tcp_pcb *p = c->pcb.tcp;
  if (!p || c->tx_shut) return TLS_FAIL;
  size_t room = tcp_sndbuf(p);
  if (room == 0 || tcp_sndqueuelen(p) >= TCP_SND_QUEUELEN) return TLS_WANT_WRITE;
  size_t k = n < room ? n : room;
  if (k > 0xffff) k = 0xffff;
  err_t e = tcp_write(p, buf, (u16_t)k, TCP_WRITE_FLAG_COPY);
  if (e == ERR_MEM) {
    c->tls_nomem = true;
    return TLS_WANT_WRITE;
  }
  if (e != ERR_OK) return TLS_FAIL;
  tcp_output(p);
  net_kick();
  return (int)k;
}

static const tls_io_t tls_io = {tls_io_send, tls_io_recv};

/* Make c a TLS connection on conf (host: the client's peer; NULL: server side). */
static bool conn_tls_start(conn_t *c, tls_conf_t *conf, const char *host) {
  c->cin = mem_malloc(sizeof *c->cin);
  if (!c->cin) return false;
  memset(c->cin, 0, sizeof *c->cin);
  c->tls = tls_sess_new(conf, host, &tls_io, c);
  if (!c->tls) {
    mem_release(c->cin);
    c->cin = NULL;
    return false;
  }
  return true;
}

/* Why a TLS connection failed: mbedTLS's reason, or lwIP's for a transport error. */
static const char *conn_tls_msg(const conn_t *c) {
  const char *m = tls_error(c->tls);
  if (strcmp(m, "connection reset") == 0 && c->err != ERR_OK && c->err != ERR_CLSD)
    return err_msg(c->err);
  return m;
}

/* A held record flushed, then the handshake (a server's starts at the first
 * call). The handshake's small records go out at once (no Nagle: each
 * would wait for the peer's delayed ACK); Nagle is back once it is done. */
static int tls_ready(conn_t *c) {
  if (c->tls_end == TLS_FAIL) return TLS_FAIL;
  int r = tls_flush(c->tls);
  if (r == TLS_OK && !tls_handshake_done(c->tls)) {
    if (c->pcb.tcp && !tcp_nagle_disabled(c->pcb.tcp)) {
      tcp_nagle_disable(c->pcb.tcp);
      c->tls_nagle = true; /* to turn back on (unless "nodelay" was set) */
    }
    r = tls_handshake(c->tls);
    if (r == TLS_OK && c->tls_nagle && c->pcb.tcp) tcp_nagle_enable(c->pcb.tcp);
  }
  if (r == TLS_FAIL) c->tls_end = TLS_FAIL;
  return r;
}

/* Decrypt what has arrived into u.rx, up to the mark where receive drains
 * it into Lua strings (so plaintext is bounded like plain data). */
static void tls_pump(conn_t *c) {
  c->tls_nomem = false;
  if (c->tls_end || tls_ready(c) != TLS_OK) return;
  while (c->u.rx.len < rx_drain_at(c) && c->u.rx.n < SOCK_RX_CHAINS) {
    size_t avail = tls_pending(c->tls);
    u16_t size = (u16_t)(avail && avail < TLS_RX_PIECE ? avail : TLS_RX_PIECE);
    struct pbuf *p = pbuf_alloc(PBUF_RAW, size, PBUF_RAM);
    if (!p) {
      c->tls_nomem = true;
      return;
    }
    int r = tls_read(c->tls, p->payload, size);
    if (r > 0) {
      pbuf_realloc(p, (u16_t)r);
      rxq_push(&c->u.rx, p);
      continue;
    }
    pbuf_free(p);
    if (r != TLS_WANT_READ && r != TLS_WANT_WRITE) c->tls_end = r;
    return;
  }
}

/* receive stack: 1 sock, 2 pattern, 3 prefix, 4 deadline, 5 pieces|nil, 6 bytes in pieces */
enum { R_PAT = 2, R_PREFIX, R_DEADLINE, R_PIECES, R_GOT, R_TOP = R_GOT };
enum { PAT_LINE, PAT_ALL, PAT_COUNT };

static int recv_k(lua_State *L, int status, lua_KContext ctx);

/* Push the first n queued bytes as one string, copied once: straight from
 * the packet buffers into the string (a luaL_Buffer copies it twice). */
static bool recv_flat(lua_State *L, conn_t *c, size_t n) {
  if (n > c->u.rx.len) n = c->u.rx.len;
  char *d = lstr_push_uninit(L, n);
  if (!d) return false;
  rx_take(c, NULL, d, n, false);
  return true;
}

/* Push prefix .. pieces .. the first n queued bytes. */
static void recv_result(lua_State *L, conn_t *c, size_t n, bool nocr) {
  if (!nocr && lua_type(L, R_PREFIX) != LUA_TSTRING && !lua_istable(L, R_PIECES) &&
      recv_flat(L, c, n))
    return;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (lua_type(L, R_PREFIX) == LUA_TSTRING) {
    lua_pushvalue(L, R_PREFIX);
    luaL_addvalue(&b);
  }
  if (lua_istable(L, R_PIECES)) {
    lua_Integer np = (lua_Integer)lua_rawlen(L, R_PIECES);
    for (lua_Integer i = 1; i <= np; i++) {
      lua_rawgeti(L, R_PIECES, i);
      luaL_addvalue(&b);
    }
  }
  rx_take(c, &b, NULL, n, nocr);
  luaL_pushresult(&b);
}

/* nil, msg, partial (all that is queued). */
static int recv_fail(lua_State *L, conn_t *c, const char *msg, bool nocr) {
  luaL_pushfail(L);
  lua_pushstring(L, msg);
  recv_result(L, c, c->u.rx.len, nocr);
  return 3;
}

/* Move what is queued (at most `max` bytes) into a Lua string in pieces. */
static void recv_drain(lua_State *L, conn_t *c, size_t max, bool nocr) {
  if (!lua_istable(L, R_PIECES)) {
    lua_newtable(L);
    lua_replace(L, R_PIECES);
  }
  size_t n = c->u.rx.len < max ? c->u.rx.len : max;
  if (nocr || !recv_flat(L, c, n)) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    rx_take(c, &b, NULL, n, nocr);
    luaL_pushresult(&b);
  }
  lua_rawseti(L, R_PIECES, (lua_Integer)lua_rawlen(L, R_PIECES) + 1);
  lua_pushinteger(L, lua_tointeger(L, R_GOT) + (lua_Integer)n);
  lua_replace(L, R_GOT);
}

static int recv_step(lua_State *L, conn_t *c) {
  int kind = PAT_COUNT;
  if (lua_type(L, R_PAT) == LUA_TSTRING) {
    const char *pat = lua_tostring(L, R_PAT);
    kind = pat[pat[0] == '*'] == 'l' ? PAT_LINE : PAT_ALL;
  }
  bool nocr = kind == PAT_LINE;
  size_t want = 0;
  if (kind == PAT_COUNT) want = (size_t)(lua_tointeger(L, R_PAT) - lua_tointeger(L, R_GOT));
  for (;;) {
    if (c->closed || c->rx_shut) return recv_fail(L, c, "closed", nocr);
    if (c->tls) tls_pump(c);
    if (kind == PAT_COUNT && c->u.rx.len >= want) {
      recv_result(L, c, want, false);
      return 1;
    }
    if (kind == PAT_LINE) {
      long lf = rx_find_lf(c);
      if (lf >= 0) {
        recv_result(L, c, (size_t)lf, true);
        rx_take(c, NULL, NULL, 1, false); /* the LF */
        return 1;
      }
    }
    if (c->tls ? c->tls_end != 0 : c->peer_fin || !c->pcb.tcp) { /* nothing more will come */
      /* "*a" ends well at the close, unless nothing came at all (LuaSocket) */
      bool clean = c->tls ? c->tls_end == TLS_EOF : c->peer_fin;
      if (kind == PAT_ALL && clean && (c->u.rx.len || lua_tointeger(L, R_GOT))) {
        recv_result(L, c, c->u.rx.len, false);
        return 1;
      }
      if (c->tls)
        return recv_fail(L, c, c->tls_end == TLS_EOF ? "closed" : conn_tls_msg(c), nocr);
      return recv_fail(L, c, c->err == ERR_OK || c->err == ERR_CLSD ? "closed" : err_msg(c->err),
                       nocr);
    }
    /* Outside a task the wait below raises: leave the data queued. */
    if ((c->u.rx.len < rx_drain_at(c) && c->u.rx.n < SOCK_RX_CHAINS) || !sched_current(L)) break;
    recv_drain(L, c, kind == PAT_COUNT ? want : SIZE_MAX, nocr);
    if (kind == PAT_COUNT) want = (size_t)(lua_tointeger(L, R_PAT) - lua_tointeger(L, R_GOT));
  }
  uint64_t left = deadline_left(L, R_DEADLINE);
  if (left == 0) return recv_fail(L, c, "timeout", nocr);
  if (c->tls_nomem && left > 10000) left = 10000; /* no event will tell memory is back */
  /* What lets this receive go on: its count, or the drain mark; a line
   * may end in any segment (need 1: another reader may have taken what
   * is queued now, so the need cannot be relative to it). */
  size_t need = kind == PAT_LINE ? 1 : rx_drain_at(c);
  if (kind == PAT_COUNT && want < need) need = want;
  if (need < c->rx_need) c->rx_need = need;
  return sched_wait_on(L, &c->rq, left, 0, recv_k, "sock:receive");
}

static int recv_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  lua_settop(L, R_TOP);
  return recv_step(L, ((box_t *)lua_touserdata(L, 1))->c);
}

/* sock:receive([pattern [, prefix]]) -> data | nil, err, partial */
static int sock_receive(lua_State *L) {
  conn_t *c = check_tcp(L);
  lua_settop(L, R_PREFIX);
  if (lua_isnil(L, R_PAT)) {
    lua_pushliteral(L, "*l");
    lua_replace(L, R_PAT);
  } else if (lua_type(L, R_PAT) == LUA_TNUMBER) {
    lua_Integer n = luaos_checkinteger(L, R_PAT);
    if (n < 0) luaos_argerror(L, R_PAT, "byte count must be >= 0");
  } else {
    const char *p = lua_tostring(L, R_PAT);
    if (!p || lua_type(L, R_PAT) != LUA_TSTRING)
      return luaos_typeerror(L, R_PAT, "pattern (\"*l\", \"*a\" or a byte count)");
    if (strcmp(p, "*l") && strcmp(p, "l") && strcmp(p, "*a") && strcmp(p, "a"))
      return luaos_argerror(L, R_PAT,
                            lua_pushfstring(L, "invalid pattern '%s'; valid: *l, *a or a byte count",
                                            p));
  }
  if (!lua_isnoneornil(L, R_PREFIX)) luaos_checklstring(L, R_PREFIX, NULL);
  lua_settop(L, R_PREFIX);
  push_deadline(L, c->timeout_us);
  lua_pushnil(L);
  lua_pushinteger(L, 0);
  return recv_step(L, c);
}

/* ---- TCP: sending ---- */

/* send stack: 1 sock, 2 data, 3 i, 4 j, 5 deadline, 6 sent */
enum { S_DATA = 2, S_I, S_J, S_DEADLINE, S_SENT, S_TOP = S_SENT };

static int send_k(lua_State *L, int status, lua_KContext ctx);

static int send_fail(lua_State *L, const char *msg, lua_Integer last) {
  luaL_pushfail(L);
  lua_pushstring(L, msg);
  lua_pushinteger(L, last);
  return 3;
}

/* TLS: records of at most tls_max_write bytes; a record mbedTLS holds when
 * TCP is full counts as queued, and send returns once it went to TCP. */
static int tls_send_step(lua_State *L, conn_t *c, const char *data, lua_Integer i, lua_Integer j,
                         size_t total, size_t sent) {
  int r;
  c->tls_nomem = false;
  for (;;) {
    r = tls_ready(c);
    if (r != TLS_OK || sent == total) break;
    size_t k = total - sent, max = tls_max_write(c->tls);
    if (k > max) k = max;
    r = tls_write(c->tls, (const unsigned char *)data + i - 1 + sent, k);
    if (r > 0) {
      sent += (size_t)r;
      continue;
    }
    if (r == TLS_FAIL) c->tls_end = TLS_FAIL;
    if ((r == TLS_WANT_WRITE || r == TLS_WANT_READ) && tls_wpending(c->tls)) sent += k;
    break;
  }
  if (r == TLS_OK) {
    lua_pushinteger(L, j < i ? i - 1 : j);
    return 1;
  }
  if (r != TLS_WANT_WRITE && r != TLS_WANT_READ)
    return send_fail(L, conn_tls_msg(c), i + (lua_Integer)sent - 1);
  lua_pushinteger(L, (lua_Integer)sent);
  lua_replace(L, S_SENT);
  uint64_t left = deadline_left(L, S_DEADLINE);
  if (left == 0) return send_fail(L, "timeout", i + (lua_Integer)sent - 1);
  if (c->tls_nomem && c->pcb.tcp && !c->pcb.tcp->unacked && left > 10000) left = 10000;
  return sched_wait_on(L, r == TLS_WANT_READ ? &c->rq : &c->wq, left, 0, send_k, "sock:send");
}

static int send_step(lua_State *L, conn_t *c) {
  size_t len;
  const char *data = lua_tolstring(L, S_DATA, &len);
  lua_Integer i = lua_tointeger(L, S_I), j = lua_tointeger(L, S_J);
  size_t total = (size_t)(j - i + 1), sent = (size_t)lua_tointeger(L, S_SENT);
  bool nomem = false;
  if (c->closed || c->tx_shut) return send_fail(L, "closed", i + (lua_Integer)sent - 1);
  struct tcp_pcb *p = c->pcb.tcp;
  if (!p)
    return send_fail(L, c->err == ERR_OK ? "closed" : err_msg(c->err), i + (lua_Integer)sent - 1);
  if (c->tls) return tls_send_step(L, c, data, i, j, total, sent);
  while (sent < total) {
    size_t k = total - sent, room = tcp_sndbuf(p);
    if (room == 0 || tcp_sndqueuelen(p) >= TCP_SND_QUEUELEN) break;
    if (k > room) k = room;
    err_t e = tcp_write(p, data + i - 1 + sent, (u16_t)k,
                        TCP_WRITE_FLAG_COPY | (sent + k < total ? TCP_WRITE_FLAG_MORE : 0));
    if (e == ERR_MEM) {
      nomem = true;
      break;
    }
    if (e != ERR_OK) return send_fail(L, err_msg(e), i + (lua_Integer)sent - 1);
    sent += k;
  }
  tcp_output(p);
  net_kick();
  if (sent == total) {
    lua_pushinteger(L, j < i ? i - 1 : j);
    return 1;
  }
  lua_pushinteger(L, (lua_Integer)sent);
  lua_replace(L, S_SENT);
  uint64_t left = deadline_left(L, S_DEADLINE);
  if (left == 0) return send_fail(L, "timeout", i + (lua_Integer)sent - 1);
  /* Out of memory with nothing in flight: no ACK will wake us, so look again soon. */
  if (nomem && !p->unacked && left > 10000) left = 10000;
  return sched_wait_on(L, &c->wq, left, 0, send_k, "sock:send");
}

static int send_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  lua_settop(L, S_TOP);
  return send_step(L, ((box_t *)lua_touserdata(L, 1))->c);
}

/* sock:send(data [, i [, j]]) -> last index sent | nil, err, last index sent */
static int sock_send(lua_State *L) {
  conn_t *c = check_tcp(L);
  size_t len;
  luaos_checklstring(L, S_DATA, &len);
  lua_Integer i = lua_isnoneornil(L, S_I) ? 1 : luaos_checkinteger(L, S_I);
  lua_Integer j = lua_isnoneornil(L, S_J) ? -1 : luaos_checkinteger(L, S_J);
  lua_Integer n = (lua_Integer)len;
  /* string.sub's rules */
  if (i < 0) i = i < -n ? 1 : n + i + 1;
  if (i == 0) i = 1;
  if (j < 0) j = j < -n ? 0 : n + j + 1;
  if (j > n) j = n;
  if (j < i) j = i - 1;
  lua_settop(L, S_DATA);
  lua_pushinteger(L, i);
  lua_pushinteger(L, j);
  push_deadline(L, c->timeout_us);
  lua_pushinteger(L, 0);
  return send_step(L, c);
}

/* ---- TCP: connecting ---- */

/* connect stack: 1 host, 2 port, 3 opts, 4 deadline, 5 dns slot, 6 sock,
 * 7 the TLS configuration's holder (frees it if the call ends early) */
enum { C_DEADLINE = 4, C_SLOT, C_SOCK, C_TLS, C_TOP = C_TLS };

#define TLSCONF_MT "luaos.socket.tlsconf"

static int tlsconf_gc(lua_State *L) {
  tls_conf_t **h = lua_touserdata(L, 1);
  tls_conf_unref(*h);
  *h = NULL;
  return 0;
}

static int connect_k(lua_State *L, int status, lua_KContext ctx);

static int connect_wait(lua_State *L) {
  conn_t *c = ((box_t *)lua_touserdata(L, C_SOCK))->c;
  int want = TLS_WANT_WRITE;
  if (c->connected && c->tls && !c->closed) { /* the handshake */
    want = tls_ready(c);
    if (want == TLS_FAIL) {
      luaL_pushfail(L);
      lua_pushstring(L, conn_tls_msg(c));
      conn_release(c, true);
      return 2;
    }
  }
  if (c->connected && (!c->tls || want == TLS_OK)) {
    lua_pushvalue(L, C_SOCK);
    return 1;
  }
  if (c->connected) {
    uint64_t left = deadline_left(L, C_DEADLINE);
    if (left == 0) {
      conn_release(c, true);
      return fail(L, "timeout");
    }
    return sched_wait_on(L, want == TLS_WANT_READ ? &c->rq : &c->wq, left, 1, connect_k,
                         "socket.connect");
  }
  if (!c->pcb.tcp) {
    err_t e = c->err;
    conn_release(c, true);
    if (e == ERR_RST) return fail(L, "connection refused");
    return fail(L, e == ERR_ABRT ? "timeout" : err_msg(e));
  }
  uint64_t left = deadline_left(L, C_DEADLINE);
  if (left == 0) {
    conn_release(c, true);
    return fail(L, "timeout");
  }
  return sched_wait_on(L, &c->wq, left, 1, connect_k, "socket.connect");
}

static int connect_start(lua_State *L, const ip_addr_t *a) {
  u16_t port = (u16_t)lua_tointeger(L, 2);
  box_t *b = push_box(L, TCP_MT);
  lua_replace(L, C_SOCK);
  conn_t *c = conn_new(K_TCP);
  struct tcp_pcb *p = c ? tcp_new() : NULL;
  if (!p) {
    mem_release(c);
    return fail(L, "out of network memory");
  }
  b->c = c;
  tls_conf_t **conf = lua_touserdata(L, C_TLS);
  if (*conf) {
    bool ok = conn_tls_start(c, *conf, lua_tostring(L, 1));
    tls_conf_unref(*conf); /* the session holds it now */
    *conf = NULL;
    if (!ok) {
      tcp_close(p);
      return fail(L, "out of network memory");
    }
  }
  if (lua_istable(L, 3)) { /* the connect timeout stays the socket's */
    lua_getfield(L, 3, "timeout");
    c->timeout_us = luaos_opt_ms(L, -1, UINT64_MAX);
    lua_pop(L, 1);
  }
  tcp_setup(c, p);
  err_t e = tcp_connect(p, a, port, on_connected);
  net_kick();
  if (e != ERR_OK) {
    conn_release(c, true);
    return fail(L, err_msg(e));
  }
  return connect_wait(L);
}

static int connect_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lua_settop(L, C_TOP);
  if (ctx == 1) return connect_wait(L);
  /* resolving */
  int slot = (int)lua_tointeger(L, C_SLOT);
  ip_addr_t a;
  int r = net_dns_take(slot, &a);
  if (r == 1) return connect_start(L, &a);
  if (r == 0) return fail(L, "host not found");
  uint64_t left = deadline_left(L, C_DEADLINE);
  if (left == 0) {
    net_dns_abandon(slot);
    return fail(L, "timeout");
  }
  return sched_wait_on(L, net_dns_queue(slot), left, 0, connect_k, "socket.connect");
}

/* socket.connect(host, port [, {timeout=ms, tls=}]) -> sock | nil, err */
static int socket_connect(lua_State *L) {
  static const char *const keys[] = {"timeout", "tls", NULL};
  const char *host = luaos_checklstring(L, 1, NULL);
  check_port(L, 2, false);
  uint64_t timeout = UINT64_MAX;
  if (!lua_isnoneornil(L, 3)) {
    luaos_checktype(L, 3, LUA_TTABLE);
    luaos_check_keys(L, 3, keys);
    lua_getfield(L, 3, "timeout");
    if (!lua_isnil(L, -1)) {
      if (lua_type(L, -1) != LUA_TNUMBER || !(lua_tonumber(L, -1) >= 0))
        return luaos_argerror(L, 3, "timeout must be a non-negative number of ms");
      timeout = luaos_check_ms(L, lua_gettop(L));
    }
  }
  lua_settop(L, 3);
  sched_check_task(L, "socket.connect");
  net_init();
  push_deadline(L, timeout);
  lua_pushinteger(L, -1);
  lua_pushnil(L);
  tls_conf_t **conf = lua_newuserdatauv(L, sizeof *conf, 0);
  *conf = NULL;
  luaL_setmetatable(L, TLSCONF_MT);
  if (lua_istable(L, 3) && lua_getfield(L, 3, "tls") != LUA_TNIL && lua_toboolean(L, -1)) {
    *conf = tls_conf_check(L, 3, -1, false);
    if (!*conf) {
      luaL_pushfail(L);
      lua_insert(L, -2);
      return 2;
    }
    if (tls_conf_noverify(*conf)) tls_warn_noverify(L, host);
  }
  lua_settop(L, C_TOP);
  ip_addr_t a;
  int slot = -1;
  const char *err = NULL;
  int r = net_dns_start(host, &a, &slot, &err);
  if (r < 0) return fail(L, err);
  if (r == 1) return connect_start(L, &a);
  lua_pushinteger(L, slot);
  lua_replace(L, C_SLOT);
  return connect_k(L, LUA_OK, 0);
}

/* ---- TCP: the other methods ---- */

static int sock_settimeout(lua_State *L) {
  box_t *b = lua_touserdata(L, 1);
  uint64_t t = luaos_opt_ms(L, 2, UINT64_MAX);
  if (b->c != &dead_conn) b->c->timeout_us = t;
  lua_pushboolean(L, 1);
  return 1;
}

static int tcp_settimeout(lua_State *L) {
  check_tcp(L);
  return sock_settimeout(L);
}

static int sock_close(lua_State *L) {
  check_tcp(L);
  box_end(lua_touserdata(L, 1));
  lua_pushboolean(L, 1);
  return 1;
}

/* sock:shutdown(["send"|"receive"|"both"]) -> true | nil, err */
static int sock_shutdown(lua_State *L) {
  static const char *const how[] = {"both", "send", "receive", NULL};
  conn_t *c = check_tcp(L);
  int h = luaos_checkoption(L, 2, "both", how);
  if (c->closed) return fail(L, "closed");
  if (h != 1 && !c->rx_shut) { /* receive */
    c->rx_shut = true;
    size_t n = c->u.rx.len;
    rx_take(c, NULL, NULL, n, false);
    sched_wake(&c->rq, -1);
  }
  if (h != 2 && !c->tx_shut) { /* send */
    if (!c->pcb.tcp) return fail(L, c->err == ERR_OK ? "closed" : err_msg(c->err));
    if (c->tls) tls_close_notify(c->tls);
    err_t e = tcp_shutdown(c->pcb.tcp, 0, 1);
    net_kick();
    if (e != ERR_OK) return fail(L, err_msg(e));
    c->tx_shut = true;
    if (c->peer_fin) tcp_detach(c); /* LAST_ACK: lwIP finishes it */
    sched_wake(&c->wq, -1);
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int sock_getpeername(lua_State *L) {
  conn_t *c = check_tcp(L);
  if (c->closed || !c->connected) return fail(L, "closed");
  return push_addr(L, &c->rip, c->rport);
}

static int sock_getsockname(lua_State *L) {
  conn_t *c = check_tcp(L);
  if (c->closed || !c->connected) return fail(L, "closed");
  return push_addr(L, &c->lip, c->lport);
}

/* sock:setoption("keepalive"|"nodelay", bool) -> true | nil, err */
static int sock_setoption(lua_State *L) {
  static const char *const opts[] = {"keepalive", "nodelay", NULL};
  conn_t *c = check_tcp(L);
  int o = luaos_checkoption(L, 2, NULL, opts);
  if (!lua_isboolean(L, 3)) return luaos_typeerror(L, 3, "boolean");
  bool on = lua_toboolean(L, 3);
  struct tcp_pcb *p = c->pcb.tcp;
  if (c->closed || !p) return fail(L, "closed");
  if (o == 0) {
    if (on)
      ip_set_option(p, SOF_KEEPALIVE);
    else
      ip_reset_option(p, SOF_KEEPALIVE);
  } else {
    if (on)
      tcp_nagle_disable(p);
    else
      tcp_nagle_enable(p);
    c->tls_nagle = false; /* the user's choice, kept after a handshake */
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* sock:tlsinfo() -> {version=, cipher=, peer=, issuer=, alpn=, verified=} | nil, err */
static int sock_tlsinfo(lua_State *L) {
  conn_t *c = check_tcp(L);
  if (c->closed) return fail(L, "closed");
  if (!c->tls) return fail(L, "not a tls socket");
  if (!tls_handshake_done(c->tls)) return fail(L, "handshake not done");
  tls_push_info(L, c->tls);
  return 1;
}

static int sock_tostring(lua_State *L) {
  conn_t *c = check_tcp(L);
  if (c->closed || !c->connected) {
    lua_pushstring(L, c->closed ? "tcp socket (closed)" : "tcp socket (connecting)");
    return 1;
  }
  char a[IP4ADDR_STRLEN_MAX], b[IP4ADDR_STRLEN_MAX];
  lua_pushfstring(L, "%s socket %s:%d -> %s:%d%s", c->tls ? "tls" : "tcp",
                  ip4addr_ntoa_r(ip_2_ip4(&c->lip), a, sizeof a), (int)c->lport,
                  ip4addr_ntoa_r(ip_2_ip4(&c->rip), b, sizeof b), (int)c->rport,
                  c->pcb.tcp ? "" : " (ended)");
  return 1;
}

/* ---- TCP server ---- */

/* socket.bind(host, port [, {backlog=n, tls={cert=, key=}}]) -> server | nil, err */
static int socket_bind(lua_State *L) {
  static const char *const keys[] = {"backlog", "tls", NULL};
  const char *host = luaos_checklstring(L, 1, NULL);
  u16_t port = check_port(L, 2, true);
  lua_Integer backlog = SOCK_BACKLOG;
  if (!lua_isnoneornil(L, 3)) {
    luaos_checktype(L, 3, LUA_TTABLE);
    luaos_check_keys(L, 3, keys);
    lua_getfield(L, 3, "backlog");
    if (!lua_isnil(L, -1)) {
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > 255)
        return luaos_argerror(L, 3, "backlog must be an integer from 1 to 255");
      backlog = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
  }
  ip_addr_t a;
  if (!local_addr(host, &a)) return fail(L, "host not found");
  net_init();
  box_t *b = push_box(L, SERVER_MT);
  /* The TLS configuration last: nothing raises after it is made. */
  tls_conf_t *conf = NULL;
  if (lua_istable(L, 3)) {
    if (lua_getfield(L, 3, "tls") != LUA_TNIL) {
      conf = tls_conf_check(L, 3, -1, true);
      if (!conf) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
      }
    }
    lua_pop(L, 1); /* the box is the result */
  }
  conn_t *c = conn_new(K_SERVER);
  if (c) c->u.acc.q = mem_malloc((mem_size_t)(sizeof(conn_t *) * (size_t)backlog));
  struct tcp_pcb *p = c && c->u.acc.q ? tcp_new() : NULL;
  if (!p) {
    if (c) mem_release(c->u.acc.q);
    mem_release(c);
    tls_conf_unref(conf);
    return fail(L, "out of network memory");
  }
  c->u.acc.cap = (uint16_t)backlog;
  c->tls_conf = conf;
  b->c = c;
  ip_set_option(p, SOF_REUSEADDR); /* rebinding over TIME_WAIT, as LuaSocket does */
  err_t e = tcp_bind(p, &a, port);
  struct tcp_pcb *lp = NULL;
  if (e == ERR_OK) lp = tcp_listen_with_backlog_and_err(p, (u8_t)backlog, &e);
  if (!lp) {
    tcp_close(p);
    conn_release(c, true);
    return fail(L, err_msg(e));
  }
  c->pcb.tcp = lp;
  c->lip = lp->local_ip;
  c->lport = lp->local_port;
  tcp_arg(lp, c);
  tcp_accept(lp, on_accept);
  return 1;
}

/* accept stack: 1 server, 2 deadline */
static int accept_k(lua_State *L, int status, lua_KContext ctx);

static int accept_step(lua_State *L, conn_t *s) {
  if (s->closed) return fail(L, "closed");
  if (s->u.acc.n) {
    box_t *b = push_box(L, TCP_MT); /* first: it may raise (memory) */
    conn_t *c = s->u.acc.q[s->u.acc.head];
    s->u.acc.head = (uint16_t)((s->u.acc.head + 1) % s->u.acc.cap);
    s->u.acc.n--;
    b->c = c;
    if (c->pcb.tcp) tcp_backlog_accepted(c->pcb.tcp);
    net_kick();
    return 1;
  }
  uint64_t left = deadline_left(L, 2);
  if (left == 0) return fail(L, "timeout");
  return sched_wait_on(L, &s->rq, left, 0, accept_k, "server:accept");
}

static int accept_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  lua_settop(L, 2);
  return accept_step(L, ((box_t *)lua_touserdata(L, 1))->c);
}

/* server:accept([timeout_ms]) -> sock | nil, err */
static int server_accept(lua_State *L) {
  conn_t *s = check_server(L);
  uint64_t t = lua_isnoneornil(L, 2) ? s->timeout_us : luaos_check_ms(L, 2);
  lua_settop(L, 1);
  push_deadline(L, t);
  return accept_step(L, s);
}

static int server_settimeout(lua_State *L) {
  check_server(L);
  return sock_settimeout(L);
}

static int server_getsockname(lua_State *L) {
  conn_t *s = check_server(L);
  if (s->closed) return fail(L, "closed");
  return push_addr(L, &s->lip, s->lport);
}

static int server_close(lua_State *L) {
  check_server(L);
  box_end(lua_touserdata(L, 1));
  lua_pushboolean(L, 1);
  return 1;
}

static int server_tostring(lua_State *L) {
  conn_t *s = check_server(L);
  char a[IP4ADDR_STRLEN_MAX];
  if (s->closed)
    lua_pushliteral(L, "tcp server (closed)");
  else
    lua_pushfstring(L, "tcp server %s:%d (%d waiting)", ip4addr_ntoa_r(ip_2_ip4(&s->lip), a, sizeof a),
                    (int)s->lport, (int)s->u.acc.n);
  return 1;
}

/* socket.tlsmemory([reset_peak]) -> in_use, peak | nil, err: bytes mbedTLS holds */
static int socket_tlsmemory(lua_State *L) {
  bool reset = lua_toboolean(L, 1);
  if (!tls_memory_counted()) return fail(L, "not counted in this build (the host's mbedTLS)");
  size_t in_use, peak;
  tls_memory(&in_use, &peak, reset);
  lua_pushinteger(L, (lua_Integer)in_use);
  lua_pushinteger(L, (lua_Integer)peak);
  return 2;
}

/* ---- UDP ---- */

static void on_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                   u16_t port) {
  (void)pcb;
  conn_t *c = cb_conn(arg);
  if (!c || c->closed || c->u.ud.n >= c->u.ud.cap) {
    if (c) c->u.ud.dropped++; /* the newest goes: what is queued was first */
    pbuf_free(p);
    return;
  }
  dgram_t *d = &c->u.ud.q[(c->u.ud.head + c->u.ud.n++) % c->u.ud.cap];
  d->p = p;
  d->addr = *addr;
  d->port = port;
  sched_wake(&c->rq, -1);
}

/* socket.udp([{queue=n}]) -> u */
static int socket_udp(lua_State *L) {
  static const char *const keys[] = {"queue", NULL};
  lua_Integer qn = SOCK_UDP_QUEUE;
  if (!lua_isnoneornil(L, 1)) {
    luaos_checktype(L, 1, LUA_TTABLE);
    luaos_check_keys(L, 1, keys);
    lua_getfield(L, 1, "queue");
    if (!lua_isnil(L, -1)) {
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
          lua_tointeger(L, -1) > SOCK_UDP_QUEUE_MAX)
        return luaos_argerror(L, 1, "queue must be an integer from 1 to 4096");
      qn = lua_tointeger(L, -1);
    }
  }
  net_init();
  box_t *b = push_box(L, UDP_MT);
  conn_t *c = conn_new(K_UDP);
  if (c) c->u.ud.q = mem_malloc((mem_size_t)(sizeof(dgram_t) * (size_t)qn));
  struct udp_pcb *p = c && c->u.ud.q ? udp_new() : NULL;
  if (!p) {
    if (c) mem_release(c->u.ud.q);
    mem_release(c);
    return fail(L, "out of network memory");
  }
  c->u.ud.cap = (uint16_t)qn;
  c->pcb.udp = p;
  b->c = c;
  udp_recv(p, on_udp, c);
  return 1;
}

static int udp_settimeout(lua_State *L) {
  check_udp(L);
  return sock_settimeout(L);
}

/* u:setsockname(host, port) -> true | nil, err */
static int udp_setsockname(lua_State *L) {
  conn_t *c = check_udp(L);
  const char *host = luaos_checklstring(L, 2, NULL);
  u16_t port = check_port(L, 3, true);
  ip_addr_t a;
  if (!local_addr(host, &a)) return fail(L, "host not found");
  if (c->closed) return fail(L, "closed");
  err_t e = udp_bind(c->pcb.udp, &a, port);
  if (e != ERR_OK) return fail(L, err_msg(e));
  lua_pushboolean(L, 1);
  return 1;
}

/* u:setpeername(host, port) -> true | nil, err; ("*") forgets the peer */
static int udp_setpeername(lua_State *L) {
  conn_t *c = check_udp(L);
  const char *host = luaos_checklstring(L, 2, NULL);
  if (strcmp(host, "*") == 0) {
    if (c->closed) return fail(L, "closed");
    udp_disconnect(c->pcb.udp);
    lua_pushboolean(L, 1);
    return 1;
  }
  u16_t port = check_port(L, 3, false);
  ip_addr_t a;
  int slot = -1;
  const char *err = NULL;
  if (c->closed) return fail(L, "closed");
  /* Names that need a DNS query are for sendto (which can wait). */
  int r = net_dns_start(host, &a, &slot, &err);
  if (r != 1) {
    if (r == 0) net_dns_abandon(slot);
    return fail(L, "host not found");
  }
  err_t e = udp_connect(c->pcb.udp, &a, port);
  if (e != ERR_OK) return fail(L, err_msg(e));
  lua_pushboolean(L, 1);
  return 1;
}

static int udp_out(lua_State *L, conn_t *c, const ip_addr_t *to, u16_t port) {
  size_t len;
  const char *data = lua_tolstring(L, 2, &len);
  if (c->closed) return fail(L, "closed");
  struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
  if (!p) return fail(L, "out of network memory");
  pbuf_take(p, data, (u16_t)len);
  err_t e = to ? udp_sendto(c->pcb.udp, p, to, port) : udp_send(c->pcb.udp, p);
  pbuf_free(p);
  net_kick();
  if (e != ERR_OK) return fail(L, err_msg(e));
  lua_pushinteger(L, (lua_Integer)len);
  return 1;
}

static size_t check_dgram(lua_State *L) {
  size_t len;
  luaos_checklstring(L, 2, &len);
  if (len > SOCK_UDP_MAX) luaos_argerror(L, 2, "datagram too large (at most 65507 bytes)");
  return len;
}

/* sendto stack: 1 u, 2 data, 3 host, 4 port, 5 dns slot, 6 deadline */
static int sendto_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  lua_settop(L, 6);
  int slot = (int)lua_tointeger(L, 5);
  ip_addr_t a;
  int r = net_dns_take(slot, &a);
  if (r == 1) return udp_out(L, ((box_t *)lua_touserdata(L, 1))->c, &a, (u16_t)lua_tointeger(L, 4));
  if (r == 0) return fail(L, "host not found");
  uint64_t left = deadline_left(L, 6);
  if (left == 0) {
    net_dns_abandon(slot);
    return fail(L, "timeout");
  }
  return sched_wait_on(L, net_dns_queue(slot), left, 0, sendto_k, "u:sendto");
}

/* u:sendto(data, host, port) -> bytes | nil, err */
static int udp_sendto_(lua_State *L) {
  conn_t *c = check_udp(L);
  check_dgram(L);
  const char *host = luaos_checklstring(L, 3, NULL);
  u16_t port = check_port(L, 4, false);
  lua_settop(L, 4);
  ip_addr_t a;
  int slot = -1;
  const char *err = NULL;
  int r = net_dns_start(host, &a, &slot, &err);
  if (r < 0) return fail(L, err);
  if (r == 1) return udp_out(L, c, &a, port);
  lua_pushinteger(L, slot);
  push_deadline(L, c->timeout_us);
  return sendto_k(L, LUA_OK, 0);
}

/* u:send(data) -> bytes | nil, err (after setpeername) */
static int udp_send_(lua_State *L) {
  conn_t *c = check_udp(L);
  check_dgram(L);
  if (!c->closed && !(c->pcb.udp->flags & UDP_FLAGS_CONNECTED)) return fail(L, "not connected");
  return udp_out(L, c, NULL, 0);
}

/* receive stack: 1 u, 2 deadline; ctx: 1 = with the sender's address */
static int udp_recv_k(lua_State *L, int status, lua_KContext ctx);

static int udp_recv_step(lua_State *L, conn_t *c, lua_KContext from) {
  if (c->closed) return fail(L, "closed");
  if (c->u.ud.n) {
    dgram_t *d = &c->u.ud.q[c->u.ud.head];
    luaL_Buffer b;
    char *dst = luaL_buffinitsize(L, &b, d->p->tot_len);
    pbuf_copy_partial(d->p, dst, d->p->tot_len, 0);
    luaL_pushresultsize(&b, d->p->tot_len);
    int n = from ? 1 + push_addr(L, &d->addr, d->port) : 1;
    pbuf_free(d->p);
    c->u.ud.head = (uint16_t)((c->u.ud.head + 1) % c->u.ud.cap);
    c->u.ud.n--;
    return n;
  }
  uint64_t left = deadline_left(L, 2);
  if (left == 0) return fail(L, "timeout");
  return sched_wait_on(L, &c->rq, left, from, udp_recv_k, from ? "u:receivefrom" : "u:receive");
}

static int udp_recv_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  lua_settop(L, 2);
  return udp_recv_step(L, ((box_t *)lua_touserdata(L, 1))->c, ctx);
}

static int udp_receive_(lua_State *L, lua_KContext from) {
  conn_t *c = check_udp(L);
  uint64_t t = lua_isnoneornil(L, 2) ? c->timeout_us : luaos_check_ms(L, 2);
  lua_settop(L, 1);
  push_deadline(L, t);
  return udp_recv_step(L, c, from);
}

/* u:receivefrom([timeout_ms]) -> data, host, port | nil, err */
static int udp_receivefrom(lua_State *L) { return udp_receive_(L, 1); }
/* u:receive([timeout_ms]) -> data | nil, err */
static int udp_receive(lua_State *L) { return udp_receive_(L, 0); }

static int udp_group(lua_State *L, bool join) {
  conn_t *c = check_udp(L);
  const char *g = luaos_checklstring(L, 2, NULL);
  ip_addr_t group, iface;
  if (!net_lua_parse_ip(g, &group) || !ip4_addr_ismulticast(ip_2_ip4(&group)))
    return luaos_argerror(L, 2, "multicast group address expected (224.0.0.0 .. 239.255.255.255)");
  ip_addr_set_any(0, &iface);
  if (!lua_isnoneornil(L, 3) && !local_addr(luaos_checklstring(L, 3, NULL), &iface))
    return luaos_argerror(L, 3, "interface address expected (a dotted quad or \"*\")");
  if (c->closed) return fail(L, "closed");
  err_t e = join ? igmp_joingroup(ip_2_ip4(&iface), ip_2_ip4(&group))
                 : igmp_leavegroup(ip_2_ip4(&iface), ip_2_ip4(&group));
  net_kick();
  if (e != ERR_OK) return fail(L, e == ERR_VAL ? "no multicast interface" : err_msg(e));
  lua_pushboolean(L, 1);
  return 1;
}

/* u:join(group [, iface]) / u:leave(group [, iface]) -> true | nil, err */
static int udp_join(lua_State *L) { return udp_group(L, true); }
static int udp_leave(lua_State *L) { return udp_group(L, false); }

static int udp_dropped(lua_State *L) {
  conn_t *c = check_udp(L);
  lua_pushinteger(L, (lua_Integer)c->u.ud.dropped);
  return 1;
}

static int udp_getsockname(lua_State *L) {
  conn_t *c = check_udp(L);
  if (c->closed) return fail(L, "closed");
  return push_addr(L, &c->pcb.udp->local_ip, c->pcb.udp->local_port);
}

static int udp_getpeername(lua_State *L) {
  conn_t *c = check_udp(L);
  if (c->closed) return fail(L, "closed");
  if (!(c->pcb.udp->flags & UDP_FLAGS_CONNECTED)) return fail(L, "not connected");
  return push_addr(L, &c->pcb.udp->remote_ip, c->pcb.udp->remote_port);
}

/* u:setoption("reuseaddr"|"broadcast", bool) -> true | nil, err */
static int udp_setoption(lua_State *L) {
  static const char *const opts[] = {"reuseaddr", "broadcast", NULL};
  conn_t *c = check_udp(L);
  int o = luaos_checkoption(L, 2, NULL, opts);
  if (!lua_isboolean(L, 3)) return luaos_typeerror(L, 3, "boolean");
  if (c->closed) return fail(L, "closed");
  u8_t bit = o == 0 ? SOF_REUSEADDR : SOF_BROADCAST;
  if (lua_toboolean(L, 3))
    ip_set_option(c->pcb.udp, bit);
  else
    ip_reset_option(c->pcb.udp, bit);
  lua_pushboolean(L, 1);
  return 1;
}

static int udp_close(lua_State *L) {
  check_udp(L);
  box_end(lua_touserdata(L, 1));
  lua_pushboolean(L, 1);
  return 1;
}

static int udp_tostring(lua_State *L) {
  conn_t *c = check_udp(L);
  char a[IP4ADDR_STRLEN_MAX];
  if (c->closed)
    lua_pushliteral(L, "udp socket (closed)");
  else
    lua_pushfstring(L, "udp socket %s:%d", ip4addr_ntoa_r(ip_2_ip4(&c->pcb.udp->local_ip), a, sizeof a),
                    (int)c->pcb.udp->local_port);
  return 1;
}

/* ---- module ---- */

static void new_class(lua_State *L, const char *mt, const char *docname, const luaL_Reg *methods,
                      lua_CFunction tostring) {
  luaL_newmetatable(L, mt);
  lua_pushstring(L, docname); /* errors say 'sock:send', as docs/socket.md does */
  lua_setfield(L, -2, "__docname");
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, box_gc);
  lua_setfield(L, -2, "__gc");
  lua_getfield(L, -1, "__index");
  lua_getfield(L, -1, "close");
  lua_setfield(L, -3, "__close");
  lua_pop(L, 1);
  lua_pushcfunction(L, tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}

int luaopen_socket(lua_State *L) {
  static const luaL_Reg f[] = {
      {"connect", socket_connect}, {"bind", socket_bind}, {"udp", socket_udp},
      {"tlsmemory", socket_tlsmemory}, {NULL, NULL}};
  static const luaL_Reg tcp_m[] = {{"send", sock_send},
                                   {"receive", sock_receive},
                                   {"settimeout", tcp_settimeout},
                                   {"close", sock_close},
                                   {"shutdown", sock_shutdown},
                                   {"getpeername", sock_getpeername},
                                   {"getsockname", sock_getsockname},
                                   {"setoption", sock_setoption},
                                   {"tlsinfo", sock_tlsinfo},
                                   {NULL, NULL}};
  static const luaL_Reg server_m[] = {{"accept", server_accept},
                                      {"settimeout", server_settimeout},
                                      {"getsockname", server_getsockname},
                                      {"close", server_close},
                                      {NULL, NULL}};
  static const luaL_Reg udp_m[] = {{"setsockname", udp_setsockname},
                                   {"setpeername", udp_setpeername},
                                   {"sendto", udp_sendto_},
                                   {"send", udp_send_},
                                   {"receivefrom", udp_receivefrom},
                                   {"receive", udp_receive},
                                   {"settimeout", udp_settimeout},
                                   {"join", udp_join},
                                   {"leave", udp_leave},
                                   {"dropped", udp_dropped},
                                   {"getsockname", udp_getsockname},
                                   {"getpeername", udp_getpeername},
                                   {"setoption", udp_setoption},
                                   {"close", udp_close},
                                   {NULL, NULL}};
  net_init();
  new_class(L, TCP_MT, "sock", tcp_m, sock_tostring);
  new_class(L, SERVER_MT, "server", server_m, server_tostring);
  new_class(L, UDP_MT, "u", udp_m, udp_tostring);
  luaL_newmetatable(L, TLSCONF_MT);
  lua_pushcfunction(L, tlsconf_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  luaL_newlib(L, f);
  lua_pushliteral(L, "1.0");
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
