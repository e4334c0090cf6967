# Included by the main build (tests/sanitize/CMakeLists.txt) with MCU_OTA_SANITIZE_DIR set to the
# sanitizer tree that tests/build.sh makes: one test fuzz_<name> per harness, label `fuzz`. Each
# replays its committed corpus (tests/fuzz/corpus/<name>: seeds and every input that ever crashed
# or leaked), then fuzzes from a copy of it for MCU_OTA_FUZZ_SECONDS (default 20) - see run.sh.
include(${CMAKE_CURRENT_LIST_DIR}/harnesses.cmake)
set(MCU_OTA_FUZZ_SECONDS 20 CACHE STRING "How long each fuzz_* test fuzzes after its replay")
foreach(name ${MCU_OTA_FUZZ_HARNESSES})
  add_test(NAME fuzz_${name}
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/run.sh ${MCU_OTA_SANITIZE_DIR} ${name} ${MCU_OTA_FUZZ_SECONDS})
  # the timeout only bounds a hung run: replay and fuzzing stop on their own
  math(EXPR limit "${MCU_OTA_FUZZ_SECONDS} + 300")
  set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz TIMEOUT ${limit})
endforeach()
