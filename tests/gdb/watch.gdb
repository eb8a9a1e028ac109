file gdbdemo.elf64
target remote 127.0.0.1:@PORT@
break fill_table
continue
set $final = value
watch value
reverse-continue
info symbol $pc
p $final != value
stepi
p $final == value
monitor goto end
maint flush register-cache
delete
watch -l state.report
reverse-continue
info symbol $pc
p state.report
