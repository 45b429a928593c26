/* GPIO panel parts: LEDs, push buttons, switches. */
#ifndef VHW_PANEL_H
#define VHW_PANEL_H

#include "pins.h"
#include "vhw.h"

vhw_part_t *vhw_led_new(const vhw_env_t *env);
/* Wire an LED to the board's pins (its state is read from its pin). */
void vhw_led_attach(vhw_part_t *led, const vhw_pins_t *pins);
vhw_part_t *vhw_button_new(const vhw_env_t *env);
vhw_part_t *vhw_switch_new(const vhw_env_t *env);



/* SPI loopback: MISO echoes MOSI (a jumper on the bus, for tests). */
vhw_part_t *vhw_loopback_new(const vhw_env_t *env);
#endif
