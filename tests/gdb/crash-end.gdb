file crash.elf64
target remote 127.0.0.1:@PORT@
monitor goto end
maint flush register-cache
monitor when
reverse-stepi
x/i $pc
monitor when
reverse-stepi
continue
