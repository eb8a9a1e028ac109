file gdbdemo.elf64
target remote 127.0.0.1:@PORT@
break stir
continue
set $r0 = $rip
set $s0 = $rsp
set $a0 = $rax
set $c0 = $rcx
set $d0 = $rdx
set $f0 = $eflags
stepi
stepi
stepi
stepi
stepi
p $rip != $r0
reverse-stepi
reverse-stepi
reverse-stepi
reverse-stepi
reverse-stepi
p $rip == $r0 && $rsp == $s0 && $rax == $a0 && $rcx == $c0 && $rdx == $d0 && $eflags == $f0
stepi
stepi
reverse-stepi
reverse-stepi
p $rip == $r0 && $rsp == $s0 && $rax == $a0 && $rcx == $c0 && $rdx == $d0 && $eflags == $f0
