/* The networking modules, for a port's modreg_config_t.extra list. */
#ifndef NET_MODULES_H
#define NET_MODULES_H

#include "modreg.h"

extern const modreg_entry_t net_modules[];

#endif
