# 64-bit ARM (Debian arm64, Yocto aarch64), with Debian's cross toolchain:
#   apt-get install crossbuild-essential-arm64 qemu-user libusb-1.0-0-dev:arm64 \
#     libcurl4-openssl-dev:arm64 libssl-dev:arm64 libconfig-dev:arm64 zlib1g-dev:arm64
#   cmake -S . -B build-cross-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-arm64.cmake
# tests/cross.sh does all of it (and runs the unit tests under qemu-aarch64).
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(MCU_OTA_CROSS_TRIPLET aarch64-linux-gnu)
set(MCU_OTA_CROSS_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)
