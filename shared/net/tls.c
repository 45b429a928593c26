/* tls: mbedTLS bound for the socket module (tls.h, docs/tls.md).
 *
 * Module state: one entropy source and DRBG (seeded on first use from
 * hal_random), the default CA set (parsed once, on first use: the host's
 * ca-certificates file, or the board's bundle chosen at build time) and a
 * default client configuration (`tls = true`) sharing it. */
/* gmtime_r (the board's mbedTLS clock) */
#define _POSIX_C_SOURCE 200809L

#include "tls.h"

#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "hal/hal_random.h"
#include "lauxlib.h"
#include "luaos.h"
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/error.h"
#include "mbedtls/net_sockets.h"
#include "mbedtls/oid.h"
#include "mbedtls/pk.h"
#include "mbedtls/platform.h"
#include "mbedtls/sha256.h"
#include "mbedtls/ssl.h"
#include "mbedtls/ssl_internal.h"
#include "mbedtls/x509_crt.h"
#include "net.h"
#include "sched.h"

#define TLS_ALPN_MAX 4
#define TLS_NAMES 160 /* the leaf's names shown by "hostname mismatch" */
#define TLS_ERR 200

#if !defined(LUAOS_TARGET)
#define TLS_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"
#else
/* The board's bundle, generated at build time (cmake/mbedtls.cmake). */
extern const char tls_ca_bundle[];
extern const unsigned tls_ca_bundle_len;
#endif

struct tls_conf {
  int refs;
  bool server, verify, has_ca, has_cert;
  mbedtls_ssl_config ssl;
  mbedtls_x509_crt ca, cert;
  mbedtls_pk_context key;
  const char *alpn[TLS_ALPN_MAX + 1];
  char *server_name; /* overrides the connect host for SNI and checking */
  /* A client configuration built from a table is shared by the connections
   * open at the same time with the same options (conf_find). */
  struct tls_conf *next_shared;
  bool shared;
  unsigned char digest[32]; /* SHA-256 of the options */
  char strings[];    /* alpn names and server_name live here */
};

/* Where the peer's record stream stands, to tell a clean end (between
 * records) from a truncated record. */
typedef struct {
  unsigned char hdr[5];
  uint8_t hdr_got;
  size_t body_left;
} recmeter_t;

struct tls_sess {
  mbedtls_ssl_context ssl;
  tls_conf_t *conf;
  tls_io_t io;
  void *ioarg;
  recmeter_t rm;
  bool done, ip_host, leaf_self_signed, clock_unset;
  unsigned char ip[4];
  char peer[128]; /* the leaf's subject (the board keeps no peer certificate) */
  char *err;      /* TLS_ERR bytes, allocated by the first error: RAM a
                   * session needs only once it has failed */
  char host[];
};

/* ---- memory (counted where mbedTLS lets us: MBEDTLS_PLATFORM_MEMORY) ---- */

static size_t mem_in_use, mem_peak;

#if defined(MBEDTLS_PLATFORM_MEMORY)
/* A size header in front of each block, so free can count. */
typedef union {
  size_t n;
  max_align_t align;
} memhdr_t;

static void *tls_calloc(size_t n, size_t size) {
  if (size && n > (SIZE_MAX - sizeof(memhdr_t)) / size) return NULL;
  memhdr_t *h = calloc(1, sizeof *h + n * size);
  if (!h) return NULL;
  h->n = n * size;
  mem_in_use += h->n;
  if (mem_in_use > mem_peak) mem_peak = mem_in_use;
  return h + 1;
}

static void tls_free(void *p) {
  if (!p) return;
  memhdr_t *h = (memhdr_t *)p - 1;
  mem_in_use -= h->n;
  free(h);
}
#endif

/* Our own structures are counted with mbedTLS's (a session's RAM is both). */
static void *own_calloc(size_t n) {
#if defined(MBEDTLS_PLATFORM_MEMORY)
  return tls_calloc(1, n);
#else
  return calloc(1, n);
#endif
}

static void own_free(void *p) {
#if defined(MBEDTLS_PLATFORM_MEMORY)
  tls_free(p);
#else
  free(p);
#endif
}

/* The session's message buffer (allocated on first use), or NULL. */
static char *err_buf(tls_sess_t *s) {
  if (!s->err) s->err = own_calloc(TLS_ERR);
  return s->err;
}

static void set_err(tls_sess_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(tls_sess_t *s, const char *fmt, ...) {
  char *b = err_buf(s);
  if (!b) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b, TLS_ERR, fmt, ap);
  va_end(ap);
}

void tls_memory(size_t *in_use, size_t *peak, bool reset_peak) {
  if (reset_peak) mem_peak = mem_in_use;
  *in_use = mem_in_use;
  *peak = mem_peak;
}

bool tls_memory_counted(void) {
#if defined(MBEDTLS_PLATFORM_MEMORY)
  return true;
#else
  return false;
#endif
}

/* ---- time ---- */

/* Whether the wall clock is known: always on the host (the kernel's); on
 * the board once SNTP has answered (net.sntp). */
static bool clock_known(void) {
#if defined(LUAOS_TARGET)
  uint64_t us;
  return net_time(&us);
#else
  return true;
#endif
}

#if defined(LUAOS_TARGET)
/* mbedTLS's clock (MBEDTLS_PLATFORM_TIME_MACRO): SNTP's time, or the time
 * since boot until then (dates are not trusted before: verify_cb). */
time_t tls_time(time_t *t) {
  uint64_t us;
  time_t now = net_time(&us) ? (time_t)(us / 1000000u) : (time_t)(sched_now() / 1000000u);
  if (t) *t = now;
  return now;
}

struct tm *mbedtls_platform_gmtime_r(const mbedtls_time_t *tt, struct tm *tm_buf) {
  time_t t = (time_t)*tt;
  return gmtime_r(&t, tm_buf);
}
#endif

/* ---- randomness ---- */

static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static bool drbg_ready;

static int hal_source(void *data, unsigned char *out, size_t len, size_t *olen) {
  (void)data;
  hal_random(out, len);
  *olen = len;
  return 0;
}

static bool rng_init(void) {
  if (drbg_ready) return true;
#if defined(MBEDTLS_PLATFORM_MEMORY)
  mbedtls_platform_set_calloc_free(tls_calloc, tls_free);
#endif
  mbedtls_entropy_init(&entropy);
  /* The port's generator: getrandom on the host, the board's seed (docs/tls.md). */
  if (mbedtls_entropy_add_source(&entropy, hal_source, NULL, 32, MBEDTLS_ENTROPY_SOURCE_STRONG))
    return false;
  mbedtls_ctr_drbg_init(&drbg);
  static const unsigned char pers[] = "luaos tls";
  if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, pers, sizeof pers - 1)) {
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    return false;
  }
  drbg_ready = true;
  return true;
}

/* ---- errors ---- */

static void mbed_msg(char *buf, size_t n, const char *what, int code) {
#if defined(MBEDTLS_ERROR_C)
  char e[100];
  mbedtls_strerror(code, e, sizeof e);
  snprintf(buf, n, "tls: %s (%s)", what, e);
#else
  snprintf(buf, n, "tls: %s (mbedTLS error -0x%04x)", what, (unsigned)-code);
#endif
}

/* ---- the default CA set ---- */

static mbedtls_x509_crt sys_ca;
static bool sys_ca_ready;

static const char *sys_ca_load(void) {
  if (sys_ca_ready) return NULL;
  mbedtls_x509_crt_init(&sys_ca);
#if !defined(LUAOS_TARGET)
  int r = mbedtls_x509_crt_parse_file(&sys_ca, TLS_SYSTEM_CA);
#else
  int r = tls_ca_bundle_len
              ? mbedtls_x509_crt_parse(&sys_ca, (const unsigned char *)tls_ca_bundle, tls_ca_bundle_len)
              : MBEDTLS_ERR_X509_FILE_IO_ERROR;
#endif
  if (r < 0 || sys_ca.version == 0) { /* r > 0: some certificates did not parse */
    mbedtls_x509_crt_free(&sys_ca);
#if !defined(LUAOS_TARGET)
    return "tls: no default CA set (" TLS_SYSTEM_CA " missing or unreadable; install ca-certificates or pass ca=)";
#else
    return "tls: no default CA set (this image was built without a CA bundle; pass ca=)";
#endif
  }
  sys_ca_ready = true;
  return NULL;
}

/* ---- configurations ---- */

/* Modern suites only: forward secrecy and AEAD (docs/tls.md). The board
 * puts ChaCha20-Poly1305 first: faster than AES in software (a Cortex-M3
 * has no AES instructions) and ~0.6 KB less per session than two AES-GCM
 * contexts; the host, with AES instructions, AES-GCM. */
#if defined(LUAOS_TARGET)
#define TLS_CHACHA                                                                      \
  MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,                                 \
      MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
#define TLS_CHACHA_LAST
#else
#define TLS_CHACHA
#define TLS_CHACHA_LAST                                                                 \
  MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,                                 \
      MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
#endif
static const int tls_suites[] = {TLS_CHACHA MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                                 MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                                 MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                                 MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                                 TLS_CHACHA_LAST 0};

/* Key exchange groups, cheapest first (mbedTLS's default list starts with
 * P-521, which a server following the client's order then picks). */
static const mbedtls_ecp_group_id tls_curves[] = {
#if defined(MBEDTLS_ECP_DP_SECP256R1_ENABLED)
    MBEDTLS_ECP_DP_SECP256R1,
#endif
#if defined(MBEDTLS_ECP_DP_CURVE25519_ENABLED)
    MBEDTLS_ECP_DP_CURVE25519,
#endif
#if defined(MBEDTLS_ECP_DP_SECP384R1_ENABLED)
    MBEDTLS_ECP_DP_SECP384R1,
#endif
#if defined(MBEDTLS_ECP_DP_SECP521R1_ENABLED)
    MBEDTLS_ECP_DP_SECP521R1,
#endif
    MBEDTLS_ECP_DP_NONE};

void tls_conf_ref(tls_conf_t *c) { c->refs++; }

/* Client configurations from tables, live now (weak: not referenced). */
static tls_conf_t *shared_confs;

void tls_conf_unref(tls_conf_t *c) {
  if (!c || --c->refs > 0) return;
  if (c->shared) {
    tls_conf_t **pp = &shared_confs;
    while (*pp && *pp != c) pp = &(*pp)->next_shared;
    if (*pp) *pp = c->next_shared;
  }
  mbedtls_ssl_config_free(&c->ssl);
  mbedtls_x509_crt_free(&c->ca);
  mbedtls_x509_crt_free(&c->cert);
  mbedtls_pk_free(&c->key);
  own_free(c);
}

bool tls_conf_noverify(const tls_conf_t *c) { return !c->server && !c->verify; }

static bool is_pem(const char *s) { return strstr(s, "-----BEGIN") != NULL; }

/* Load ca/cert/key from PEM text or (host) a file path; NULL or a message. */
static const char *load_crt(mbedtls_x509_crt *crt, const char *what, const char *s, size_t len,
                            char *err, size_t n) {
  int r;
  if (is_pem(s)) {
    r = mbedtls_x509_crt_parse(crt, (const unsigned char *)s, len + 1);
  } else {
#if defined(MBEDTLS_FS_IO)
    r = mbedtls_x509_crt_parse_file(crt, s);
#else
    snprintf(err, n, "tls: %s: file paths need a file system (pass the PEM text)", what);
    return err;
#endif
  }
  if (r < 0 || crt->version == 0) {
    char w[64];
    snprintf(w, sizeof w, "cannot load %s", what);
    mbed_msg(err, n, w, r < 0 ? r : MBEDTLS_ERR_X509_INVALID_FORMAT);
    return err;
  }
  return NULL;
}

static const char *load_key(mbedtls_pk_context *pk, const char *s, size_t len, char *err, size_t n) {
  int r;
  if (is_pem(s)) {
    r = mbedtls_pk_parse_key(pk, (const unsigned char *)s, len + 1, NULL, 0);
  } else {
#if defined(MBEDTLS_FS_IO)
    r = mbedtls_pk_parse_keyfile(pk, s, NULL);
#else
    snprintf(err, n, "tls: key: file paths need a file system (pass the PEM text)");
    return err;
#endif
  }
  if (r) {
    mbed_msg(err, n, "cannot load key", r);
    return err;
  }
  return NULL;
}

static const char *const client_keys[] = {"ca", "cert", "key", "server_name", "verify", "alpn", NULL};
static const char *const server_keys[] = {"cert", "key", "ca", "alpn", NULL};

/* Field `k` of the table on top: a string or nil, else an argument error. */
static const char *opt_string(lua_State *L, int arg, const char *k, size_t *len) {
  lua_getfield(L, -1, k);
  const char *s = NULL;
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaos_argerror(L, arg, lua_pushfstring(L, "tls.%s must be a string (PEM text or a file path)", k));
    s = lua_tolstring(L, -1, len);
  }
  lua_pop(L, 1); /* the table still holds it */
  return s;
}

static tls_conf_t *conf_alloc(size_t extra, bool server) {
  tls_conf_t *c = own_calloc(sizeof *c + extra);
  if (!c) return NULL;
  c->refs = 1;
  c->server = server;
  c->verify = true;
  mbedtls_ssl_config_init(&c->ssl);
  mbedtls_x509_crt_init(&c->ca);
  mbedtls_x509_crt_init(&c->cert);
  mbedtls_pk_init(&c->key);
  return c;
}

static const char *conf_setup(tls_conf_t *c, char *err, size_t n) {
  int r = mbedtls_ssl_config_defaults(&c->ssl, c->server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                      MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
  if (r) {
    mbed_msg(err, n, "configuration", r);
    return err;
  }
  /* TLS 1.2 only: mbedTLS 2.28 has no TLS 1.3, and 1.0/1.1 are obsolete. */
  mbedtls_ssl_conf_min_version(&c->ssl, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(&c->ssl, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_ciphersuites(&c->ssl, tls_suites);
  mbedtls_ssl_conf_curves(&c->ssl, tls_curves);
  mbedtls_ssl_conf_rng(&c->ssl, mbedtls_ctr_drbg_random, &drbg);
#if defined(MBEDTLS_SSL_MAX_FRAGMENT_LENGTH) && MBEDTLS_SSL_IN_CONTENT_LEN < 16384
  /* A small record buffer (LUAOS_TLS_RECORD_IN): ask servers for records that fit. */
  if (!c->server)
    mbedtls_ssl_conf_max_frag_len(&c->ssl, MBEDTLS_SSL_IN_CONTENT_LEN >= 4096   ? MBEDTLS_SSL_MAX_FRAG_LEN_4096
                                           : MBEDTLS_SSL_IN_CONTENT_LEN >= 2048 ? MBEDTLS_SSL_MAX_FRAG_LEN_2048
                                                                                : MBEDTLS_SSL_MAX_FRAG_LEN_1024);
#endif
  if (c->server) {
    mbedtls_ssl_conf_authmode(&c->ssl, c->has_ca ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_NONE);
  } else {
    mbedtls_ssl_conf_authmode(&c->ssl, c->verify ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_NONE);
  }
  if (c->has_ca) {
    mbedtls_ssl_conf_ca_chain(&c->ssl, &c->ca, NULL);
  } else if (!c->server && c->verify) {
    const char *e = sys_ca_load();
    if (e) {
      snprintf(err, n, "%s", e);
      return err;
    }
    mbedtls_ssl_conf_ca_chain(&c->ssl, &sys_ca, NULL);
  }
  if (c->has_cert && (r = mbedtls_ssl_conf_own_cert(&c->ssl, &c->cert, &c->key))) {
    mbed_msg(err, n, "certificate and key", r);
    return err;
  }
#if defined(MBEDTLS_SSL_ALPN)
  if (c->alpn[0] && (r = mbedtls_ssl_conf_alpn_protocols(&c->ssl, c->alpn))) {
    mbed_msg(err, n, "alpn", r);
    return err;
  }
#endif
  return NULL;
}

static tls_conf_t *default_client;

/* The options a client configuration is made of, as one digest: each
 * field with its length (absent: a length of all ones), so no two option
 * sets give the same input. SHA-256: a CA text must never be mistaken for
 * another. */
static void digest_field(mbedtls_sha256_context *h, const char *s, size_t n) {
  unsigned char len[8];
  uint64_t v = s ? (uint64_t)n : UINT64_MAX;
  for (int i = 0; i < 8; i++) len[i] = (unsigned char)(v >> (8 * i));
  mbedtls_sha256_update_ret(h, len, sizeof len);
  if (s && n) mbedtls_sha256_update_ret(h, (const unsigned char *)s, n);
}

static tls_conf_t *conf_find(const unsigned char digest[32]) {
  for (tls_conf_t *c = shared_confs; c; c = c->next_shared)
    if (memcmp(c->digest, digest, 32) == 0) return c;
  return NULL;
}

tls_conf_t *tls_conf_check(lua_State *L, int arg, int idx, bool server) {
  char err[TLS_ERR];
  idx = lua_absindex(L, idx);
  if (lua_isboolean(L, idx) && lua_toboolean(L, idx) && !server) {
    if (!rng_init()) {
      lua_pushliteral(L, "tls: no entropy");
      return NULL;
    }
    if (!default_client) {
      tls_conf_t *c = conf_alloc(0, false);
      if (!c) luaL_error(L, "not enough memory");
      const char *e = conf_setup(c, err, sizeof err);
      if (e) {
        tls_conf_unref(c);
        lua_pushstring(L, e);
        return NULL;
      }
      default_client = c; /* the module keeps one reference */
    }
    tls_conf_ref(default_client);
    return default_client;
  }
  if (!lua_istable(L, idx))
    luaos_argerror(L, arg,
                   server ? "tls must be a table {cert=, key=[, ca=, alpn=]}"
                          : "tls must be true or a table {ca=, cert=, key=, server_name=, verify=, alpn=}");
  const char *const *keys = server ? server_keys : client_keys;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    bool ok = false;
    for (int i = 0; k && keys[i]; i++) ok = ok || strcmp(k, keys[i]) == 0;
    if (!ok) {
      if (!k) luaos_argerror(L, arg, "tls option names must be strings");
      lua_pushfstring(L, "unknown tls option '%s'", k);
      luaos_push_hint(L, k, keys);
      luaos_argerror(L, arg, lua_tostring(L, -1));
    }
  }
  lua_pushvalue(L, idx);
  size_t calen = 0, certlen = 0, keylen = 0, snlen = 0;
  const char *ca = opt_string(L, arg, "ca", &calen);
  const char *cert = opt_string(L, arg, "cert", &certlen);
  const char *key = opt_string(L, arg, "key", &keylen);
  const char *sn = server ? NULL : opt_string(L, arg, "server_name", &snlen);
  if (sn && (snlen == 0 || snlen > 253 || strlen(sn) != snlen))
    luaos_argerror(L, arg, "tls.server_name must be a host name of 1..253 characters");
  if (!cert != !key) luaos_argerror(L, arg, "tls.cert and tls.key go together");
  if (server && !cert) luaos_argerror(L, arg, "a TLS server needs tls.cert and tls.key");
  bool verify = true;
  if (!server) {
    lua_getfield(L, -1, "verify");
    if (!lua_isnil(L, -1)) {
      if (!lua_isboolean(L, -1)) luaos_argerror(L, arg, "tls.verify must be a boolean");
      verify = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
  }
  /* alpn: a string or a list of strings */
  const char *alpn[TLS_ALPN_MAX];
  size_t alpnlen[TLS_ALPN_MAX], nalpn = 0, strbytes = snlen + 1;
  lua_getfield(L, -1, "alpn");
  if (lua_type(L, -1) == LUA_TSTRING) {
    alpn[0] = lua_tolstring(L, -1, &alpnlen[0]);
    nalpn = 1;
  } else if (lua_istable(L, -1)) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    if (n < 1 || n > TLS_ALPN_MAX) luaos_argerror(L, arg, "tls.alpn must list 1..4 protocol names");
    for (lua_Integer i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      if (lua_type(L, -1) != LUA_TSTRING) luaos_argerror(L, arg, "tls.alpn must list strings");
      alpn[nalpn] = lua_tolstring(L, -1, &alpnlen[nalpn]);
      nalpn++;
      lua_pop(L, 1); /* kept alive by the list */
    }
  } else if (!lua_isnil(L, -1)) {
    luaos_argerror(L, arg, "tls.alpn must be a string or a list of strings");
  }
  for (size_t i = 0; i < nalpn; i++) {
    if (alpnlen[i] < 1 || alpnlen[i] > 255 || strlen(alpn[i]) != alpnlen[i])
      luaos_argerror(L, arg, "tls.alpn names must be 1..255 bytes");
    strbytes += alpnlen[i] + 1;
  }
  if (!rng_init()) {
    lua_settop(L, idx);
    lua_pushliteral(L, "tls: no entropy");
    return NULL;
  }
  /* A client's configuration (its parsed CA chain: ~1.5 KB on a board) is
   * shared by the connections open at once with the same options. */
  unsigned char digest[32];
  if (!server) {
    mbedtls_sha256_context h;
    mbedtls_sha256_init(&h);
    mbedtls_sha256_starts_ret(&h, 0);
    digest_field(&h, ca, calen);
    digest_field(&h, cert, certlen);
    digest_field(&h, key, keylen);
    digest_field(&h, sn, snlen);
    digest_field(&h, verify ? "1" : "0", 1);
    for (size_t i = 0; i < nalpn; i++) digest_field(&h, alpn[i], alpnlen[i]);
    mbedtls_sha256_finish_ret(&h, digest);
    mbedtls_sha256_free(&h);
    tls_conf_t *found = conf_find(digest);
    if (found) {
      lua_settop(L, idx);
      tls_conf_ref(found);
      return found;
    }
  }
  tls_conf_t *c = conf_alloc(strbytes, server);
  if (!c) luaL_error(L, "not enough memory");
  c->verify = verify;
  char *p = c->strings;
  for (size_t i = 0; i < nalpn; i++) {
    memcpy(p, alpn[i], alpnlen[i] + 1);
    c->alpn[i] = p;
    p += alpnlen[i] + 1;
  }
  if (sn) {
    memcpy(p, sn, snlen + 1);
    c->server_name = p;
  }
  const char *e = NULL;
  if (ca) {
    c->has_ca = true;
    e = load_crt(&c->ca, "ca", ca, calen, err, sizeof err);
  }
  if (!e && cert) {
    c->has_cert = true;
    e = load_crt(&c->cert, "cert", cert, certlen, err, sizeof err);
    if (!e) e = load_key(&c->key, key, keylen, err, sizeof err);
  }
  if (!e) e = conf_setup(c, err, sizeof err);
  lua_settop(L, idx);
  if (e) {
    tls_conf_unref(c);
    lua_pushstring(L, e);
    return NULL;
  }
  if (!server) {
    memcpy(c->digest, digest, sizeof digest);
    c->shared = true;
    c->next_shared = shared_confs;
    shared_confs = c;
  }
  return c;
}

/* ---- sessions: the record stream meter ---- */

static void rm_feed(recmeter_t *m, const unsigned char *b, size_t n) {
  while (n) {
    if (m->body_left) {
      size_t k = n < m->body_left ? n : m->body_left;
      m->body_left -= k;
      b += k;
      n -= k;
      continue;
    }
    m->hdr[m->hdr_got++] = *b++;
    n--;
    if (m->hdr_got == 5) {
      m->body_left = (size_t)m->hdr[3] << 8 | m->hdr[4];
      m->hdr_got = 0;
    }
  }
}

static bool rm_inside(const recmeter_t *m) { return m->hdr_got || m->body_left; }

static int bio_send(void *arg, const unsigned char *b, size_t n) {
  tls_sess_t *s = arg;
  int r = s->io.send(s->ioarg, b, n);
  if (r == TLS_WANT_READ || r == TLS_WANT_WRITE) return MBEDTLS_ERR_SSL_WANT_WRITE;
  if (r < 0) return MBEDTLS_ERR_NET_CONN_RESET;
  return r;
}

static int bio_recv(void *arg, unsigned char *b, size_t n) {
  tls_sess_t *s = arg;
  int r = s->io.recv(s->ioarg, b, n);
  if (r == TLS_WANT_READ || r == TLS_WANT_WRITE) return MBEDTLS_ERR_SSL_WANT_READ;
  if (r == TLS_EOF) return 0;
  if (r < 0) return MBEDTLS_ERR_NET_CONN_RESET;
  rm_feed(&s->rm, b, (size_t)r);
  return r;
}

/* The names a certificate is for: its DNS and IP SANs, else its CN. */
static void crt_names(const mbedtls_x509_crt *crt, char *out, size_t n) {
  size_t used = 0;
  out[0] = '\0';
#define ADD(...)                                                          \
  do {                                                                    \
    if (used < n) {                                                       \
      int w = snprintf(out + used, n - used, "%s", used ? ", " : "");     \
      used += (size_t)(w > 0 ? w : 0);                                    \
      if (used < n) {                                                     \
        w = snprintf(out + used, n - used, __VA_ARGS__);                  \
        used += (size_t)(w > 0 ? w : 0);                                  \
      }                                                                   \
    }                                                                     \
  } while (0)
  for (const mbedtls_x509_sequence *q = &crt->subject_alt_names; q && q->buf.p; q = q->next) {
    int type = q->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK;
    if (type == 2) /* dNSName */
      ADD("%.*s", (int)q->buf.len, (const char *)q->buf.p);
    else if (type == 7 && q->buf.len == 4) /* iPAddress, IPv4 */
      ADD("%u.%u.%u.%u", q->buf.p[0], q->buf.p[1], q->buf.p[2], q->buf.p[3]);
  }
  if (!used) {
    for (const mbedtls_x509_name *nm = &crt->subject; nm; nm = nm->next)
      if (nm->oid.p && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &nm->oid) == 0)
        ADD("%.*s", (int)nm->val.len, (const char *)nm->val.p);
  }
  if (!used) snprintf(out, n, "no names");
#undef ADD
}

static bool crt_has_ip(const mbedtls_x509_crt *crt, const unsigned char ip[4]) {
  for (const mbedtls_x509_sequence *q = &crt->subject_alt_names; q && q->buf.p; q = q->next)
    if ((q->buf.tag & MBEDTLS_ASN1_TAG_VALUE_MASK) == 7 && q->buf.len == 4 && memcmp(q->buf.p, ip, 4) == 0)
      return true;
  return false;
}

/* Sees each certificate of the chain, the leaf last (depth 0): keep the
 * leaf's names for the message, check an address host ourselves
 * (mbedTLS 2.28 matches DNS names only). */
static int verify_cb(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags) {
  tls_sess_t *s = arg;
  if (!clock_known()) { /* dates compared with a clock that is not set mean nothing */
    *flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE);
    *flags |= MBEDTLS_X509_BADCERT_OTHER;
    s->clock_unset = true;
  }
  if (depth != 0) return 0;
  if (mbedtls_x509_dn_gets(s->peer, sizeof s->peer, &crt->subject) < 0) s->peer[0] = '\0';
  s->leaf_self_signed = crt->issuer_raw.len == crt->subject_raw.len &&
                        memcmp(crt->issuer_raw.p, crt->subject_raw.p, crt->issuer_raw.len) == 0;
  if (s->ip_host && !crt_has_ip(crt, s->ip)) *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
  if (*flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) {
    /* The leaf is gone once the handshake ends: word the message now
     * (verify_reason keeps it if the mismatch is the reason it gives). */
    char names[TLS_NAMES];
    crt_names(crt, names, sizeof names);
    set_err(s, "hostname mismatch: expected %s, got %s", s->host, names);
  }
  return 0;
}

static bool parse_ipv4(const char *h, unsigned char ip[4]) {
  unsigned a[4];
  char tail;
  if (sscanf(h, "%u.%u.%u.%u%c", &a[0], &a[1], &a[2], &a[3], &tail) != 4) return false;
  for (int i = 0; i < 4; i++) {
    if (a[i] > 255) return false;
    ip[i] = (unsigned char)a[i];
  }
  return true;
}

tls_sess_t *tls_sess_new(tls_conf_t *conf, const char *host, const tls_io_t *io, void *ioarg) {
  const char *name = conf->server_name ? conf->server_name : host;
  size_t hl = name ? strlen(name) : 0;
  tls_sess_t *s = own_calloc(sizeof *s + hl + 1);
  if (!s) return NULL;
  mbedtls_ssl_init(&s->ssl);
  s->conf = conf;
  s->io = *io;
  s->ioarg = ioarg;
  if (name) memcpy(s->host, name, hl + 1);
  if (mbedtls_ssl_setup(&s->ssl, &conf->ssl)) {
    mbedtls_ssl_free(&s->ssl);
    own_free(s);
    return NULL;
  }
  tls_conf_ref(conf);
  if (!conf->server && name) {
    s->ip_host = parse_ipv4(name, s->ip);
    /* An address is neither sent as SNI (RFC 6066) nor matched by mbedTLS. */
    if (!s->ip_host && mbedtls_ssl_set_hostname(&s->ssl, name)) {
      tls_sess_free(s);
      return NULL;
    }
  }
  mbedtls_ssl_set_verify(&s->ssl, verify_cb, s);
  mbedtls_ssl_set_bio(&s->ssl, s, bio_send, bio_recv, NULL);
  return s;
}

void tls_sess_free(tls_sess_t *s) {
  if (!s) return;
  mbedtls_ssl_free(&s->ssl);
  tls_conf_unref(s->conf);
  own_free(s->err);
  own_free(s);
}

static void verify_reason(tls_sess_t *s, uint32_t f) {
  if (s->clock_unset && !(f & ~(uint32_t)MBEDTLS_X509_BADCERT_OTHER))
    set_err(s,
             "clock not set: certificate dates cannot be checked (net.sntp() first, see docs/tls.md)");
  else if (f & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
    set_err(s, "%s", s->leaf_self_signed ? "self-signed certificate" : "unknown CA");
  else if (f & MBEDTLS_X509_BADCERT_EXPIRED)
    set_err(s, "certificate expired");
  else if (f & MBEDTLS_X509_BADCERT_FUTURE)
    set_err(s, "certificate not yet valid");
  else if (f & MBEDTLS_X509_BADCERT_CN_MISMATCH)
    ; /* worded by verify_cb, which saw the leaf's names */
  else if (f & MBEDTLS_X509_BADCERT_REVOKED)
    set_err(s, "certificate revoked");
  else {
    char info[120];
    int w = mbedtls_x509_crt_verify_info(info, sizeof info, "", f);
    if (w > 0 && info[w - 1] == '\n') info[w - 1] = '\0';
    set_err(s, "certificate refused (%s)", w > 0 ? info : "unknown reason");
  }
}

/* RFC 8446 6.2 / RFC 5246 7.2 names of the alerts a peer refuses with. */
static const char *alert_name(int a) {
  switch (a) {
    case 10: return "unexpected message";
    case 20: return "bad record MAC";
    case 22: return "record overflow";
    case 40: return "handshake failure";
    case 42: return "bad certificate";
    case 43: return "unsupported certificate";
    case 44: return "certificate revoked";
    case 45: return "certificate expired";
    case 46: return "certificate unknown";
    case 47: return "illegal parameter";
    case 48: return "unknown CA";
    case 50: return "decode error";
    case 51: return "decrypt error";
    case 70: return "protocol version";
    case 71: return "insufficient security";
    case 80: return "internal error";
    case 112: return "unrecognized name";
    case 116: return "certificate required";
    case 120: return "no application protocol";
    default: return "alert";
  }
}

static int fail_code(tls_sess_t *s, int r, const char *what) {
  if (r == MBEDTLS_ERR_SSL_WANT_READ) return TLS_WANT_READ;
  if (r == MBEDTLS_ERR_SSL_WANT_WRITE) return TLS_WANT_WRITE;
  if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
    verify_reason(s, mbedtls_ssl_get_verify_result(&s->ssl));
    return TLS_FAIL;
  }
  if (r == MBEDTLS_ERR_SSL_CONN_EOF || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || r == 0) {
    if (rm_inside(&s->rm)) {
      set_err(s, "tls: truncated record (the connection ended inside a TLS record)");
      return TLS_FAIL;
    }
    if (!s->done) {
      set_err(s, "tls: the peer closed the connection during the handshake");
      return TLS_FAIL;
    }
    return TLS_EOF;
  }
  if (r == MBEDTLS_ERR_NET_CONN_RESET) {
    set_err(s, "connection reset");
    return TLS_FAIL;
  }
#if MBEDTLS_SSL_IN_CONTENT_LEN < 16384
  if (r == MBEDTLS_ERR_SSL_BAD_INPUT_DATA && s->done) { /* a record past our buffer */
    set_err(s,
             "tls: the peer sent a record larger than %d bytes (this image's LUAOS_TLS_RECORD_IN; "
             "it ignored max_fragment_length)", MBEDTLS_SSL_IN_CONTENT_LEN);
    return TLS_FAIL;
  }
#endif
  if (r == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
    int a = s->ssl.in_msg[1];
    set_err(s, "tls: the peer refused the %s (alert %d: %s)", what, a,
             alert_name(a));
    return TLS_FAIL;
  }
  char *b = err_buf(s);
  if (b) mbed_msg(b, TLS_ERR, what, r);
  return TLS_FAIL;
}

int tls_handshake(tls_sess_t *s) {
  if (s->done) return TLS_OK;
  int r = mbedtls_ssl_handshake(&s->ssl);
  if (r == 0) {
    s->done = true;
    own_free(s->err); /* a mismatch worded while verify = false */
    s->err = NULL;
    return TLS_OK;
  }
  return fail_code(s, r, "handshake");
}

bool tls_handshake_done(const tls_sess_t *s) { return s->done; }

int tls_read(tls_sess_t *s, unsigned char *buf, size_t len) {
  int r = mbedtls_ssl_read(&s->ssl, buf, len);
  if (r > 0) return r;
  return fail_code(s, r, "connection");
}

int tls_write(tls_sess_t *s, const unsigned char *buf, size_t len) {
  int r = mbedtls_ssl_write(&s->ssl, buf, len);
  if (r >= 0) return r;
  return fail_code(s, r, "connection");
}

int tls_flush(tls_sess_t *s) {
  if (!s->ssl.out_left) return TLS_OK;
  int r = mbedtls_ssl_flush_output(&s->ssl);
  return r == 0 ? TLS_OK : fail_code(s, r, "connection");
}

bool tls_wpending(const tls_sess_t *s) { return s->ssl.out_left != 0; }

size_t tls_max_write(const tls_sess_t *s) {
  int n = mbedtls_ssl_get_max_out_record_payload(&s->ssl);
  return n > 0 ? (size_t)n : 512;
}

size_t tls_pending(const tls_sess_t *s) { return mbedtls_ssl_get_bytes_avail(&s->ssl); }

void tls_close_notify(tls_sess_t *s) {
  if (s->done) mbedtls_ssl_close_notify(&s->ssl);
}

const char *tls_error(const tls_sess_t *s) {
  return s->err && s->err[0] ? s->err : "tls: error";
}

void tls_push_info(lua_State *L, const tls_sess_t *s) {
  lua_createtable(L, 0, 6);
  lua_pushstring(L, mbedtls_ssl_get_version(&s->ssl));
  lua_setfield(L, -2, "version");
  lua_pushstring(L, mbedtls_ssl_get_ciphersuite(&s->ssl));
  lua_setfield(L, -2, "cipher");
  /* The subject seen by verify_cb, else (verify = false) the kept certificate. */
  const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&s->ssl);
  char dn[256];
  if (s->peer[0]) {
    lua_pushstring(L, s->peer);
    lua_setfield(L, -2, "peer");
  } else if (peer && mbedtls_x509_dn_gets(dn, sizeof dn, &peer->subject) > 0) {
    lua_pushstring(L, dn);
    lua_setfield(L, -2, "peer");
  }
  if (peer && mbedtls_x509_dn_gets(dn, sizeof dn, &peer->issuer) > 0) {
    lua_pushstring(L, dn);
    lua_setfield(L, -2, "issuer");
  }
#if defined(MBEDTLS_SSL_ALPN)
  const char *alpn = mbedtls_ssl_get_alpn_protocol(&s->ssl);
  if (alpn) {
    lua_pushstring(L, alpn);
    lua_setfield(L, -2, "alpn");
  }
#endif
  /* Whether the peer was verified: a client with verify on, or a server
   * that required client certificates (both refuse otherwise). */
  bool verified = s->conf->server ? s->conf->has_ca : s->conf->verify;
  lua_pushboolean(L, verified);
  lua_setfield(L, -2, "verified");
  if (s->host[0]) {
    lua_pushstring(L, s->host);
    lua_setfield(L, -2, "server_name");
  }
}

void tls_warn_noverify(lua_State *L, const char *where) {
  int top = lua_gettop(L);
  /* Through the log module, so it is seen wherever logs go; never raises. */
  if (luaL_loadstring(L, "local w = ... ; require('log').tag('tls').warn("
                         "'%s: verify = false: the peer is NOT authenticated (anyone can "
                         "intercept this connection)', w)") == LUA_OK) {
    lua_pushstring(L, where);
    lua_pcall(L, 1, 0, 0);
  }
  lua_settop(L, top);
}
