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
#include "lwip/mem.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "netif/tapif.h"

/* Frames read per wake-up before the loop gets its turn again. */
#define TAP_BATCH 64
/* A pure TCP ACK with options fits in this. */
#define ACK_MAX 128
/* Largest frame: 1500 bytes of MTU, the Ethernet header and a VLAN tag. */
#define TAP_FRAME_MAX 1518

/* Receive buffers: frames are read into blocks of our own, kept on a free
 * list when lwIP is done with them (custom pbufs), so a stream reuses the
 * same few, cache-warm blocks instead of going through malloc per frame
 * (a socket holding a window of data fragments the C heap). The blocks
 * come from lwIP's heap (counted in sys.memory().net and its cap); at most
 * TAP_RXBUF_MAX are kept, beyond that frames use plain pbufs. */
#define TAP_RXBUF_MAX 1024
typedef struct tap_rxbuf {
  struct pbuf_custom pc; /* first: lwIP hands it back as a struct pbuf */
  struct tap_rxbuf *next;
  u8_t data[TAP_FRAME_MAX];
} tap_rxbuf_t;

static struct {
  struct netif *nif;
  int fd;
  bool watching;
  char name[16];
  netif_linkoutput_fn out; /* tapif's */
  /* ACK coalescing (see tap_output): the last pure ACK of one connection,
   * held until the receive batch ends, or, when the loop sent it (a window
   * update from a receive), until the next wait has looked for input. */
  u16_t held_len;
  u8_t held[ACK_MAX];
  int poll_idx; /* the descriptor's index in the current wait, or -1 */
  tap_rxbuf_t *free_bufs;
  unsigned n_bufs; /* blocks allocated (free or in use) */
  host_poller_t poller;
} TP = {.fd = -1, .poll_idx = -1};

/* tapif's state is its own struct, whose first member is the descriptor. */
static int tapif_fd(struct netif *nif) { return *(int *)nif->state; }

static void flush_ack(void);

static void rxbuf_free(struct pbuf *p) {
  tap_rxbuf_t *b = (tap_rxbuf_t *)(void *)p;
  b->next = TP.free_bufs;
  TP.free_bufs = b;
}

static struct pbuf *rxbuf_alloc(void) {
  tap_rxbuf_t *b = TP.free_bufs;
  if (b) {
    TP.free_bufs = b->next;
  } else {
    b = TP.n_bufs < TAP_RXBUF_MAX ? mem_malloc(sizeof *b) : NULL;
    if (!b) return pbuf_alloc(PBUF_RAW, TAP_FRAME_MAX, PBUF_RAM);
    TP.n_bufs++;
  }
  b->pc.custom_free_function = rxbuf_free;
  return pbuf_alloced_custom(PBUF_RAW, TAP_FRAME_MAX, PBUF_POOL, &b->pc, b->data,
                             TAP_FRAME_MAX);
}

/* The receive path is ours, tapif's is not used: its low_level_input
 * does a blocking read() (so every frame needed a poll() first to know
 * one is there: two syscalls a frame), copies through a stack buffer and
 * exit()s on any error. Here the descriptor is non-blocking, each frame
 * is read straight into its pbuf, and EAGAIN ends the batch. tapif still
 * opens the device and sends (a TAP write never blocks). */
static void on_readable(int fd, void *ud) {
  struct netif *nif = ud;
  for (int n = 0; n < TAP_BATCH; n++) {
    struct pbuf *p = rxbuf_alloc();
    if (!p) break; /* out of memory: the frames wait in the TAP's queue */
    ssize_t len = read(fd, p->payload, TAP_FRAME_MAX);
    if (len <= 0) {
      pbuf_free(p);
      if (len < 0 && (errno == EAGAIN || errno == EINTR)) break;
      /* A TAP deleted while attached: the cable is unplugged. */
      fprintf(stderr, "luaos: --net tap:%s: the TAP device went away\n", TP.name);
      host_unwatch_fd(fd);
      TP.watching = false;
      netif_set_link_down(nif);
      break;
    }
    pbuf_realloc(p, (u16_t)len);
    LINK_STATS_INC(link.recv);
    if (nif->input(p, nif) != ERR_OK) pbuf_free(p);
  }
  flush_ack();
  net_kick();
}

/* A pure ACK the loop sent outside a receive batch (the window update of
 * a task's receive) waits for the next wait: that wait is made not to
 * block, and when it finds frames to read, their batch's own ACK of the
 * same connection (newer, with the window as it is then) replaces it.
 * A window update costs a ppoll instead of a TAP write, which runs the
 * host's sending TCP. With nothing to read it goes out at once. */
static void ack_fill(void *ud, uint32_t *timeout_ms) {
  (void)ud;
  TP.poll_idx = -1;
  if (!TP.held_len) return;
  TP.poll_idx = host_poll_add(TP.fd, POLLIN);
  if (TP.poll_idx < 0) {
    flush_ack();
    return;
  }
  *timeout_ms = 0;
}

static void ack_poll(void *ud, bool error) {
  (void)ud;
  /* Readable: the watch's callback (after the pollers) reads the batch. */
  if (TP.held_len && (error || TP.poll_idx < 0 || !(host_poll_revents(TP.poll_idx) & POLLIN)))
    flush_ack();
  TP.poll_idx = -1;
}

/* lwIP acknowledges every second segment: at a gigabit that is ~40 000
 * writes a second, and each ACK written also runs the host's sending TCP
 * in our process (the kernel handles a TAP write synchronously). Within
 * one receive batch a newer ACK of the same connection makes the one
 * before it useless (ACKs are cumulative and carry the latest window), so
 * only the last is sent, when the batch ends. Duplicate ACKs (equal ack
 * numbers: the peer's fast retransmit counts them) and anything that is
 * not a pure ACK go out at once, after the held one (order kept). */
static bool pure_ack(const u8_t *f, u16_t len) {
  if (len < 14 + 20 + 20 || f[12] != 0x08 || f[13] != 0x00) return false;
  const u8_t *ip = f + 14;
  unsigned ihl = (ip[0] & 0x0fu) * 4u;
  if ((ip[0] >> 4) != 4 || ip[9] != 6 || ihl < 20 || 14u + ihl + 20u > len) return false;
  const u8_t *tcp = ip + ihl;
  unsigned doff = (tcp[12] >> 4) * 4u, tot = ((unsigned)ip[2] << 8) | ip[3];
  return tcp[13] == 0x10 && tot == ihl + doff && 14u + tot <= len;
}

static bool same_flow(const u8_t *a, const u8_t *b) {
  unsigned ihl = (a[14] & 0x0fu) * 4u;
  if (ihl != (b[14] & 0x0fu) * 4u) return false;
  return memcmp(a + 14 + 12, b + 14 + 12, 8) == 0 /* addresses */
         && memcmp(a + 14 + ihl, b + 14 + ihl, 4) == 0; /* ports */
}

static uint32_t ack_of(const u8_t *f) {
  const u8_t *a = f + 14 + (f[14] & 0x0fu) * 4u + 8;
  return (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
}

static void flush_ack(void) {
  if (!TP.held_len) return;
  if (write(TP.fd, TP.held, TP.held_len) < 0) LINK_STATS_INC(link.err);
  TP.held_len = 0;
}

static err_t tap_output(struct netif *nif, struct pbuf *p) {
  if (p->tot_len <= ACK_MAX) {
    u8_t f[ACK_MAX];
    u16_t len = pbuf_copy_partial(p, f, p->tot_len, 0);
    if (pure_ack(f, len)) {
      if (TP.held_len && same_flow(TP.held, f) && ack_of(TP.held) == ack_of(f)) {
        flush_ack(); /* a duplicate ACK: both go out */
      } else if (TP.held_len && !same_flow(TP.held, f)) {
        flush_ack();
      }
      if (!TP.held_len || (int32_t)(ack_of(f) - ack_of(TP.held)) > 0) {
        memcpy(TP.held, f, len);
        TP.held_len = len;
        return ERR_OK;
      }
      flush_ack(); /* an older ACK than the held one (not seen from lwIP) */
    }
  }
  flush_ack();
  return TP.out(nif, p);
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
  TP.out = TP.nif->linkoutput;
  TP.nif->linkoutput = tap_output;
  fcntl(TP.fd, F_SETFD, FD_CLOEXEC); /* not inherited by io.popen's children */
  fcntl(TP.fd, F_SETFL, fcntl(TP.fd, F_GETFL) | O_NONBLOCK);
  if (!host_watch_fd(TP.fd, on_readable, TP.nif)) {
    snprintf(err, errlen, "--net tap:%s: too many watched descriptors", name);
    net_tap_stop();
    return false;
  }
  TP.watching = true;
  TP.poller = (host_poller_t){ack_fill, ack_poll, NULL};
  if (!host_add_poller(&TP.poller)) {
    snprintf(err, errlen, "--net tap:%s: too many pollers", name);
    net_tap_stop();
    return false;
  }
  return true;
}

void net_tap_stop(void) {
  host_remove_poller(&TP.poller);
  if (TP.watching) host_unwatch_fd(TP.fd);
  TP.watching = false;
  TP.held_len = 0;
  if (TP.nif) TP.nif->linkoutput = drop_output; /* the descriptor is gone */
  if (TP.fd >= 0) close(TP.fd);
  TP.fd = -1;
  TP.nif = NULL;
}
