/* luaos test: find spec files, run each in a fresh process (fork) on a
 * fresh board, Busted as the first task, and sum up the results. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "lauxlib.h"
#include "luaos.h"
#include "sched.h"

#ifndef LUAOS_SOURCE_DIR
#error "LUAOS_SOURCE_DIR must be defined by the build"
#endif

typedef struct {
  char **v;
  int n, cap;
} strlist_t;

static void list_add(strlist_t *l, const char *s) {
  if (l->n == l->cap) {
    int cap = l->cap * 2 + 8;
    char **nv = realloc(l->v, sizeof *nv * (size_t)cap);
    if (!nv) return;
    l->v = nv;
    l->cap = cap;
  }
  char *d = strdup(s);
  if (d) l->v[l->n++] = d;
}

static void list_free(strlist_t *l) {
  for (int i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_spec_name(const char *name) {
  size_t len = strlen(name);
  return len > 9 && strcmp(name + len - 9, "_spec.lua") == 0;
}

/* Spec files: arguments as given; folders searched recursively, sorted.
 * Returns false when a path does not exist (message printed). */
static bool collect(const char *path, strlist_t *out) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "luaos test: %s: %s\n", path, strerror(errno));
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    list_add(out, path);
    return true;
  }
  DIR *d = opendir(path);
  if (!d) {
    fprintf(stderr, "luaos test: %s: %s\n", path, strerror(errno));
    return false;
  }
  strlist_t local = {0};
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
    struct stat ss;
    if (stat(sub, &ss) != 0) continue;
    if (S_ISDIR(ss.st_mode) || is_spec_name(e->d_name)) list_add(&local, sub);
  }
  closedir(d);
  /* An empty folder has no list at all: qsort must not see NULL. */
  if (local.n > 0) qsort(local.v, (size_t)local.n, sizeof *local.v, cmp_str);
  bool ok = true;
  for (int i = 0; i < local.n; i++) ok = collect(local.v[i], out) && ok;
  list_free(&local);
  return ok;
}

/* ---- per-spec directives: "-- luaos: board=FILE net=..." on the first line ---- */

static const char *boards_dir(void) {
  const char *dir = getenv("LUAOS_BOARDS");
  return dir ? dir : LUAOS_SOURCE_DIR "/virtual-hw/boards";
}

/* An unknown board name: say so, with the nearest known name. */
static void unknown_board(const char *file, const char *name) {
  strlist_t names = {0};
  DIR *d = opendir(boards_dir());
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      size_t n = strlen(e->d_name);
      if (n > 4 && strcmp(e->d_name + n - 4, ".lua") == 0) {
        e->d_name[n - 4] = '\0';
        list_add(&names, e->d_name);
      }
    }
    closedir(d);
  }
  /* luaos_nearest wants a NULL-terminated array. */
  const char *cands[129];
  int nc = 0;
  for (int i = 0; i < names.n && nc < 128; i++) cands[nc++] = names.v[i];
  cands[nc] = NULL;
  const char *near = luaos_nearest(name, cands);
  fprintf(stderr, "luaos test: %s:1: unknown board '%s'", file, name);
  if (near)
    fprintf(stderr, "; did you mean '%s'?\n", near);
  else
    fprintf(stderr, " (a board file relative to the spec, or a name from 'luaos boards')\n");
  list_free(&names);
}

/* Reads the spec's first line. `board` gets the board file to load, or
 * stays empty; a net= directive goes into `net` (*net_set then true).
 * False (message printed) for a malformed line or a board
 * that does not exist. */
static bool spec_directives(const char *file, char *board, size_t blen, net_host_opts_t *net,
                            bool *net_set) {
  board[0] = '\0';
  *net_set = false;
  FILE *f = fopen(file, "r");
  if (!f) return true; /* Busted reports the unreadable file */
  char line[1024];
  bool got = fgets(line, sizeof line, f) != NULL;
  fclose(f);
  if (!got) return true;
  const char *p = line;
  if (strncmp(p, "--", 2) != 0) return true;
  p += 2;
  while (*p == ' ' || *p == '\t') p++;
  if (strncmp(p, "luaos:", 6) != 0) return true;
  p += 6;
  static const char *const keys[] = {"board", "net", NULL};
  for (;;) {
    while (isspace((unsigned char)*p)) p++;
    if (!*p) break;
    const char *k = p;
    while (*p && *p != '=' && !isspace((unsigned char)*p)) p++;
    size_t klen = (size_t)(p - k);
    if (*p != '=') {
      fprintf(stderr, "luaos test: %s:1: expected key=value after 'luaos:', got '%.*s'\n", file,
              (int)klen, k);
      return false;
    }
    const char *v = ++p;
    while (*p && !isspace((unsigned char)*p)) p++;
    size_t vlen = (size_t)(p - v);
    char key[64], val[PATH_MAX];
    snprintf(key, sizeof key, "%.*s", (int)klen, k);
    snprintf(val, sizeof val, "%.*s", (int)vlen, v);
    if (strcmp(key, "net") == 0) {
      char err[400];
      if (!net_host_parse_net(net, val, err, sizeof err)) {
        fprintf(stderr, "luaos test: %s:1: net=: %s\n", file, err);
        return false;
      }
      *net_set = true;
      continue;
    }
    if (strcmp(key, "board") != 0) {
      const char *near = luaos_nearest(key, keys);
      fprintf(stderr, "luaos test: %s:1: unknown directive '%s'; %s%s%s\n", file, key,
              near ? "did you mean '" : "valid: board, net", near ? near : "",
              near ? "'?" : "");
      return false;
    }
    if (vlen == 0) {
      fprintf(stderr, "luaos test: %s:1: board= needs a board name or file\n", file);
      return false;
    }
    struct stat st;
    if (strchr(val, '/') || strstr(val, ".lua")) {
      /* A file: relative to the spec's folder, so the spec can be run
       * from anywhere. */
      char tmp[PATH_MAX];
      snprintf(tmp, sizeof tmp, "%s", file);
      int len = val[0] == '/' ? snprintf(board, blen, "%s", val)
                              : snprintf(board, blen, "%s/%s", dirname(tmp), val);
      if (len < 0 || (size_t)len >= blen || stat(board, &st) != 0) {
        fprintf(stderr, "luaos test: %s:1: board file '%s' not found (%s: %s)\n", file, val,
                board, strerror(errno));
        return false;
      }
    } else {
      int len = snprintf(board, blen, "%s/%s.lua", boards_dir(), val);
      if (len < 0 || (size_t)len >= blen || stat(board, &st) != 0) {
        unknown_board(file, val);
        return false;
      }
    }
  }
  return true;
}

/* ---- one spec file, in the child ---- */

static int stop_loop(lua_State *L) {
  (void)L;
  sched_stop();
  return 0;
}

static bool verbose_mode(const cli_opts_t *o) {
  const char *e = getenv("LUAOS_TEST_VERBOSE");
  return o->verbose || (e && *e && strcmp(e, "0") != 0);
}

/* The captured log lines of the test that was running (when a task's
 * uncaught error ends the file, Busted never reports that test). */
static void dump_pending_log(lua_State *L) {
  static const char code[] =
      "local m = package.loaded['luaos.test_runner']\n"
      "if m then m.dump_pending() end\n";
  if (luaL_loadbuffer(L, code, sizeof code - 1, "=luaos-test") == LUA_OK)
    lua_pcall(L, 0, 0, 0);
  lua_settop(L, 0);
}

static int run_spec_child(const cli_opts_t *o, const char *file) {
  char board[PATH_MAX];
  cli_opts_t so = *o;
  bool net_set;
  if (!spec_directives(file, board, sizeof board, &so.net, &net_set)) return 1;
  if (board[0]) so.board = board; /* the spec's own board wins over --board */
  if (net_set) { /* and its network over --net, with the time that goes with it */
    char err[400];
    if (!net_host_policy(&so.net, true, &so.virtual_time, so.virtual_time_set, err,
                         sizeof err)) {
      fprintf(stderr, "luaos test: %s:1: %s\n", file, err);
      return 1;
    }
  }
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", file);
  lua_State *L = cli_boot(&so, dirname(tmp));
  if (!L) return 1;
  if (so.virtual_time && !so.virtual_time_set && cli_hil_real()) {
    /* Real chips convert in real time: boot again on the wall clock. */
    cli_shutdown(L);
    so.virtual_time = false;
    snprintf(tmp, sizeof tmp, "%s", file); /* dirname changed it */
    L = cli_boot(&so, dirname(tmp));
    if (!L) return 1;
  }
  char absent[400];
  if (cli_hil_absent(absent, sizeof absent)) { /* hardware specs without the hardware */
    printf("luaos test: %s: skipped: %s\n", file, absent);
    fflush(stdout);
    cli_shutdown(L);
    return CLI_EXIT_SKIPPED;
  }
  bool verbose = verbose_mode(o);
  lua_createtable(L, 6, 1);
  lua_pushstring(L, "luaos-test");
  lua_rawseti(L, -2, 0);
  int n = 0;
  lua_pushstring(L, file);
  lua_rawseti(L, -2, ++n);
  if (!verbose) {
    /* Our output handler wraps the chosen one to add captured log lines
     * to failure reports. */
    lua_pushstring(L, "-o");
    lua_rawseti(L, -2, ++n);
    lua_pushstring(L, "luaos.test_runner");
    lua_rawseti(L, -2, ++n);
  } else {
    lua_pushstring(L, "--verbose");
    lua_rawseti(L, -2, ++n);
    if (o->output) {
      lua_pushstring(L, "-o");
      lua_rawseti(L, -2, ++n);
      lua_pushstring(L, o->output);
      lua_rawseti(L, -2, ++n);
    }
  }
  lua_setglobal(L, "arg");
  /* When the runner returns every test has passed; tasks a spec left
   * behind must not keep the process alive, so stop the loop. */
  static const char boot[] =
      "local stop, verbose, output = ...\n"
      "if not verbose then require('luaos.test_runner').install(output) end\n"
      "require('busted.runner')({ standalone = false })\n"
      "stop()\n";
  if (luaL_loadbuffer(L, boot, sizeof boot - 1, "@luaos-test") != LUA_OK) {
    fprintf(stderr, "luaos test: %s\n", lua_tostring(L, -1));
    cli_shutdown(L);
    return 1;
  }
  lua_pushcfunction(L, stop_loop);
  lua_pushboolean(L, verbose);
  if (o->output)
    lua_pushstring(L, o->output);
  else
    lua_pushnil(L);
  sched_spawn(L, 3);
  lua_pop(L, 1);
  int rc = 0;
  switch (sched_run(L, UINT64_MAX)) {
    case SCHED_ERROR:
      fprintf(stderr, "luaos: %s\n", lua_tostring(L, -1));
      dump_pending_log(L);
      rc = 1;
      break;
    case SCHED_DEADLOCK:
      fprintf(stderr,
              "luaos: %u task(s) wait for events that nothing can deliver (no timers, no "
              "interrupt handlers)\n",
              (unsigned)sched_task_count());
      dump_pending_log(L);
      rc = 1;
      break;
    default: break;
  }
  fflush(stdout);
  /* Busted exits the process itself when something failed; reaching here
   * means every test passed (or the runner itself failed: rc). */
  cli_shutdown(L);
  return rc;
}

int cli_test(const cli_opts_t *o) {
  strlist_t files = {0};
  bool ok = true;
  const char *where = NULL;
  if (o->n_specs == 0) {
    struct stat st;
    where = stat("tests/lua", &st) == 0 ? "tests/lua" : "spec";
    ok = collect(where, &files);
  }
  for (int i = 0; i < o->n_specs; i++) ok = collect(o->specs[i], &files) && ok;
  if (files.n == 0) {
    if (ok) {
      if (o->n_specs == 1 || where)
        fprintf(stderr, "luaos test: no spec files found in %s (looked for *_spec.lua)\n",
                where ? where : o->specs[0]);
      else
        fprintf(stderr, "luaos test: no spec files found in the given paths (looked for "
                        "*_spec.lua)\n");
    }
    list_free(&files);
    return 1;
  }
  int n = files.n;
  int failed = 0, skipped = 0, running = 0, next = 0;
  pid_t *pids = calloc((size_t)n, sizeof *pids);
  if (!pids) {
    list_free(&files);
    return 1;
  }
  while (next < n || running > 0) {
    while (next < n && running < o->jobs) {
      fflush(stdout);
      fflush(stderr);
      pid_t pid = fork();
      if (pid == 0) _exit(run_spec_child(o, files.v[next]));
      if (pid < 0) {
        perror("luaos test: fork");
        free(pids);
        list_free(&files);
        return 1;
      }
      pids[next++] = pid;
      running++;
    }
    int status;
    pid_t done = wait(&status);
    if (done < 0) break;
    running--;
    for (int i = 0; i < next; i++)
      if (pids[i] == done) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == CLI_EXIT_SKIPPED) {
          skipped++;
          continue;
        }
        bool fine = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!fine) {
          failed++;
          if (WIFSIGNALED(status))
            fprintf(stderr, "luaos test: %s: crashed (signal %d)\n", files.v[i],
                    WTERMSIG(status));
          else
            fprintf(stderr, "luaos test: %s: FAILED\n", files.v[i]);
        }
      }
  }
  if (skipped)
    printf("luaos test: %d spec file(s), %d passed, %d failed, %d skipped (no adapter)\n", n,
           n - failed - skipped, failed, skipped);
  else
    printf("luaos test: %d spec file(s), %d passed, %d failed\n", n, n - failed, failed);
  free(pids);
  list_free(&files);
  return failed || !ok ? 1 : 0;
}
