file crash.elf64
target remote :@PORT@
monitor goto end
maint flush register-cache
monitor when
reverse-stepi
x/i $pc
monitor when
reverse-stepi
continue
