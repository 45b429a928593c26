/* ILI9341 TFT controller model (240x320, 4-line SPI with a D/C pin). */
#ifndef VHW_ILI9341_MODEL_H
#define VHW_ILI9341_MODEL_H

#include "vhw.h"

enum { VHW_ILI9341_WIDTH = 240, VHW_ILI9341_HEIGHT = 320 };

vhw_part_t *vhw_ili9341_new(const vhw_env_t *env);

#endif
