file msr.elf64
target remote 127.0.0.1:@PORT@
break *msr_loop_rdmsr
continue
printf "stop 1: at rdmsr %d counter %u\n", $pc == &msr_loop_rdmsr, counter
set $c = counter
continue
printf "stop 2: at rdmsr %d one more %d\n", $pc == &msr_loop_rdmsr, counter == $c + 1
continue
printf "stop 3: at rdmsr %d one more %d\n", $pc == &msr_loop_rdmsr, counter == $c + 2
continue
printf "stop 4: at rdmsr %d one more %d\n", $pc == &msr_loop_rdmsr, counter == $c + 3
stepi
printf "stepped: past rdmsr %d\n", $pc == (char *)&msr_loop_rdmsr + 2
reverse-stepi
printf "back: at rdmsr %d\n", $pc == &msr_loop_rdmsr
reverse-continue
printf "rev stop 3: at rdmsr %d one more %d\n", $pc == &msr_loop_rdmsr, counter == $c + 2
delete
continue
