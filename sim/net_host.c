#define _GNU_SOURCE
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS 1 /* the C library's htons &c. */
#include "net_host.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* What start set up, for stop. */
static struct {
  net_host_kind_t running;
  int lock_fd;
  int instance;
} NH = {NET_HOST_DEFAULT, -1, -1};

#define NET_HOST_INSTANCES 256

bool net_host_is_host_netif(net_host_kind_t k) {
  return k == NET_HOST_USER || k == NET_HOST_TAP || k == NET_HOST_VDE;
}

const char *net_host_kind_name(net_host_kind_t k) {
  switch (k) {
    case NET_HOST_NONE: return "none";
    case NET_HOST_USER: return "user";
    case NET_HOST_TAP: return "tap";
    case NET_HOST_VDE: return "vde";
    default: return "default";
  }
}

/* ---- parsing ---- */

/* A dotted quad, strictly (inet_pton: no "10.1" shorthands, no octal). */
static bool parse_ip4(const char *s, size_t len, ip4_addr_t *out) {
  char buf[INET_ADDRSTRLEN];
  if (len == 0 || len >= sizeof buf) return false;
  memcpy(buf, s, len);
  buf[len] = '\0';
  struct in_addr a;
  if (inet_pton(AF_INET, buf, &a) != 1) return false;
  out->addr = a.s_addr;
  return true;
}

static bool parse_port(const char *s, size_t len, uint16_t *out) {
  if (len == 0 || len > 5) return false;
  unsigned v = 0;
  for (size_t i = 0; i < len; i++) {
    if (!isdigit((unsigned char)s[i])) return false;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v == 0 || v > 65535) return false;
  *out = (uint16_t)v;
  return true;
}

/* "[addr]:port" */
static bool parse_addr_port(const char *s, size_t len, uint32_t *addr, uint16_t *port) {
  const char *colon = memchr(s, ':', len);
  if (!colon) return false;
  size_t alen = (size_t)(colon - s);
  ip4_addr_t a = {0};
  if (alen > 0 && !parse_ip4(s, alen, &a)) return false;
  *addr = a.addr;
  return parse_port(colon + 1, len - alen - 1, port);
}

/* QEMU's form: hostfwd=[tcp|udp]:[hostaddr]:hostport-[guestaddr]:guestport */
static bool parse_hostfwd(net_host_opts_t *n, const char *v, size_t len, char *err,
                          size_t errlen) {
  net_host_fwd_t f = {0};
  const char *colon = memchr(v, ':', len);
  const char *dash = memchr(v, '-', len);
  bool ok = colon && dash && dash > colon;
  if (ok) {
    size_t plen = (size_t)(colon - v);
    if (plen == 3 && strncmp(v, "udp", 3) == 0)
      f.udp = true;
    else if (!(plen == 0 || (plen == 3 && strncmp(v, "tcp", 3) == 0)))
      ok = false;
  }
  ok = ok && parse_addr_port(colon + 1, (size_t)(dash - colon - 1), &f.host_addr, &f.host_port) &&
       parse_addr_port(dash + 1, len - (size_t)(dash + 1 - v), &f.dev_addr, &f.dev_port);
  if (!ok) {
    snprintf(err, errlen,
             "--net user: bad hostfwd '%.*s' (hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[DEVADDR]:"
             "DEVPORT, e.g. hostfwd=tcp::8080-:80; ports 1..65535)",
             (int)len, v);
    return false;
  }
  if (n->nfwd >= NET_HOST_MAX_FWD) {
    snprintf(err, errlen, "--net user: at most %d hostfwd= forwards", NET_HOST_MAX_FWD);
    return false;
  }
  for (int i = 0; i < n->nfwd; i++)
    if (n->fwd[i].udp == f.udp && n->fwd[i].host_port == f.host_port &&
        (n->fwd[i].host_addr == f.host_addr || !n->fwd[i].host_addr || !f.host_addr)) {
      snprintf(err, errlen, "--net user: host %s port %u is forwarded twice", f.udp ? "UDP" : "TCP",
               f.host_port);
      return false;
    }
  n->fwd[n->nfwd++] = f;
  return true;
}

bool net_host_parse_net(net_host_opts_t *n, const char *spec, char *err, size_t errlen) {
  n->nfwd = 0;
  n->restricted = false;
  n->where[0] = '\0';
  if (strcmp(spec, "none") == 0) {
    n->kind = NET_HOST_NONE;
    return true;
  }
  if (strncmp(spec, "user", 4) == 0 && (spec[4] == '\0' || spec[4] == ',')) {
    n->kind = NET_HOST_USER;
    const char *p = spec + 4;
    while (*p == ',') {
      p++;
      size_t len = strcspn(p, ",");
      if (len > 8 && strncmp(p, "hostfwd=", 8) == 0) {
        if (!parse_hostfwd(n, p + 8, len - 8, err, errlen)) return false;
      } else if (len == 11 && strncmp(p, "restrict=on", 11) == 0) {
        n->restricted = true;
      } else if (len == 12 && strncmp(p, "restrict=off", 12) == 0) {
        n->restricted = false;
      } else {
        snprintf(err, errlen,
                 "--net user: unknown option '%.*s' (valid: hostfwd=..., restrict=on|off)",
                 (int)len, p);
        return false;
      }
      p += len;
    }
    return true;
  }
  if (strncmp(spec, "tap:", 4) == 0) {
    const char *name = spec + 4;
    size_t len = strlen(name);
    bool ok = len > 0 && len < 16; /* IFNAMSIZ */
    for (size_t i = 0; ok && i < len; i++)
      ok = isgraph((unsigned char)name[i]) && name[i] != '/' && name[i] != ':';
    if (!ok) {
      snprintf(err, errlen, "--net tap: needs a TAP device name of 1..15 characters (tap:NAME)");
      return false;
    }
    n->kind = NET_HOST_TAP;
    snprintf(n->where, sizeof n->where, "%s", name);
    return true;
  }
  if (strncmp(spec, "vde:", 4) == 0) {
    const char *path = spec + 4;
    if (!*path || strlen(path) >= sizeof n->where) {
      snprintf(err, errlen, "--net vde: needs the switch's socket path (vde:PATH)");
      return false;
    }
    n->kind = NET_HOST_VDE;
    snprintf(n->where, sizeof n->where, "%s", path);
    return true;
  }
  snprintf(err, errlen,
           "--net needs user[,hostfwd=...], tap:NAME, vde:PATH or none; got '%s'", spec);
  return false;
}

static bool valid_hostname(const char *s) {
  size_t len = strlen(s);
  if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-') return false;
  for (size_t i = 0; i < len; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '-') return false;
  return true;
}

static bool parse_cidr(const char *s, ip4_addr_t *ip, ip4_addr_t *mask) {
  const char *slash = strchr(s, '/');
  if (!slash || !parse_ip4(s, (size_t)(slash - s), ip)) return false;
  const char *p = slash + 1;
  if (!isdigit((unsigned char)p[0]) || (p[1] && (!isdigit((unsigned char)p[1]) || p[2])))
    return false;
  int prefix = atoi(p);
  if (prefix < 1 || prefix > 32) return false;
  uint32_t m = prefix == 32 ? 0xFFFFFFFFu : ~(0xFFFFFFFFu >> prefix);
  mask->addr = htonl(m);
  uint32_t h = ntohl(ip->addr);
  /* An interface's own address: not 0.0.0.0, multicast or broadcast. */
  return h != 0 && (h >> 28) != 0xE && h != 0xFFFFFFFFu;
}

int net_host_parse_option(net_host_opts_t *n, int argc, char **argv, int i, char *err,
                          size_t errlen) {
  static const char *const opts[] = {"--net", "--ip", "--gw", "--dns", "--mac", "--hostname",
                                     NULL};
  const char *a = argv[i];
  int k = 0;
  while (opts[k] && strcmp(a, opts[k]) != 0) k++;
  if (!opts[k]) return 0;
  static const char *const what[] = {
      "user[,hostfwd=...], tap:NAME, vde:PATH or none",
      "an address with a prefix, e.g. 192.0.2.10/24",
      "an IPv4 address", "an IPv4 address", "a MAC address such as 02:4c:00:00:00:01",
      "a host name (letters, digits, '-', at most 63)"};
  if (i + 1 >= argc) {
    snprintf(err, errlen, "%s needs %s", a, what[k]);
    return -1;
  }
  const char *v = argv[i + 1];
  bool ok = true;
  switch (k) {
    case 0: return net_host_parse_net(n, v, err, errlen) ? 2 : -1;
    case 1: ok = n->has_ip = parse_cidr(v, &n->ip, &n->netmask); break;
    case 2: ok = n->has_gw = parse_ip4(v, strlen(v), &n->gw) && n->gw.addr != 0; break;
    case 3: ok = n->has_dns = parse_ip4(v, strlen(v), &n->dns) && n->dns.addr != 0; break;
    case 4: ok = n->has_mac = net_parse_mac(v, n->mac); break;
    case 5:
      ok = valid_hostname(v);
      if (ok) snprintf(n->hostname, sizeof n->hostname, "%s", v);
      break;
  }
  if (!ok) {
    snprintf(err, errlen, "%s needs %s; got '%s'%s", a, what[k], v,
             k == 4 ? " (a unicast address: the first byte even)" : "");
    return -1;
  }
  return 2;
}

bool net_host_policy(net_host_opts_t *n, bool test, bool *virtual_time, bool virtual_explicit,
                     char *err, size_t errlen) {
  if (n->kind == NET_HOST_DEFAULT)
    n->kind = test || (virtual_explicit && *virtual_time) ? NET_HOST_NONE : NET_HOST_USER;
  if (net_host_is_host_netif(n->kind)) {
    if (virtual_explicit && *virtual_time) {
      snprintf(err, errlen,
               "--net %s needs real time: the outside world does not run on the virtual "
               "clock (drop --virtual-time, or use --net none)",
               net_host_kind_name(n->kind));
      return false;
    }
    *virtual_time = false;
  } else if (n->has_ip || n->has_gw || n->has_dns || n->has_mac || n->hostname[0]) {
    const char *o = n->has_ip ? "--ip" : n->has_gw ? "--gw" : n->has_dns ? "--dns"
                                     : n->has_mac ? "--mac" : "--hostname";
    snprintf(err, errlen, "%s needs a network interface, and this run has none (--net none%s)",
             o, test ? ", the default of luaos test: add --net user, tap:NAME or vde:PATH" : "");
    return false;
  }
  if (n->kind == NET_HOST_USER && n->has_ip) {
    /* slirp's network is fixed (sim/net_slirp.c); its .2 and .3 are slirp */
    uint32_t h = ntohl(n->ip.addr);
    if ((h & 0xFFFFFF00u) != 0x0A000200u || (h & 0xFF) == 2 || (h & 0xFF) == 3 ||
        (h & 0xFF) == 0 || (h & 0xFF) == 255) {
      snprintf(err, errlen,
               "--ip: --net user puts the device on 10.0.2.0/24 (10.0.2.2 is the host, "
               "10.0.2.3 the DNS): pick 10.0.2.4 .. 10.0.2.254");
      return false;
    }
  }
  if ((n->has_gw || n->has_dns) && !n->has_ip) {
    snprintf(err, errlen,
             "%s needs --ip (without --ip the address, gateway and DNS come from DHCP)",
             n->has_gw ? "--gw" : "--dns");
    return false;
  }
  if (n->has_gw && n->netmask.addr != 0xFFFFFFFFu &&
      (n->gw.addr & n->netmask.addr) != (n->ip.addr & n->netmask.addr)) {
    char gw[INET_ADDRSTRLEN], ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &n->gw.addr, gw, sizeof gw);
    inet_ntop(AF_INET, &n->ip.addr, ip, sizeof ip);
    snprintf(err, errlen, "--gw %s is not on the network of --ip %s", gw, ip);
    return false;
  }
  return true;
}

/* ---- the instance number ---- */

/* The folder of the instance locks: $XDG_RUNTIME_DIR/luaos, else
 * /tmp/luaos-UID; ours alone (/tmp is shared: no one else's folder or a
 * symlink planted there). */
static bool lock_dir(char *dir, size_t len, char *err, size_t errlen) {
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  struct stat st;
  if (xdg && *xdg && stat(xdg, &st) == 0 && S_ISDIR(st.st_mode))
    snprintf(dir, len, "%s/luaos", xdg);
  else
    snprintf(dir, len, "/tmp/luaos-%u", (unsigned)getuid());
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "cannot create %s for the instance number: %s", dir, strerror(errno));
    return false;
  }
  if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid()) {
    snprintf(err, errlen, "%s (for the instance number) is not a folder of this user", dir);
    return false;
  }
  return true;
}

/* The first free instance 0..255, held by a flock on its file for the
 * process's life (the kernel drops it when the process ends, however). */
static int take_instance(char *err, size_t errlen) {
  char dir[PATH_MAX - 32];
  if (!lock_dir(dir, sizeof dir, err, errlen)) return -1;
  for (int i = 0; i < NET_HOST_INSTANCES; i++) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/instance.%d", dir, i);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
      return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      NH.lock_fd = fd;
      return i;
    }
    close(fd);
  }
  snprintf(err, errlen, "all %d instance numbers are in use (%s/instance.*)", NET_HOST_INSTANCES,
           dir);
  return -1;
}

int net_host_instance(void) { return NH.instance; }

/* ---- start / stop ---- */

bool net_host_start(const net_host_opts_t *n, const char *board, char *err, size_t errlen) {
  if (!net_host_is_host_netif(n->kind)) return true;
  if (NH.instance < 0 && (NH.instance = take_instance(err, errlen)) < 0) {
    /* Not worth failing the run over (a read-only /tmp): a number from the
     * process id, which may then repeat on this machine. */
    NH.instance = (int)(getpid() % NET_HOST_INSTANCES);
    fprintf(stderr, "luaos: %s; instance number %d (MAC, host name) not reserved\n", err,
            NH.instance);
  }
  net_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.dhcp = !n->has_ip;
  if (n->has_ip) {
    cfg.ip = n->ip;
    cfg.netmask = n->netmask;
    if (n->has_gw) cfg.gw = n->gw;
  }
  if (n->has_dns) cfg.dns = n->dns;
  if (n->has_mac)
    memcpy(cfg.mac, n->mac, 6);
  else
    net_default_mac(cfg.mac, board && *board ? board : "luaos", (unsigned)NH.instance);
  if (n->hostname[0])
    snprintf(cfg.hostname, sizeof cfg.hostname, "%s", n->hostname);
  else
    snprintf(cfg.hostname, sizeof cfg.hostname, "luaos-%d", NH.instance);
  bool ok = false;
  switch (n->kind) {
    case NET_HOST_USER: ok = net_slirp_start(n, &cfg, err, errlen); break;
    case NET_HOST_TAP: ok = net_tap_start(n->where, &cfg, err, errlen); break;
    case NET_HOST_VDE: ok = net_vde_start(n->where, &cfg, err, errlen); break;
    default: break;
  }
  if (ok) NH.running = n->kind;
  return ok;
}

void net_host_stop(void) {
  switch (NH.running) {
    case NET_HOST_USER: net_slirp_stop(); break;
    case NET_HOST_TAP: net_tap_stop(); break;
    case NET_HOST_VDE: net_vde_stop(); break;
    default: break;
  }
  NH.running = NET_HOST_DEFAULT;
  if (NH.lock_fd >= 0) close(NH.lock_fd);
  NH.lock_fd = -1;
  NH.instance = -1;
}
