/* Register map of the MPS2 AN385 FPGA image (Cortex-M3 + CMSDK APB
 * peripherals + FPGA I/O), written from ARM's AN385, the CMSDK technical
 * reference manual, the PL022 TRM and the ARMv7-M architecture manual.
 * Only what this port touches is described. */
#ifndef MPS2_REGS_H
#define MPS2_REGS_H

#include <stdint.h>

#define MPS2_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* Clocks: the FPGA feeds the CPU and the APB peripherals from one 25 MHz
 * clock (AN385 "SYSCLK"). */
#define MPS2_SYSCLK_HZ 25000000u

/* ---- memory map ---- */
/* (Memory: 4 MB ZBT SSRAM1 at 0 holds the image, 4 MB SSRAM2/3 at
 * 0x20000000 the data; see mps2-an385.ld.) */

/* ---- CMSDK APB timer (TIMER0 0x40000000 IRQ 8, TIMER1 0x40001000 IRQ 9) ---- */
#define MPS2_TIMER0_BASE 0x40000000u
#define MPS2_TIMER1_BASE 0x40001000u
#define TIMER_CTRL(b) MPS2_REG((b) + 0x00)
#define TIMER_VALUE(b) MPS2_REG((b) + 0x04)
#define TIMER_RELOAD(b) MPS2_REG((b) + 0x08)
#define TIMER_INTCLEAR(b) MPS2_REG((b) + 0x0C) /* read: INTSTATUS */
#define TIMER_CTRL_EN (1u << 0)
#define TIMER_CTRL_IRQEN (1u << 3)
#define MPS2_IRQ_TIMER0 8
#define MPS2_IRQ_TIMER1 9
/* CMSDK dual timer (0x40002000, IRQ 10): its timer 1 is the scheduler's
 * budget tick, running only while the CPU is busy. */
#define MPS2_DUALTIMER_BASE 0x40002000u
#define MPS2_IRQ_DUALTIMER 10
#define DT1_LOAD MPS2_REG(MPS2_DUALTIMER_BASE + 0x00)
#define DT1_CTRL MPS2_REG(MPS2_DUALTIMER_BASE + 0x08)
#define DT1_INTCLR MPS2_REG(MPS2_DUALTIMER_BASE + 0x0C)
#define DT_CTRL_32BIT (1u << 1)
#define DT_CTRL_IRQEN (1u << 5)
#define DT_CTRL_PERIODIC (1u << 6)
#define DT_CTRL_EN (1u << 7)

/* ---- CMSDK APB UART (UART0 0x40004000: RX IRQ 0, TX IRQ 1) ---- */
#define MPS2_UART0_BASE 0x40004000u
#define UART_DATA(b) MPS2_REG((b) + 0x00)
#define UART_STATE(b) MPS2_REG((b) + 0x04)
#define UART_CTRL(b) MPS2_REG((b) + 0x08)
#define UART_INTCLEAR(b) MPS2_REG((b) + 0x0C) /* read: INTSTATUS */
#define UART_BAUDDIV(b) MPS2_REG((b) + 0x10)
#define UART_STATE_TXFULL (1u << 0)
#define UART_STATE_RXFULL (1u << 1)
#define UART_STATE_TXOVR (1u << 2)
#define UART_STATE_RXOVR (1u << 3)
#define UART_CTRL_TXEN (1u << 0)
#define UART_CTRL_RXEN (1u << 1)
#define UART_CTRL_RXIRQ (1u << 3)
#define UART_INT_RX (1u << 1)
#define MPS2_IRQ_UART0_RX 0

/* ---- CMSDK APB watchdog (0x40008000, interrupt wired to NMI) ---- */
#define MPS2_WDOG_BASE 0x40008000u
#define WDOG_LOAD MPS2_REG(MPS2_WDOG_BASE + 0x000)
#define WDOG_VALUE MPS2_REG(MPS2_WDOG_BASE + 0x004)
#define WDOG_CTRL MPS2_REG(MPS2_WDOG_BASE + 0x008)
#define WDOG_INTCLR MPS2_REG(MPS2_WDOG_BASE + 0x00C)
#define WDOG_RIS MPS2_REG(MPS2_WDOG_BASE + 0x010)
#define WDOG_LOCK MPS2_REG(MPS2_WDOG_BASE + 0xC00)
#define WDOG_CTRL_INTEN (1u << 0)
#define WDOG_CTRL_RESEN (1u << 1)
#define WDOG_UNLOCK_KEY 0x1ACCE551u

/* ---- PL022 SSP (SPI). AN385: 0x40026000 shield 0, 0x40027000 shield 1 ---- */
#define MPS2_SPI_SHIELD0_BASE 0x40026000u
#define MPS2_SPI_SHIELD1_BASE 0x40027000u
#define SSP_CR0(b) MPS2_REG((b) + 0x00)
#define SSP_CR1(b) MPS2_REG((b) + 0x04)
#define SSP_DR(b) MPS2_REG((b) + 0x08)
#define SSP_SR(b) MPS2_REG((b) + 0x0C)
#define SSP_CPSR(b) MPS2_REG((b) + 0x10)
#define SSP_IMSC(b) MPS2_REG((b) + 0x14)
#define SSP_CR0_SPO (1u << 6)
#define SSP_CR0_SPH (1u << 7)
#define SSP_CR1_LBM (1u << 0)
#define SSP_CR1_SSE (1u << 1)
#define SSP_SR_TFE (1u << 0)
#define SSP_SR_TNF (1u << 1)
#define SSP_SR_RNE (1u << 2)
#define SSP_SR_BSY (1u << 4)

/* ---- FPGA I/O (0x40028000) ---- */
#define MPS2_FPGAIO_BASE 0x40028000u
#define FPGAIO_LED0 MPS2_REG(MPS2_FPGAIO_BASE + 0x00)   /* bits 1:0 user LEDs */
#define FPGAIO_BUTTON MPS2_REG(MPS2_FPGAIO_BASE + 0x08) /* bits 1:0 push buttons */
#define FPGAIO_COUNTER MPS2_REG(MPS2_FPGAIO_BASE + 0x18) /* 25 MHz up counter from reset */

/* ---- Cortex-M3 system control space ---- */
#define SCB_VTOR MPS2_REG(0xE000ED08u)
#define SCB_AIRCR MPS2_REG(0xE000ED0Cu)
#define SCB_CCR MPS2_REG(0xE000ED14u)
#define SCB_CFSR MPS2_REG(0xE000ED28u)
#define SCB_HFSR MPS2_REG(0xE000ED2Cu)
#define SCB_MMFAR MPS2_REG(0xE000ED34u)
#define SCB_BFAR MPS2_REG(0xE000ED38u)
#define SCB_SHCSR MPS2_REG(0xE000ED24u)
#define SCB_AIRCR_RESET (0x05FA0000u | (1u << 2)) /* VECTKEY | SYSRESETREQ */
#define SCB_CCR_DIV0_TRP (1u << 4)
#define SCB_SHCSR_MEMFAULTENA (1u << 16)
#define SCB_CFSR_MSTKERR (1u << 4)   /* MemManage while stacking an exception */
#define SCB_CFSR_MMARVALID (1u << 7) /* MMFAR holds the faulting address */

/* PMSAv7 MPU (8 regions on the Cortex-M3; QEMU models it). */
#define MPU_TYPE MPS2_REG(0xE000ED90u)
#define MPU_CTRL MPS2_REG(0xE000ED94u)
#define MPU_RNR MPS2_REG(0xE000ED98u)
#define MPU_RBAR MPS2_REG(0xE000ED9Cu)
#define MPU_RASR MPS2_REG(0xE000EDA0u)
#define MPU_CTRL_ENABLE (1u << 0)
#define MPU_CTRL_PRIVDEFENA (1u << 2) /* default map for everything else */
#define MPU_RASR_ENABLE (1u << 0)
#define MPU_RASR_SIZE(log2) ((uint32_t)((log2) - 1) << 1) /* 2^log2 bytes */
#define MPU_RASR_AP_NONE (0u << 24)
#define MPU_RASR_XN (1u << 28)


#define NVIC_ISER0 MPS2_REG(0xE000E100u)
#define NVIC_ICER0 MPS2_REG(0xE000E180u)

static inline void mps2_irq_enable(int irq) { NVIC_ISER0 = 1u << irq; }
static inline void mps2_irq_disable(int irq) { NVIC_ICER0 = 1u << irq; }

/* PRIMASK save/restore: short critical sections shared with ISRs. */
static inline uint32_t mps2_irq_save(void) {
  uint32_t m;
  __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(m)::"memory");
  return m;
}
static inline void mps2_irq_restore(uint32_t m) {
  __asm__ volatile("msr primask, %0" ::"r"(m) : "memory");
}

#endif
