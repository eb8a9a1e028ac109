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
