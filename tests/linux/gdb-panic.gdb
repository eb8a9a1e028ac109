set architecture i386:x86-64
target remote 127.0.0.1:@PORT@
# To the end of the recording first: the panic.  The breakpoint is set only
# then, and found backwards: on a host without debug registers (the SVM
# test host) a breakpoint is an HLT patched into the code for each run,
# and set from the start it made the replay diverge in the boot (guest
# exit ~21700, at 5 and at 10 bytes into the function: some boot code
# reads the kernel's text; README "Linux guests").  Replayed backwards
# from the end, the code holds it only in the last checkpoint interval.
monitor goto end
# A kernel function by address (the guest's /proc/kallsyms): sysrq's crash
# handler, 10 bytes in (past ftrace's `call __fentry__` and a call), where
# it loads panic's message.
break *(@sysrq_handle_crash@ + 10)
reverse-continue
print/x $pc - @sysrq_handle_crash@
# Kernel memory: the version banner.
x/s @linux_banner@
# One instruction forward (the mov loads panic's message into rdi), and
# back again.
stepi
print/x $pc - @sysrq_handle_crash@
x/s $rdi
reverse-stepi
print/x $pc - @sysrq_handle_crash@
delete
# The last write of jiffies before this point: the last timer tick.
watch *(unsigned long *)@jiffies@
reverse-continue
delete
# The end of the recording again: the panic.
monitor goto end
# The kernel log buffer there (128 KiB: Debian's LOG_BUF_SHIFT=17): the
# panic's message among its records.  A list of characters, not a string:
# gdb would look for the string's terminating NUL too, and the ring's
# records are not NUL-terminated.
find /b @__log_buf@, +131072, 's','y','s','r','q',' ','t','r','i','g','g','e','r','e','d',' ','c','r','a','s','h'
x/s $_
