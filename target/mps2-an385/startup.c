/* Reset, vector table and fault reporting for the Cortex-M3 of AN385. */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "regs.h"

/* Linker script symbols. */
extern uint32_t __stack_bottom[], __stack_top[], __handler_stack_top[];
extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];

int main(void);

/* Reset cause and the boot-failure record survive a reset: .noinit is
 * neither loaded nor zeroed (QEMU keeps RAM across SYSRESETREQ and the
 * watchdog reset; so does the board). */
#define RESET_MAGIC 0x4C554153u /* "LUAS" (v2 of this layout) */
#define REASON_MAX 96
static struct {
  uint32_t magic;
  uint32_t cause;
  uint32_t app;   /* mps2_app_state_t when the reset happened */
  uint32_t fails; /* resets by failure in a row, each during the app's start */
  char reason[REASON_MAX]; /* what the last failure said */
} reset_note __attribute__((section(".noinit")));
static mps2_reset_cause_t reset_cause_at_boot;

void Reset_Handler(void);
void mps2_reset_c(void);
void Default_Handler(void);
void MemManage_Handler(void);
void NMI_Handler(void);
void HardFault_Handler(void);
void TIMER0_Handler(void);
void TIMER1_Handler(void);
void DUALTIMER_Handler(void);
void UART0RX_Handler(void);
/* eth/lan9118.c when networking is built; the fault report otherwise. */
void ETHERNET_Handler(void) __attribute__((weak, alias("Default_Handler")));
void mps2_fault_report(const uint32_t *frame, uint32_t exc_return, uint32_t kind);

typedef void (*vector_t)(void);

/* Cortex-M3 system exceptions, then the 32 AN385 interrupts. */
__attribute__((section(".vectors"), used)) static const vector_t vectors[16 + 32] = {
    /* Exceptions run on their own stack (MSP); the program runs on the
     * main stack (PSP, set in Reset_Handler). */
    (vector_t)(uintptr_t)__handler_stack_top,
    Reset_Handler,
    NMI_Handler,       /* CMSDK watchdog interrupt */
    HardFault_Handler, /* BusFault/UsageFault escalate here */
    MemManage_Handler, /* the stack guard */
    HardFault_Handler,
    HardFault_Handler,
    0, 0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    Default_Handler, /* SysTick: unused (see clock.c) */
    [16 + MPS2_IRQ_UART0_RX] = UART0RX_Handler,
    [16 + 1] = Default_Handler,
    [16 + 2] = Default_Handler,
    [16 + 3] = Default_Handler,
    [16 + 4] = Default_Handler,
    [16 + 5] = Default_Handler,
    [16 + 6] = Default_Handler,
    [16 + 7] = Default_Handler,
    [16 + MPS2_IRQ_TIMER0] = TIMER0_Handler,
    [16 + MPS2_IRQ_TIMER1] = TIMER1_Handler,
    [16 + MPS2_IRQ_DUALTIMER] = DUALTIMER_Handler,
    [16 + 11] = Default_Handler,
    [16 + 12] = Default_Handler,
    [16 + 13] = ETHERNET_Handler,
    [16 + 14] = Default_Handler,
    [16 + 15] = Default_Handler,
    [16 + 16] = Default_Handler,
    [16 + 17] = Default_Handler,
    [16 + 18] = Default_Handler,
    [16 + 19] = Default_Handler,
    [16 + 20] = Default_Handler,
    [16 + 21] = Default_Handler,
    [16 + 22] = Default_Handler,
    [16 + 23] = Default_Handler,
    [16 + 24] = Default_Handler,
    [16 + 25] = Default_Handler,
    [16 + 26] = Default_Handler,
    [16 + 27] = Default_Handler,
    [16 + 28] = Default_Handler,
    [16 + 29] = Default_Handler,
    [16 + 30] = Default_Handler,
    [16 + 31] = Default_Handler,
};

/* The stack guard: an MPU no-access region right below the main stack
 * (which starts at the bottom of RAM). A push or a frame below the stack
 * is a MemManage fault, reported and reset, instead of writes into
 * nothing (QEMU ignores them, then the CPU locks up on the garbage it
 * reads back). 1 MB: no C frame on this board skips over it. */
#define STACK_GUARD_LOG2 20u
#define STACK_GUARD_SIZE (1u << STACK_GUARD_LOG2)

static bool stack_guarded;

static void stack_guard_init(void) {
  if (((MPU_TYPE >> 8) & 0xFFu) == 0) return; /* no MPU: unguarded */
  uint32_t base = (uint32_t)(uintptr_t)__stack_bottom - STACK_GUARD_SIZE;
  MPU_RNR = 0;
  MPU_RBAR = base; /* size-aligned: the stack starts at 0x20000000 */
  MPU_RASR = MPU_RASR_XN | MPU_RASR_AP_NONE | MPU_RASR_SIZE(STACK_GUARD_LOG2) | MPU_RASR_ENABLE;
  /* Everything else keeps the default map; HardFault and NMI run with
   * the MPU off (HFNMIENA clear). */
  MPU_CTRL = MPU_CTRL_ENABLE | MPU_CTRL_PRIVDEFENA;
  SCB_SHCSR |= SCB_SHCSR_MEMFAULTENA;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  stack_guarded = true;
}

bool mps2_stack_guarded(void) { return stack_guarded; }

/* Thread mode moves to the main stack (PSP) before any C runs, so the
 * handlers' stack (MSP) stays intact when the main stack overflows. */
__attribute__((naked)) void Reset_Handler(void) {
  __asm__ volatile("movw r0, #:lower16:__stack_top\n\t"
                   "movt r0, #:upper16:__stack_top\n\t"
                   "msr psp, r0\n\t"
                   "movs r0, #2\n\t" /* CONTROL.SPSEL: thread mode uses PSP */
                   "msr control, r0\n\t"
                   "isb\n\t"
                   "b mps2_reset_c\n\t");
}

__attribute__((used)) void mps2_reset_c(void) {
  /* Word loops: the sections are word aligned by the linker script. */
  uint32_t *src = __data_load, *dst = __data_start;
  if (src != dst)
    while (dst < __data_end) *dst++ = *src++;
  for (dst = __bss_start; dst < __bss_end;) *dst++ = 0;

  if (reset_note.magic != RESET_MAGIC) { /* power-on: RAM holds noise */
    memset(&reset_note, 0, sizeof reset_note);
    reset_note.cause = MPS2_RESET_POWER;
  }
  reset_cause_at_boot = (mps2_reset_cause_t)reset_note.cause;
  /* A failure while the app was starting counts toward the boot-loop
   * limit (main.c); anything else (power-on, mps2.reset(), a failure
   * after the app ran healthily or with no app) starts the count again. */
  bool failed = reset_cause_at_boot == MPS2_RESET_WATCHDOG || reset_cause_at_boot == MPS2_RESET_FAULT ||
                reset_cause_at_boot == MPS2_RESET_PANIC;
  if (failed && reset_note.app == MPS2_APP_STARTING)
    reset_note.fails++;
  else
    reset_note.fails = 0;
  reset_note.reason[REASON_MAX - 1] = '\0';
  if (!failed) reset_note.reason[0] = '\0';
  reset_note.magic = RESET_MAGIC;
  reset_note.cause = MPS2_RESET_POWER; /* unless something says otherwise */
  reset_note.app = MPS2_APP_NONE;

  SCB_VTOR = (uint32_t)(uintptr_t)vectors;
  /* Integer division by zero faults instead of returning 0 silently
   * (Lua checks its own divisions; this catches C bugs). */
  SCB_CCR |= SCB_CCR_DIV0_TRP;
  stack_guard_init();
  main();
  mps2_reset(MPS2_RESET_SOFTWARE);
}

mps2_reset_cause_t mps2_reset_cause(void) { return reset_cause_at_boot; }

void mps2_app_state(mps2_app_state_t s) {
  reset_note.app = (uint32_t)s;
  if (s != MPS2_APP_STARTING) reset_note.fails = 0;
}

uint32_t mps2_boot_failures(const char **reason) {
  if (reason) *reason = reset_note.reason;
  return reset_note.fails;
}

/* Polled, allocation-free: callable from fault handlers. */
static void note_reason(const char *a, const char *b, uint32_t hex, bool with_hex) {
  char *r = reset_note.reason;
  size_t n = 0;
  for (const char *s = a; s && *s && n < REASON_MAX - 1; s++) r[n++] = *s;
  for (const char *s = b; s && *s && n < REASON_MAX - 1; s++) r[n++] = *s;
  if (with_hex && n + 10 < REASON_MAX) {
    r[n++] = '0';
    r[n++] = 'x';
    for (int i = 28; i >= 0; i -= 4) r[n++] = "0123456789abcdef"[(hex >> i) & 0xFu];
  }
  r[n] = '\0';
}

void mps2_note_failure(const char *what, const char *detail) {
  note_reason(what, detail, 0, false);
}

const char *mps2_reset_cause_name(mps2_reset_cause_t c) {
  static const char *const names[] = {"power-on", "software", "watchdog", "fault", "panic"};
  return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "unknown";
}

_Noreturn void mps2_reset(mps2_reset_cause_t why) {
  reset_note.magic = RESET_MAGIC;
  reset_note.cause = (uint32_t)why;
  /* Let the last console bytes leave the UART. */
  for (volatile int i = 0; i < 20000; i++) {
  }
  __asm__ volatile("dsb" ::: "memory");
  SCB_AIRCR = SCB_AIRCR_RESET;
  __asm__ volatile("dsb" ::: "memory");
  for (;;) __asm__ volatile("wfi");
}

/* ---- faults ---- */

enum {
  FAULT_HARD = 0,
  FAULT_WATCHDOG = 1,
  FAULT_UNEXPECTED = 2,
  FAULT_MEMMANAGE = 3,
  FAULT_STACK = 4 /* a MemManage fault of the stack guard */
};

static void put_reg(const char *name, uint32_t v) {
  if (name[0] != '\n') {
    mps2_console_puts("  ");
  } else {
    mps2_console_puts("\r\n");
    name++;
  }
  mps2_console_puts(name);
  mps2_console_puts("=0x");
  mps2_console_puthex(v);
}

/* The report is one block of fixed text so a test harness can spot it. */
/* `used`: only the naked entry stubs (asm) call it. */
__attribute__((used)) void mps2_fault_report(const uint32_t *frame, uint32_t exc_return,
                                             uint32_t kind) {
  static const char *const titles[] = {"HardFault", "Watchdog", "Unexpected interrupt",
                                       "MemManage", "Stack overflow"};
  uintptr_t fp = (uintptr_t)frame;
  /* A frame pushed below the main stack was not saved (the guard refused
   * it): the registers are unknown and reading them would fault again. */
  bool frame_ok = fp >= (uintptr_t)__stack_bottom && fp + 32 <= (uintptr_t)__handler_stack_top;
  uint32_t mmfar = SCB_MMFAR;
  bool overflow = !frame_ok || ((SCB_CFSR & SCB_CFSR_MMARVALID) &&
                                mmfar < (uintptr_t)__stack_bottom &&
                                mmfar >= (uintptr_t)__stack_bottom - STACK_GUARD_SIZE);
  if (kind == FAULT_MEMMANAGE && overflow) kind = FAULT_STACK;
  mps2_console_puts("\r\n*** ");
  mps2_console_puts(titles[kind]);
  if (kind == FAULT_STACK) mps2_console_puts(": the C stack ran into its guard");
  if (kind == FAULT_WATCHDOG)
    mps2_console_puts(": event loop not fed; the board resets unless it recovers");
  if (kind == FAULT_UNEXPECTED) {
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    mps2_console_puts(" (exception ");
    mps2_console_puthex(ipsr & 0x1FFu);
    mps2_console_puts(")");
  }
  mps2_console_puts(" ***");
  /* A leading \n starts a new line of the report. */
  if (frame_ok) {
    put_reg("\nr0", frame[0]);
    put_reg("r1", frame[1]);
    put_reg("r2", frame[2]);
    put_reg("r3", frame[3]);
    put_reg("\nr12", frame[4]);
    put_reg("lr", frame[5]);
    put_reg("pc", frame[6]);
    put_reg("xpsr", frame[7]);
  } else {
    mps2_console_puts("\r\n(registers not saved)");
  }
  put_reg("\nsp", (uint32_t)fp);
  put_reg("\nCFSR", SCB_CFSR);
  put_reg("HFSR", SCB_HFSR);
  put_reg("MMFAR", SCB_MMFAR);
  put_reg("BFAR", SCB_BFAR);
  put_reg("EXC_RETURN", exc_return);
  mps2_console_puts("\r\n");
  static const char *const reasons[] = {"HardFault at pc=", "watchdog: event loop stalled at pc=",
                                        "unexpected interrupt at pc=", "MemManage at pc=",
                                        "C stack overflow, sp="};
  note_reason(reasons[kind], NULL, kind == FAULT_STACK ? (uint32_t)fp : frame_ok ? frame[6] : 0, true);
  if (kind == FAULT_WATCHDOG) {
    /* Returning lets the stuck code run on; the watchdog's second
     * time-out resets the board (noted so the next boot can say so). */
    reset_note.cause = MPS2_RESET_WATCHDOG;
    return;
  }
  mps2_console_puts("*** resetting ***\r\n");
  mps2_reset(MPS2_RESET_FAULT);
}

/* Pick the stack the exception frame was pushed on, then report. */
#define FAULT_ENTRY(name, kind)                      \
  __attribute__((naked)) void name(void) {           \
    __asm__ volatile("tst lr, #4\n\t"                \
                     "ite eq\n\t"                    \
                     "mrseq r0, msp\n\t"             \
                     "mrsne r0, psp\n\t"             \
                     "mov r1, lr\n\t"                \
                     "movs r2, #" #kind "\n\t"       \
                     "b mps2_fault_report\n\t");     \
  }

FAULT_ENTRY(HardFault_Handler, 0)
FAULT_ENTRY(NMI_Handler, 1)
FAULT_ENTRY(Default_Handler, 2)
FAULT_ENTRY(MemManage_Handler, 3)
