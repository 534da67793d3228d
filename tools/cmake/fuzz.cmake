# libFuzzer targets (JOULE_FUZZ=ON). Needs clang: configure a separate build folder with
#   CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DJOULE_FUZZ=ON -DJOULE_BUILD_BENCH=OFF
# (tools/fuzz.sh does this). The library is compiled with coverage instrumentation and
# AddressSanitizer/UBSan so that the fuzzer sees every branch and every memory error in joule.
if(NOT JOULE_FUZZ)
  return()
endif()
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "JOULE_FUZZ=ON needs clang (configure with CC=clang CXX=clang++); got ${CMAKE_CXX_COMPILER_ID}")
endif()

set(_joule_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
target_compile_options(joule PRIVATE -fsanitize=fuzzer-no-link ${_joule_san} -gline-tables-only)
target_link_options(joule PUBLIC ${_joule_san})

add_executable(import_fuzzer ${CMAKE_SOURCE_DIR}/tests/fuzz/import_fuzzer.cpp)
target_compile_options(import_fuzzer PRIVATE -fsanitize=fuzzer ${_joule_san} -gline-tables-only)
target_link_options(import_fuzzer PRIVATE -fsanitize=fuzzer ${_joule_san})
target_link_libraries(import_fuzzer PRIVATE joule)
