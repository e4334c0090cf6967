# Shared part of toolchain-arm64.cmake and toolchain-armhf.cmake: a cross build with Debian's
# cross compilers (crossbuild-essential-<arch>) against Debian's multiarch development packages
# (libusb-1.0-0-dev:<arch> ... in /usr/lib/<triplet>, headers in /usr/include[/<triplet>]), which
# is how a Yocto SDK is used too: the same sources, a toolchain file, pkg-config pointed at the
# target's .pc files, the target's tests run under qemu-user. tests/cross.sh installs and uses it.
# The including file sets CMAKE_SYSTEM_PROCESSOR, MCU_OTA_CROSS_TRIPLET and MCU_OTA_CROSS_QEMU.
set(CMAKE_SYSTEM_NAME Linux)

set(CMAKE_C_COMPILER ${MCU_OTA_CROSS_TRIPLET}-gcc)

# Headers and libraries of the target: the cross libc under /usr/<triplet>, everything else in the
# multiarch folders of / (found because CMake takes CMAKE_LIBRARY_ARCHITECTURE from the compiler,
# so /usr/lib/<triplet> is searched and the build machine's /usr/lib/x86_64-linux-gnu is not).
# Programs (arm-none-eabi-gcc, dfuse-pack, openssl) are the build machine's.
set(CMAKE_FIND_ROOT_PATH /usr/${MCU_OTA_CROSS_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg_check_modules reads the target's .pc files only: the build machine's would hand out its own
# library paths. No sysroot prefix: multiarch paths are already the target's real ones.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${MCU_OTA_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")

# ctest (and custom commands that run a built program) go through qemu-user. With the target's
# multiarch libc6 installed (a dependency of libusb-1.0-0:<arch>), the program's own interpreter
# path (/lib/ld-linux-*.so.*) and its libraries exist on this machine as they will on the target,
# so qemu needs no prefix; otherwise -L points it at the cross toolchain's libc.
find_program(MCU_OTA_CROSS_QEMU_PROGRAM ${MCU_OTA_CROSS_QEMU} NO_CMAKE_FIND_ROOT_PATH)
if(MCU_OTA_CROSS_QEMU_PROGRAM)
  if(EXISTS /usr/lib/${MCU_OTA_CROSS_TRIPLET}/libc.so.6)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${MCU_OTA_CROSS_QEMU_PROGRAM})
  else()
    set(CMAKE_CROSSCOMPILING_EMULATOR ${MCU_OTA_CROSS_QEMU_PROGRAM} -L /usr/${MCU_OTA_CROSS_TRIPLET})
  endif()
endif()
