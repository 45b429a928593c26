/* hal_random for the MPS2 AN385, which has no hardware random source.
 * It mixes what differs between boards and between boots:
 *   - the FPGA's 25 MHz counter and the LAN9118's free-running counter at
 *     the call (boot timing: SD card load, PHY reset, DHCP);
 *   - a hash of the top 1 KB of RAM, which the heap reaches last: random
 *     power-up contents on real SRAM, the last run's data after a reset;
 *   - what the port stirs in (mps2_random_stir: the MAC address);
 *   - a state kept in .noinit and advanced on every call, so warm resets
 *     never repeat a stream.
 * WEAKNESS (docs/boards/mps2-an385.md, "Ethernet"): none of this is secret
 * or high in entropy. Under QEMU's -icount, RAM starts zeroed and the
 * counters are deterministic, so two identical boots get the same seed
 * unless their MACs differ. Good enough for TCP sequence numbers, DNS
 * ids and DHCP transaction ids (what lwIP asks for), not for keys. */
#include <string.h>

#include "board.h"
#include "hal/hal_random.h"
#include "regs.h"

#define RANDOM_MAGIC 0x524E4431u /* "RND1" */
#define RANDOM_RAM_TAIL 1024u
#define RANDOM_LAN9118_BYTE_TEST MPS2_REG(0x40200064u)
#define RANDOM_LAN9118_FREE_RUN MPS2_REG(0x4020009Cu)

extern char __heap_end[];

static struct {
  uint32_t magic;
  uint64_t state;
} seed_note __attribute__((section(".noinit")));

static uint64_t stirred;

/* SplitMix64's finaliser: every input bit reaches every output bit. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void mps2_random_stir(const void *data, size_t len) {
  const uint8_t *p = data;
  for (size_t i = 0; i < len; i++) stirred = mix64(stirred ^ p[i] ^ ((uint64_t)i << 56));
}

void hal_random(void *buf, size_t len) {
  if (seed_note.magic != RANDOM_MAGIC) {
    seed_note.magic = RANDOM_MAGIC;
    seed_note.state = 0;
  }
  uint64_t h = mix64(seed_note.state ^ 0x9E3779B97F4A7C15ull);
  /* FNV-1a on words, 32-bit: ~5 instructions a word (boot time counts). */
  uintptr_t tail = (uintptr_t)__heap_end - RANDOM_RAM_TAIL;
  const volatile uint32_t *ram = (const volatile uint32_t *)tail;
  uint32_t r = 2166136261u;
  for (size_t i = 0; i < RANDOM_RAM_TAIL / 4u; i++) r = (r ^ ram[i]) * 16777619u;
  h = mix64(h ^ r ^ ((uint64_t)r << 32) ^ stirred);
  h = mix64(h ^ FPGAIO_COUNTER);
  if (RANDOM_LAN9118_BYTE_TEST == 0x87654321u) h = mix64(h ^ RANDOM_LAN9118_FREE_RUN);
  uint8_t *out = buf;
  while (len) {
    h = mix64(h + 0x9E3779B97F4A7C15ull);
    size_t n = len < 8 ? len : 8;
    memcpy(out, &h, n);
    out += n;
    len -= n;
  }
  seed_note.state = mix64(h ^ seed_note.state ^ FPGAIO_COUNTER);
}
