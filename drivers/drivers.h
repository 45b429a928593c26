/* Native parts of the device drivers, for the module registry. */
#ifndef DRIVERS_H
#define DRIVERS_H

#include "modreg.h"

/* NULL-terminated; passed to modreg_open() by every port. */
extern const modreg_entry_t drivers_modules[];

#endif
