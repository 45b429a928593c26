# mbedTLS under the socket module's TLS (shared/net/tls.c, docs/tls.md).
# Host: Debian's libmbedtls-dev (2.28: TLS 1.2), found as a system library.
# Board: the Debian source package `mbedtls`, unpacked into the build tree
# at configure time like lwIP, compiled with the board's configuration
# (target/<board>/mbedtls_config.h, named by MBEDTLS_CONFIG_FILE).
if(LUAOS_HOST)
  find_path(MBEDTLS_INCLUDE_DIR mbedtls/ssl.h)
  find_library(MBEDTLS_LIB mbedtls)
  find_library(MBEDX509_LIB mbedx509)
  find_library(MBEDCRYPTO_LIB mbedcrypto)
  if(NOT MBEDTLS_INCLUDE_DIR OR NOT MBEDTLS_LIB OR NOT MBEDX509_LIB OR NOT MBEDCRYPTO_LIB)
    message(FATAL_ERROR "mbedTLS not found: install libmbedtls-dev (tools/setup.sh)")
  endif()
  add_library(luaos_mbedtls INTERFACE)
  target_include_directories(luaos_mbedtls INTERFACE ${MBEDTLS_INCLUDE_DIR})
  target_link_libraries(luaos_mbedtls INTERFACE ${MBEDTLS_LIB} ${MBEDX509_LIB} ${MBEDCRYPTO_LIB})
  return()
endif()

luaos_deb_source(mbedtls MBEDTLS_DIR)
set(MBEDTLS_DIR ${MBEDTLS_DIR} CACHE INTERNAL "")

set(LUAOS_MBEDTLS_CONFIG ${CMAKE_SOURCE_DIR}/target/${LUAOS_BOARD}/mbedtls_config.h)
if(NOT EXISTS ${LUAOS_MBEDTLS_CONFIG})
  message(FATAL_ERROR "TLS on ${LUAOS_BOARD} needs ${LUAOS_MBEDTLS_CONFIG}")
endif()
# Every library source; what the configuration leaves out compiles to nothing.
file(GLOB _mbedtls_src ${MBEDTLS_DIR}/library/*.c)
add_library(luaos_mbedtls STATIC ${_mbedtls_src})
target_include_directories(luaos_mbedtls PUBLIC ${MBEDTLS_DIR}/include
  ${CMAKE_SOURCE_DIR}/target/${LUAOS_BOARD})
target_compile_definitions(luaos_mbedtls PUBLIC MBEDTLS_CONFIG_FILE="mbedtls_config.h")
# Third-party code: its own warnings are not ours to fix.
target_compile_options(luaos_mbedtls PRIVATE -w)
# The largest incoming record (bytes of plaintext), the largest part of a
# session's RAM: 16384 (any server) or 4096/2048/1024 (servers that honour
# the max_fragment_length extension only; docs/tls.md).
set(LUAOS_TLS_RECORD_IN 16384 CACHE STRING "Largest incoming TLS record on the board (16384, 4096, 2048, 1024)")
if(NOT LUAOS_TLS_RECORD_IN MATCHES "^(16384|4096|2048|1024)$")
  message(FATAL_ERROR "LUAOS_TLS_RECORD_IN must be 16384, 4096, 2048 or 1024")
endif()
target_compile_definitions(luaos_mbedtls PUBLIC LUAOS_TLS_RECORD_IN=${LUAOS_TLS_RECORD_IN})
# Outgoing records and our handshake messages: the board's own certificate
# chain must fit (an ECDSA leaf with an intermediate, or one RSA-2048 leaf).
set(LUAOS_TLS_RECORD_OUT 1536 CACHE STRING "Largest outgoing TLS record on the board (1024..16384)")
if(NOT LUAOS_TLS_RECORD_OUT MATCHES "^[0-9]+$" OR LUAOS_TLS_RECORD_OUT LESS 1024 OR LUAOS_TLS_RECORD_OUT GREATER 16384)
  message(FATAL_ERROR "LUAOS_TLS_RECORD_OUT must be a number of bytes from 1024 to 16384")
endif()
target_compile_definitions(luaos_mbedtls PUBLIC LUAOS_TLS_RECORD_OUT=${LUAOS_TLS_RECORD_OUT})

# The board's CA set, chosen at build time: a PEM file of trusted roots
# compiled into the image (default: none; socket.connect then needs ca=).
set(LUAOS_TLS_CA_BUNDLE "" CACHE FILEPATH "PEM file of CA certificates built into the board image")
set(_bundle_c ${CMAKE_BINARY_DIR}/tls_ca_bundle.c)
add_custom_command(OUTPUT ${_bundle_c}
  COMMAND ${CMAKE_COMMAND} -DIN=${LUAOS_TLS_CA_BUNDLE} -DOUT=${_bundle_c}
    -P ${CMAKE_SOURCE_DIR}/cmake/tls-ca-bundle.cmake
  DEPENDS ${CMAKE_SOURCE_DIR}/cmake/tls-ca-bundle.cmake ${LUAOS_TLS_CA_BUNDLE}
  COMMENT "TLS CA bundle: ${LUAOS_TLS_CA_BUNDLE}")
add_library(luaos_tls_ca STATIC ${_bundle_c})
target_link_libraries(luaos_mbedtls PUBLIC luaos_tls_ca)
