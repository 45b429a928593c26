/* The REPL's line reader takes bytes from a UART or a pipe: any byte
 * stream (control bytes, very long lines, incomplete chunks, a last line
 * without a newline) must give results or errors, never a crash. The
 * first byte picks the way in: repl_feed byte by byte (echo on or off),
 * or repl_line with whole lines (any bytes, any length). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "fuzz_boot.h"
#include "repl.h"

/* The loop stops once the entered chunk has finished. */
static void stop_when_done(lua_State *L, void *ud) {
  (void)L;
  (void)ud;
  if (!repl_busy() || fuzz_over_budget()) sched_stop();
}

static void settle(lua_State *L) {
  if (repl_busy()) fuzz_run(L, 2u * 1000 * 1000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  unsigned mode = data[0];
  data++, size--;
  lua_State *L = fuzz_boot(1u << 20, NULL);
  if (!L) abort();
  repl_init(L, mode & 1);
  sched_set_idle_hook(stop_when_done, NULL);
  if (mode & 2) {
    /* Whole lines, split at '\n' only: CR, NUL, ^C stay in the line. */
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
      if (i == size || data[i] == '\n') {
        repl_line(L, (const char *)data + start, i - start);
        settle(L);
        start = i + 1;
      }
    }
  } else {
    for (size_t i = 0; i < size; i++) {
      repl_feed(L, data[i]);
      repl_poll_prompt();
      settle(L);
    }
  }
  sched_set_idle_hook(NULL, NULL);
  fuzz_shutdown(L);
  return 0;
}
