/* Console on CMSDK UART0: polled transmit, interrupt-driven receive into
 * an SPSC ring that the event loop drains. When the ring is full the RX
 * interrupt is masked and the byte stays in the UART, so the sender is
 * held back (QEMU's chardev waits; a real link paces or overruns) rather
 * than bytes being dropped in software. */
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "board.h"
#include "evring.h"
#include "hal/hal_console.h"
#include "regs.h"
#include "sched.h"

#define U MPS2_UART0_BASE
#define CONSOLE_BAUD 115200u

static struct {
  evring_t rx;
  void (*on_byte)(lua_State *L, int c);
  void (*on_ctrl_c)(void);
  char last; /* last byte sent, for \n -> \r\n */
} K;

void mps2_console_init(void) {
  evring_init(&K.rx);
  UART_BAUDDIV(U) = MPS2_SYSCLK_HZ / CONSOLE_BAUD;
  UART_CTRL(U) = UART_CTRL_TXEN | UART_CTRL_RXEN;
}

static void raw_putc(char c) {
  while (UART_STATE(U) & UART_STATE_TXFULL) {
  }
  UART_DATA(U) = (uint8_t)c;
}

void mps2_console_putc(char c) {
  if (c == '\n' && K.last != '\r') raw_putc('\r');
  raw_putc(c);
  K.last = c;
}

void mps2_console_puts(const char *s) {
  while (*s) mps2_console_putc(*s++);
}

void mps2_console_puthex(uint32_t v) {
  for (int i = 28; i >= 0; i -= 4) mps2_console_putc("0123456789abcdef"[(v >> i) & 0xF]);
}

void hal_console_write(const char *buf, size_t len) {
  for (size_t i = 0; i < len; i++) mps2_console_putc(buf[i]);
}

/* Lua's error path (lua_writestringerror): fmt has one %s at most. */
void luaos_write_error(const char *fmt, const char *arg) {
  for (const char *p = fmt; *p; p++) {
    if (p[0] == '%' && p[1] == 's') {
      mps2_console_puts(arg ? arg : "(null)");
      p++;
    } else {
      mps2_console_putc(*p);
    }
  }
}

static bool rx_ring_full(void) {
  uint32_t head = atomic_load_explicit(&K.rx.head, memory_order_relaxed);
  uint32_t tail = atomic_load_explicit(&K.rx.tail, memory_order_acquire);
  return head - tail >= EVRING_SIZE;
}

/* Move received bytes into the ring; the caller has interrupts masked
 * (ISR, or the loop with PRIMASK set), so there is one producer. */
static void rx_pump(void) {
  do {
    while (UART_STATE(U) & UART_STATE_RXFULL) {
      if (rx_ring_full()) {
        UART_CTRL(U) &= ~UART_CTRL_RXIRQ; /* resumed by the loop */
        return;
      }
      uint16_t b = (uint16_t)(UART_DATA(U) & 0xFF);
      /* Seen here, not when the loop drains the ring: a command that
       * never yields must still be interruptible. */
      if (b == 0x03 && K.on_ctrl_c) K.on_ctrl_c();
      evring_event_t ev = {EVRING_BYTE, 0, b, 0, 0};
      evring_put(&K.rx, &ev);
      mps2_clock_wake();
    }
    UART_CTRL(U) |= UART_CTRL_RXIRQ;
    /* The RX interrupt is raised when a byte arrives with it enabled: one
     * that came in just before the enable raised none, so look again. */
  } while (UART_STATE(U) & UART_STATE_RXFULL);
}

void UART0RX_Handler(void);
void UART0RX_Handler(void) {
  UART_INTCLEAR(U) = UART_INT_RX;
  rx_pump();
}

static void console_event(lua_State *L, const evring_event_t *ev, void *ud) {
  (void)ud;
  if (!(UART_CTRL(U) & UART_CTRL_RXIRQ)) {
    /* Paused on a full ring: there is room again. */
    uint32_t m = mps2_irq_save();
    rx_pump();
    mps2_irq_restore(m);
  }
  if (K.on_byte) K.on_byte(L, ev->source);
}

void mps2_console_on_ctrl_c(void (*fn)(void)) { K.on_ctrl_c = fn; }

void mps2_console_start(void (*fn)(lua_State *L, int c)) {
  K.on_byte = fn;
  sched_add_source(&K.rx, console_event, NULL);
  UART_INTCLEAR(U) = UART_INT_RX;
  mps2_irq_enable(MPS2_IRQ_UART0_RX);
  uint32_t m = mps2_irq_save();
  rx_pump();
  mps2_irq_restore(m);
}
