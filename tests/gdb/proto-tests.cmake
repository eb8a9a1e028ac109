# The gdb protocol layer (replay/gdbproto.c, replay/gdbregs.c): unit tests,
# a real-gdb acceptance test against a small server built on the layer, and
# a libFuzzer target over framing + parsing.
ttvm_unit_test(test_gdbproto test_gdbproto.c)
ttvm_unit_test(test_gdbregs test_gdbregs.c)
