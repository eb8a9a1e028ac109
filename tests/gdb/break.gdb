file gdbdemo.elf64
target remote 127.0.0.1:@PORT@
break fill_table
continue
info registers rip
x/2i $pc
p/x $cr0
p $fs_base
monitor info
