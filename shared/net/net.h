/* The network core: lwIP (NO_SYS) driven by the event loop, one Ethernet
 * interface per device plus loopback. Ports bring the interface: the
 * simulator's slirp, TAP or VDE backends (sim/net_*.c), a board's Ethernet
 * driver (target/<board>/eth/). They call net_attach() with lwIP's usual
 * netif init function and feed received frames with netif->input() from
 * loop context (an fd callback, an event ring's handler), then net_kick().
 *
 * Everything here runs in the loop: lwIP is never entered from an
 * interrupt or another thread. */
#ifndef NET_H
#define NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lua.h"
#include "lwip/ip4_addr.h"
#include "lwip/netif.h"

#define NET_HOSTNAME_MAX 64

typedef struct {
  bool dhcp;                    /* false: ip/netmask/gw below */
  ip4_addr_t ip, netmask, gw;   /* static address (when !dhcp) */
  ip4_addr_t dns;               /* 0.0.0.0: from DHCP (or none) */
  uint8_t mac[6];
  char hostname[NET_HOSTNAME_MAX];
} net_config_t;

/* Start lwIP (once; after sched_init). Loopback (127.0.0.1) works from here
 * on, also without any interface. */
void net_init(void);
bool net_started(void);

/* Add the device's Ethernet interface: lwIP's netif_add with `init` and
 * `state`, the MAC and hostname from `cfg`, then DHCP or the static
 * address. NULL (and a message in err) on failure. */
struct netif *net_attach(netif_init_fn init, void *state, const net_config_t *cfg, char *err,
                         size_t errlen);
/* For a port's init function: an Ethernet interface named `name` (two
 * letters) whose frames leave through `out`, MTU 1500, link up (a virtual
 * cable; a real one reports its link itself afterwards). */
void net_eth_setup(struct netif *nif, const char *name, netif_linkoutput_fn out);

/* The attached interface, or NULL (--net none). */
struct netif *net_netif(void);
const net_config_t *net_config(void);

/* Something outside lwIP happened (a frame came in, a socket call was
 * made): run lwIP's due timeouts and loopback queue soon, and re-arm the
 * loop's timer for lwIP's next timeout. Cheap; call it freely. */
void net_kick(void);

/* Ethernet frames through the attached interface since it was attached
 * (the simulator window's network pane; a board's status page). */
typedef struct {
  uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes;
} net_counters_t;
void net_counters(net_counters_t *c);

/* True when the interface is up, its link is up and it has an address. */
bool net_is_up(void);

/* A stable, locally administered MAC for (name, instance). */
void net_default_mac(uint8_t mac[6], const char *name, unsigned instance);

/* Text helpers for ports' option parsing. */
bool net_parse_mac(const char *s, uint8_t mac[6]);

/* Unix time in microseconds from SNTP; false until it has answered. */
bool net_time(uint64_t *unix_us);

/* Bytes of lwIP's heap and pools in use (sys.memory().net). */
size_t net_mem_used(void);

/* The `net` module's own events, delivered by the core (shared/net/lua_net.c). */
typedef enum { NET_EV_UP = 1, NET_EV_DOWN, NET_EV_ADDRESS } net_event_t;
typedef void (*net_event_fn)(lua_State *L, net_event_t ev);
void net_set_event_handler(net_event_fn fn);

#endif
