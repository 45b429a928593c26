/* The simulator's network interface: options (--net, --ip, --gw, --dns,
 * --mac, --hostname), the time policy that goes with them, the instance
 * number that makes each simulated device's MAC distinct, and the backend
 * that carries the device's frames: libslirp (user), a TAP device
 * through lwIP's tapif, or a VDE switch (docs/networking.md). */
#ifndef SIM_NET_HOST_H
#define SIM_NET_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"

typedef enum {
  NET_HOST_DEFAULT = 0, /* not chosen: the time policy picks user or none */
  NET_HOST_NONE,
  NET_HOST_USER,
  NET_HOST_TAP,
  NET_HOST_VDE
} net_host_kind_t;

#define NET_HOST_MAX_FWD 16
#define NET_HOST_WHERE_MAX 256

/* One hostfwd=: a host port forwarded to the device (addresses in
 * network byte order; 0 for the host address: every interface; 0 for the
 * device address: its DHCP or --ip address). */
typedef struct {
  bool udp;
  uint32_t host_addr, dev_addr;
  uint16_t host_port, dev_port;
} net_host_fwd_t;

typedef struct {
  net_host_kind_t kind;
  char where[NET_HOST_WHERE_MAX]; /* TAP name, VDE switch path */
  net_host_fwd_t fwd[NET_HOST_MAX_FWD];
  int nfwd;
  bool restricted; /* user: restrict=on, no way out but the forwards */
  bool has_ip, has_gw, has_dns, has_mac;
  ip4_addr_t ip, netmask, gw, dns;
  uint8_t mac[6];
  char hostname[NET_HOSTNAME_MAX]; /* "" : the default */
} net_host_opts_t;

/* One of our options at argv[i]: returns how many arguments it took (0:
 * not ours, -1: bad value, message naming the option in err). */
int net_host_parse_option(net_host_opts_t *n, int argc, char **argv, int i, char *err,
                          size_t errlen);
/* A --net value ("user,hostfwd=tcp::8080-:80", "tap:NAME", "vde:PATH",
 * "none") into n->kind and the rest; false with a message on error. */
bool net_host_parse_net(net_host_opts_t *n, const char *spec, char *err, size_t errlen);

/* The time policy: a host netif needs real time (the outside world does
 * not run on the virtual clock). `test`: the command is luaos test.
 * Resolves NET_HOST_DEFAULT (user for run and repl, none for test and
 * with an explicit --virtual-time), turns virtual time off for a host
 * netif, and refuses a host netif with an explicit --virtual-time. */
bool net_host_policy(net_host_opts_t *n, bool test, bool *virtual_time, bool virtual_explicit,
                     char *err, size_t errlen);
bool net_host_is_host_netif(net_host_kind_t k);
const char *net_host_kind_name(net_host_kind_t k);

/* After sched_init and the board: take an instance number, attach the
 * interface. Nothing for none. False with a message on error. */
bool net_host_start(const net_host_opts_t *n, const char *board, char *err, size_t errlen);
/* Tear down what start set up (backend, descriptors, the instance lock).
 * Safe to call when nothing was started. */
void net_host_stop(void);
/* The instance number held by this process, or -1. */
int net_host_instance(void);

/* ---- backends (sim/net_slirp.c, net_tap.c, net_vde.c) ---- */
bool net_slirp_start(const net_host_opts_t *n, const net_config_t *cfg, char *err, size_t errlen);
void net_slirp_stop(void);
bool net_tap_start(const char *name, const net_config_t *cfg, char *err, size_t errlen);
void net_tap_stop(void);
bool net_vde_start(const char *path, const net_config_t *cfg, char *err, size_t errlen);
void net_vde_stop(void);

#endif
