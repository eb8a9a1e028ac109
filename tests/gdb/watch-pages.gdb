file watchrc.elf64
target remote 127.0.0.1:@PORT@
monitor goto end
maint flush register-cache
watch -l tpage.target
break reads
reverse-continue
reverse-continue
info symbol $pc
x/i $pc
reverse-continue
info symbol $pc
reverse-continue
reverse-continue
info symbol $pc
reverse-continue
delete
break reads
continue
delete 3
watch -l tpage.target
reverse-continue
info symbol $pc
p tpage.target
monitor checkpoints
