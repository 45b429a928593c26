/* The emulated adapter behind emu:// URLs: an MPSSE model (virtual-hw/)
 * as the far end of an ftdi_link_t, plus the faults a real adapter can
 * show (absent, another VID/PID, no permission, ftdi_sio bound, unplugged
 * in the middle of a transfer). */
#ifndef SIM_FTDI_EMU_H
#define SIM_FTDI_EMU_H

#include "ftdi_link.h"
#include "mpsse_model.h"

typedef struct ftdi_emu ftdi_emu_t;

ftdi_emu_t *ftdi_emu_new(const ftdi_url_t *u, const mpsse_wiring_t *w);
void ftdi_emu_free(ftdi_emu_t *e);
mpsse_t *ftdi_emu_engine(ftdi_emu_t *e);

ftdi_link_t *ftdi_emu_open(ftdi_emu_t *e, ftdi_open_rc_t *rc, char *err, size_t errlen);

/* Faults: "absent", "wrong-id", "permission", "ftdi_sio" (for the next
 * open), "unplug" (during the next write: half of it arrives, then the
 * device is gone until the fault is cleared), NULL clears (replugged).
 * False for an unknown name. */
bool ftdi_emu_fault(ftdi_emu_t *e, const char *name);
const char *ftdi_emu_fault_name(const ftdi_emu_t *e);

/* Bytes the adapter received since the last clear (at most the first
 * FTDI_EMU_CAPTURE). */
#define FTDI_EMU_CAPTURE (256 * 1024)
const uint8_t *ftdi_emu_capture(const ftdi_emu_t *e, size_t *len);
void ftdi_emu_capture_clear(ftdi_emu_t *e);

#endif
