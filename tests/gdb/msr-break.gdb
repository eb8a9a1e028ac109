file msr.elf64
target remote 127.0.0.1:@PORT@
break *msr_loop_rdmsr
continue
printf "stop 1: at rdmsr %d counter %u\n", $pc == &msr_loop_rdmsr, counter
set $c = counter
set $t = ticks
continue
printf "stop 2: at rdmsr %d next %d\n", $pc == &msr_loop_rdmsr, counter == $c + 1 || (counter == $c && ticks > $t)
set $c = counter
set $t = ticks
continue
printf "stop 3: at rdmsr %d next %d\n", $pc == &msr_loop_rdmsr, counter == $c + 1 || (counter == $c && ticks > $t)
set $c = counter
set $t = ticks
set $c3 = counter
set $t3 = ticks
continue
printf "stop 4: at rdmsr %d next %d\n", $pc == &msr_loop_rdmsr, counter == $c + 1 || (counter == $c && ticks > $t)
set $t = ticks
stepi
printf "stepped: past rdmsr or into the tick %d\n", $pc == (char *)&msr_loop_rdmsr + 2 || $pc == (char *)&rt_isr_stubs + 16 * 32 || ($pc == &msr_loop_rdmsr && ticks == $t + 1)
reverse-stepi
printf "back: at rdmsr %d\n", $pc == &msr_loop_rdmsr
reverse-continue
printf "rev stop 3: at rdmsr %d same %d\n", $pc == &msr_loop_rdmsr, counter == $c3 && ticks == $t3
delete
continue
