# Third-party sources come from Debian source packages, unpacked into
# LUAOS_DEPS_DIR at configure time by tools/fetch-deb-source.sh (never
# committed). luaos_deb_source(PKG VAR): VAR = the unpacked PKG-VERSION
# folder, fetched first when it is not there yet.
set(LUAOS_DEPS_DIR ${CMAKE_BINARY_DIR}/_deps CACHE PATH "Where Debian source packages are unpacked")

function(_luaos_deb_dirs pkg out)
  file(GLOB _all ${LUAOS_DEPS_DIR}/${pkg}-*)
  set(_dirs)
  foreach(d ${_all})
    if(IS_DIRECTORY ${d})
      list(APPEND _dirs ${d})
    endif()
  endforeach()
  set(${out} "${_dirs}" PARENT_SCOPE)
endfunction()

function(luaos_deb_source pkg var)
  _luaos_deb_dirs(${pkg} _dirs)
  if(NOT _dirs)
    message(STATUS "Fetching Debian source package ${pkg}")
    execute_process(
      COMMAND ${CMAKE_SOURCE_DIR}/tools/fetch-deb-source.sh ${pkg} ${LUAOS_DEPS_DIR}
      RESULT_VARIABLE _rc)
    if(NOT _rc EQUAL 0)
      message(FATAL_ERROR "could not fetch the ${pkg} source package (run tools/setup.sh)")
    endif()
    _luaos_deb_dirs(${pkg} _dirs)
  endif()
  list(GET _dirs 0 _dir)
  set(${var} ${_dir} PARENT_SCOPE)
endfunction()
