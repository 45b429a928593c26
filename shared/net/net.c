#include "net.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/hal_clock.h"
#include "hal/hal_console.h"
#include "hal/hal_random.h"
#include "lwip/dhcp.h"
#include "lwip/dns.h"
#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/prot/tcp.h"
#include "lwip/stats.h"
#include "lwip/sys.h"
#include "lwip/timeouts.h"
#include "lwip/apps/mdns.h"
#include "modreg.h"
#include "netif/ethernet.h"
#include "sched.h"

/* One device, one Ethernet interface (plus lwIP's loopif). */
static struct {
  bool started;
  bool attached;
  bool was_up;
  bool armed_now;     /* the timer is set to run at once */
  sched_timer_t timer;
  struct netif netif;
  net_config_t cfg;
  netif_ext_callback_t ext_cb;
  uint64_t rng[2];
  uint8_t events[8];  /* pending net_event_t, delivered from the timer */
  unsigned nevents;
  net_event_fn on_event;
  netif_linkoutput_fn port_output; /* the port's, under count_output */
  net_counters_t counters;
} N;

/* lwIP's clock is the loop's: virtual time in tests, real time otherwise. */
uint32_t sys_now(void) { return (uint32_t)(sched_now() / 1000u); }

/* xorshift128+, seeded by the port's entropy: lwIP needs unpredictable
 * sequence numbers and ids, not cryptographic strength per call. */
uint32_t net_rand32(void) {
  uint64_t s1 = N.rng[0];
  const uint64_t s0 = N.rng[1];
  N.rng[0] = s0;
  s1 ^= s1 << 23;
  N.rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
  return (uint32_t)((N.rng[1] + s0) >> 16);
}

void net_lwip_diag(const char *fmt, ...) {
  char buf[160];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) hal_console_write(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

void net_lwip_assert(const char *msg, const char *file, int line) {
  char buf[200];
  snprintf(buf, sizeof buf, "lwIP assertion \"%s\" failed at %s:%d", msg, file, line);
  hal_panic(buf);
}

/* Wall-clock time from lwIP's SNTP client: the Unix time (us) at loop
 * time `at`; 0 until the first answer. */
static struct {
  uint64_t unix_us, at;
} T;

void net_sntp_set_time(unsigned long sec, unsigned long us) {
  T.unix_us = (uint64_t)sec * 1000000u + us;
  T.at = sched_now();
}

bool net_time(uint64_t *unix_us) {
  if (!T.unix_us) return false;
  *unix_us = T.unix_us + (sched_now() - T.at);
  return true;
}

/* What SNTP compares replies against: our idea of the time (the loop's
 * clock before the first answer; any value works for the check). */
void net_sntp_get_time(unsigned long *sec, unsigned long *us) {
  uint64_t t;
  if (!net_time(&t)) t = sched_now();
  *sec = (unsigned long)(t / 1000000u);
  *us = (unsigned long)(t % 1000000u);
}

/* lwIP's hook for every TCP segment it has matched to a pcb (returns
 * ERR_OK to go on). For a SYN to a listener whose backlog is full, the
 * oldest half-open connection of that listener (SYN_RCVD: never accepted,
 * no socket of ours) is aborted to make room. Established connections
 * waiting for accept() are never touched. */
int net_tcp_inpacket(void *pcbv, const void *hdrv) {
  struct tcp_pcb *pcb = pcbv;
  const struct tcp_hdr *hdr = hdrv;
  if (pcb->state != LISTEN) return ERR_OK;
  if ((TCPH_FLAGS(hdr) & (TCP_SYN | TCP_ACK)) != TCP_SYN) return ERR_OK;
  struct tcp_pcb_listen *l = (struct tcp_pcb_listen *)pcb;
  if (l->accepts_pending < l->backlog) return ERR_OK;
  struct tcp_pcb *oldest = NULL;
  for (struct tcp_pcb *p = tcp_active_pcbs; p; p = p->next)
    if (p->state == SYN_RCVD && p->listener == l &&
        (!oldest || (u32_t)(tcp_ticks - p->tmr) > (u32_t)(tcp_ticks - oldest->tmr)))
      oldest = p;
  if (oldest) tcp_abort(oldest);
  return ERR_OK;
}

static void arm(uint64_t at) {
  sched_timer_start(&N.timer, at);
}

static void rearm(void) {
  uint32_t ms = sys_timeouts_sleeptime();
  uint64_t now = sched_now();
  N.armed_now = false;
  if (ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE) {
    sched_timer_stop(&N.timer);
    return;
  }
  arm(now + (uint64_t)ms * 1000u);
}

static void queue_event(net_event_t ev) {
  if (N.nevents < sizeof N.events) N.events[N.nevents++] = (uint8_t)ev;
  net_kick();
}

static void check_up(void) {
  bool up = net_is_up();
  if (up != N.was_up) {
    N.was_up = up;
    queue_event(up ? NET_EV_UP : NET_EV_DOWN);
  }
}

static void on_timer(lua_State *L, sched_timer_t *t) {
  (void)t;
  netif_poll_all(); /* loopback frames queued since the last run */
  sys_check_timeouts();
  rearm();
  /* Events last: a handler may call back into lwIP. */
  while (N.nevents) {
    net_event_t ev = (net_event_t)N.events[0];
    memmove(N.events, N.events + 1, --N.nevents);
    if (N.on_event) N.on_event(L, ev);
  }
}

void net_kick(void) {
  if (!N.started || N.armed_now) return;
  N.armed_now = true;
  arm(sched_now());
}

static void on_ext(struct netif *nif, netif_nsc_reason_t reason,
                   const netif_ext_callback_args_t *args) {
  (void)args;
  if (nif != &N.netif) return;
  if (reason & (LWIP_NSC_IPV4_ADDRESS_CHANGED | LWIP_NSC_IPV4_SETTINGS_CHANGED))
    if (!ip4_addr_isany_val(*netif_ip4_addr(nif))) queue_event(NET_EV_ADDRESS);
  check_up();
}

void net_init(void) {
  if (N.started) return;
  hal_random(N.rng, sizeof N.rng);
  if (!N.rng[0] && !N.rng[1]) N.rng[0] = hal_clock_us() | 1u;
  lwip_init();
  N.timer.fn = on_timer;
  sched_set_weak_timer(&N.timer);
  netif_add_ext_callback(&N.ext_cb, on_ext);
  sys_add_memory_counter("net", net_mem_used);
  N.started = true;
  net_kick();
}

bool net_started(void) { return N.started; }

/* The port's init, then what every interface of ours has: the MAC of the
 * configuration and the flags lwIP reads inside netif_add (IGMP starts
 * there only if the flag is already set). */
static netif_init_fn port_init;

static err_t attach_init(struct netif *nif) {
  err_t e = port_init(nif);
  if (e != ERR_OK) return e;
  memcpy(nif->hwaddr, N.cfg.mac, 6);
  nif->hwaddr_len = 6;
  nif->flags |= NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_BROADCAST | NETIF_FLAG_IGMP;
  return ERR_OK;
}

/* Counting wrappers around the port's frame paths (net_counters). */
static err_t count_input(struct pbuf *p, struct netif *nif) {
  N.counters.rx_packets++;
  N.counters.rx_bytes += p->tot_len;
  return ethernet_input(p, nif);
}

static err_t count_output(struct netif *nif, struct pbuf *p) {
  N.counters.tx_packets++;
  N.counters.tx_bytes += p->tot_len;
  return N.port_output(nif, p);
}

void net_counters(net_counters_t *c) { *c = N.counters; }

/* A failed attach leaves nothing behind: a later attach may try again,
 * and nothing sends through a half-started interface. */
static void attach_undo(struct netif *nif) {
  dhcp_stop(nif);
  dhcp_cleanup(nif);
  netif_set_down(nif);
  netif_set_default(NULL);
  netif_remove(nif);
  N.attached = false;
}

struct netif *net_attach(netif_init_fn init, void *state, const net_config_t *cfg, char *err,
                         size_t errlen) {
  net_init();
  if (N.attached) {
    snprintf(err, errlen, "a network interface is already attached");
    return NULL;
  }
  N.cfg = *cfg;
  struct netif *nif = &N.netif;
  ip4_addr_t any = {0};
  const ip4_addr_t *ip = cfg->dhcp ? &any : &cfg->ip;
  const ip4_addr_t *mask = cfg->dhcp ? &any : &cfg->netmask;
  const ip4_addr_t *gw = cfg->dhcp ? &any : &cfg->gw;
  port_init = init;
  if (!netif_add(nif, ip, mask, gw, state, attach_init, count_input)) {
    snprintf(err, errlen, "the network interface did not start");
    return NULL;
  }
  memset(&N.counters, 0, sizeof N.counters);
  N.port_output = nif->linkoutput;
  nif->linkoutput = count_output;
  netif_set_hostname(nif, N.cfg.hostname[0] ? N.cfg.hostname : NULL);
  netif_set_default(nif);
  if (!ip4_addr_isany_val(cfg->dns)) dns_setserver(0, &cfg->dns);
  N.attached = true;
  netif_set_up(nif);
  if (cfg->dhcp && dhcp_start(nif) != ERR_OK) {
    snprintf(err, errlen, "DHCP did not start (out of memory)");
    attach_undo(nif);
    return NULL;
  }
  if (N.cfg.hostname[0]) {
    mdns_resp_init();
    if (mdns_resp_add_netif(nif, N.cfg.hostname, 120) != ERR_OK) {
      snprintf(err, errlen, "mDNS did not start (a hostname of 1 to 63 letters?)");
      attach_undo(nif);
      return NULL;
    }
  }
  check_up();
  net_kick();
  return nif;
}

void net_eth_setup(struct netif *nif, const char *name, netif_linkoutput_fn out) {
  nif->name[0] = name[0];
  nif->name[1] = name[1];
  nif->output = etharp_output;
  nif->linkoutput = out;
  nif->mtu = 1500;
  nif->hwaddr_len = 6;
  netif_set_link_up(nif);
}

struct netif *net_netif(void) { return N.attached ? &N.netif : NULL; }
const net_config_t *net_config(void) { return &N.cfg; }

bool net_is_up(void) {
  return N.attached && netif_is_up(&N.netif) && netif_is_link_up(&N.netif) &&
         !ip4_addr_isany_val(*netif_ip4_addr(&N.netif));
}

void net_set_event_handler(net_event_fn fn) { N.on_event = fn; }

void net_default_mac(uint8_t mac[6], const char *name, unsigned instance) {
  /* FNV-1a over the name and the instance number. */
  uint32_t h = 2166136261u;
  for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
  for (int i = 0; i < 4; i++) h = (h ^ ((instance >> (8 * i)) & 0xFF)) * 16777619u;
  mac[0] = 0x02; /* locally administered, unicast */
  mac[1] = 0x4c; /* 'L' */
  mac[2] = (uint8_t)(h >> 24);
  mac[3] = (uint8_t)(h >> 16);
  mac[4] = (uint8_t)(h >> 8);
  mac[5] = (uint8_t)(instance & 0xFF); /* distinct for the first 256 instances */
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool net_parse_mac(const char *s, uint8_t mac[6]) {
  for (int i = 0; i < 6; i++) {
    int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
    if (hi < 0 || lo < 0) return false;
    mac[i] = (uint8_t)(hi << 4 | lo);
    s += 2;
    if (i < 5 && *s++ != ':') return false;
  }
  if (*s) return false;
  return !(mac[0] & 1); /* a multicast address cannot be an interface's */
}

#if !defined(LUAOS_TARGET)
/* lwIP's allocations in the simulator (lwipopts.h): the C library's, but
 * never more than MEM_SIZE in use, so a flood is bounded as it would be
 * by lwIP's own heap. lwIP counts what is in use (MEM_STATS). */
void *net_mem_malloc(unsigned long size) {
  if ((unsigned long)lwip_stats.mem.used + size > MEM_SIZE) return NULL;
  return malloc(size);
}
#endif

size_t net_mem_used(void) {
#if MEM_STATS
  return (size_t)lwip_stats.mem.used;
#else
  return 0;
#endif
}
