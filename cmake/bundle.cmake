# Bundle pure-Lua modules into a read-only image linked into the binary:
# each lua/ file is compiled to bytecode by a luac built from the same Lua
# source and configuration, then emitted as a sorted C table that
# shared/bundle.c searches by module name.
#
# luaos_bundle(OUT <file.c> ROOT <dir> [STRIP] [PACK] [EXTRA <name>=<file> ...]
#              [KEEP_DEBUG <name> ...] [EXCLUDE <regex> ...])
# PACK: each module's bytecode is LZSS-packed by tools/bundle-pack.py
# (about 30 % less flash); bundle_load() unpacks it while loading.
# EXCLUDE: module names (dotted) matching one of the regexes are left out.
# KEEP_DEBUG: modules that keep line numbers under STRIP (a board's app,
# so its errors and tracebacks name "app.lua:12"); their chunk name is the
# file's name without its directory.
function(luaos_bundle)
  cmake_parse_arguments(B "STRIP;PACK" "OUT;ROOT" "EXTRA;KEEP_DEBUG;EXCLUDE" ${ARGN})
  file(GLOB_RECURSE _files CONFIGURE_DEPENDS ${B_ROOT}/*.lua)
  set(_specs)
  set(_deps)
  foreach(f ${_files})
    file(RELATIVE_PATH rel ${B_ROOT} ${f})
    string(REGEX REPLACE "\\.lua$" "" mod ${rel})
    string(REGEX REPLACE "/init$" "" mod ${mod})
    string(REPLACE "/" "." mod ${mod})
    set(_skip OFF)
    foreach(x ${B_EXCLUDE})
      if(mod MATCHES "${x}")
        set(_skip ON)
      endif()
    endforeach()
    if(NOT _skip)
      list(APPEND _specs "${mod}=${f}")
      list(APPEND _deps ${f})
    endif()
  endforeach()
  foreach(e ${B_EXTRA})
    list(APPEND _specs ${e})
    string(REGEX REPLACE "^[^=]*=" "" ef ${e})
    list(APPEND _deps ${ef})
  endforeach()
  set(_pack "")
  set(_pack_dep "")
  if(B_PACK)
    find_package(Python3 COMPONENTS Interpreter REQUIRED)
    set(_pack ${Python3_EXECUTABLE})
    set(_pack_dep ${CMAKE_SOURCE_DIR}/tools/bundle-pack.py)
  endif()
  string(REPLACE ";" "|" _specs_arg "${_specs}")
  string(REPLACE ";" "|" _keep_arg "${B_KEEP_DEBUG}")
  add_custom_command(OUTPUT ${B_OUT}
    COMMAND ${CMAKE_COMMAND} -DLUAC=${LUAOS_LUAC} -DOUT=${B_OUT} -DSTRIP=${B_STRIP}
            "-DPACK=${_pack}" -DPACKER=${CMAKE_SOURCE_DIR}/tools/bundle-pack.py
            "-DKEEP_DEBUG=${_keep_arg}"
            "-DSPECS=${_specs_arg}" -P ${CMAKE_SOURCE_DIR}/cmake/bundle-gen.cmake
    DEPENDS ${_deps} ${LUAOS_LUAC_DEP} ${CMAKE_SOURCE_DIR}/cmake/bundle-gen.cmake ${_pack_dep}
    COMMENT "Bundling Lua modules into ${B_OUT}"
    VERBATIM)
endfunction()
