/* net: interface status and events, wait_up, resolve, ping. The blocking
 * calls park only the calling task (sched_wait_on); lwIP's callbacks wake
 * it. Requests lwIP may answer after their task is gone (DNS, ping) live
 * in fixed tables here, never in collectable Lua objects. */
#include <string.h>

#include "lauxlib.h"
#include "luaos.h"
#include "lwip/apps/lwiperf.h"
#include "lwip/apps/sntp.h"
#include "lwip/dns.h"
#include "lwip/icmp.h"
#include "lwip/inet_chksum.h"
#include "lwip/prot/icmp.h"
#include "lwip/raw.h"
#include "net.h"
#include "net_lua.h"
#include "sched.h"

#define NET_DNS_SLOTS 16
#define NET_PING_SLOTS 8
#define NET_PING_DATA 32

typedef struct {
  uint8_t state; /* DNS_FREE .. */
  ip_addr_t addr;
  sched_waitq_t q;
} dns_slot_t;

enum { DNS_FREE = 0, DNS_PENDING, DNS_ABANDONED, DNS_FOUND, DNS_NOTFOUND };

typedef struct {
  bool busy;
  bool replied;
  uint16_t seq;
  uint64_t sent_us, rtt_us, expires_us;
  ip_addr_t to;
  sched_waitq_t q;
} ping_slot_t;

static struct {
  dns_slot_t dns[NET_DNS_SLOTS];
  ping_slot_t ping[NET_PING_SLOTS];
  struct raw_pcb *icmp;
  uint16_t ping_id, ping_seq;
  sched_waitq_t upq;
  void *iperf;            /* lwiperf's server session, once started */
  sched_waitq_t iperfq;   /* tasks in net.iperf_wait */
  uint32_t iperf_reports; /* how many sessions have ended */
  struct {
    uint8_t type;
    uint32_t bytes, ms, kbps;
    ip_addr_t remote;
  } iperf_last;
  int handlers; /* registered net.on handlers (each keeps the loop alive) */
} M;

static const char handlers_key = 'n'; /* registry: event -> {fn = true} */
static const char *const event_names[] = {"up", "down", "address", NULL};

/* ---- deadlines ---- */

lua_KContext netwait_deadline(lua_State *L, int arg, uint64_t def_us) {
  uint64_t t = luaos_opt_ms(L, arg, def_us);
  lua_settop(L, arg - 1);
  if (t == UINT64_MAX) return 0;
  uint64_t now = sched_now();
  lua_pushinteger(L, (lua_Integer)(now > (uint64_t)INT64_MAX - t ? INT64_MAX : now + t));
  return arg;
}

uint64_t netwait_left(lua_State *L, lua_KContext ctx) {
  if (!ctx) return UINT64_MAX;
  uint64_t end = (uint64_t)lua_tointeger(L, (int)ctx), now = sched_now();
  return end > now ? end - now : 0;
}

/* ---- addresses ---- */

bool net_lua_parse_ip(const char *s, ip_addr_t *out) {
  ip4_addr_t a;
  /* ip4addr_aton takes "1", "1.2" and hex forms too; only the dotted quad
   * is an address here (anything else goes to DNS). */
  int dots = 0;
  for (const char *p = s; *p; p++) {
    if (*p == '.')
      dots++;
    else if (*p < '0' || *p > '9')
      return false;
  }
  if (dots != 3 || !ip4addr_aton(s, &a)) return false;
  ip_addr_copy_from_ip4(*out, a);
  return true;
}

void net_lua_push_ip(lua_State *L, const ip_addr_t *a) {
  char buf[IP4ADDR_STRLEN_MAX];
  lua_pushstring(L, ip4addr_ntoa_r(ip_2_ip4(a), buf, sizeof buf));
}

static void push_ip4(lua_State *L, const ip4_addr_t *a) {
  char buf[IP4ADDR_STRLEN_MAX];
  lua_pushstring(L, ip4addr_ntoa_r(a, buf, sizeof buf));
}

/* ---- DNS ---- */

static void dns_found(const char *name, const ip_addr_t *addr, void *arg) {
  (void)name;
  dns_slot_t *s = &M.dns[(uintptr_t)arg];
  if (s->state == DNS_ABANDONED || (s->state == DNS_PENDING && sched_waitq_empty(&s->q))) {
    s->state = DNS_FREE; /* nobody will read it */
    return;
  }
  if (s->state != DNS_PENDING) return;
  if (addr) {
    s->addr = *addr;
    s->state = DNS_FOUND;
  } else {
    s->state = DNS_NOTFOUND;
  }
  sched_wake(&s->q, -1);
}

int net_dns_start(const char *name, ip_addr_t *out, int *slot, const char **err) {
  size_t len = strlen(name);
  if (net_lua_parse_ip(name, out)) return 1;
  if (strcmp(name, "localhost") == 0) {
    ip_addr_set_loopback(0, out);
    return 1;
  }
  if (len == 0 || len > DNS_MAX_NAME_LENGTH) {
    *err = "host not found";
    return -1;
  }
  net_init();
  int i = 0;
  while (i < NET_DNS_SLOTS && M.dns[i].state != DNS_FREE) i++;
  if (i == NET_DNS_SLOTS) {
    *err = "too many name lookups at once";
    return -1;
  }
  dns_slot_t *s = &M.dns[i];
  s->q.keepalive = true;
  s->state = DNS_PENDING;
  err_t e = dns_gethostbyname(name, out, dns_found, (void *)(uintptr_t)i);
  net_kick();
  if (e == ERR_OK) {
    s->state = DNS_FREE;
    return 1;
  }
  if (e == ERR_INPROGRESS) {
    *slot = i;
    return 0;
  }
  s->state = DNS_FREE;
  *err = e == ERR_ARG ? "host not found" : "network is unreachable";
  return -1;
}

sched_waitq_t *net_dns_queue(int slot) { return &M.dns[slot].q; }

int net_dns_take(int slot, ip_addr_t *out) {
  dns_slot_t *s = &M.dns[slot];
  if (s->state == DNS_PENDING) return -1;
  int r = s->state == DNS_FOUND;
  if (r) *out = s->addr;
  if (sched_waitq_empty(&s->q)) s->state = DNS_FREE;
  return r;
}

void net_dns_abandon(int slot) {
  dns_slot_t *s = &M.dns[slot];
  if (s->state == DNS_PENDING) {
    if (sched_waitq_empty(&s->q)) s->state = DNS_ABANDONED;
  } else if (sched_waitq_empty(&s->q)) {
    s->state = DNS_FREE;
  }
}

/* net.resolve(name [, timeout_ms]) -> "a.b.c.d" | nil, "host not found" | nil, "timeout"
 * Stack while waiting: name, slot, deadline? */
static int resolve_k(lua_State *L, int status, lua_KContext ctx);

static int resolve_wait(lua_State *L, int slot, lua_KContext ctx) {
  ip_addr_t a;
  int r = net_dns_take(slot, &a);
  if (r == 1) {
    net_lua_push_ip(L, &a);
    return 1;
  }
  if (r == 0) {
    luaL_pushfail(L);
    lua_pushliteral(L, "host not found");
    return 2;
  }
  uint64_t left = netwait_left(L, ctx);
  if (left == 0) {
    net_dns_abandon(slot);
    luaL_pushfail(L);
    lua_pushliteral(L, "timeout");
    return 2;
  }
  return sched_wait_on(L, net_dns_queue(slot), left, ctx, resolve_k, "net.resolve");
}

static int resolve_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  int slot = (int)lua_tointeger(L, 2);
  lua_settop(L, ctx ? 3 : 2);
  return resolve_wait(L, slot, ctx);
}

static int net_resolve(lua_State *L) {
  const char *name = luaos_checklstring(L, 1, NULL);
  lua_KContext ctx = netwait_deadline(L, 2, 10000 * 1000u);
  ip_addr_t a;
  int slot = 0;
  const char *err = NULL;
  int r = net_dns_start(name, &a, &slot, &err);
  if (r == 1) {
    net_lua_push_ip(L, &a);
    return 1;
  }
  if (r < 0) {
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
  }
  if (!sched_current(L)) {
    net_dns_abandon(slot);
    return luaL_error(L, "net.resolve: must be called from a task");
  }
  /* name, slot [, deadline] */
  lua_pushinteger(L, slot);
  if (ctx) {
    lua_insert(L, 2); /* deadline goes to 3 */
    ctx = 3;
  }
  return resolve_wait(L, slot, ctx);
}

/* ---- status and events ---- */

static void set_ip_field(lua_State *L, const char *k, const ip4_addr_t *a) {
  push_ip4(L, a);
  lua_setfield(L, -2, k);
}

static int net_status(lua_State *L) {
  struct netif *nif = net_netif();
  const net_config_t *cfg = net_config();
  lua_createtable(L, 0, 10);
  lua_pushboolean(L, net_is_up());
  lua_setfield(L, -2, "up");
  lua_pushboolean(L, nif && netif_is_link_up(nif));
  lua_setfield(L, -2, "link");
  if (nif) {
    set_ip_field(L, "ip", netif_ip4_addr(nif));
    set_ip_field(L, "netmask", netif_ip4_netmask(nif));
    set_ip_field(L, "gw", netif_ip4_gw(nif));
    const ip_addr_t *d = dns_getserver(0);
    if (!ip_addr_isany(d)) {
      net_lua_push_ip(L, d);
      lua_setfield(L, -2, "dns");
    }
    char mac[18];
    snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", nif->hwaddr[0], nif->hwaddr[1],
             nif->hwaddr[2], nif->hwaddr[3], nif->hwaddr[4], nif->hwaddr[5]);
    lua_pushstring(L, mac);
    lua_setfield(L, -2, "mac");
    if (cfg->hostname[0]) {
      lua_pushstring(L, cfg->hostname);
      lua_setfield(L, -2, "hostname");
    }
    lua_pushboolean(L, cfg->dhcp);
    lua_setfield(L, -2, "dhcp");
  }
  return 1;
}

static void deliver(lua_State *L, net_event_t ev) {
  if (ev == NET_EV_UP) sched_wake(&M.upq, -1);
  if (M.handlers == 0) return;
  luaL_checkstack(L, 6, "net event");
  lua_rawgetp(L, LUA_REGISTRYINDEX, &handlers_key);
  if (lua_getfield(L, -1, event_names[ev - 1]) == LUA_TTABLE) {
    /* A copy: a handler may add or remove handlers. */
    lua_newtable(L);
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, -3)) {
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_rawseti(L, -3, ++n);
    }
    for (int i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      lua_pushstring(L, event_names[ev - 1]);
      net_status(L);
      sched_spawn(L, 2);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
}

/* net.on(event, fn): run fn(event, status) as a task on each event. */
static int net_on(lua_State *L) {
  int ev = luaos_checkoption(L, 1, NULL, event_names);
  if (!lua_isfunction(L, 2)) /* net.on("up", handler()) is the common slip */
    luaos_argerror(L, 2, lua_pushfstring(L, "function expected, got %s%s", luaL_typename(L, 2),
                                         LUAOS_FN_HINT));
  net_init();
  lua_rawgetp(L, LUA_REGISTRYINDEX, &handlers_key);
  if (lua_getfield(L, -1, event_names[ev]) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, event_names[ev]);
  }
  lua_pushvalue(L, 2);
  if (lua_rawget(L, -2) == LUA_TNIL) {
    lua_pushvalue(L, 2);
    lua_pushboolean(L, 1);
    lua_rawset(L, -4);
    M.handlers++;
    sched_ref(1);
  }
  lua_settop(L, 2);
  return 1;
}

/* net.off(event [, fn]): remove fn, or every handler of the event. */
static int net_off(lua_State *L) {
  int ev = luaos_checkoption(L, 1, NULL, event_names);
  bool all = lua_isnoneornil(L, 2);
  if (!all) luaos_checktype(L, 2, LUA_TFUNCTION);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &handlers_key);
  if (lua_getfield(L, -1, event_names[ev]) != LUA_TTABLE) return 0;
  int removed = 0;
  if (all) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pop(L, 1);
      removed++;
    }
    lua_pushnil(L);
    lua_setfield(L, -3, event_names[ev]);
  } else {
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) != LUA_TNIL) {
      lua_pushvalue(L, 2);
      lua_pushnil(L);
      lua_rawset(L, -4);
      removed = 1;
    }
  }
  M.handlers -= removed;
  sched_ref(-removed);
  lua_pushboolean(L, removed > 0);
  return 1;
}

/* net.wait_up([timeout_ms]) -> true | nil, "timeout" */
static int wait_up_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  if (net_is_up()) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_settop(L, (int)ctx);
  uint64_t left = netwait_left(L, ctx);
  if (left == 0 || !net_netif()) {
    luaL_pushfail(L);
    lua_pushstring(L, net_netif() ? "timeout" : "no network interface (--net none)");
    return 2;
  }
  return sched_wait_on(L, &M.upq, left, ctx, wait_up_k, "net.wait_up");
}

static int net_wait_up(lua_State *L) {
  lua_KContext ctx = netwait_deadline(L, 1, UINT64_MAX);
  if (!net_is_up() && net_netif() && !sched_current(L))
    return luaL_error(L, "net.wait_up: must be called from a task");
  M.upq.keepalive = true;
  return wait_up_k(L, LUA_OK, ctx);
}

/* ---- ping: ICMP echo through one raw PCB ---- */

static uint8_t ping_recv(void *arg, struct raw_pcb *pcb, struct pbuf *p, const ip_addr_t *addr) {
  (void)arg;
  (void)pcb;
  struct icmp_echo_hdr h;
  uint16_t hlen = (uint16_t)(IPH_HL_BYTES((struct ip_hdr *)p->payload));
  if (p->tot_len < hlen + sizeof h || pbuf_copy_partial(p, &h, sizeof h, hlen) != sizeof h)
    return 0;
  if (h.type != ICMP_ER || h.id != lwip_htons(M.ping_id)) return 0;
  uint16_t seq = lwip_ntohs(h.seqno);
  for (int i = 0; i < NET_PING_SLOTS; i++) {
    ping_slot_t *s = &M.ping[i];
    if (s->busy && !s->replied && s->seq == seq && ip_addr_cmp(&s->to, addr)) {
      s->replied = true;
      s->rtt_us = sched_now() - s->sent_us;
      sched_wake(&s->q, -1);
      break;
    }
  }
  pbuf_free(p);
  return 1; /* ours: not for lwIP's other raw users */
}

static bool ping_send(ping_slot_t *s) {
  struct pbuf *p = pbuf_alloc(PBUF_IP, sizeof(struct icmp_echo_hdr) + NET_PING_DATA, PBUF_RAM);
  if (!p) return false;
  struct icmp_echo_hdr *h = p->payload;
  ICMPH_TYPE_SET(h, ICMP_ECHO);
  ICMPH_CODE_SET(h, 0);
  h->chksum = 0;
  h->id = lwip_htons(M.ping_id);
  h->seqno = lwip_htons(s->seq);
  uint8_t *d = (uint8_t *)(h + 1);
  for (int i = 0; i < NET_PING_DATA; i++) d[i] = (uint8_t)i;
  h->chksum = inet_chksum(h, p->len);
  s->sent_us = sched_now();
  err_t e = raw_sendto(M.icmp, p, &s->to);
  pbuf_free(p);
  net_kick();
  return e == ERR_OK;
}

static ping_slot_t *ping_slot(void) {
  uint64_t now = sched_now();
  for (int i = 0; i < NET_PING_SLOTS; i++) {
    ping_slot_t *s = &M.ping[i];
    /* A slot whose task vanished while waiting is free once it expires. */
    if (!s->busy || (sched_waitq_empty(&s->q) && now >= s->expires_us)) {
      memset(s, 0, sizeof *s);
      s->busy = true;
      s->q.keepalive = true;
      return s;
    }
  }
  return NULL;
}

/* Stack while pinging: host, opts(table), result, slot#, ip(string), done#, timeout_us */
enum { P_RES = 3, P_SLOT, P_IP, P_DONE, P_COUNT, P_TIMEOUT, P_RESOLVE };

static int ping_k(lua_State *L, int status, lua_KContext ctx);

static void ping_stat(lua_State *L, const char *k, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, P_RES, k);
}

static int ping_step(lua_State *L) {
  ping_slot_t *s = &M.ping[lua_tointeger(L, P_SLOT)];
  lua_Integer done = lua_tointeger(L, P_DONE), count = lua_tointeger(L, P_COUNT);
  uint64_t timeout = (uint64_t)lua_tointeger(L, P_TIMEOUT);
  for (;;) {
    if (s->seq != 0) { /* an echo is out */
      bool over = sched_now() - s->sent_us >= timeout;
      if (!s->replied && !over)
        return sched_wait_on(L, &s->q, timeout - (sched_now() - s->sent_us), 0, ping_k,
                             "net.ping");
      lua_getfield(L, P_RES, "times");
      if (s->replied) {
        lua_pushnumber(L, (double)s->rtt_us / 1000.0);
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
        lua_getfield(L, P_RES, "received");
        lua_Integer got = lua_tointeger(L, -1) + 1;
        lua_pop(L, 1);
        lua_pushinteger(L, got);
        lua_setfield(L, P_RES, "received");
      }
      lua_pop(L, 1);
      s->seq = 0;
      lua_pushinteger(L, ++done);
      lua_replace(L, P_DONE);
    }
    if (done >= count) break;
    s->seq = ++M.ping_seq ? M.ping_seq : ++M.ping_seq;
    s->replied = false;
    s->expires_us = sched_now() + timeout;
    lua_pushinteger(L, done + 1);
    lua_setfield(L, P_RES, "sent");
    if (!ping_send(s)) s->sent_us = sched_now() - timeout; /* counts as lost */
  }
  s->busy = false;
  /* min / avg / max of the replies, in ms */
  lua_getfield(L, P_RES, "times");
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  if (n > 0) {
    double mn = 1e300, mx = 0, sum = 0;
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      double v = lua_tonumber(L, -1);
      lua_pop(L, 1);
      mn = v < mn ? v : mn;
      mx = v > mx ? v : mx;
      sum += v;
    }
    ping_stat(L, "min", mn);
    ping_stat(L, "max", mx);
    ping_stat(L, "avg", sum / (double)n);
  }
  lua_pop(L, 1);
  lua_pushvalue(L, P_RES);
  return 1;
}

static int ping_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  lua_settop(L, P_TIMEOUT);
  return ping_step(L);
}

static int ping_resolved(lua_State *L, const ip_addr_t *a) {
  ping_slot_t *s = ping_slot();
  if (!s) {
    luaL_pushfail(L);
    lua_pushliteral(L, "too many pings at once");
    return 2;
  }
  s->to = *a;
  lua_pushinteger(L, s - M.ping);
  lua_replace(L, P_SLOT);
  net_lua_push_ip(L, a);
  lua_replace(L, P_IP);
  lua_pushvalue(L, P_IP);
  lua_setfield(L, P_RES, "host");
  lua_settop(L, P_TIMEOUT);
  return ping_step(L);
}

static int ping_resolve_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  int slot = (int)lua_tointeger(L, P_RESOLVE);
  lua_settop(L, P_RESOLVE);
  ip_addr_t a;
  int r = net_dns_take(slot, &a);
  if (r == 1) return ping_resolved(L, &a);
  if (r == 0) {
    luaL_pushfail(L);
    lua_pushliteral(L, "host not found");
    return 2;
  }
  return sched_wait_on(L, net_dns_queue(slot), 10000 * 1000u, 0, ping_resolve_k, "net.ping");
}

/* net.ping(host [, {count=, timeout=}]) ->
 *   {host=, sent=, received=, times={ms...}, min=, avg=, max=} | nil, err */
static int net_ping(lua_State *L) {
  static const char *const keys[] = {"count", "timeout", NULL};
  const char *host = luaos_checklstring(L, 1, NULL);
  lua_Integer count = 1;
  uint64_t timeout = 1000 * 1000u;
  if (!lua_isnoneornil(L, 2)) {
    luaos_checktype(L, 2, LUA_TTABLE);
    luaos_check_keys(L, 2, keys);
    lua_getfield(L, 2, "count");
    if (!lua_isnil(L, -1)) {
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > 1000)
        return luaos_argerror(L, 2, "count must be an integer from 1 to 1000");
      count = lua_tointeger(L, -1);
    }
    lua_getfield(L, 2, "timeout");
    if (!lua_isnil(L, -1)) timeout = luaos_check_ms(L, lua_gettop(L));
    if (timeout == 0) return luaos_argerror(L, 2, "timeout must be above 0");
  }
  if (!sched_current(L)) return luaL_error(L, "net.ping: must be called from a task");
  net_init();
  if (!M.icmp) {
    M.icmp = raw_new(IP_PROTO_ICMP);
    if (!M.icmp) return luaL_error(L, "net.ping: out of network memory");
    raw_recv(M.icmp, ping_recv, NULL);
    M.ping_id = (uint16_t)net_rand32();
  }
  lua_settop(L, 2);
  lua_createtable(L, 0, 8); /* P_RES */
  lua_newtable(L);
  lua_setfield(L, P_RES, "times");
  lua_pushinteger(L, 0);
  lua_setfield(L, P_RES, "sent");
  lua_pushinteger(L, 0);
  lua_setfield(L, P_RES, "received");
  lua_pushinteger(L, 0); /* P_SLOT */
  lua_pushnil(L);        /* P_IP */
  lua_pushinteger(L, 0); /* P_DONE */
  lua_pushinteger(L, count);
  lua_pushinteger(L, (lua_Integer)timeout);
  ip_addr_t a;
  int slot = 0;
  const char *err = NULL;
  int r = net_dns_start(host, &a, &slot, &err);
  if (r == 1) return ping_resolved(L, &a);
  if (r < 0) {
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushinteger(L, slot); /* P_RESOLVE */
  return ping_resolve_k(L, LUA_OK, 0);
}

/* ---- time: lwIP's SNTP client ---- */

/* net.sntp([server]): poll `server` (a name or address), or the NTP
 * servers DHCP announced, for the time (RFC 4330 client, every hour). */
static int net_sntp(lua_State *L) {
  static char server[DNS_MAX_NAME_LENGTH + 1]; /* lwIP keeps the pointer */
  size_t len = 0;
  const char *name = lua_isnoneornil(L, 1) ? NULL : luaos_checklstring(L, 1, &len);
  if (name && (len == 0 || len > DNS_MAX_NAME_LENGTH))
    return luaos_argerror(L, 1, "a host name or address of 1 to 255 bytes");
  net_init();
  if (sntp_enabled()) sntp_stop();
  sntp_setoperatingmode(SNTP_OPMODE_POLL);
  if (name) {
    memcpy(server, name, len + 1);
    sntp_servermode_dhcp(0);
    sntp_setservername(0, server);
  } else {
    sntp_servermode_dhcp(1);
  }
  sntp_init();
  net_kick();
  return 0;
}

/* net.time() -> seconds since 1970 (float, us resolution) | nil */
static int net_time_l(lua_State *L) {
  uint64_t us;
  if (!net_time(&us)) {
    luaL_pushfail(L);
    return 1;
  }
  lua_pushnumber(L, (lua_Number)us / 1e6);
  return 1;
}

/* ---- lwiperf: the C-level throughput reference (an iperf 2 server) ---- */

static void iperf_report(void *arg, enum lwiperf_report_type type, const ip_addr_t *local,
                         u16_t lport, const ip_addr_t *remote, u16_t rport, u32_t bytes,
                         u32_t ms, u32_t kbps) {
  (void)arg;
  (void)local;
  (void)lport;
  (void)rport;
  M.iperf_last.type = (uint8_t)type;
  M.iperf_last.bytes = bytes;
  M.iperf_last.ms = ms;
  M.iperf_last.kbps = kbps;
  if (remote) M.iperf_last.remote = *remote;
  M.iperf_reports++;
  sched_wake(&M.iperfq, -1);
}

/* net.iperf_server([port]) -> true | nil, err: lwIP's lwiperf answers an
 * `iperf -c` (iperf 2) of the host; for measuring the stack and the
 * interface without Lua in the path. */
static int net_iperf_server(lua_State *L) {
  lua_Integer port = luaL_optinteger(L, 1, LWIPERF_TCP_PORT_DEFAULT);
  if (port < 1 || port > 65535) return luaos_argerror(L, 1, "port must be 1 to 65535");
  if (M.iperf) {
    luaL_pushfail(L);
    lua_pushliteral(L, "already running");
    return 2;
  }
  net_init();
  M.iperf = lwiperf_start_tcp_server(IP_ADDR_ANY, (u16_t)port, iperf_report, NULL);
  net_kick();
  if (!M.iperf) {
    luaL_pushfail(L);
    lua_pushliteral(L, "address in use");
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* net.iperf_wait([timeout_ms]) -> {bytes=, ms=, kbps=, remote=, result=} | nil, "timeout"
 * The report of the next iperf session to end. Stack: seen#, deadline? */
static int iperf_wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  static const char *const results[] = {"done", "done", "aborted", "data error", "send error",
                                        "aborted by peer"};
  lua_settop(L, ctx ? 2 : 1);
  if ((uint32_t)lua_tointeger(L, 1) != M.iperf_reports) {
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, M.iperf_last.bytes);
    lua_setfield(L, -2, "bytes");
    lua_pushinteger(L, M.iperf_last.ms);
    lua_setfield(L, -2, "ms");
    lua_pushinteger(L, M.iperf_last.kbps);
    lua_setfield(L, -2, "kbps");
    net_lua_push_ip(L, &M.iperf_last.remote);
    lua_setfield(L, -2, "remote");
    lua_pushstring(L, results[M.iperf_last.type < 6 ? M.iperf_last.type : 2]);
    lua_setfield(L, -2, "result");
    return 1;
  }
  uint64_t left = netwait_left(L, ctx);
  if (left == 0) {
    luaL_pushfail(L);
    lua_pushliteral(L, "timeout");
    return 2;
  }
  return sched_wait_on(L, &M.iperfq, left, ctx, iperf_wait_k, "net.iperf_wait");
}

static int net_iperf_wait(lua_State *L) {
  lua_KContext ctx = netwait_deadline(L, 1, UINT64_MAX);
  lua_pushinteger(L, M.iperf_reports);
  if (ctx) {
    lua_insert(L, 1);
    ctx = 2;
  }
  sched_check_task(L, "net.iperf_wait");
  M.iperfq.keepalive = true;
  return iperf_wait_k(L, LUA_OK, ctx);
}

int luaopen_net(lua_State *L) {
  static const luaL_Reg f[] = {{"status", net_status}, {"on", net_on},
                               {"off", net_off},       {"wait_up", net_wait_up},
                               {"resolve", net_resolve}, {"ping", net_ping},
                               {"sntp", net_sntp},     {"time", net_time_l},
                               {"iperf_server", net_iperf_server},
                               {"iperf_wait", net_iperf_wait},
                               {NULL, NULL}};
  net_init();
  net_set_event_handler(deliver);
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &handlers_key);
  luaL_newlib(L, f);
  lua_pushliteral(L, "1.0");
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
