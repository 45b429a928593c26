/* LAN9118 driver: chip bring-up, FIFOs, PHY and the lwIP netif glue.
 *
 * Interrupts: the handler masks (INT_EN) the sources that fired, clears
 * them, ORs them into `pending` and posts one event when `pending` was
 * empty: at most one event is ever queued, so the ring never overflows
 * and no source is lost. The loop side takes `pending`, drains the RX
 * status/data FIFOs into pool pbufs (netif->input, then net_kick), reads
 * the PHY on a PHY interrupt (netif_set_link_up/down), and unmasks.
 * A frame that arrives after the drain sets RSFL again, so unmasking
 * raises the interrupt at once: nothing waits for the next frame.
 *
 * Frames are moved by the CPU, one 32-bit FIFO word at a time (the chip
 * has no DMA of its own). ETH_PAD_SIZE is 2 on boards (lwipopts.h), so a
 * received frame is stored 2 bytes into its pbuf and the IP header lands
 * word-aligned; on TX the pad is skipped with the command's start offset. */
#include "lan9118.h"

#include <stdio.h>
#include <string.h>

#include "board.h"
#include "evring.h"
#include "lwip/etharp.h"
#include "lwip/igmp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "net.h"
#include "regs.h"
#include "sched.h"

#define R(off) MPS2_REG(LAN9118_BASE + (off))

#define ETH_EVENT 0x45       /* evring type of our one event ('E') */
#define ETH_FRAME_MAX 1514u  /* without FCS and VLAN tag (lwIP drops VLAN frames) */
/* Bounds on busy waits, in FPGA counter ticks (25 MHz): a CSR access
 * takes < 1 us, an MII frame ~30 us, the reset (READY) up to tens of ms
 * on a real chip. A wedged chip costs at most these, never a hang. */
#define ETH_TICKS_PER_MS 25000u
#define ETH_CSR_TIMEOUT (1u * ETH_TICKS_PER_MS)
#define ETH_MII_TIMEOUT (2u * ETH_TICKS_PER_MS)
#define ETH_RESET_TIMEOUT (200u * ETH_TICKS_PER_MS)
#define ETH_TX_TIMEOUT (5u * ETH_TICKS_PER_MS) /* a full TX FIFO drains in 3.7 ms at 10 Mbit/s */
#define ETH_INT_SOURCES (LAN9118_INT_RSFL | LAN9118_INT_RXE | LAN9118_INT_TXE | LAN9118_INT_PHY)

/* A received frame fits one pool pbuf: the RX path relies on it. */
_Static_assert(PBUF_POOL_BUFSIZE >= ETH_FRAME_MAX + ETH_PAD_SIZE, "pool pbufs too small");

static struct {
  evring_t ring;
  volatile uint32_t pending; /* INT_STS bits the loop has not handled */
  struct netif *nif;
  uint8_t mac[6];
  bool link;
  uint16_t tag;            /* TX packet tag: a sequence number */
  uint8_t hash_refs[64];   /* multicast groups per hash bit */
  uint32_t hash[2];        /* MAC_HASHL, MAC_HASHH */
  lan9118_stats_t st;
} E;

/* ---- register access ---- */

static bool spin_while(uint32_t off, uint32_t mask, uint32_t value, uint32_t ticks) {
  uint32_t t0 = mps2_counter();
  do {
    if ((R(off) & mask) != value) return true;
  } while (mps2_counter() - t0 < ticks);
  return false;
}

/* MAC CSRs sit behind a command/data pair; BUSY clears when done. */
static uint32_t mac_read(uint32_t reg) {
  R(LAN9118_MAC_CSR_CMD) = LAN9118_CSR_BUSY | LAN9118_CSR_READ | reg;
  (void)R(LAN9118_BYTE_TEST); /* the datasheet's write-to-read delay */
  spin_while(LAN9118_MAC_CSR_CMD, LAN9118_CSR_BUSY, LAN9118_CSR_BUSY, ETH_CSR_TIMEOUT);
  return R(LAN9118_MAC_CSR_DATA);
}

static void mac_write(uint32_t reg, uint32_t v) {
  R(LAN9118_MAC_CSR_DATA) = v;
  R(LAN9118_MAC_CSR_CMD) = LAN9118_CSR_BUSY | reg;
  (void)R(LAN9118_BYTE_TEST);
  spin_while(LAN9118_MAC_CSR_CMD, LAN9118_CSR_BUSY, LAN9118_CSR_BUSY, ETH_CSR_TIMEOUT);
}

/* PHY registers: MII management frames through MII_ACC/MII_DATA. */
static bool mii_idle(void) {
  uint32_t t0 = mps2_counter();
  do {
    if (!(mac_read(LAN9118_MAC_MII_ACC) & LAN9118_MII_BUSY)) return true;
  } while (mps2_counter() - t0 < ETH_MII_TIMEOUT);
  return false;
}

static uint32_t mii_acc(uint32_t reg) {
  return ((uint32_t)LAN9118_PHY_ADDR << 11) | (reg << 6) | LAN9118_MII_BUSY;
}

static uint16_t phy_read(uint32_t reg) {
  if (!mii_idle()) return 0;
  mac_write(LAN9118_MAC_MII_ACC, mii_acc(reg));
  mii_idle();
  return (uint16_t)mac_read(LAN9118_MAC_MII_DATA);
}

static void phy_write(uint32_t reg, uint16_t v) {
  if (!mii_idle()) return;
  mac_write(LAN9118_MAC_MII_DATA, v);
  mac_write(LAN9118_MAC_MII_ACC, mii_acc(reg) | LAN9118_MII_WRITE);
  mii_idle();
}

/* ---- interrupt ---- */

void ETHERNET_Handler(void) {
  uint32_t en = R(LAN9118_INT_EN);
  uint32_t sts = R(LAN9118_INT_STS) & en;
  /* Masked until the loop has handled them: a level interrupt that
   * stays asserted (RSFL while frames wait, the PHY's line) must not
   * storm; cleared so a new edge of the same source is seen later. */
  R(LAN9118_INT_EN) = en & ~sts;
  R(LAN9118_INT_STS) = sts;
  E.st.interrupts++;
  bool post = E.pending == 0;
  E.pending |= sts;
  if (post && sts) {
    evring_event_t ev = {ETH_EVENT, 0, 0, sts, 0};
    evring_put(&E.ring, &ev);
    mps2_clock_wake();
  }
  __asm__ volatile("dsb" ::: "memory"); /* the writes land before the NVIC samples the line again */
}

/* ---- receive ---- */

static void rx_discard(uint32_t words) {
  while (words--) (void)R(LAN9118_RX_DATA_FIFO);
}

/* One frame from the FIFOs into a pbuf. The FIFO holds whole 32-bit words
 * (the frame, then its FCS); byte 0 of the frame is the low byte of the
 * first word. */
static struct pbuf *rx_frame(uint32_t status) {
  uint32_t len = LAN9118_RXS_LEN(status);
  uint32_t words = (len + 3u) / 4u;
  if ((status & LAN9118_RXS_ES) || len < 14u + 4u || len - 4u > ETH_FRAME_MAX) {
    rx_discard(words);
    E.st.rx_errors++;
    LINK_STATS_INC(link.err);
    return NULL;
  }
  len -= 4u; /* the FCS is checked by the MAC; lwIP does not want it */
  struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)(len + ETH_PAD_SIZE), PBUF_POOL);
  if (!p || p->next) { /* (never chained: see the static assertion) */
    if (p) pbuf_free(p);
    rx_discard(words);
    E.st.rx_dropped++;
    LINK_STATS_INC(link.memerr);
    return NULL;
  }
  uint8_t *dst = (uint8_t *)p->payload + ETH_PAD_SIZE;
  uint32_t i = 0;
  for (; i + 4u <= len; i += 4u, words--) {
    uint32_t w = R(LAN9118_RX_DATA_FIFO);
    memcpy(dst + i, &w, 4); /* an unaligned store: fine on the Cortex-M3 */
  }
  if (i < len) {
    uint32_t w = R(LAN9118_RX_DATA_FIFO);
    memcpy(dst + i, &w, len - i);
    words--;
  }
  rx_discard(words); /* the FCS word(s) */
  E.st.rx_frames++;
  LINK_STATS_INC(link.recv);
  return p;
}

static void rx_drain(void) {
  /* Bounded: at most what the status FIFO held when we looked, plus what
   * arrives meanwhile is left for the next event (RSFL is set again). */
  uint32_t n = (R(LAN9118_RX_FIFO_INF) >> 16) & 0xFFu;
  while (n--) {
    struct pbuf *p = rx_frame(R(LAN9118_RX_STATUS_FIFO));
    if (p && E.nif->input(p, E.nif) != ERR_OK) pbuf_free(p);
  }
  E.st.rx_dropped += R(LAN9118_RX_DROP); /* the chip's own count: its FIFO was full */
}

/* ---- transmit ---- */

static void tx_status_drain(void) {
  uint32_t n = (R(LAN9118_TX_FIFO_INF) >> 16) & 0xFFu;
  while (n--) {
    if (R(LAN9118_TX_STATUS_FIFO) & (1u << 15)) { /* error summary */
      E.st.tx_errors++;
      LINK_STATS_INC(link.err);
    }
  }
}

/* The payload bytes of pbuf q that belong to the frame (the first one
 * starts with lwIP's ETH_PAD_SIZE pad). */
static void seg_bounds(const struct pbuf *q, bool first, const uint8_t **data, uint32_t *len) {
  uint32_t skip = first ? ETH_PAD_SIZE : 0u;
  *data = (const uint8_t *)q->payload + skip;
  *len = q->len > skip ? q->len - skip : 0u;
}

/* Each pbuf is one buffer of the packet: command A (offset, size, first/
 * last), command B (tag, packet length), then the aligned words covering
 * it; the chip drops the bytes before the offset and after the size. */
static err_t eth_linkoutput(struct netif *nif, struct pbuf *p) {
  (void)nif;
  uint32_t total = p->tot_len > ETH_PAD_SIZE ? (uint32_t)p->tot_len - ETH_PAD_SIZE : 0u;
  uint32_t need = 0;
  const struct pbuf *last = NULL;
  for (const struct pbuf *q = p; q; q = q->next) {
    const uint8_t *d;
    uint32_t n;
    seg_bounds(q, q == p, &d, &n);
    if (!n) continue;
    need += 8u + (((uintptr_t)d & 3u) + n + 3u) / 4u * 4u;
    last = q;
  }
  if (!last || total > ETH_FRAME_MAX) return ERR_ARG;
  if (!E.link) { /* nothing would carry it */
    E.st.tx_dropped++;
    LINK_STATS_INC(link.drop);
    return ERR_IF;
  }
  uint32_t t0 = mps2_counter();
  while ((R(LAN9118_TX_FIFO_INF) & 0xFFFFu) < need) {
    if (mps2_counter() - t0 > ETH_TX_TIMEOUT) {
      E.st.tx_dropped++;
      LINK_STATS_INC(link.drop);
      return ERR_IF;
    }
  }
  uint32_t cmd_b = ((uint32_t)++E.tag << 16) | total;
  bool first = true;
  for (const struct pbuf *q = p; q; q = q->next) {
    const uint8_t *d;
    uint32_t n;
    seg_bounds(q, q == p, &d, &n);
    if (!n) continue;
    uint32_t off = (uintptr_t)d & 3u;
    uint32_t cmd_a = LAN9118_TXA_OFFSET(off) | n;
    if (first) cmd_a |= LAN9118_TXA_FS;
    first = false;
    if (q == last) cmd_a |= LAN9118_TXA_LS;
    R(LAN9118_TX_DATA_FIFO) = cmd_a;
    R(LAN9118_TX_DATA_FIFO) = cmd_b;
    /* Whole aligned words: those before the first and after the last
     * byte are in the same words as frame bytes, so within the buffer's
     * own memory. */
    const uint32_t *w = (const uint32_t *)(uintptr_t)(d - off);
    for (uint32_t k = (off + n + 3u) / 4u; k; k--) R(LAN9118_TX_DATA_FIFO) = *w++;
  }
  E.st.tx_frames++;
  LINK_STATS_INC(link.xmit);
  tx_status_drain();
  return ERR_OK;
}

/* ---- multicast hash filter ---- */

/* The MAC's hash: the top 6 bits of the Ethernet CRC-32 (bits taken
 * least significant first, the register shifted left) of the address. */
static unsigned mcast_hash(const uint8_t mac[6]) {
  uint32_t crc = 0xFFFFFFFFu;
  for (int i = 0; i < 6; i++) {
    uint8_t b = mac[i];
    for (int j = 0; j < 8; j++, b >>= 1) {
      uint32_t bit = (crc >> 31) ^ (b & 1u);
      crc <<= 1;
      if (bit) crc ^= 0x04C11DB7u;
    }
  }
  return crc >> 26;
}

static err_t eth_igmp_filter(struct netif *nif, const ip4_addr_t *group,
                             enum netif_mac_filter_action action) {
  (void)nif;
  uint32_t a = lwip_ntohl(ip4_addr_get_u32(group));
  uint8_t mac[6] = {0x01, 0x00, 0x5E, (uint8_t)((a >> 16) & 0x7F), (uint8_t)(a >> 8),
                    (uint8_t)a};
  unsigned h = mcast_hash(mac);
  if (action == NETIF_ADD_MAC_FILTER) {
    if (E.hash_refs[h] < 255) E.hash_refs[h]++;
  } else if (E.hash_refs[h]) {
    E.hash_refs[h]--;
  }
  uint32_t bit = 1u << (h & 31u);
  if (E.hash_refs[h])
    E.hash[h >> 5] |= bit;
  else
    E.hash[h >> 5] &= ~bit;
  mac_write(LAN9118_MAC_HASHL, E.hash[0]);
  mac_write(LAN9118_MAC_HASHH, E.hash[1]);
  return ERR_OK;
}

/* ---- link ---- */

/* Duplex from what both ends advertised (IEEE 802.3 priority order). */
static bool link_full_duplex(void) {
  uint16_t common = phy_read(LAN9118_PHY_ANAR) & phy_read(LAN9118_PHY_ANLPAR);
  if (common & LAN9118_AN_100FD) return true;
  if (common & LAN9118_AN_100HD) return false;
  return (common & LAN9118_AN_10FD) != 0;
}

static void link_check(void) {
  (void)phy_read(LAN9118_PHY_ISR); /* acknowledges the PHY's interrupt */
  (void)phy_read(LAN9118_PHY_BSR); /* the link bit latches low: read twice */
  bool up = (phy_read(LAN9118_PHY_BSR) & LAN9118_BSR_LINK) != 0;
  if (up == E.link) return;
  E.link = up;
  E.st.link_changes++;
  if (up) {
    uint32_t cr = mac_read(LAN9118_MAC_CR) & ~LAN9118_MAC_CR_FDPX;
    if (link_full_duplex()) cr |= LAN9118_MAC_CR_FDPX;
    mac_write(LAN9118_MAC_CR, cr);
    netif_set_link_up(E.nif);
  } else {
    netif_set_link_down(E.nif);
  }
}

/* ---- loop side ---- */

static void eth_event(lua_State *L, const evring_event_t *ev, void *ud) {
  (void)L, (void)ev, (void)ud;
  uint32_t m = mps2_irq_save();
  uint32_t sts = E.pending;
  E.pending = 0;
  mps2_irq_restore(m);
  if (sts & LAN9118_INT_PHY) link_check();
  if (sts & LAN9118_INT_RXE) { /* e.g. a read past a frame's end: count it */
    E.st.rx_errors++;
    LINK_STATS_INC(link.err);
  }
  if (sts & LAN9118_INT_TXE) { /* a bad command sequence halts TX: restart it */
    E.st.tx_errors++;
    LINK_STATS_INC(link.err);
    R(LAN9118_TX_CFG) = LAN9118_TX_CFG_DUMP | LAN9118_TX_CFG_SAO | LAN9118_TX_CFG_ON;
  }
  if (sts & LAN9118_INT_RSFL) rx_drain();
  tx_status_drain();
  m = mps2_irq_save();
  R(LAN9118_INT_EN) |= sts & ETH_INT_SOURCES;
  mps2_irq_restore(m);
  net_kick();
}

/* ---- bring-up ---- */

static bool mac_valid(const uint8_t mac[6]) {
  bool zero = true, ones = true;
  for (int i = 0; i < 6; i++) {
    zero = zero && mac[i] == 0x00;
    ones = ones && mac[i] == 0xFF;
  }
  return !zero && !ones && !(mac[0] & 1u);
}

static bool chip_reset(char *err, size_t errlen) {
  if (R(LAN9118_BYTE_TEST) != 0x87654321u) {
    snprintf(err, errlen, "no LAN9118 at 0x%08x (BYTE_TEST)", (unsigned)LAN9118_BASE);
    return false;
  }
  /* Out of power-on first (READY), then a soft reset of everything but
   * the bus interface (SRST clears itself), then READY again. */
  bool ok = spin_while(LAN9118_PMT_CTRL, LAN9118_PMT_CTRL_READY, 0, ETH_RESET_TIMEOUT);
  if (ok) {
    R(LAN9118_HW_CFG) = LAN9118_HW_CFG_SRST;
    ok = spin_while(LAN9118_HW_CFG, LAN9118_HW_CFG_SRST, LAN9118_HW_CFG_SRST, ETH_RESET_TIMEOUT) &&
         spin_while(LAN9118_PMT_CTRL, LAN9118_PMT_CTRL_READY, 0, ETH_RESET_TIMEOUT);
  }
  if (!ok) {
    snprintf(err, errlen, "the LAN9118 did not come out of reset");
    return false;
  }
  R(LAN9118_HW_CFG) = LAN9118_HW_CFG_MBO | LAN9118_HW_CFG_TX_FIF_5K;
  return true;
}

static void phy_start(void) {
  phy_write(LAN9118_PHY_BCR, LAN9118_BCR_RESET);
  uint32_t t0 = mps2_counter(); /* the reset bit clears itself within ~ms */
  while ((phy_read(LAN9118_PHY_BCR) & LAN9118_BCR_RESET) &&
         mps2_counter() - t0 < ETH_RESET_TIMEOUT) {
  }
  phy_write(LAN9118_PHY_ANAR, LAN9118_ANAR_ALL);
  phy_write(LAN9118_PHY_BCR, LAN9118_BCR_ANEN | LAN9118_BCR_ANRESTART);
  (void)phy_read(LAN9118_PHY_ISR);
  phy_write(LAN9118_PHY_IMR, LAN9118_PHY_INT_LINKDOWN | LAN9118_PHY_INT_ANDONE |
                                 LAN9118_PHY_INT_ENERGYON);
}

static err_t eth_netif_init(struct netif *nif) {
  nif->name[0] = 'e';
  nif->name[1] = 'n';
  nif->output = etharp_output;
  nif->linkoutput = eth_linkoutput;
  nif->igmp_mac_filter = eth_igmp_filter;
  nif->mtu = 1500;
  nif->hwaddr_len = 6;
  memcpy(nif->hwaddr, E.mac, 6);
  /* IGMP here, before netif_add looks at it: it then joins all-systems
   * (224.0.0.1) through the hash filter. */
  nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_IGMP;
  return ERR_OK;
}

bool lan9118_start(const uint8_t *forced, const uint8_t *fallback, const char *hostname, char *err,
                   size_t errlen) {
  if (!chip_reset(err, errlen)) return false;
  uint32_t hi = mac_read(LAN9118_MAC_ADDRH), lo = mac_read(LAN9118_MAC_ADDRL);
  uint8_t chip[6] = {(uint8_t)lo, (uint8_t)(lo >> 8), (uint8_t)(lo >> 16), (uint8_t)(lo >> 24),
                     (uint8_t)hi, (uint8_t)(hi >> 8)};
  memcpy(E.mac, forced ? forced : mac_valid(chip) ? chip : fallback, 6);
  mps2_random_stir(E.mac, 6); /* before net_attach seeds lwIP's generator */
  mac_write(LAN9118_MAC_ADDRL, (uint32_t)E.mac[0] | (uint32_t)E.mac[1] << 8 |
                                   (uint32_t)E.mac[2] << 16 | (uint32_t)E.mac[3] << 24);
  mac_write(LAN9118_MAC_ADDRH, (uint32_t)E.mac[4] | (uint32_t)E.mac[5] << 8);
  mac_write(LAN9118_MAC_HASHL, 0);
  mac_write(LAN9118_MAC_HASHH, 0);
  phy_start();

  /* FIFOs: RX data whole words from offset 0, an RX interrupt per frame
   * (status level 0), TX on with status overrun allowed (statuses are
   * only counted). */
  R(LAN9118_RX_CFG) = 0;
  R(LAN9118_FIFO_INT) = 0x48000000u; /* TX data available level (unused), RX status level 0 */
  R(LAN9118_TX_CFG) = LAN9118_TX_CFG_SAO | LAN9118_TX_CFG_ON;
  mac_write(LAN9118_MAC_CR, LAN9118_MAC_CR_HPFILT | LAN9118_MAC_CR_TXEN | LAN9118_MAC_CR_RXEN);

  evring_init(&E.ring);
  sched_add_source(&E.ring, eth_event, NULL);
  net_config_t cfg = {.dhcp = true};
  memcpy(cfg.mac, E.mac, 6);
  snprintf(cfg.hostname, sizeof cfg.hostname, "%s", hostname ? hostname : "");
  E.nif = net_attach(eth_netif_init, NULL, &cfg, err, errlen);
  if (!E.nif) {
    mac_write(LAN9118_MAC_CR, 0);
    return false;
  }

  R(LAN9118_INT_STS) = 0xFFFFFFFFu;
  R(LAN9118_IRQ_CFG) = LAN9118_IRQ_CFG_EN | LAN9118_IRQ_CFG_POL | LAN9118_IRQ_CFG_TYPE;
  R(LAN9118_INT_EN) = ETH_INT_SOURCES;
  mps2_irq_enable(LAN9118_IRQ);
  /* The link as it is now (the PHY interrupts only on changes); frames
   * already waiting are picked up by RSFL once enabled. */
  uint32_t m = mps2_irq_save();
  bool post = E.pending == 0;
  E.pending |= LAN9118_INT_PHY;
  if (post) {
    evring_event_t ev = {ETH_EVENT, 0, 0, LAN9118_INT_PHY, 0};
    evring_put(&E.ring, &ev);
  }
  mps2_irq_restore(m);
  return true;
}

const uint8_t *lan9118_mac(void) { return E.mac; }
const lan9118_stats_t *lan9118_stats(void) { return &E.st; }
