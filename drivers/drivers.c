#include "drivers.h"

#include "bme280.h"

const modreg_entry_t drivers_modules[] = {
    {"bme280.core", luaopen_bme280_core},
    {NULL, NULL}};
