set architecture i386:x86-64
target remote 127.0.0.1:@PORT@
# A kernel function by address (the guest's /proc/kallsyms): sysrq's crash
# handler, past its first instruction: that is the `call __fentry__` that
# ftrace reads back and rewrites at boot, and on a host without debug
# registers a breakpoint is an HLT patched into the code, which ftrace would
# see (README "Linux guests").
break *(@sysrq_handle_crash@ + 5)
continue
print/x $pc - @sysrq_handle_crash@
# Kernel memory: the version banner.
x/s @linux_banner@
# One instruction forward (into the function it calls), and back again.
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
