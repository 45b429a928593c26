/* --net user: libslirp as QEMU's `-nic user` uses it. The device sits on
 * 10.0.2.0/24 behind slirp's NAT: the host is 10.0.2.2, slirp's DNS
 * (forwarding to the host's resolver) 10.0.2.3, DHCP hands out 10.0.2.15.
 * Slirp is driven like QEMU's net/slirp.c drives it: its descriptors and
 * timeout are filled in before the loop's wait, polled after it.
 *
 * Frames from slirp are queued and handed to lwIP after slirp has
 * returned: neither stack is re-entered from the other's callback. */
#define _GNU_SOURCE
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS 1 /* the C library's htons &c. */
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libslirp.h>

#include "hal/hal_clock.h"
#include "host.h"
#include "lwip/etharp.h"
#include "lwip/pbuf.h"
#include "net_host.h"
#include "sched.h"

#define SLIRP_QUEUE 256 /* frames from slirp waiting for lwIP */
#define SLIRP_FRAME_MAX 1518

typedef struct {
  sched_timer_t t; /* first: the sched callback gets this pointer */
  SlirpTimerCb cb;
  void *cb_opaque;
} slirp_timer_t;

static struct {
  Slirp *slirp;
  struct netif *nif;
  bool closed;
  bool in_lwip;      /* inside lwIP's linkoutput: frames for lwIP must wait */
  host_poller_t poller;
  sched_timer_t flush; /* hands queued frames to lwIP from the loop */
  struct pbuf *q[SLIRP_QUEUE];
  unsigned qhead, qlen;
} SL;

/* ---- slirp to lwIP ---- */

static void flush_queue(void) {
  unsigned n = 0;
  /* Bounded: lwIP's replies can make slirp queue more while we deliver. */
  while (SL.qlen > 0 && n++ < 4 * SLIRP_QUEUE) {
    struct pbuf *p = SL.q[SL.qhead];
    SL.qhead = (SL.qhead + 1) % SLIRP_QUEUE;
    SL.qlen--;
    if (SL.closed || !SL.nif || SL.nif->input(p, SL.nif) != ERR_OK) pbuf_free(p);
  }
  if (SL.qlen > 0) sched_timer_start(&SL.flush, sched_now());
  net_kick();
}

static void on_flush(lua_State *L, sched_timer_t *t) {
  (void)L;
  (void)t;
  flush_queue();
}

static ssize_t send_packet(const void *buf, size_t len, void *opaque) {
  (void)opaque;
  if (SL.closed || len > SLIRP_FRAME_MAX) return (ssize_t)len;
  if (SL.qlen == SLIRP_QUEUE) return (ssize_t)len; /* dropped: TCP retransmits */
  struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
  if (!p) return (ssize_t)len;
  pbuf_take(p, buf, (u16_t)len);
  SL.q[(SL.qhead + SL.qlen) % SLIRP_QUEUE] = p;
  SL.qlen++;
  /* From linkoutput: deliver from the loop, soon. From a poll or a timer
   * (slirp called by the loop), delivered when slirp returns. */
  if (SL.in_lwip) sched_timer_start(&SL.flush, sched_now());
  return (ssize_t)len;
}

/* ---- lwIP to slirp ---- */

static err_t linkoutput(struct netif *nif, struct pbuf *p) {
  (void)nif;
  uint8_t buf[SLIRP_FRAME_MAX];
  if (SL.closed || !SL.slirp) return ERR_OK; /* the simulator is closing: dropped */
  if (p->tot_len > sizeof buf) return ERR_IF;
  u16_t len = pbuf_copy_partial(p, buf, p->tot_len, 0);
  /* IPv4 multicast (mDNS, IGMP) stays on the device: slirp would send it
   * from a host socket onto the host's own network, announcing a 10.0.2.x
   * address that means nothing there. */
  if (len >= 3 && buf[0] == 0x01 && buf[1] == 0x00 && buf[2] == 0x5e) return ERR_OK;
  bool was = SL.in_lwip;
  SL.in_lwip = true;
  slirp_input(SL.slirp, buf, len);
  SL.in_lwip = was;
  return ERR_OK;
}

static err_t slirp_netif_init(struct netif *nif) {
  net_eth_setup(nif, "sl", linkoutput); /* a virtual cable, always plugged in */
  return ERR_OK;
}

/* ---- slirp's callbacks ---- */

static void guest_error(const char *msg, void *opaque) {
  (void)opaque;
  fprintf(stderr, "luaos: slirp: %s\n", msg);
}

/* Slirp's clock is real time: it talks to the host's sockets. */
static int64_t clock_get_ns(void *opaque) {
  (void)opaque;
  return (int64_t)hal_clock_us() * 1000;
}

static void on_slirp_timer(lua_State *L, sched_timer_t *t) {
  (void)L;
  slirp_timer_t *st = (slirp_timer_t *)t;
  st->cb(st->cb_opaque);
  flush_queue();
}

static void *timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque) {
  (void)opaque;
  slirp_timer_t *st = calloc(1, sizeof *st);
  if (!st) return NULL;
  st->t.fn = on_slirp_timer;
  st->cb = cb;
  st->cb_opaque = cb_opaque;
  return st;
}

static void timer_free(void *timer, void *opaque) {
  (void)opaque;
  if (!timer) return;
  sched_timer_stop(&((slirp_timer_t *)timer)->t);
  free(timer);
}

/* expire_ms on slirp's clock (hal_clock_us); the loop's clock is the same
 * one here (a host netif runs on real time). */
static void timer_mod(void *timer, int64_t expire_ms, void *opaque) {
  (void)opaque;
  if (!timer) return;
  int64_t now_us = (int64_t)hal_clock_us();
  int64_t delta = expire_ms * 1000 - now_us;
  sched_timer_start(&((slirp_timer_t *)timer)->t,
                    sched_now() + (uint64_t)(delta > 0 ? delta : 0));
}

static void register_poll_fd(int fd, void *opaque) {
  (void)fd;
  (void)opaque; /* descriptors are filled in before every wait */
}

static void unregister_poll_fd(int fd, void *opaque) {
  (void)fd;
  (void)opaque;
}

static void notify(void *opaque) {
  (void)opaque; /* the loop polls slirp whenever it waits */
}

static const SlirpCb callbacks = {
    .send_packet = send_packet,
    .guest_error = guest_error,
    .clock_get_ns = clock_get_ns,
    .timer_new = timer_new,
    .timer_free = timer_free,
    .timer_mod = timer_mod,
    .register_poll_fd = register_poll_fd,
    .unregister_poll_fd = unregister_poll_fd,
    .notify = notify,
};

/* ---- the loop's poller ---- */

static int add_poll(int fd, int events, void *opaque) {
  (void)opaque;
  short ev = 0;
  if (events & SLIRP_POLL_IN) ev |= POLLIN;
  if (events & SLIRP_POLL_OUT) ev |= POLLOUT;
  if (events & SLIRP_POLL_PRI) ev |= POLLPRI;
  return host_poll_add(fd, ev);
}

static int get_revents(int idx, void *opaque) {
  (void)opaque;
  short re = host_poll_revents(idx);
  int ev = 0;
  if (re & POLLIN) ev |= SLIRP_POLL_IN;
  if (re & POLLOUT) ev |= SLIRP_POLL_OUT;
  if (re & POLLPRI) ev |= SLIRP_POLL_PRI;
  if (re & (POLLERR | POLLNVAL)) ev |= SLIRP_POLL_ERR;
  if (re & POLLHUP) ev |= SLIRP_POLL_HUP;
  return ev;
}

static void poller_fill(void *ud, uint32_t *timeout_ms) {
  (void)ud;
  slirp_pollfds_fill(SL.slirp, timeout_ms, add_poll, NULL);
}

static void poller_poll(void *ud, bool error) {
  (void)ud;
  slirp_pollfds_poll(SL.slirp, error, get_revents, NULL);
  flush_queue();
}

/* ---- start / stop ---- */

static struct in_addr in4(const char *s) {
  struct in_addr a;
  inet_pton(AF_INET, s, &a);
  return a;
}

bool net_slirp_start(const net_host_opts_t *n, const net_config_t *cfg, char *err,
                     size_t errlen) {
  SlirpConfig sc;
  memset(&sc, 0, sizeof sc);
  sc.version = 1;
  sc.in_enabled = true;
  sc.vnetwork = in4("10.0.2.0");
  sc.vnetmask = in4("255.255.255.0");
  sc.vhost = in4("10.0.2.2");
  sc.vdhcp_start = in4("10.0.2.15");
  sc.vnameserver = in4("10.0.2.3");
  sc.in6_enabled = false; /* lwIP is built without IPv6 */
  sc.restricted = n->restricted;
  /* libslirp writes to the host sockets of NAT'ed connections with plain
   * send(): one to a peer that has closed would end the simulator with
   * SIGPIPE (QEMU ignores SIGPIPE for the same reason); EPIPE instead. */
  signal(SIGPIPE, SIG_IGN);
  memset(&SL, 0, sizeof SL);
  SL.flush.fn = on_flush;
  SL.slirp = slirp_new(&sc, &callbacks, NULL);
  if (!SL.slirp) {
    snprintf(err, errlen, "--net user: libslirp did not start");
    return false;
  }
  for (int i = 0; i < n->nfwd; i++) {
    const net_host_fwd_t *f = &n->fwd[i];
    struct in_addr host = {f->host_addr};
    struct in_addr dev = {f->dev_addr ? f->dev_addr
                                      : (cfg->dhcp ? sc.vdhcp_start.s_addr : cfg->ip.addr)};
    if (slirp_add_hostfwd(SL.slirp, f->udp, host, f->host_port, dev, f->dev_port) < 0) {
      char h[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &host, h, sizeof h);
      snprintf(err, errlen,
               "--net user: cannot forward host %s port %s:%u (in use, or a privileged port?)",
               f->udp ? "UDP" : "TCP", f->host_addr ? h : "*", f->host_port);
      net_slirp_stop();
      return false;
    }
  }
  SL.poller = (host_poller_t){poller_fill, poller_poll, NULL};
  if (!host_add_poller(&SL.poller)) {
    snprintf(err, errlen, "--net user: too many pollers");
    net_slirp_stop();
    return false;
  }
  SL.nif = net_attach(slirp_netif_init, NULL, cfg, err, errlen);
  if (!SL.nif) {
    net_slirp_stop();
    return false;
  }
  return true;
}

void net_slirp_stop(void) {
  SL.closed = true;
  host_remove_poller(&SL.poller);
  sched_timer_stop(&SL.flush);
  while (SL.qlen > 0) {
    pbuf_free(SL.q[SL.qhead]);
    SL.qhead = (SL.qhead + 1) % SLIRP_QUEUE;
    SL.qlen--;
  }
  if (SL.slirp) slirp_cleanup(SL.slirp); /* closes its sockets and forwards */
  SL.slirp = NULL;
}
