#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ftdi_link.h"

static bool hex16(const char *s, size_t n, uint16_t *v) {
  if (n == 0 || n > 4) return false;
  unsigned x = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isxdigit((unsigned char)s[i])) return false;
    x = x * 16 + (unsigned)(isdigit((unsigned char)s[i]) ? s[i] - '0'
                                                         : tolower((unsigned char)s[i]) - 'a' + 10);
  }
  *v = (uint16_t)x;
  return true;
}

static bool iface_of(const char *s, size_t n, int *iface, int max) {
  if (n != 1 || s[0] < '1' || s[0] > '0' + max) return false;
  *iface = s[0] - '0';
  return true;
}

static const char *const emu_faults[] = {"absent", "wrong-id", "permission", "ftdi_sio", NULL};

bool ftdi_url_parse(const char *s, ftdi_url_t *u, char *err, size_t errlen) {
  memset(u, 0, sizeof *u);
  u->iface = 1;
  size_t len = strlen(s);
  if (len >= FTDI_URL_MAX) {
    snprintf(err, errlen, "adapter URL longer than %d characters", FTDI_URL_MAX - 1);
    return false;
  }
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7F) {
      snprintf(err, errlen, "adapter URL '%s' has a space or control character", s);
      return false;
    }
  if (strncmp(s, "emu://", 6) == 0) {
    u->emu = true;
    const char *p = s + 6, *q = strchr(p, '?');
    const char *end = q ? q : s + len, *slash = memchr(p, '/', (size_t)(end - p));
    char chip[16];
    size_t cn = (size_t)((slash ? slash : end) - p);
    if (cn == 0 || cn >= sizeof chip) goto bad_chip;
    memcpy(chip, p, cn);
    chip[cn] = '\0';
    int c = mpsse_chip_find(chip);
    if (c < 0) goto bad_chip;
    u->chip = (mpsse_chip_t)c;
    const mpsse_chip_info_t *info = mpsse_chip_info(u->chip);
    u->vid = info->vid;
    u->pid = info->pid;
    if (slash && !iface_of(slash + 1, (size_t)(end - slash - 1), &u->iface, info->mpsse_ifaces)) {
      snprintf(err, errlen, "adapter URL '%s': the %s has MPSSE interface%s 1%s", s, info->label,
               info->mpsse_ifaces > 1 ? "s" : "", info->mpsse_ifaces > 1 ? " and 2" : " only");
      return false;
    }
    if (q) {
      if (strncmp(q + 1, "fault=", 6) != 0) {
        snprintf(err, errlen, "adapter URL '%s': the only option is ?fault=NAME", s);
        return false;
      }
      const char *f = q + 7;
      bool ok = false;
      for (int i = 0; emu_faults[i] && !ok; i++) ok = strcmp(emu_faults[i], f) == 0;
      if (!ok || strlen(f) >= sizeof u->fault) {
        snprintf(err, errlen,
                 "adapter URL '%s': unknown fault '%.32s' (valid: absent, wrong-id, permission, "
                 "ftdi_sio)",
                 s, f);
        return false;
      }
      snprintf(u->fault, sizeof u->fault, "%s", f);
    }
    return true;
  bad_chip:
    snprintf(err, errlen,
             "adapter URL '%s': unknown emulated chip (valid: emu://ft232h, emu://ft2232h, "
             "emu://ft4232h, emu://ft2232d)",
             s);
    return false;
  }
  if (strncmp(s, "ftdi://", 7) != 0) {
    snprintf(err, errlen,
             "adapter URL '%s' must start with ftdi:// (a real adapter: ftdi://0403:6014/1) or "
             "emu:// (the emulator: emu://ft232h)",
             s);
    return false;
  }
  const char *p = s + 7, *colon = strchr(p, ':'), *slash = strchr(p, '/');
  const char *hend = slash ? slash : s + len;
  if (!colon || colon > hend || !hex16(p, (size_t)(colon - p), &u->vid) ||
      !hex16(colon + 1, (size_t)(hend - colon - 1), &u->pid)) {
    snprintf(err, errlen,
             "adapter URL '%s': expected ftdi://VID:PID[/SERIAL]/INTERFACE with VID and PID in "
             "hex, e.g. ftdi://0403:6014/1",
             s);
    return false;
  }
  if (!slash) return true;
  const char *seg2 = strchr(slash + 1, '/');
  if (!seg2) {
    if (!iface_of(slash + 1, strlen(slash + 1), &u->iface, 4)) goto bad_iface;
    return true;
  }
  size_t sn = (size_t)(seg2 - slash - 1);
  if (sn >= sizeof u->serial || strchr(seg2 + 1, '/')) {
    snprintf(err, errlen, "adapter URL '%s': a serial number has at most 63 characters", s);
    return false;
  }
  memcpy(u->serial, slash + 1, sn);
  u->serial[sn] = '\0';
  if (strcmp(u->serial, "*") == 0) u->serial[0] = '\0';
  if (!iface_of(seg2 + 1, strlen(seg2 + 1), &u->iface, 4)) goto bad_iface;
  return true;
bad_iface:
  snprintf(err, errlen, "adapter URL '%s': the interface is 1..4 (A..D) after the last '/'", s);
  return false;
}
