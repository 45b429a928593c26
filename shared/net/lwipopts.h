/* lwIP configuration of Lua OS: one file for the simulator and every board.
 * The protocol set is the same everywhere; only sizes differ, and they are
 * chosen per port below (LUAOS_TARGET: a board with tens of KB of RAM; the
 * host: room for throughput and hundreds of sockets). docs/networking.md
 * explains each size. */
#ifndef LUAOS_LWIPOPTS_H
#define LUAOS_LWIPOPTS_H

/* No threads: the event loop feeds frames and runs timeouts (shared/net/net.c).
 * Nothing touches lwIP from an interrupt (the board's ISR posts to a ring),
 * so no locking either. */
#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_NETIF_API 0

/* Protocols. */
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_ICMP 1
#define LWIP_RAW 1 /* net.ping */
#define LWIP_UDP 1
#define LWIP_TCP 1
#define LWIP_DHCP 1
#define LWIP_DHCP_DOES_ACD_CHECK 0
#define DHCP_DOES_ARP_CHECK 0 /* slirp and dnsmasq hand out free addresses */
#define LWIP_AUTOIP 0
#define LWIP_IGMP 1
#define LWIP_DNS 1
#define DNS_MAX_SERVERS 2
#define DNS_TABLE_SIZE 8
#define DNS_MAX_NAME_LENGTH 255
#define LWIP_DNS_SUPPORT_MDNS_QUERIES 1
#define IP_REASSEMBLY 1
#define IP_FRAG 1
#define SO_REUSE 1
#define LWIP_TCP_KEEPALIVE 1
#define TCP_LISTEN_BACKLOG 1
#define TCP_QUEUE_OOSEQ 1
/* SYN floods: a listener whose backlog is full of half-open connections
 * drops the oldest of them for a new SYN (shared/net/net.c), so spoofed
 * SYNs cannot lock real clients out; half-open ones also give up sooner
 * (4 SYN|ACK retransmissions, ~45 s, instead of 6). */
#define LWIP_HOOK_TCP_INPACKET_PCB(pcb, hdr, optlen, opt1len, opt2, p) \
  net_tcp_inpacket((pcb), (hdr))
int net_tcp_inpacket(void *pcb, const void *hdr);
#define TCP_SYNMAXRTX 4
#define LWIP_NETIF_HOSTNAME 1
#define LWIP_NETIF_STATUS_CALLBACK 1
#define LWIP_NETIF_LINK_CALLBACK 1
#define LWIP_NETIF_EXT_STATUS_CALLBACK 1
#define LWIP_NETIF_LOOPBACK 1 /* a device reaches its own address */
#define LWIP_HAVE_LOOPIF 1    /* and 127.0.0.1, also with --net none */
#define LWIP_LOOPBACK_MAX_PBUFS 64
#define LWIP_NUM_NETIF_CLIENT_DATA 2 /* mDNS */

/* Applications of lwIP we bind (never rewrite): SNTP, mDNS, lwiperf. */
#define SNTP_SERVER_DNS 1
#define SNTP_STARTUP_DELAY 0
#define SNTP_CHECK_RESPONSE 2  /* a reply must echo our request's timestamp */
#define SNTP_COMP_ROUNDTRIP 1  /* and half the round trip is added */
#define LWIP_DHCP_GET_NTP_SRV 1
#define SNTP_GET_SERVERS_FROM_DHCP 1
#define SNTP_SET_SYSTEM_TIME_US(sec, us) net_sntp_set_time((sec), (us))
#define SNTP_GET_SYSTEM_TIME(sec, us) net_sntp_get_time(&(sec), &(us))
void net_sntp_set_time(unsigned long sec, unsigned long us);
void net_sntp_get_time(unsigned long *sec, unsigned long *us);
#define LWIP_MDNS_RESPONDER 1
#define MDNS_MAX_SERVICES 2

#if defined(LUAOS_TARGET)
/* Board: every byte counts (docs/networking.md, "Sizes"). */
#define MEM_ALIGNMENT 4
/* 2 bytes before the 14-byte Ethernet header: IP headers word-aligned
 * (the Cortex-M3 faults on unaligned LDRD/LDM); the LAN9118 driver skips
 * them on TX and stores frames after them on RX. */
#define ETH_PAD_SIZE 2
/* lwIP's assertions check its own invariants (they stay on in the
 * simulator, where the frame fuzzer runs); on the board they cost 15 KB
 * of message strings. */
#define LWIP_NOASSERT 1
/* lwIP's heap and pools need no zeroing (mem_init and memp_init set up
 * what they use; MEMP_MEM_INIT is off): in .noinit, start-up does not
 * clear their ~48 KB (~20 K instructions of boot). */
#define LWIP_DECLARE_MEMORY_ALIGNED(name, size) \
  u8_t name[LWIP_MEM_ALIGN_BUFFER(size)] __attribute__((section(".noinit.lwip")))
#define MEM_SIZE (20 * 1024)
#define MEMP_NUM_PBUF 16
#define MEMP_NUM_RAW_PCB 2
#define MEMP_NUM_UDP_PCB 8
#define MEMP_NUM_TCP_PCB 8
#define MEMP_NUM_TCP_PCB_LISTEN 4
#define MEMP_NUM_TCP_SEG 24
#define MEMP_NUM_SYS_TIMEOUT 16
#define PBUF_POOL_SIZE 12
#define TCP_MSS 1460
#define TCP_WND (4 * TCP_MSS)
#define TCP_SND_BUF (4 * TCP_MSS)
#define TCP_SND_QUEUELEN ((4 * (TCP_SND_BUF) + (TCP_MSS - 1)) / (TCP_MSS))
#define LWIP_STATS 1
#define LWIP_STATS_DISPLAY 0
#else
/* Simulator: pools come from the one lwIP heap, so a flood uses at most
 * MEM_SIZE and sys.memory() can report a single figure. */
#define MEM_ALIGNMENT 8
#define MEM_SIZE (16 * 1024 * 1024)
#define MEMP_MEM_MALLOC 1
/* From the C library, capped at MEM_SIZE in use (net.c): lwIP's own
 * first-fit heap walks past every queued segment on each allocation, which
 * cost a fast TCP stream more than the data copy. */
#define MEM_LIBC_MALLOC 1
#define mem_clib_malloc net_mem_malloc
void *net_mem_malloc(unsigned long size);
#define MEMP_NUM_RAW_PCB 16
#define MEMP_NUM_UDP_PCB 64
#define MEMP_NUM_TCP_PCB 512
#define MEMP_NUM_TCP_PCB_LISTEN 64
#define MEMP_NUM_TCP_SEG 4096
#define MEMP_NUM_SYS_TIMEOUT 64
#define PBUF_POOL_SIZE 512
#define TCP_MSS 1460
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 4
#define TCP_WND (256 * 1024)
#define TCP_SND_BUF (256 * 1024)
#define TCP_SND_QUEUELEN 1024
#define TCP_SNDLOWAT (16 * 1024) /* u16 in lwIP: wake writers at 16 KB free */
#define LWIP_CHECKSUM_ON_COPY 1
#define LWIP_STATS 1
#define LWIP_STATS_DISPLAY 0
#endif

/* The frame fuzzer's build (tests/fuzz/fuzz_netif.c): mutated frames get
 * past the checksums, and every buffer is a libc allocation LeakSanitizer
 * tracks. */
#if defined(LUAOS_NET_FUZZ)
#define CHECKSUM_CHECK_IP 0
#define CHECKSUM_CHECK_UDP 0
#define CHECKSUM_CHECK_TCP 0
#define CHECKSUM_CHECK_ICMP 0
#define CHECKSUM_CHECK_IGMP 0
/* IP headers 8-byte aligned: reassembly links fragments through a pointer
 * it stores in their IP header, which LeakSanitizer only sees aligned
 * (unaligned, every queued fragment looks leaked). */
#define ETH_PAD_SIZE 2
#endif

#define MEM_STATS 1
#define MEMP_STATS 1
#define LINK_STATS 1
#define TCP_STATS 1
#define UDP_STATS 1
#define IP_STATS 1
#define ICMP_STATS 1

#endif
