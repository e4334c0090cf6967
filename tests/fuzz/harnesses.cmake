# Every harness of tests/fuzz, by name (the executable is fuzz_<name>, its seeds corpus/<name>/).
# Read by CMakeLists.txt (which must build each) and register.cmake (one test each).
set(MCU_OTA_FUZZ_HARNESSES
  swu manifest hex dfuse elf layout config journal meta poll_record control fetch_headers version)
