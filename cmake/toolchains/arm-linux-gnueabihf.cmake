# Cross toolchain: Debian's arm-linux-gnueabihf cross compiler (apt-get install g++-arm-linux-gnueabihf).
# Used by scripts/cross_test.sh; the binaries run under qemu-user (qemu-arm -L /usr/arm-linux-gnueabihf).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)
set(CMAKE_FIND_ROOT_PATH /usr/arm-linux-gnueabihf)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-arm;-L;/usr/arm-linux-gnueabihf)
# GCC's -Wpsabi notes ("parameter passing for argument of type ... changed in GCC 7.1") concern
# linking with code built by GCC older than 7.1; they are notes, not warnings, but flood the log.
set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi")
