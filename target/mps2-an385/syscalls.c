/* The few newlib hooks the firmware needs. malloc (newlib-nano) grows
 * its arena with _sbrk over the heap region the linker script reserves;
 * rt_open()'s counting allocator sits on top of it. There is no file
 * system: file calls fail with the usual errno. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>

#include "board.h"
#include "numfmt.h"
#include "hal/hal_clock.h"
#include "hal/hal_console.h"

extern char __heap_start[], __heap_end[];

void *_sbrk(ptrdiff_t incr);
int _write(int fd, const void *buf, size_t len);
int _read(int fd, void *buf, size_t len);
int _close(int fd);
int _open(const char *path, int flags, int mode);
int _lseek(int fd, int off, int whence);
int _fstat(int fd, struct stat *st);
int _isatty(int fd);
int _kill(int pid, int sig);
int _getpid(void);
void _exit(int code);
int _gettimeofday(struct timeval *tv, void *tz);
clock_t _times(struct tms *t);

static char *heap_brk = __heap_start;

void *_sbrk(ptrdiff_t incr) {
  char *old = heap_brk;
  if (incr > __heap_end - heap_brk || incr < __heap_start - heap_brk) {
    errno = ENOMEM;
    return (void *)-1;
  }
  heap_brk += incr;
  return old;
}

int _write(int fd, const void *buf, size_t len) {
  if (fd != 1 && fd != 2) {
    errno = EBADF;
    return -1;
  }
  hal_console_write(buf, len);
  return (int)len;
}

int _read(int fd, void *buf, size_t len) {
  (void)fd, (void)buf, (void)len;
  errno = EBADF;
  return -1;
}

int _open(const char *path, int flags, int mode) {
  (void)path, (void)flags, (void)mode;
  errno = ENOENT;
  return -1;
}

int _close(int fd) {
  (void)fd;
  errno = EBADF;
  return -1;
}

int _lseek(int fd, int off, int whence) {
  (void)fd, (void)off, (void)whence;
  errno = ESPIPE;
  return -1;
}

int _fstat(int fd, struct stat *st) {
  (void)fd;
  st->st_mode = S_IFCHR;
  return 0;
}

int _isatty(int fd) { return fd <= 2; }

int _kill(int pid, int sig) {
  (void)pid, (void)sig;
  errno = EINVAL;
  return -1;
}

int _getpid(void) { return 1; }

void _exit(int code) {
  (void)code;
  mps2_reset(MPS2_RESET_SOFTWARE);
}

/* Time since boot; the board has no calendar clock. */
int _gettimeofday(struct timeval *tv, void *tz) {
  (void)tz;
  uint64_t us = hal_clock_us();
  tv->tv_sec = (time_t)(us / 1000000u);
  tv->tv_usec = (suseconds_t)(us % 1000000u);
  return 0;
}

/* clock() (table.sort's pivot randomisation): CPU time = time since boot. */
clock_t _times(struct tms *t) {
  clock_t c = (clock_t)(hal_clock_us() / (1000000u / CLOCKS_PER_SEC));
  t->tms_utime = c;
  t->tms_stime = 0;
  t->tms_cutime = 0;
  t->tms_cstime = 0;
  return c;
}

/* Only Lua's file functions (loadfile, dofile) report errno text, and
 * with no file system the errors are few: a short table instead of
 * newlib's 2.8 KB one. */
char *strerror(int err) {
  switch (err) {
    case ENOENT: return (char *)"No such file or directory";
    case EBADF: return (char *)"Bad file number";
    case ENOMEM: return (char *)"Not enough space";
    case EINVAL: return (char *)"Invalid argument";
    case ESPIPE: return (char *)"Illegal seek";
    default: return (char *)"I/O error";
  }
}

/* The core's few snprintf calls (%s, %d, %u, %lu, %p, %c) go to the
 * formatter the VM already uses (numfmt.c): newlib-nano's printf family
 * is 2.3 KB more flash. */
int snprintf(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = numfmt_vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
  return numfmt_vsnprintf(buf, size, fmt, ap);
}

/* Lua's strstr calls (luaL_gsub on package paths, a few short searches)
 * are on short strings: a plain loop instead of newlib's 1 KB two-way
 * search. */
char *strstr(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (;; hay++) {
    if (strncmp(hay, needle, n) == 0) return (char *)hay;
    if (!*hay) return NULL;
  }
}

/* No file system: fopen fails as newlib's does once _open has (ENOENT),
 * and then nothing reaches freopen or fclose (Lua and the core call them
 * only on a FILE fopen opened). Newlib's three, with their mode parsing
 * and seeking, are 1.5 KB. Reading stdin (loadfile(), debug.debug) stays
 * newlib's: it fails in _read. */
FILE *fopen(const char *path, const char *mode) {
  (void)path, (void)mode;
  errno = ENOENT;
  return NULL;
}

FILE *freopen(const char *path, const char *mode, FILE *f) {
  (void)path, (void)mode, (void)f;
  errno = ENOENT;
  return NULL;
}

int fclose(FILE *f) {
  (void)f;
  errno = EBADF;
  return EOF;
}

/* Lua calls abort() only after its panic handler, which never returns. */
void abort(void) {
  hal_panic("abort");
  mps2_reset(MPS2_RESET_PANIC); /* hal_panic does not return either */
}
