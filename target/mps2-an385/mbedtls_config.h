/* mbedTLS 2.28 configuration of the MPS2 AN385 image (cmake/mbedtls.cmake
 * passes it as MBEDTLS_CONFIG_FILE; docs/tls.md explains the choices).
 *
 * TLS 1.2 client and server, ECDHE key exchange only (ECDSA or RSA
 * certificates), AES-GCM and ChaCha20-Poly1305: the suites tls.c offers.
 * Sized for RAM: 2 KB outgoing records (incoming: 16 KB unless the build
 * sets LUAOS_TLS_RECORD_IN), small bignum/ECP windows,
 * AES tables in flash, no copy of the peer's certificate kept after the
 * handshake. No file system: CA, certificate and key are PEM text, the
 * default CA set is compiled in (LUAOS_TLS_CA_BUNDLE). */
#ifndef MPS2_MBEDTLS_CONFIG_H
#define MPS2_MBEDTLS_CONFIG_H

#include <time.h>

/* ---- system ---- */
#define MBEDTLS_HAVE_ASM /* Thumb-2 multiply-accumulate in bignum (bn_mul.h) */
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY /* tls.c counts the bytes (RAM per session) */
/* The wall clock is SNTP's (net.time); tls.c refuses to check dates until
 * it is set. */
time_t tls_time(time_t *t);
#define MBEDTLS_PLATFORM_TIME_MACRO tls_time
#define MBEDTLS_PLATFORM_GMTIME_R_ALT
#define MBEDTLS_NO_PLATFORM_ENTROPY /* the seed is hal_random's (random.c) */
#define MBEDTLS_DEPRECATED_REMOVED

/* ---- randomness ---- */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_ENTROPY_MAX_SOURCES 2
#define MBEDTLS_CTR_DRBG_C

/* ---- symmetric ---- */
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_AES_FEWER_TABLES
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA256_SMALLER
#define MBEDTLS_SHA512_C /* SHA-384 suites and certificates, the entropy pool */
#define MBEDTLS_SHA1_C   /* certificates still signed with SHA-1 by old roots' chains */

/* ---- public key ---- */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_MPI_WINDOW_SIZE 2
#define MBEDTLS_MPI_MAX_SIZE 512 /* RSA-4096 roots */
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_WINDOW_SIZE 2
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_OID_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C

/* ---- X.509 ---- */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_CHECK_KEY_USAGE
#define MBEDTLS_X509_CHECK_EXTENDED_KEY_USAGE

/* ---- TLS ---- */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_ALPN
#define MBEDTLS_SSL_MAX_FRAGMENT_LENGTH
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_ENCRYPT_THEN_MAC
/* Incoming records: 16 KB by default, what any server may send. A smaller
 * LUAOS_TLS_RECORD_IN (cmake) saves RAM and makes tls.c ask servers for
 * max_fragment_length; only servers that honour it then work (docs/tls.md). */
#if defined(LUAOS_TLS_RECORD_IN)
#define MBEDTLS_SSL_IN_CONTENT_LEN LUAOS_TLS_RECORD_IN
#else
#define MBEDTLS_SSL_IN_CONTENT_LEN 16384
#endif
/* Outgoing: our records and handshake messages. mbedTLS does not split a
 * handshake message over records, so the board's own certificate chain
 * (server, or client certificate) must fit: 1536 B holds an ECDSA P-256
 * leaf with its intermediate or one RSA-2048 leaf; -DLUAOS_TLS_RECORD_OUT
 * (cmake) raises it. A chain too large fails the handshake with "Our own
 * certificate(s) is/are too large". */
#if defined(LUAOS_TLS_RECORD_OUT)
#define MBEDTLS_SSL_OUT_CONTENT_LEN LUAOS_TLS_RECORD_OUT
#else
#define MBEDTLS_SSL_OUT_CONTENT_LEN 1536
#endif
#define MBEDTLS_SSL_CIPHERSUITES                                                           \
  MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, \
      MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,                                      \
      MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,                                        \
      MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,                                \
      MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256

/* Readable reasons for failures ("tls: handshake (...)"): ~10 KB of flash. */
#define MBEDTLS_ERROR_C

#include "mbedtls/check_config.h"

#endif
