/* Ethernet frames are outside data: whatever arrives on the wire goes
 * through lwIP's input path (ARP, IPv4 and its reassembly, ICMP, IGMP,
 * UDP, TCP, DHCP's and DNS's and mDNS's parsers) and must never crash,
 * hang or leak. The device has a static address, a TCP server on port 80
 * that reads and echoes, a UDP echo on port 5000 and the mDNS responder;
 * its own frames are dropped (counted).
 *
 * Input: records of [u8 dt][u16 len, little endian][len bytes]: before
 * each frame the virtual clock moves on dt * 10 ms, so lwIP's timers
 * (retransmission, reassembly, ARP ages) run between frames. The fuzz
 * build turns lwIP's checksum checks off (shared/net/lwipopts.h) so that
 * mutated frames get past them, and allocates from libc, so that
 * LeakSanitizer sees every pbuf; frames start 2 bytes into their pbuf
 * (ETH_PAD_SIZE), so the links reassembly keeps inside IP headers are
 * aligned pointers LeakSanitizer can follow. State (connections, ARP, reassembly)
 * carries over between inputs, as on a real wire; memory stays bounded
 * because the server aborts connections beyond FUZZ_CONNS. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lwip/etharp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"
#include "net.h"
#include "rt.h"
#include "sched.h"

#define FUZZ_CONNS 32

static struct {
  lua_State *L;
  struct netif *nif;
  struct tcp_pcb *conns[FUZZ_CONNS];
  unsigned long sent;
} F;

static err_t fuzz_linkoutput(struct netif *nif, struct pbuf *p) {
  (void)nif;
  (void)p;
  F.sent++;
  return ERR_OK;
}

static err_t fuzz_netif_init(struct netif *nif) {
  net_eth_setup(nif, "fz", fuzz_linkoutput);
  return ERR_OK;
}

static void forget(struct tcp_pcb *pcb) {
  for (int i = 0; i < FUZZ_CONNS; i++)
    if (F.conns[i] == pcb) F.conns[i] = NULL;
}

static void on_err(void *arg, err_t err) {
  (void)err;
  forget(arg); /* lwIP has freed it */
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
  (void)arg;
  (void)err;
  if (!p) { /* the peer closed */
    forget(pcb);
    tcp_arg(pcb, NULL);
    tcp_recv(pcb, NULL);
    tcp_err(pcb, NULL);
    if (tcp_close(pcb) != ERR_OK) {
      tcp_abort(pcb);
      return ERR_ABRT;
    }
    return ERR_OK;
  }
  /* Echo what fits, acknowledge everything. */
  if (tcp_sndbuf(pcb) >= p->tot_len && p->len == p->tot_len)
    tcp_write(pcb, p->payload, p->len, TCP_WRITE_FLAG_COPY);
  tcp_recved(pcb, p->tot_len);
  pbuf_free(p);
  return ERR_OK;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err) {
  (void)arg;
  if (err != ERR_OK || !pcb) return ERR_VAL;
  for (int i = 0; i < FUZZ_CONNS; i++)
    if (!F.conns[i]) {
      F.conns[i] = pcb;
      tcp_arg(pcb, pcb);
      tcp_recv(pcb, on_recv);
      tcp_err(pcb, on_err);
      return ERR_OK;
    }
  tcp_abort(pcb);
  return ERR_ABRT;
}

static void on_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                   u16_t port) {
  (void)arg;
  udp_sendto(pcb, p, addr, port);
  pbuf_free(p);
}

static void setup(void) {
  F.L = rt_open(0);
  if (!F.L) abort();
  sched_init(F.L, true);
  sched_ref(1); /* the loop advances virtual time even when idle */
  net_init();
  net_config_t cfg = {0};
  IP4_ADDR(&cfg.ip, 192, 0, 2, 2);
  IP4_ADDR(&cfg.netmask, 255, 255, 255, 0);
  IP4_ADDR(&cfg.gw, 192, 0, 2, 1);
  IP4_ADDR(&cfg.dns, 192, 0, 2, 1);
  static const uint8_t mac[6] = {0x02, 0x4c, 0, 0, 0, 2};
  memcpy(cfg.mac, mac, 6);
  strcpy(cfg.hostname, "fuzz");
  char err[128];
  F.nif = net_attach(fuzz_netif_init, NULL, &cfg, err, sizeof err);
  if (!F.nif) abort();
  struct tcp_pcb *l = tcp_new();
  if (!l || tcp_bind(l, IP_ANY_TYPE, 80) != ERR_OK) abort();
  l = tcp_listen_with_backlog(l, 4);
  if (!l) abort();
  tcp_accept(l, on_accept);
  struct udp_pcb *u = udp_new();
  if (!u || udp_bind(u, IP_ANY_TYPE, 5000) != ERR_OK) abort();
  udp_recv(u, on_udp, NULL);
  /* A peer the device talks to first: its ARP entry and a connection. */
  sched_run(F.L, sched_now() + 10000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!F.L) setup();
  size_t i = 0;
  while (i + 3 <= size) {
    unsigned dt = data[i];
    size_t len = (size_t)data[i + 1] | (size_t)data[i + 2] << 8;
    i += 3;
    if (len > size - i) len = size - i;
    if (len > 1518) len = 1518;
    if (dt) sched_run(F.L, sched_now() + (uint64_t)dt * 10000u);
    struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)(len + ETH_PAD_SIZE), PBUF_POOL);
    if (p) {
      pbuf_take_at(p, data + i, (u16_t)len, ETH_PAD_SIZE);
      if (F.nif->input(p, F.nif) != ERR_OK) pbuf_free(p);
      net_kick();
    }
    i += len;
  }
  /* Let what the frames started run (replies, timers, loopback). */
  sched_run(F.L, sched_now() + 1000);
  return 0;
}
