/* GPIO over the FPGA I/O block: two user LEDs (outputs) and two push
 * buttons (inputs), numbered like the simulator's default board:
 * LED0=0, LED1=1, BTN0=2, BTN1=3. The buttons have no interrupt line, so
 * edge detection is CMSDK TIMER1 sampling them every 10 ms while a handler
 * is set; its ISR posts edges through gpio_irq_post() like any pin ISR. */
#include <string.h>

#include "board.h"
#include "gpio_irq.h"
#include "hal/hal_clock.h"
#include "hal/hal_gpio.h"
#include "regs.h"

#define GPIO_COUNT 4
#define GPIO_FIRST_BUTTON 2
#define GPIO_POLL_TICKS (MPS2_SYSCLK_HZ / 100u) /* 10 ms: also debounces */

static const char *const gpio_names[GPIO_COUNT] = {"LED0", "LED1", "BTN0", "BTN1"};

static struct {
  volatile uint8_t edge[GPIO_COUNT - GPIO_FIRST_BUTTON];
  volatile uint32_t last; /* button levels at the previous sample */
} G;

static bool is_led(int pin) { return pin >= 0 && pin < GPIO_FIRST_BUTTON; }
static bool is_button(int pin) { return pin >= GPIO_FIRST_BUTTON && pin < GPIO_COUNT; }

void mps2_gpio_init(void) {
  FPGAIO_LED0 = 0;
  TIMER_CTRL(MPS2_TIMER1_BASE) = 0;
  TIMER_INTCLEAR(MPS2_TIMER1_BASE) = 1;
  mps2_irq_enable(MPS2_IRQ_TIMER1);
}

int hal_gpio_count(void) { return GPIO_COUNT; }

int hal_gpio_find(const char *name) {
  for (int i = 0; i < GPIO_COUNT; i++)
    if (strcmp(gpio_names[i], name) == 0) return i;
  return HAL_ENODEV;
}

const char *hal_gpio_name(int pin) {
  return (pin >= 0 && pin < GPIO_COUNT) ? gpio_names[pin] : NULL;
}

int hal_gpio_mode(int pin, hal_gpio_mode_t mode) {
  if (is_led(pin)) return mode == HAL_GPIO_OUTPUT ? HAL_OK : HAL_ENOTSUP;
  if (is_button(pin)) return mode == HAL_GPIO_INPUT ? HAL_OK : HAL_ENOTSUP;
  return HAL_EINVAL;
}

int hal_gpio_read(int pin) {
  if (is_led(pin)) return (int)((FPGAIO_LED0 >> pin) & 1u);
  if (is_button(pin)) return (int)((FPGAIO_BUTTON >> (pin - GPIO_FIRST_BUTTON)) & 1u);
  return HAL_EINVAL;
}

int hal_gpio_write(int pin, int level) {
  if (is_button(pin)) return HAL_ENOTSUP;
  if (!is_led(pin)) return HAL_EINVAL;
  uint32_t m = mps2_irq_save();
  uint32_t v = FPGAIO_LED0;
  FPGAIO_LED0 = level ? (v | (1u << pin)) : (v & ~(1u << pin));
  mps2_irq_restore(m);
  return HAL_OK;
}

int hal_gpio_irq(int pin, hal_gpio_edge_t edge) {
  if (is_led(pin)) return edge == HAL_GPIO_EDGE_NONE ? HAL_OK : HAL_ENOTSUP;
  if (!is_button(pin)) return HAL_EINVAL;
  uint32_t m = mps2_irq_save();
  G.edge[pin - GPIO_FIRST_BUTTON] = (uint8_t)edge;
  bool any = false;
  for (int i = 0; i < GPIO_COUNT - GPIO_FIRST_BUTTON; i++) any |= G.edge[i] != 0;
  if (any && !(TIMER_CTRL(MPS2_TIMER1_BASE) & TIMER_CTRL_EN)) {
    G.last = FPGAIO_BUTTON;
    TIMER_RELOAD(MPS2_TIMER1_BASE) = GPIO_POLL_TICKS;
    TIMER_VALUE(MPS2_TIMER1_BASE) = GPIO_POLL_TICKS;
    TIMER_CTRL(MPS2_TIMER1_BASE) = TIMER_CTRL_EN | TIMER_CTRL_IRQEN;
  } else if (!any) {
    TIMER_CTRL(MPS2_TIMER1_BASE) = 0; /* no polling, no wake-ups */
  }
  mps2_irq_restore(m);
  return HAL_OK;
}

void TIMER1_Handler(void);
void TIMER1_Handler(void) {
  TIMER_INTCLEAR(MPS2_TIMER1_BASE) = 1;
  uint32_t now = FPGAIO_BUTTON;
  uint32_t changed = now ^ G.last;
  G.last = now;
  if (!changed) return;
  uint64_t t = hal_clock_us();
  for (int i = 0; i < GPIO_COUNT - GPIO_FIRST_BUTTON; i++) {
    if (!(changed & (1u << i))) continue;
    int level = (int)((now >> i) & 1u);
    uint8_t e = G.edge[i];
    if ((level && (e & HAL_GPIO_EDGE_RISING)) || (!level && (e & HAL_GPIO_EDGE_FALLING))) {
      gpio_irq_post(i + GPIO_FIRST_BUTTON, level, t);
      mps2_clock_wake();
    }
  }
}
