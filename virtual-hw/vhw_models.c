#include "bme280_model.h"
#include "ili9341_model.h"
#include "lis3dh_model.h"
#include "panel.h"
#include "vhw.h"

const vhw_model_t vhw_models[] = {
    {"bme280", vhw_bme280_new, "Bosch BME280 temperature/pressure/humidity sensor (SPI)"},
    {"lis3dh", vhw_lis3dh_new, "ST LIS3DH 3-axis accelerometer (SPI)"},
    {"led", vhw_led_new, "LED on a GPIO output"},
    {"button", vhw_button_new, "push button driving a GPIO input"},
    {"switch", vhw_switch_new, "on/off switch driving a GPIO input"},
    {"loopback", vhw_loopback_new, "SPI loopback jumper: MISO echoes MOSI"},
    {"ili9341", vhw_ili9341_new, "ILI9341 240x320 TFT display controller (SPI, D/C pin)"},
    {NULL, NULL, NULL}};
