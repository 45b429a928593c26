/* Entropy for the network stack (TCP initial sequence numbers, DNS query
 * ids and ports, DHCP transaction ids). The host reads the kernel's
 * generator; a board without a TRNG mixes what varies between boots. */
#ifndef HAL_RANDOM_H
#define HAL_RANDOM_H

#include "hal.h"

void hal_random(void *buf, size_t len);

#endif
