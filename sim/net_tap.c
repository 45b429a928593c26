/* --net tap:NAME: a TAP device through lwIP's own unix-port driver,
 * tapif.c (compiled from the Debian source package). The device is made
 * beforehand and owned by the user (tools/net-tap up NAME), so tapif is
 * told to leave its configuration alone (PRECONFIGURED_TAPIF) and the
 * simulator needs no root.
 *
 * tapif exit()s when it cannot open the device: everything it needs is
 * checked here first, so the user gets a message instead. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"
#include "net_host.h"
#include "netif/tapif.h"

/* Frames read per wake-up before the loop gets its turn again. */
#define TAP_BATCH 64

static struct {
  struct netif *nif;
  int fd;
  bool watching;
  char name[16];
} TP = {NULL, -1, false, ""};

/* tapif's state is its own struct, whose first member is the descriptor. */
static int tapif_fd(struct netif *nif) { return *(int *)nif->state; }

static short revents(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

/* tapif reads with a blocking read() and exits when it fails: call it
 * only for a descriptor that poll says is readable. A TAP deleted while
 * attached polls as an error: the cable is unplugged. */
static void on_readable(int fd, void *ud) {
  struct netif *nif = ud;
  for (int n = 0; n < TAP_BATCH; n++) {
    short re = revents(fd);
    if (re & POLLIN) {
      tapif_poll(nif);
      continue;
    }
    if (re & (POLLERR | POLLHUP | POLLNVAL)) {
      fprintf(stderr, "luaos: --net tap:%s: the TAP device went away\n", TP.name);
      host_unwatch_fd(fd);
      TP.watching = false;
      netif_set_link_down(nif);
    }
    break;
  }
  net_kick();
}

static err_t drop_output(struct netif *nif, struct pbuf *p) {
  (void)nif;
  (void)p;
  return ERR_OK;
}

/* Can we attach to NAME? The checks tapif would die on, with reasons. */
static bool check_tap(const char *name, char *err, size_t errlen) {
  char path[64];
  struct stat st;
  snprintf(path, sizeof path, "/sys/class/net/%s", name);
  if (stat(path, &st) != 0) {
    snprintf(err, errlen,
             "--net tap:%s: no such network device (create it with 'tools/net-tap up %s')", name,
             name);
    return false;
  }
  snprintf(path, sizeof path, "/sys/class/net/%s/tun_flags", name);
  if (stat(path, &st) != 0) {
    snprintf(err, errlen, "--net tap:%s: %s is not a TAP device", name, name);
    return false;
  }
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "--net tap:%s: cannot open /dev/net/tun: %s%s", name, strerror(errno),
             errno == ENOENT ? " (load the tun module: modprobe tun)" : "");
    return false;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  int rc = ioctl(fd, TUNSETIFF, &ifr);
  int e = errno;
  close(fd);
  if (rc < 0) {
    snprintf(err, errlen, "--net tap:%s: cannot attach: %s%s", name, strerror(e),
             e == EPERM  ? " (the device belongs to another user: tools/net-tap up NAME --user U)"
             : e == EBUSY ? " (another process uses it)"
             : e == EINVAL ? " (a TUN device, not a TAP one?)"
                           : "");
    return false;
  }
  return true;
}

bool net_tap_start(const char *name, const net_config_t *cfg, char *err, size_t errlen) {
  if (!check_tap(name, err, errlen)) return false;
  snprintf(TP.name, sizeof TP.name, "%s", name);
  setenv("PRECONFIGURED_TAPIF", name, 1);
  TP.nif = net_attach(tapif_init, NULL, cfg, err, errlen);
  if (!TP.nif) return false;
  TP.fd = tapif_fd(TP.nif);
  fcntl(TP.fd, F_SETFD, FD_CLOEXEC); /* not inherited by io.popen's children */
  if (!host_watch_fd(TP.fd, on_readable, TP.nif)) {
    snprintf(err, errlen, "--net tap:%s: too many watched descriptors", name);
    net_tap_stop();
    return false;
  }
  TP.watching = true;
  return true;
}

void net_tap_stop(void) {
  if (TP.watching) host_unwatch_fd(TP.fd);
  TP.watching = false;
  if (TP.nif) TP.nif->linkoutput = drop_output; /* the descriptor is gone */
  if (TP.fd >= 0) close(TP.fd);
  TP.fd = -1;
  TP.nif = NULL;
}
