/* GPIO HAL: numbered pins, optional names from the board description.
 * Edge interrupts are reported by the port through gpio_irq_post()
 * (shared/gpio_irq.h), from interrupt context; the core delivers them
 * to Lua in task context. */
#ifndef HAL_GPIO_H
#define HAL_GPIO_H

#include "hal.h"

typedef enum {
  HAL_GPIO_INPUT = 0,
  HAL_GPIO_OUTPUT,
  HAL_GPIO_INPUT_PULLUP,
  HAL_GPIO_INPUT_PULLDOWN,
  HAL_GPIO_OPEN_DRAIN
} hal_gpio_mode_t;

typedef enum {
  HAL_GPIO_EDGE_NONE = 0,
  HAL_GPIO_EDGE_RISING = 1,
  HAL_GPIO_EDGE_FALLING = 2,
  HAL_GPIO_EDGE_BOTH = 3
} hal_gpio_edge_t;

int hal_gpio_count(void);
/* Pin number for a board name ("LED0", "BTN1"), or HAL_ENODEV. */
int hal_gpio_find(const char *name);
/* Board name of a pin, or NULL. */
const char *hal_gpio_name(int pin);
int hal_gpio_mode(int pin, hal_gpio_mode_t mode);
/* Returns 0 or 1, or a negative error. */
int hal_gpio_read(int pin);
int hal_gpio_write(int pin, int level);
/* Enable/disable edge detection for a pin. */
int hal_gpio_irq(int pin, hal_gpio_edge_t edge);

#endif
