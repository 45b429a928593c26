/* SMSC LAN9118 Ethernet controller of the MPS2 board, as lwIP's device
 * interface. The AN385 has a LAN9220 at 0x40200000 on interrupt 13
 * (software compatible; QEMU models a LAN9118, without the checksum
 * offload neither part's driver needs). Written from the SMSC LAN9118
 * datasheet; docs/boards/mps2-an385.md ("Ethernet") is the porting note.
 *
 * The interrupt handler only masks what fired and posts one event to an
 * evring_t; the loop side drains the RX FIFO into pbufs, feeds lwIP and
 * follows the PHY's link. lwIP is never entered from the interrupt. */
#ifndef MPS2_LAN9118_H
#define MPS2_LAN9118_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LAN9118_BASE 0x40200000u /* AN385 memory map; 0x100 bytes of registers */
#define LAN9118_IRQ 13           /* AN385 interrupt 13: Ethernet */

/* ---- system CSRs (datasheet section 5.3) ---- */
#define LAN9118_RX_DATA_FIFO 0x00
#define LAN9118_TX_DATA_FIFO 0x20
#define LAN9118_RX_STATUS_FIFO 0x40
#define LAN9118_TX_STATUS_FIFO 0x48
#define LAN9118_ID_REV 0x50 /* chip id in 31:16: 0x0118 (QEMU), 0x9220 (AN385 board) */
#define LAN9118_IRQ_CFG 0x54
#define LAN9118_INT_STS 0x58
#define LAN9118_INT_EN 0x5C
#define LAN9118_BYTE_TEST 0x64 /* reads 0x87654321: bus sanity check */
#define LAN9118_FIFO_INT 0x68
#define LAN9118_RX_CFG 0x6C
#define LAN9118_TX_CFG 0x70
#define LAN9118_HW_CFG 0x74
#define LAN9118_RX_FIFO_INF 0x7C
#define LAN9118_TX_FIFO_INF 0x80
#define LAN9118_PMT_CTRL 0x84
#define LAN9118_FREE_RUN 0x9C /* 25 MHz free-running counter */
#define LAN9118_RX_DROP 0xA0  /* frames dropped (RX FIFO full); clears on read */
#define LAN9118_MAC_CSR_CMD 0xA4
#define LAN9118_MAC_CSR_DATA 0xA8

/* IRQ_CFG: enable the IRQ pin, push-pull, active high (the NVIC input
 * is level-sensitive, active high). */
#define LAN9118_IRQ_CFG_EN (1u << 8)
#define LAN9118_IRQ_CFG_POL (1u << 4)
#define LAN9118_IRQ_CFG_TYPE (1u << 0)

/* INT_STS / INT_EN */
#define LAN9118_INT_PHY (1u << 18)
#define LAN9118_INT_RXE (1u << 14)
#define LAN9118_INT_TXE (1u << 13)
#define LAN9118_INT_RSFL (1u << 3) /* RX status FIFO above FIFO_INT's level */

#define LAN9118_HW_CFG_SRST (1u << 0)
#define LAN9118_HW_CFG_MBO (1u << 20)      /* must be one */
#define LAN9118_HW_CFG_TX_FIF_5K (5u << 16) /* 5 KB TX FIFO: 4608 data + 512 status */
#define LAN9118_PMT_CTRL_READY (1u << 0)
#define LAN9118_TX_CFG_ON (1u << 1)
#define LAN9118_TX_CFG_SAO (1u << 2) /* status FIFO may overrun: TX never stalls on it */
#define LAN9118_TX_CFG_DUMP (3u << 14) /* TXS_DUMP | TXD_DUMP */

/* TX command words (datasheet 3.12.2) */
#define LAN9118_TXA_FS (1u << 13)
#define LAN9118_TXA_LS (1u << 12)
#define LAN9118_TXA_OFFSET(n) ((uint32_t)(n) << 16)
/* RX status word (datasheet 3.13.3) */
#define LAN9118_RXS_ES (1u << 15) /* error summary */
#define LAN9118_RXS_LEN(s) (((s) >> 16) & 0x3FFFu) /* with the 4-byte FCS */

/* ---- MAC CSRs, through MAC_CSR_CMD/DATA (datasheet 5.4) ---- */
#define LAN9118_MAC_CR 1
#define LAN9118_MAC_ADDRH 2
#define LAN9118_MAC_ADDRL 3
#define LAN9118_MAC_HASHH 4
#define LAN9118_MAC_HASHL 5
#define LAN9118_MAC_MII_ACC 6
#define LAN9118_MAC_MII_DATA 7
#define LAN9118_CSR_BUSY (1u << 31)
#define LAN9118_CSR_READ (1u << 30)
#define LAN9118_MAC_CR_FDPX (1u << 20)
#define LAN9118_MAC_CR_PRMS (1u << 18)
#define LAN9118_MAC_CR_HPFILT (1u << 13) /* multicast through the hash table */
#define LAN9118_MAC_CR_TXEN (1u << 3)
#define LAN9118_MAC_CR_RXEN (1u << 2)
#define LAN9118_MII_BUSY (1u << 0)
#define LAN9118_MII_WRITE (1u << 1)

/* ---- the internal PHY (address 1; IEEE 802.3 clause 22 + SMSC's) ---- */
#define LAN9118_PHY_ADDR 1
#define LAN9118_PHY_BCR 0
#define LAN9118_PHY_BSR 1
#define LAN9118_PHY_ANAR 4
#define LAN9118_PHY_ANLPAR 5
#define LAN9118_PHY_ISR 29 /* interrupt source; clears on read */
#define LAN9118_PHY_IMR 30
#define LAN9118_BCR_RESET (1u << 15)
#define LAN9118_BCR_ANEN (1u << 12)
#define LAN9118_BCR_ANRESTART (1u << 9)
#define LAN9118_BSR_LINK (1u << 2)
#define LAN9118_ANAR_ALL 0x01E1u /* 100/10, full/half, IEEE 802.3 selector */
#define LAN9118_AN_100FD (1u << 8)
#define LAN9118_AN_100HD (1u << 7)
#define LAN9118_AN_10FD (1u << 6)
#define LAN9118_PHY_INT_LINKDOWN (1u << 4)
#define LAN9118_PHY_INT_ANDONE (1u << 6)
#define LAN9118_PHY_INT_ENERGYON (1u << 7)

/* Counters since boot (mps2_eth_stats). */
typedef struct {
  uint32_t rx_frames, rx_errors, rx_dropped; /* dropped: no pbuf, too long, FIFO full */
  uint32_t tx_frames, tx_errors, tx_dropped; /* dropped: no FIFO room in time */
  uint32_t interrupts, link_changes;
} lan9118_stats_t;

/* Find and reset the chip, choose the MAC (`forced` when not NULL, else
 * the chip's ADDRH/ADDRL as loaded from its EEPROM -- QEMU's
 * `-nic ...,mac=` -- when they hold a unicast address, else `fallback`),
 * attach it as the device's interface with DHCP and `hostname`, and
 * follow its link. False with a message in err when there is no chip or
 * lwIP refused the interface. */
bool lan9118_start(const uint8_t *forced, const uint8_t *fallback, const char *hostname, char *err,
                   size_t errlen);

/* The MAC in use (after lan9118_start). */
const uint8_t *lan9118_mac(void);
const lan9118_stats_t *lan9118_stats(void);

/* The vector table's entry for interrupt 13 (startup.c). */
void ETHERNET_Handler(void);

#endif
