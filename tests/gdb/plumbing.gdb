# A whole remote session over TCP, against fake-ttvm's gdbserver (which
# serves `busybox true`): connect by name ("localhost" must resolve in the SVM
# host too), registers, memory, a step, Python on the live target, and the
# inferior's end.  The stub's sessions take this shape.
set sysroot /
target remote localhost:@PORT@
info connections
info registers rip
x/1i $pc
stepi
python print("python: pc", "ok" if gdb.selected_frame().pc() == int(gdb.parse_and_eval("$pc")) else "differs")
continue
