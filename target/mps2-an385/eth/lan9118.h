/* SMSC LAN9118 Ethernet controller of the MPS2 board (AN385: a LAN9220,
 * software compatible; QEMU models a LAN9118). PLACEHOLDER: networking is
 * a later issue. Nothing here is compiled into the firmware yet; this
 * header fixes where the driver goes and what the port knows about the
 * part, so the network work starts from the board facts.
 *
 * See README.md in this directory for the plan. */
#ifndef MPS2_LAN9118_H
#define MPS2_LAN9118_H

#include <stddef.h>
#include <stdint.h>

#define LAN9118_BASE 0x40200000u /* AN385 memory map; 0x100 bytes of registers */
#define LAN9118_IRQ 13           /* AN385 interrupt 13: Ethernet */

/* Register offsets the driver will start from (LAN9118 datasheet). */
#define LAN9118_RX_DATA_FIFO 0x00
#define LAN9118_TX_DATA_FIFO 0x20
#define LAN9118_RX_STATUS_FIFO 0x40
#define LAN9118_TX_STATUS_FIFO 0x48
#define LAN9118_ID_REV 0x50    /* reads 0x0118xxxx on a LAN9118 */
#define LAN9118_IRQ_CFG 0x54
#define LAN9118_INT_STS 0x58
#define LAN9118_INT_EN 0x5C
#define LAN9118_BYTE_TEST 0x64 /* reads 0x87654321: bus sanity check */
#define LAN9118_HW_CFG 0x74
#define LAN9118_MAC_CSR_CMD 0xA4
#define LAN9118_MAC_CSR_DATA 0xA8

/* Planned interface (not implemented): frames in and out, with received
 * frames announced through an evring_t source like the UART's bytes.
 *   int lan9118_init(const uint8_t mac[6]);
 *   int lan9118_send(const void *frame, size_t len);
 *   int lan9118_recv(void *frame, size_t cap);   -- from the loop, not the ISR
 */

#endif
