# 32-bit ARM, hard float (Debian armhf: ARMv7-A, Thumb-2, VFPv3-D16; Yocto's cortexa7hf and
# similar), with Debian's cross toolchain:
#   apt-get install crossbuild-essential-armhf qemu-user libusb-1.0-0-dev:armhf \
#     libcurl4-openssl-dev:armhf libssl-dev:armhf libconfig-dev:armhf zlib1g-dev:armhf
#   cmake -S . -B build-cross-armhf -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-armhf.cmake
# tests/cross.sh does all of it.
set(CMAKE_SYSTEM_PROCESSOR arm)
set(MCU_OTA_CROSS_TRIPLET arm-linux-gnueabihf)
set(MCU_OTA_CROSS_QEMU qemu-arm)
include(${CMAKE_CURRENT_LIST_DIR}/debian-cross.cmake)

# 64-bit file offsets and inode numbers on this 32-bit target, as Yocto's time64.inc gives every
# 32-bit target: without them stat() and readdir() fail with EOVERFLOW on file systems with 64-bit
# inode numbers or directory cookies (overlayfs, XFS, btrfs, NFS; ext4 too, seen through qemu-user).
# time64.inc's other half, _TIME_BITS=64, is left out: Debian 12's armhf libraries are built with a
# 32-bit time_t, and libusb's struct timeval would then mean two different things.
set(CMAKE_C_FLAGS_INIT "-D_FILE_OFFSET_BITS=64")
