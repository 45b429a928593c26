# Toolchain file for bare-metal Arm boards (GNU Arm Embedded + newlib-nano).
#   cmake -B build-mps2-an385 -DLUAOS_BOARD=mps2-an385 \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/arm-none-eabi.cmake
# The CPU comes from LUAOS_ARM_CPU (default cortex-m3; the board's CMake
# checks it matches). Everything, the Lua VM included, is built with it.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(LUAOS_ARM_CPU "cortex-m3" CACHE STRING "-mcpu for the firmware build")
set(LUAOS_ARM_PREFIX "arm-none-eabi-" CACHE STRING "Cross tool prefix")

set(CMAKE_C_COMPILER ${LUAOS_ARM_PREFIX}gcc)
set(CMAKE_ASM_COMPILER ${LUAOS_ARM_PREFIX}gcc)
set(CMAKE_AR ${LUAOS_ARM_PREFIX}ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${LUAOS_ARM_PREFIX}ranlib CACHE FILEPATH "")
set(CMAKE_OBJCOPY ${LUAOS_ARM_PREFIX}objcopy CACHE FILEPATH "")
set(CMAKE_SIZE ${LUAOS_ARM_PREFIX}size CACHE FILEPATH "")
set(CMAKE_NM ${LUAOS_ARM_PREFIX}nm CACHE FILEPATH "")

# No OS to run test programs on: probe the compiler with a static library.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

# Sections per function/object so the linker drops what nothing uses;
# newlib-nano for a small libc. -g costs no flash (it stays in the ELF).
set(_luaos_arm_flags "-mcpu=${LUAOS_ARM_CPU} -mthumb -ffunction-sections -fdata-sections")
set(CMAKE_C_FLAGS_INIT "${_luaos_arm_flags}")
set(CMAKE_ASM_FLAGS_INIT "${_luaos_arm_flags}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-mcpu=${LUAOS_ARM_CPU} -mthumb --specs=nano.specs -Wl,--gc-sections")
# Firmware is size-bound: every optimised build type optimises for size.
# (Cache entries, because CMake appends its own -O2/-O3 to *_INIT flags.)
set(CMAKE_C_FLAGS_RELWITHDEBINFO "-Os -g" CACHE STRING "")
set(CMAKE_C_FLAGS_MINSIZEREL "-Os -g" CACHE STRING "")
set(CMAKE_C_FLAGS_RELEASE "-Os" CACHE STRING "")
set(CMAKE_C_FLAGS_DEBUG "-Og -g" CACHE STRING "")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
