/* Time base and idle. Time is the FPGA's free-running 25 MHz COUNTER
 * (counting since reset), widened to 64 bits in software; the event loop
 * reads it at least every turn and the watchdog feed timer makes a turn
 * every 500 ms, far inside its 171 s wrap. No periodic tick: CMSDK TIMER0
 * is a one-shot alarm that ends WFI at the scheduler's next deadline, so
 * an idle board sleeps until that deadline or an interrupt. The dual
 * timer's timer 1 ticks every 1 ms only while the CPU is busy (stopped
 * around WFI): it tells the scheduler that a task has run long, so the
 * instruction budget counts only such resumes (counting halves the VM's
 * speed). Not SysTick: under QEMU's -icount its clock stalls (see the
 * porting note). */
#include <stdbool.h>

#include "board.h"
#include "hal/hal_clock.h"
#include "hal/hal_console.h"
#include "regs.h"
#include "sched.h"

#define CLOCK_TICKS_PER_US (MPS2_SYSCLK_HZ / 1000000u)
#define CLOCK_MAX_SLEEP_TICKS (60u * MPS2_SYSCLK_HZ) /* well inside one counter wrap */

static struct {
  uint32_t hi;          /* counter wraps seen */
  uint32_t last;        /* counter at the last read */
  volatile bool wake;   /* an ISR posted work since the last idle */
} C;

/* The budget tick: 1 ms periods while busy (counting starts 10 ms into a
 * resume); reloading restarts the period. */
static void clock_busy(bool busy) {
  if (busy) {
    DT1_LOAD = MPS2_SYSCLK_HZ / 1000u;
    DT1_CTRL = DT_CTRL_EN | DT_CTRL_PERIODIC | DT_CTRL_IRQEN | DT_CTRL_32BIT;
  } else {
    DT1_CTRL = 0;
  }
}

void mps2_clock_init(void) {
  C.last = FPGAIO_COUNTER;
  TIMER_CTRL(MPS2_TIMER0_BASE) = 0;
  TIMER_INTCLEAR(MPS2_TIMER0_BASE) = 1;
  mps2_irq_enable(MPS2_IRQ_TIMER0);
  DT1_CTRL = 0;
  DT1_INTCLR = 1;
  mps2_irq_enable(MPS2_IRQ_DUALTIMER);
  clock_busy(true);
  sched_use_ticks(true);
}

void DUALTIMER_Handler(void);
void DUALTIMER_Handler(void) {
  DT1_INTCLR = 1;
  sched_tick();
}

void TIMER0_Handler(void);
void TIMER0_Handler(void) {
  TIMER_CTRL(MPS2_TIMER0_BASE) = 0;
  TIMER_INTCLEAR(MPS2_TIMER0_BASE) = 1;
}

void mps2_clock_wake(void) { C.wake = true; }

uint32_t mps2_counter(void) { return FPGAIO_COUNTER; }

/* 25 MHz ticks since reset. Also called from ISRs, hence the mask. */
static uint64_t clock_ticks(void) {
  uint32_t m = mps2_irq_save();
  uint32_t lo = FPGAIO_COUNTER;
  if (lo < C.last) C.hi++;
  C.last = lo;
  uint64_t t = ((uint64_t)C.hi << 32) | lo;
  mps2_irq_restore(m);
  return t;
}

uint64_t hal_clock_us(void) { return clock_ticks() / CLOCK_TICKS_PER_US; }

void hal_clock_idle(uint64_t deadline_us) {
  /* With PRIMASK set an interrupt still ends WFI but its handler runs only
   * after the restore: an event posted after the scheduler's last look at
   * its rings either set `wake` (no sleep) or wakes the WFI. */
  uint32_t m = mps2_irq_save();
  if (!C.wake) {
    uint64_t now = hal_clock_us();
    if (deadline_us > now) {
      if (deadline_us != UINT64_MAX) {
        uint64_t ticks = (deadline_us - now) * CLOCK_TICKS_PER_US;
        if (ticks > CLOCK_MAX_SLEEP_TICKS) ticks = CLOCK_MAX_SLEEP_TICKS; /* the loop asks again */
        TIMER_RELOAD(MPS2_TIMER0_BASE) = (uint32_t)ticks;
        TIMER_VALUE(MPS2_TIMER0_BASE) = (uint32_t)ticks;
        TIMER_CTRL(MPS2_TIMER0_BASE) = TIMER_CTRL_EN | TIMER_CTRL_IRQEN;
      }
      clock_busy(false); /* no budget ticks while asleep */
      __asm__ volatile("dsb\n\twfi" ::: "memory");
      TIMER_CTRL(MPS2_TIMER0_BASE) = 0;
      clock_busy(true);
    }
  }
  C.wake = false;
  mps2_irq_restore(m);
}

void hal_panic(const char *msg) {
  mps2_console_puts("\r\n*** PANIC: ");
  mps2_console_puts(msg ? msg : "(no message)");
  mps2_console_puts(" ***\r\n");
  mps2_note_failure("panic: ", msg ? msg : "(no message)");
  mps2_reset(MPS2_RESET_PANIC);
}
