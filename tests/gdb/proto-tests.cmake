# The gdb protocol layer (replay/gdbproto.c, replay/gdbregs.c): unit tests,
# a real-gdb acceptance test against a small server built on the layer, and
# a libFuzzer target over framing + parsing.
ttvm_unit_test(test_gdbproto test_gdbproto.c)
ttvm_unit_test(test_gdbregs test_gdbregs.c)

# Real gdb (batch mode) against a pretend target built on the layer only.
add_executable(gdbproto_target gdbproto_target.c)
target_link_libraries(gdbproto_target PRIVATE ttvm_lib)
add_test(NAME gdbproto-real-gdb
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/gdbproto-client-test $<TARGET_FILE:gdbproto_target>)
add_test(NAME gdbproto-real-gdb-i386
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/gdbproto-client-test $<TARGET_FILE:gdbproto_target> --i386)
set_tests_properties(gdbproto-real-gdb gdbproto-real-gdb-i386 PROPERTIES LABELS "unit;gdb" TIMEOUT 120)

# libFuzzer over framing + parsing + builders (clang, as tests/storage does;
# the probe for a working libFuzzer runtime is done there).  A short run over
# the committed seeds is a CTest test labelled "fuzz"; run it longer by hand:
#   build/tests/gdb/fuzz_gdbproto -max_total_time=600 CORPUS_DIR tests/gdb/fuzz-seeds
if(TTVM_CLANG AND TTVM_CLANG_FUZZER_WORKS)
  set(gdbfuzz_srcs ${PROJECT_SOURCE_DIR}/replay/gdbproto.c ${PROJECT_SOURCE_DIR}/replay/gdbparse.c
                   ${PROJECT_SOURCE_DIR}/replay/gdbregs.c ${PROJECT_SOURCE_DIR}/core/status.c
                   ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_gdbproto.c)
  add_custom_command(
    OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/fuzz_gdbproto
    COMMAND ${TTVM_CLANG} -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Wno-unused-parameter
            -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
            -I${PROJECT_SOURCE_DIR} -I${PROJECT_BINARY_DIR} ${gdbfuzz_srcs} -pthread
            -o ${CMAKE_CURRENT_BINARY_DIR}/fuzz_gdbproto
    DEPENDS ${gdbfuzz_srcs} ${PROJECT_SOURCE_DIR}/replay/gdbproto.h ${PROJECT_SOURCE_DIR}/replay/gdbparse.h
            ${PROJECT_SOURCE_DIR}/replay/gdbregs.h ${PROJECT_SOURCE_DIR}/core/log.h
            ${PROJECT_SOURCE_DIR}/core/status.h
    COMMENT "Building the gdb protocol fuzz target with clang"
    VERBATIM)
  add_custom_target(fuzz_gdbproto ALL DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/fuzz_gdbproto)
  add_test(NAME gdbproto_fuzz
    COMMAND sh -c "set -e; rm -rf fuzz-gdb-work; mkdir fuzz-gdb-work
                   ./fuzz_gdbproto -max_total_time=${TTVM_FUZZ_SECONDS} -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 fuzz-gdb-work ${CMAKE_CURRENT_SOURCE_DIR}/fuzz-seeds"
    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(gdbproto_fuzz PROPERTIES LABELS fuzz TIMEOUT 300)
else()
  message(STATUS "clang with libFuzzer not found: the gdb protocol fuzz target is not built")
endif()
