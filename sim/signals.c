#define _POSIX_C_SOURCE 200809L
#include "signals.h"

#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static struct {
  volatile sig_atomic_t got_int;  /* SIGINTs received (run) */
  volatile sig_atomic_t got_term;
  volatile sig_atomic_t idle_int; /* REPL: Ctrl-C at the prompt */
  sched_task_t *(*running)(void);
} G;

static void on_tick(int sig) {
  (void)sig;
  sched_tick();
}

void signals_start_ticks(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_tick;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGVTALRM, &sa, NULL) != 0) return;
  /* CPU time, not wall time: an idle process gets no ticks (no wake-ups). */
  struct itimerval it = {{0, 10000}, {0, 10000}};
  if (setitimer(ITIMER_VIRTUAL, &it, NULL) == 0) sched_use_ticks(true);
}

static void on_run_signal(int sig) {
  if (sig == SIGINT) {
    if (G.got_int++ > 0) { /* second Ctrl-C: no more waiting */
      static const char msg[] = "\nluaos: interrupted\n";
      (void)!write(2, msg, sizeof msg - 1);
      _exit(130);
    }
  } else {
    G.got_term = 1;
    sched_stop();
  }
  sched_interrupt();
}

static void install(int sig, void (*fn)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL); /* no SA_RESTART: the idle wait must end */
}

void signals_run_install(void) {
  install(SIGINT, on_run_signal);
  install(SIGTERM, on_run_signal);
}

int signals_run_status(int rc) {
  if (G.got_term) return 143;
  if (G.got_int) return 130;
  return rc;
}

static void on_repl_int(int sig) {
  (void)sig;
  sched_task_t *t = G.running ? G.running() : NULL;
  if (t) {
    sched_set_interrupt_target(t);
    sched_interrupt();
  } else {
    G.idle_int = 1;
  }
}

void signals_repl_install(sched_task_t *(*running)(void)) {
  G.running = running;
  install(SIGINT, on_repl_int);
}

bool signals_repl_take_idle(void) {
  if (!G.idle_int) return false;
  G.idle_int = 0;
  return true;
}

void signals_restore(void) { signal(SIGINT, SIG_DFL); }
