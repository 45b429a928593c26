#include "drivers.h"

const modreg_entry_t drivers_modules[] = {
    {NULL, NULL}};
