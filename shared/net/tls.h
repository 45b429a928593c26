/* tls: mbedTLS bound for the socket module (docs/tls.md).
 *
 * A tls_conf_t is what socket.connect/bind's `tls` option describes (CA
 * chain, own certificate and key, verification, ALPN), refcounted so a
 * server's accepted sessions share it. A tls_sess_t is one connection's
 * mbedTLS context; its records move through two callbacks the socket
 * gives (never blocking: TLS_WANT_* and the socket parks the task).
 * Verification and hostname checking are on unless verify = false;
 * refusals carry a named reason (tls_error). */
#ifndef TLS_H
#define TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "lua.h"

typedef struct tls_conf tls_conf_t;
typedef struct tls_sess tls_sess_t;

/* Results of tls_handshake/tls_read/tls_write besides a byte count. */
enum { TLS_OK = 0, TLS_WANT_READ = -1, TLS_WANT_WRITE = -2, TLS_FAIL = -3, TLS_EOF = -4 };

/* The socket's side: send/recv return a byte count, TLS_WANT_* (nothing
 * can move now), TLS_EOF (recv: the peer closed) or TLS_FAIL (reset). */
typedef struct {
  int (*send)(void *io, const unsigned char *buf, size_t len);
  int (*recv)(void *io, unsigned char *buf, size_t len);
} tls_io_t;

/* Check the `tls` option of socket.connect (server = false) or
 * socket.bind (server = true) at stack index `idx` of the call's option
 * table `arg` (true or a table) and build its configuration; raises
 * argument errors naming `arg`. Returns NULL with a message on the stack
 * for outcomes that are not argument errors (a file that cannot be read,
 * a PEM that does not parse): the caller returns nil, message. */
tls_conf_t *tls_conf_check(lua_State *L, int arg, int idx, bool server);
void tls_conf_unref(tls_conf_t *c);
void tls_conf_ref(tls_conf_t *c);

/* A session on `conf` for the host the client connects to (`host`: the
 * name or address given to socket.connect; NULL for a server). NULL when
 * memory is short. */
tls_sess_t *tls_sess_new(tls_conf_t *conf, const char *host, const tls_io_t *io, void *ioarg);
void tls_sess_free(tls_sess_t *s);

/* One step of the handshake: TLS_OK once done. */
int tls_handshake(tls_sess_t *s);
bool tls_handshake_done(const tls_sess_t *s);
/* Plaintext in and out: a count, TLS_WANT_*, TLS_EOF (close_notify or the
 * transport ended) or TLS_FAIL. A write that returned TLS_WANT_* must be
 * repeated with the same data. */
int tls_read(tls_sess_t *s, unsigned char *buf, size_t len);
int tls_write(tls_sess_t *s, const unsigned char *buf, size_t len);
/* Push out a record mbedTLS holds (a write that returned TLS_WANT_*):
 * TLS_OK when none is left. tls_wpending: one is held. */
int tls_flush(tls_sess_t *s);
bool tls_wpending(const tls_sess_t *s);
/* The most plaintext one record carries (tls_write takes at most this). */
size_t tls_max_write(const tls_sess_t *s);
/* Plaintext mbedTLS holds already decrypted. */
size_t tls_pending(const tls_sess_t *s);
/* Send close_notify (best effort, never waits). */
void tls_close_notify(tls_sess_t *s);
/* Why the last TLS_FAIL happened ("certificate expired", ...). */
const char *tls_error(const tls_sess_t *s);
/* Push sock:tlsinfo()'s table. */
void tls_push_info(lua_State *L, const tls_sess_t *s);
/* The verify=false warning, logged through the log module (tag "tls"). */
void tls_warn_noverify(lua_State *L, const char *where);
bool tls_conf_noverify(const tls_conf_t *c);

/* Bytes mbedTLS holds now and at most since boot or the last reset (all
 * sessions and configurations). Counted only where mbedTLS lets us hook
 * its allocator (the board's MBEDTLS_PLATFORM_MEMORY; not Debian's build). */
void tls_memory(size_t *in_use, size_t *peak, bool reset_peak);
bool tls_memory_counted(void);

#endif
