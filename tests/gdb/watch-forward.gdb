file watchrc.elf64
target remote 127.0.0.1:@PORT@
break main
continue
delete
watch -l tpage.target
continue
info symbol $pc
continue
info symbol $pc
continue
info symbol $pc
x/i $pc
continue
delete
watch -l qpage.quiet
reverse-continue
info symbol $pc
continue
continue
monitor checkpoints
