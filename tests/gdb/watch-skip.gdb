file watchrc.elf64
target remote 127.0.0.1:@PORT@
monitor goto end
maint flush register-cache
watch -l qpage.quiet
reverse-continue
info symbol $pc
p qpage.quiet
stepi
p qpage.quiet
monitor checkpoints
