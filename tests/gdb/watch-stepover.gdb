file tickloop.elf64
target remote 127.0.0.1:@PORT@
break mark
watch -l seen
continue
printf "mark 1: k %u seen %u\n", k, seen
continue
info symbol $pc
printf "watch 1: seen %u\n", seen
continue
printf "mark 2: k %u seen %u\n", k, seen
continue
info symbol $pc
printf "watch 2: seen %u\n", seen
