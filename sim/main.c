/* luaos: the host simulator command. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "alloc.h"
#include "cli.h"
#include "duration.h"
#include "luaos.h"

/* ---- option parsing ---- */

static void usage_main(FILE *f) {
  fputs("usage: luaos COMMAND [options]\n"
        "\n"
        "commands:\n"
        "  run APP.lua [args]   run an app on the virtual board\n"
        "  repl                 interactive prompt (tasks keep running)\n"
        "  test [SPEC...]       run Busted specs inside the simulator\n"
        "  boards               list the board files that come with Lua OS\n"
        "  hil list|check BOARD FTDI adapters attached; check a board's wiring (docs/hil.md)\n"
        "  version              print the version\n"
        "\n"
        "'luaos COMMAND --help' describes each command's options.\n",
        f);
}

static void usage_common(FILE *f) {
  fputs("  --board FILE|NAME    board description (default: devkit)\n"
        "  --virtual-time       device time jumps to the next timer when all tasks wait\n"
        "  --mem-limit BYTES    cap the Lua heap (k/M suffixes); allocation past it fails\n"
        "  --no-devpath         load modules only from the bundled image, not lua/ on disk\n"
        "  --task-budget N      stop a task that runs N instructions without yielding\n"
        "                       (default 100000000; 0: no limit)\n"
        "network (docs/networking.md):\n"
        "  --net user[,hostfwd=tcp::HOSTPORT-:PORT...][,restrict=on]\n"
        "                       NAT through libslirp, no root (default for run, repl)\n"
        "  --net tap:NAME       a TAP device (tools/net-tap up NAME makes one)\n"
        "  --net vde:PATH       a port on the VDE switch at PATH (vde_switch -s PATH)\n"
        "  --net none           loopback only (default for test and --virtual-time)\n"
        "  --ip ADDR/PREFIX     static address (default: DHCP); --gw ADDR, --dns ADDR\n"
        "  --mac MAC            (default: derived from the board and the instance number)\n"
        "  --hostname NAME      answered as NAME.local (default: luaos-INSTANCE)\n"
        "A host network (user, tap, vde) runs on real time: --virtual-time refuses it.\n",
        f);
}

static int bad_usage(const char *cmd, const char *fmt, const char *arg);

static void usage_window(FILE *f) {
  fputs("window (docs/simulator.md):\n"
        "  --headless           no window (also when DISPLAY is unset)\n"
        "  --screenshot FILE.png  write a PNG of the window when the run ends\n"
        "  --layout-json FILE   write where the window's widgets are (for tests)\n",
        f);
}

/* --headless, --screenshot, --layout-json: consumed count, 0 or -1. */
static int parse_window(const char *cmd, cli_opts_t *o, int argc, char **argv, int i) {
  const char *a = argv[i];
  if (strcmp(a, "--headless") == 0) {
    o->headless = true;
    return 1;
  }
  bool shot = strcmp(a, "--screenshot") == 0, lay = strcmp(a, "--layout-json") == 0;
  if (!shot && !lay) return 0;
  if (i + 1 >= argc || !argv[i + 1][0] || (argv[i + 1][0] == '-' && argv[i + 1][1]))
    return bad_usage(cmd, shot ? "%s needs a file name (FILE.png)" : "%s needs a file name", a),
           -1;
  if (shot) {
    size_t n = strlen(argv[i + 1]);
    if (n < 5 || strcasecmp(argv[i + 1] + n - 4, ".png") != 0)
      return bad_usage(cmd, "%s writes a PNG: the file name must end in .png", a), -1;
    o->screenshot = argv[i + 1];
  } else {
    o->layout_json = argv[i + 1];
  }
  return 2;
}

static void usage_run(FILE *f) {
  fputs("usage: luaos run APP.lua [options] [-- args...]\n"
        "Runs APP.lua as the first task. Exits 0 when every task has finished and\n"
        "nothing is pending (or when --for has passed), 1 on an uncaught error.\n"
        "\n"
        "options:\n"
        "  --for DURATION       stop after this much device time (10s, 500ms, 2m, 1h)\n"
        "  --watch              reload changed Lua modules while running\n",
        f);
  usage_window(f);
  usage_common(f);
}

static void usage_repl(FILE *f) {
  fputs("usage: luaos repl [options]\n"
        "Interactive Lua prompt; each line runs as a task while the scheduler keeps\n"
        "running other tasks and timers. '=expr' or 'expr' prints the value.\n"
        "\noptions:\n",
        f);
  usage_window(f);
  usage_common(f);
}

static void usage_test(FILE *f) {
  fputs("usage: luaos test [options] [SPEC.lua|DIR ...]\n"
        "Runs Busted specs inside the simulator, each spec file in a fresh process\n"
        "with a fresh virtual board. Default: tests/lua (or spec/) below the\n"
        "current directory. Virtual time and --net none, unless --real-time or a\n"
        "host network (--net user|tap:NAME|vde:PATH) is given. A spec's first line\n"
        "may choose its own: -- luaos: board=NAME net=user\n"
        "\noptions:\n"
        "  --real-time          run specs against the wall clock\n"
        "  -o, --output NAME    Busted output handler (default: plainTerminal/utfTerminal)\n"
        "  -j N                 run N spec files in parallel (default 1)\n"
        "  -v, --verbose        show every log line (default: only those of failing\n"
        "                       tests); also LUAOS_TEST_VERBOSE=1\n",
        f);
  usage_common(f);
}

static int bad_usage(const char *cmd, const char *fmt, const char *arg) {
  fprintf(stderr, "luaos %s: ", cmd);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(try 'luaos %s --help')\n", cmd);
  return 2;
}

/* Options shared by commands; returns consumed count (0: not ours, -1: error). */
static int parse_common(const char *cmd, cli_opts_t *o, int argc, char **argv, int i) {
  const char *a = argv[i];
  if (strcmp(a, "--board") == 0) {
    if (i + 1 >= argc) return bad_usage(cmd, "%s needs a file or board name", a), -1;
    o->board = argv[i + 1];
    return 2;
  }
  if (strcmp(a, "--virtual-time") == 0) {
    o->virtual_time = true;
    o->virtual_time_set = true;
    return 1;
  }
  char err[400];
  int n = net_host_parse_option(&o->net, argc, argv, i, err, sizeof err);
  if (n != 0) return n < 0 ? (bad_usage(cmd, "%s", err), -1) : n;
  if (strcmp(a, "--no-devpath") == 0) {
    o->no_devpath = true;
    return 1;
  }
  if (strcmp(a, "--task-budget") == 0) {
    char *end;
    errno = 0;
    unsigned long long v = i + 1 < argc ? strtoull(argv[i + 1], &end, 10) : 0;
    if (i + 1 >= argc || end == argv[i + 1] || *end || errno || argv[i + 1][0] == '-' ||
        v > 2147483647u || (v != 0 && v < 100000))
      return bad_usage(cmd, "%s needs an instruction count: 0 (off) or 100000 .. 2147483647",
                       a), -1;
    o->task_budget = (uint32_t)v;
    return 2;
  }
  if (strcmp(a, "--mem-limit") == 0) {
    if (i + 1 >= argc || !size_parse(argv[i + 1], &o->mem_limit))
      return bad_usage(cmd, "%s needs a byte count (e.g. 65536, 64k, 2M)", a), -1;
    return 2;
  }
  return 0;
}

/* A host network needs real time (sim/net_host.h). */
static bool time_policy(const char *cmd, cli_opts_t *o, bool test) {
  char err[400];
  if (net_host_policy(&o->net, test, &o->virtual_time, o->virtual_time_set, err, sizeof err))
    return true;
  bad_usage(cmd, "%s", err);
  return false;
}

/* Started with stdin, stdout or stderr closed (`luaos run app.lua >&-`),
 * the app's first io.open would get that descriptor and then receive
 * print() and log output in its file: hold 0..2 open on /dev/null. */
static void hold_std_fds(void) {
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (n < 0) _exit(126); /* no /dev/null: nowhere safe to write */
    if (n != fd) {
      dup2(n, fd);
      close(n);
    }
  }
}

int main(int argc, char **argv) {
  hold_std_fds();
  sim_alloc_install();
  cli_opts_t o;
  cli_defaults(&o, argv[0]);
  if (argc < 2) {
    usage_main(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    usage_main(stdout);
    return 0;
  }
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    printf("luaos %s (%s, simulator)\n", LUAOS_VERSION, LUA_RELEASE);
    return 0;
  }
  if (strcmp(cmd, "boards") == 0) return cli_list_boards(&o);
  if (strcmp(cmd, "hil") == 0) return cli_hil(&o, argc - 2, argv + 2);

  if (strcmp(cmd, "run") == 0) {
    for (int i = 2; i < argc; i++) {
      const char *a = argv[i];
      if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
        usage_run(stdout);
        return 0;
      }
      int n = parse_common(cmd, &o, argc, argv, i);
      if (n == 0) n = parse_window(cmd, &o, argc, argv, i);
      if (n < 0) return 2;
      if (n > 0) {
        i += n - 1;
      } else if (strcmp(a, "--for") == 0) {
        if (i + 1 >= argc || !duration_parse(argv[i + 1], &o.run_for))
          return bad_usage(cmd, "%s needs a duration such as 10s, 500ms, 2m", a);
        o.has_for = true;
        i++;
      } else if (strcmp(a, "--watch") == 0) {
        o.watch = true;
      } else if (strcmp(a, "--") == 0) {
        o.app_args = argv + i + 1;
        o.n_app_args = argc - i - 1;
        break;
      } else if (a[0] == '-') {
        return bad_usage(cmd, "unknown option '%s'", a);
      } else if (!o.app) {
        o.app = a;
      } else {
        o.app_args = argv + i;
        o.n_app_args = argc - i;
        break;
      }
    }
    if (!o.app) return bad_usage(cmd, "%s", "which app? (luaos run APP.lua)");
    if (!time_policy(cmd, &o, false)) return 2;
    return cli_run(&o);
  }

  if (strcmp(cmd, "repl") == 0) {
    for (int i = 2; i < argc; i++) {
      if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
        usage_repl(stdout);
        return 0;
      }
      int n = parse_common(cmd, &o, argc, argv, i);
      if (n == 0) n = parse_window(cmd, &o, argc, argv, i);
      if (n < 0) return 2;
      if (n == 0) return bad_usage(cmd, "unknown option '%s'", argv[i]);
      i += n - 1;
    }
    if (!time_policy(cmd, &o, false)) return 2;
    return cli_repl(&o);
  }

  if (strcmp(cmd, "test") == 0) {
    o.virtual_time = true;
    for (int i = 2; i < argc; i++) {
      const char *a = argv[i];
      if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
        usage_test(stdout);
        return 0;
      }
      int n = parse_common(cmd, &o, argc, argv, i);
      if (n < 0) return 2;
      if (n > 0) {
        i += n - 1;
      } else if (strcmp(a, "--real-time") == 0) {
        o.virtual_time = false;
        o.virtual_time_set = false;
      } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
        if (i + 1 >= argc) return bad_usage(cmd, "%s needs a Busted output handler name", a);
        o.output = argv[++i];
      } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
        o.verbose = true;
      } else if (strncmp(a, "-j", 2) == 0) {
        const char *v = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : "");
        if (atoi(v) < 1) return bad_usage(cmd, "%s needs a positive number", "-j");
        o.jobs = atoi(v);
      } else if (a[0] == '-') {
        return bad_usage(cmd, "unknown option '%s'", a);
      } else {
        if (o.n_specs >= CLI_MAX_SPECS) return bad_usage(cmd, "%s", "too many spec arguments");
        o.specs[o.n_specs++] = a;
      }
    }
    if (!time_policy(cmd, &o, true)) return 2;
    return cli_test(&o);
  }

  fprintf(stderr, "luaos: unknown command '%s'\n\n", cmd);
  usage_main(stderr);
  return 2;
}
