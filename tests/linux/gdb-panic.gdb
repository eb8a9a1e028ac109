set architecture i386:x86-64
target remote 127.0.0.1:@PORT@
# A kernel function by address (the guest's /proc/kallsyms): sysrq's crash
# handler, 10 bytes in: its first instruction is the `call __fentry__` that
# ftrace reads back and rewrites at boot; a breakpoint on its second, a
# call (on a host without debug registers an HLT patched into the code for
# each run), made the replay diverge at guest exit 21708, in the boot (not
# investigated: most likely code that reads or patches call sites); the
# third loads panic's message.
break *(@sysrq_handle_crash@ + 10)
continue
print/x $pc - @sysrq_handle_crash@
# Kernel memory: the version banner.
x/s @linux_banner@
# One instruction forward, and back again.
stepi
print/x $pc - @sysrq_handle_crash@
reverse-stepi
print/x $pc - @sysrq_handle_crash@
delete
# The last write of jiffies before this point: the last timer tick.
watch *(unsigned long *)@jiffies@
reverse-continue
delete
# The end of the recording: the panic.  Its message is in the log buffer.
monitor goto end
find @__log_buf@, +131072, "sysrq triggered crash"
