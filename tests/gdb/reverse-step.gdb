file gdbdemo.elf64
target remote 127.0.0.1:@PORT@
break fill_table
continue
reverse-finish
info symbol $pc
delete
next
info symbol $pc
reverse-next
info symbol $pc
next
reverse-step
info symbol $pc
reverse-finish
info symbol $pc
reverse-next
info symbol $pc
monitor when
