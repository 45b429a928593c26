# Lua 5.4 from the Debian source package, unpacked into the build tree at
# configure time. Host and board compile the same files with the same
# configuration header (shared/include/luaos_luaconf.h).
include(${CMAKE_CURRENT_LIST_DIR}/deb-source.cmake)
luaos_deb_source(lua5.4 LUA_SRC_DIR)
set(LUA_SRC_DIR ${LUA_SRC_DIR}/src CACHE INTERNAL "")

set(_lua_core lapi lcode lctype ldebug ldo ldump lfunc lgc llex lmem lobject
    lopcodes lparser lstate lstring ltable ltm lundump lvm lzio
    lauxlib lbaselib lcorolib ldblib lmathlib lstrlib ltablib lutf8lib
    loadlib linit)
if(LUAOS_HOST)
  list(APPEND _lua_core liolib loslib)
endif()
set(LUA_LIB_SOURCES)
foreach(f ${_lua_core})
  list(APPEND LUA_LIB_SOURCES ${LUA_SRC_DIR}/${f}.c)
endforeach()

# Debian's luaconf.h patch includes a header its build generates.
execute_process(COMMAND ${CMAKE_C_COMPILER} -print-multiarch
  OUTPUT_VARIABLE _multiarch OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT _multiarch)
  set(_multiarch "none")
endif()
file(WRITE ${CMAKE_BINARY_DIR}/generated/lua5.4-deb-multiarch.h.tmp
  "#define DEB_HOST_MULTIARCH \"${_multiarch}\"\n")
file(COPY_FILE ${CMAKE_BINARY_DIR}/generated/lua5.4-deb-multiarch.h.tmp
  ${CMAKE_BINARY_DIR}/generated/lua5.4-deb-multiarch.h ONLY_IF_DIFFERENT)

add_library(luaos_lua STATIC ${LUA_LIB_SOURCES})
# Lua 5.4.4's utf8 decoder (lutf8lib.c, utf8_decode) shifts the lead byte's
# remaining bits, zero by then, by count * 5 = 35 bits for bytes F8..FF
# before it refuses them (count > 5): UBSan's "shift exponent too large"
# on any utf8.len/codes/codepoint of such input (found by fuzz_json and
# fuzz_mqtt). The value is 0 and unused, so only that check is off, and
# only in that file; everything else stays under the sanitizers.
if(LUAOS_SANITIZE OR LUAOS_FUZZ)
  set_source_files_properties(${LUA_SRC_DIR}/lutf8lib.c PROPERTIES
    COMPILE_OPTIONS "-fno-sanitize=shift")
endif()
# libFuzzer's comparison tracing (-fsanitize-coverage=trace-cmp) in Lua's
# runtime took half of every fuzz_api run (the VM's dispatch, table
# access, the collector: each allocation past the heap cap runs a full
# collection) while telling libFuzzer nothing about what is under test.
# The runtime keeps its edge coverage and the sanitizers; the lexer,
# parser and number/string conversions, which read the fuzzed text of
# fuzz_module and fuzz_repl, keep the compare tracing too.
if(LUAOS_FUZZ)
  foreach(_f lapi.c lvm.c ldo.c lgc.c ltable.c ldebug.c lfunc.c lstate.c lmem.c ltablib.c ltm.c)
    set_source_files_properties(${LUA_SRC_DIR}/${_f} PROPERTIES
      COMPILE_OPTIONS "-fno-sanitize-coverage=trace-cmp")
  endforeach()
endif()
target_include_directories(luaos_lua PUBLIC ${LUA_SRC_DIR} ${CMAKE_SOURCE_DIR}/shared/include
  ${CMAKE_BINARY_DIR}/generated)
# A board may add to the configuration (number formatting on a small libc,
# hash seed...) with target/<board>/include/luaos_port_luaconf.h, which
# includes luaos_luaconf.h first. Only the number *types* fix the bytecode
# format, and no port may change those (see cmake/host-luac.cmake).
set(_lua_user_h luaos_luaconf.h)
if(NOT LUAOS_HOST AND EXISTS ${CMAKE_SOURCE_DIR}/target/${LUAOS_BOARD}/include/luaos_port_luaconf.h)
  set(_lua_user_h luaos_port_luaconf.h)
  target_include_directories(luaos_lua PUBLIC ${CMAKE_SOURCE_DIR}/target/${LUAOS_BOARD}/include)
endif()
target_compile_definitions(luaos_lua PUBLIC "LUA_USER_H=\"${_lua_user_h}\"")
if(NOT LUAOS_HOST)
  # The VM itself must see LUAOS_TARGET too: print() and warnings go to the
  # console HAL (shared/include/luaos_luaconf.h), not to stdio.
  target_compile_definitions(luaos_lua PUBLIC LUAOS_TARGET)
endif()
if(LUAOS_HOST)
  # dlopen for the C modules Busted needs (lfs, term, system) on the host.
  target_compile_definitions(luaos_lua PUBLIC LUA_USE_LINUX)
  target_link_libraries(luaos_lua PUBLIC m ${CMAKE_DL_LIBS})
  # Host-only luac; the cross build compiles its own host luac (same config).
  add_executable(luaos-luac ${LUA_SRC_DIR}/luac.c)
  target_link_libraries(luaos-luac PRIVATE luaos_lua)
  set(LUAOS_LUAC $<TARGET_FILE:luaos-luac>)
  set(LUAOS_LUAC_DEP luaos-luac)
endif()
