/* --net vde:PATH: a port on a VDE switch through libvdeplug, so several
 * simulated devices share one rootless virtual Ethernet segment (a
 * `vde_switch -s PATH`); `slirpvde` or a TAP on the same switch is the
 * segment's way out to the host. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvdeplug.h>

#include "host.h"
#include "lwip/etharp.h"
#include "lwip/pbuf.h"
#include "net_host.h"

#define VDE_BATCH 64
#define VDE_FRAME_MAX 1518

static struct {
  VDECONN *conn;
  struct netif *nif;
  int datafd, ctlfd;
  char path[NET_HOST_WHERE_MAX];
} VD = {NULL, NULL, -1, -1, ""};

static bool readable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void on_data(int fd, void *ud) {
  (void)ud;
  uint8_t buf[VDE_FRAME_MAX];
  int n = 0;
  do {
    ssize_t len = vde_recv(VD.conn, buf, sizeof buf, 0);
    /* 1 byte: the plug's keep-alive, not a frame */
    if (len < 14) break;
    struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
    if (!p) break; /* out of buffers: the frame is lost, as on a wire */
    pbuf_take(p, buf, (u16_t)len);
    if (VD.nif->input(p, VD.nif) != ERR_OK) pbuf_free(p);
  } while (++n < VDE_BATCH && readable(fd));
  net_kick();
}

/* The control connection closes when the switch goes away: the cable is
 * unplugged. */
static void on_ctl(int fd, void *ud) {
  (void)ud;
  char c[64];
  ssize_t r = read(fd, c, sizeof c);
  if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR))) return;
  fprintf(stderr, "luaos: --net vde:%s: the switch went away\n", VD.path);
  host_unwatch_fd(VD.ctlfd);
  host_unwatch_fd(VD.datafd);
  VD.ctlfd = -1;
  netif_set_link_down(VD.nif);
  net_kick();
}

static err_t linkoutput(struct netif *nif, struct pbuf *p) {
  (void)nif;
  uint8_t buf[VDE_FRAME_MAX];
  if (!VD.conn) return ERR_OK; /* closing: dropped */
  if (p->tot_len > sizeof buf) return ERR_IF;
  u16_t len = pbuf_copy_partial(p, buf, p->tot_len, 0);
  /* A full switch queue loses the frame, as a busy segment would. */
  vde_send(VD.conn, buf, len, 0);
  return ERR_OK;
}

static err_t vde_netif_init(struct netif *nif) {
  net_eth_setup(nif, "vd", linkoutput);
  return ERR_OK;
}

bool net_vde_start(const char *path, const net_config_t *cfg, char *err, size_t errlen) {
  snprintf(VD.path, sizeof VD.path, "%s", path);
  /* A plain path is a vde_switch's folder (vde_switch -s PATH); say so
   * rather than let the plug library guess. */
  struct stat st;
  if (!strstr(path, "://") && stat(path, &st) != 0) {
    snprintf(err, errlen, "--net vde:%s: no switch there (start one: vde_switch -s %s -d)", path,
             path);
    return false;
  }
  struct vde_open_args args = {.port = 0, .group = NULL, .mode = 0700};
  char descr[] = "luaos";
  VD.conn = vde_open(VD.path, descr, &args);
  if (!VD.conn) {
    snprintf(err, errlen, "--net vde:%s: cannot connect to the switch: %s", path,
             strerror(errno));
    return false;
  }
  VD.datafd = vde_datafd(VD.conn);
  VD.ctlfd = vde_ctlfd(VD.conn);
  fcntl(VD.datafd, F_SETFD, FD_CLOEXEC);
  if (VD.ctlfd >= 0) fcntl(VD.ctlfd, F_SETFD, FD_CLOEXEC);
  VD.nif = net_attach(vde_netif_init, NULL, cfg, err, errlen);
  if (!VD.nif) {
    net_vde_stop();
    return false;
  }
  if (!host_watch_fd(VD.datafd, on_data, NULL) ||
      (VD.ctlfd >= 0 && !host_watch_fd(VD.ctlfd, on_ctl, NULL))) {
    snprintf(err, errlen, "--net vde:%s: too many watched descriptors", path);
    net_vde_stop();
    return false;
  }
  return true;
}

void net_vde_stop(void) {
  if (VD.datafd >= 0) host_unwatch_fd(VD.datafd);
  if (VD.ctlfd >= 0) host_unwatch_fd(VD.ctlfd);
  VD.datafd = VD.ctlfd = -1;
  if (VD.conn) vde_close(VD.conn);
  VD.conn = NULL;
}
