/* luaos hil list | check BOARD, and the test runner's adapter probe. */
#include <stdio.h>
#include <string.h>

#include "board.h"
#include "cli.h"
#include "ftdi_board.h"
#include "hal/hal.h"
#include "hal/hal_gpio.h"
#include "hal/hal_spi.h"
#include "lauxlib.h"
#include "lua.h"
#include "sched.h"

static void usage_hil(FILE *f) {
  fputs("usage: luaos hil list\n"
        "       luaos hil check BOARD\n"
        "list   shows the FTDI adapters attached to this machine (VID:PID, serial,\n"
        "       MPSSE interfaces and the URL a board file uses for each)\n"
        "check  loads BOARD, opens its adapters and reads the id register of each part\n"
        "       on an adapter bus; exit 0 when every part answers with its id\n"
        "See docs/hil.md.\n",
        f);
}

static int hil_list(void) {
  ftdi_usb_info_t dev[32];
  char err[200];
  int n = ftdi_link_usb_list(dev, 32, err, sizeof err);
  if (n < 0) {
    fprintf(stderr, "luaos hil list: %s\n", err);
    return 1;
  }
  if (n == 0) printf("no FTDI adapters attached (looked for 0403:6001, 6010, 6011, 6014, 6015)\n");
  for (int i = 0; i < n; i++) {
    ftdi_usb_info_t *d = &dev[i];
    printf("%04x:%04x  %-8s serial %-12s usb %03d/%03d  %s\n", d->vid, d->pid,
           d->chip ? d->chip : "(no MPSSE)", d->serial[0] ? d->serial : "-", d->bus, d->address,
           d->description);
    for (int k = 1; k <= d->mpsse_ifaces; k++)
      printf("    interface %c (MPSSE): ftdi://%04x:%04x/%s/%d\n", 'A' + k - 1, d->vid, d->pid,
             d->serial[0] ? d->serial : "*", k);
  }
  printf("emulated (always there): emu://ft232h, emu://ft2232h/1, emu://ft2232h/2, "
         "emu://ft4232h/1, emu://ft4232h/2, emu://ft2232d\n");
  return 0;
}

/* Chips whose id `check` knows: the read command, the byte of the answer
 * holding the id, its value (ILI9341: RDID4 with D/C low, 00 93 41 after
 * a dummy byte). */
static const struct {
  const char *type;
  uint8_t cmd, at, id;
} ids[] = {{"bme280", 0xD0, 1, 0x60}, {"lis3dh", 0x8F, 1, 0x33}, {"ili9341", 0xD3, 4, 0x41}};

static int hil_check(cli_opts_t *o, const char *board) {
  o->board = board;
  o->virtual_time = true;
  lua_State *L = cli_boot(o, ".");
  if (!L) return 1;
  if (ftdi_board_adapter_count() == 0) {
    printf("board %s has no FTDI adapter: nothing to check (docs/hil.md, board files)\n",
           board_name());
    cli_shutdown(L);
    return 1;
  }
  /* The chips' power-on time first (the ILI9341 answers after 120 ms). */
  if (luaL_loadstring(L, "task.sleep(150)") == LUA_OK) {
    sched_spawn(L, 0);
    lua_pop(L, 1);
    sched_run(L, UINT64_MAX);
  }
  lua_settop(L, 0);
  int bad = 0, good = 0;
  printf("board %s: %d adapter(s)\n", board_name(), ftdi_board_adapter_count());
  for (int i = 0; i < ftdi_board_adapter_count(); i++) {
    ftdi_dev_t *d = ftdi_board_adapter(i);
    int r = ftdi_dev_ensure(d);
    printf("%s (%s%s): %s\n", d->url, d->info->label, d->emu ? ", emulated" : "",
           r == HAL_OK ? "open" : d->err);
    if (r != HAL_OK) bad++;
  }
  for (int k = 0; k < board_part_count(); k++) {
    vhw_part_t *p = board_part(k);
    ftdi_dev_t *d = p->bus >= 0 ? ftdi_board_bus_adapter(p->bus) : NULL;
    if (!d) continue;
    printf("  spi%d cs%d %-7s %-8s (%s): ", p->bus, p->cs,
           ftdi_pin_name(ftdi_board_cs_pin(p->bus, p->cs)), p->name, p->ops->type);
    int which = -1;
    for (size_t j = 0; j < sizeof ids / sizeof ids[0]; j++)
      if (strcmp(ids[j].type, p->ops->type) == 0) which = (int)j;
    if (which < 0) {
      printf("no id register known: not checked\n");
      continue;
    }
    hal_spi_config_t cfg = {1000000, 0, 8, (uint8_t)p->cs, 0};
    uint8_t tx[5] = {ids[which].cmd, 0, 0, 0, 0}, rx[5] = {0, 0, 0, 0, 0};
    size_t at = ids[which].at;
    int r = HAL_OK;
    if (p->dc_pin >= 0) { /* a display: D/C low says "command" */
      r = hal_gpio_mode(p->dc_pin, HAL_GPIO_OUTPUT);
      if (r == HAL_OK) r = hal_gpio_write(p->dc_pin, 0);
      if (r == HAL_OK && p->reset_pin >= 0) r = hal_gpio_mode(p->reset_pin, HAL_GPIO_INPUT);
    }
    if (r == HAL_OK) r = hal_spi_configure(p->bus, &cfg);
    if (r == HAL_OK) r = hal_spi_transfer(p->bus, tx, rx, at + 1);
    uint8_t id = rx[at];
    if (r != HAL_OK) {
      printf("%s\n", hal_strerror(r));
      bad++;
    } else if (id != ids[which].id) {
      printf("id 0x%02x, expected 0x%02x (%s)\n", id, ids[which].id,
             id == 0xFF ? "nothing answers: MISO floats high; check CS, power, wiring"
             : id == 0x00 ? "MISO held low: chip unpowered, or MISO/MOSI swapped?"
                          : "another chip, or SPI mode/clock wrong");
      bad++;
    } else {
      printf("id 0x%02x ok\n", id);
      good++;
    }
  }
  printf("luaos hil check: %d part(s) answer, %d problem(s)\n", good, bad);
  cli_shutdown(L);
  return bad ? 1 : 0;
}

int cli_hil(cli_opts_t *o, int argc, char **argv) {
  if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
    usage_hil(argc < 1 ? stderr : stdout);
    return argc < 1 ? 2 : 0;
  }
  if (strcmp(argv[0], "list") == 0) {
    if (argc != 1) {
      fprintf(stderr, "luaos hil list: takes no arguments\n");
      return 2;
    }
    return hil_list();
  }
  if (strcmp(argv[0], "check") == 0) {
    if (argc != 2) {
      fprintf(stderr, "luaos hil check: which board? (luaos hil check BOARD)\n");
      return 2;
    }
    return hil_check(o, argv[1]);
  }
  fprintf(stderr, "luaos hil: unknown subcommand '%s' (list, check)\n", argv[0]);
  return 2;
}

int cli_hil_real(void) {
  for (int i = 0; i < ftdi_board_adapter_count(); i++)
    if (!ftdi_board_adapter(i)->emu) return 1;
  return 0;
}

int cli_hil_absent(char *msg, size_t msglen) {
  for (int i = 0; i < ftdi_board_adapter_count(); i++) {
    ftdi_dev_t *d = ftdi_board_adapter(i);
    if (ftdi_dev_ensure(d) != HAL_OK && d->open_rc == FTDI_OPEN_ABSENT) {
      snprintf(msg, msglen, "%s", d->err);
      hal_strerror(HAL_ENODEV); /* the words are used here */
      return 1;
    }
  }
  return 0;
}
