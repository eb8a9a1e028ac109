set architecture i386:x86-64
target remote 127.0.0.1:@PORT@
# A kernel function by address (System.map): sysrq's crash handler.
break *@sysrq_handle_crash@
continue
print/x $pc
# Kernel memory: the version banner.
x/s @linux_banner@
# One instruction back, and forward again.
stepi
print/x $pc
reverse-stepi
print/x $pc
delete
# The last write of jiffies before this point: the last timer tick.
watch *(unsigned long *)@jiffies@
reverse-continue
print/x $pc
delete
# The end of the recording: the panic.  Its message is in the log buffer.
monitor goto end
find @__log_buf@, +131072, "sysrq triggered crash"
