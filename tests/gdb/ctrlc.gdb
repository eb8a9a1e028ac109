file pioread.elf64
target remote 127.0.0.1:@PORT@
shell (sleep 1; kill -INT $PPID) > /dev/null 2>&1 &
continue
monitor when
info registers rip
