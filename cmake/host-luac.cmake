# A luac for the build machine, used to compile the bundled Lua modules of
# a cross build. It is built from the same Lua sources with the same
# configuration header as the firmware's VM (LUA_USER_H), so both agree on
# the bytecode format: 64-bit lua_Integer, double lua_Number, 32-bit
# instructions, little endian. Lua 5.4 writes int/size_t as variable-length
# numbers, so the host's 64-bit size_t does not leak into the bytecode.
#
# Sets LUAOS_LUAC (path) and LUAOS_LUAC_DEP (target) for luaos_bundle().
if(LUAOS_HOST)
  return() # the host build has its own luaos-luac target (cmake/lua.cmake)
endif()

find_program(LUAOS_HOST_CC NAMES cc gcc clang
  DOC "C compiler for build-machine tools (host luac)")
if(NOT LUAOS_HOST_CC)
  message(FATAL_ERROR "no host C compiler (cc) found to build the host luac")
endif()

set(_hl_names lapi lcode lctype ldebug ldo ldump lfunc lgc llex lmem lobject
    lopcodes lparser lstate lstring ltable ltm lundump lvm lzio lauxlib luac)
set(_hl_srcs)
foreach(f ${_hl_names})
  list(APPEND _hl_srcs ${LUA_SRC_DIR}/${f}.c)
endforeach()
set(_hl_out ${CMAKE_BINARY_DIR}/host-tools/luac)
add_custom_command(OUTPUT ${_hl_out}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/host-tools
  COMMAND ${LUAOS_HOST_CC} -std=gnu99 -O2 -w
          "-DLUA_USER_H=\"luaos_luaconf.h\""
          -I${LUA_SRC_DIR} -I${CMAKE_SOURCE_DIR}/shared/include
          -I${CMAKE_BINARY_DIR}/generated
          -o ${_hl_out} ${_hl_srcs} -lm
  DEPENDS ${_hl_srcs} ${CMAKE_SOURCE_DIR}/shared/include/luaos_luaconf.h
  COMMENT "Building host luac (same Lua sources and configuration as the firmware)"
  VERBATIM)
add_custom_target(luaos-host-luac DEPENDS ${_hl_out})
set(LUAOS_LUAC ${_hl_out})
set(LUAOS_LUAC_DEP luaos-host-luac)
