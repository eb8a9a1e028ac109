# "later": the loop counter has not gone back (it may stay: with loop
# probes, and a slow ttvm (ASan), two ticks can land between two passes).
file tickloop.elf64
target remote 127.0.0.1:@PORT@
break note
break done
watch -l seen
continue
printf "fwd note 1: k %u seen %u ticks>=k %d\n", k, seen, ticks >= k
set $c1 = counter
set $h1 = hash
continue
info symbol $pc
printf "fwd watch 1: seen %u same counter %d same hash %d\n", seen, counter == $c1, hash == $h1
continue
printf "fwd note 2: k %u seen %u ticks>=k %d later %d\n", k, seen, ticks >= k, counter >= $c1
set $c2 = counter
set $h2 = hash
continue
info symbol $pc
printf "fwd watch 2: seen %u same counter %d same hash %d\n", seen, counter == $c2, hash == $h2
continue
printf "fwd note 3: k %u seen %u ticks>=k %d later %d\n", k, seen, ticks >= k, counter >= $c2
set $c3 = counter
set $h3 = hash
continue
info symbol $pc
printf "fwd watch 3: seen %u same counter %d same hash %d\n", seen, counter == $c3, hash == $h3
continue
printf "fwd done: n %u seen %u noted %d\n", n, seen, noted_at == $c3
set $cd = counter
set $hd = hash
continue
reverse-continue
printf "rev done: n %u seen %u same counter %d same hash %d\n", n, seen, counter == $cd, hash == $hd
reverse-continue
info symbol $pc
printf "rev watch 3: seen %u same counter %d same hash %d\n", seen, counter == $c3, hash == $h3
reverse-continue
info symbol $pc
printf "rev note 3: k %u seen %u same counter %d same hash %d\n", k, seen, counter == $c3, hash == $h3
reverse-continue
info symbol $pc
printf "rev watch 2: seen %u same counter %d same hash %d\n", seen, counter == $c2, hash == $h2
reverse-continue
info symbol $pc
printf "rev note 2: k %u seen %u same counter %d same hash %d\n", k, seen, counter == $c2, hash == $h2
reverse-continue
info symbol $pc
printf "rev watch 1: seen %u same counter %d same hash %d\n", seen, counter == $c1, hash == $h1
reverse-continue
info symbol $pc
printf "rev note 1: k %u seen %u same counter %d same hash %d\n", k, seen, counter == $c1, hash == $h1
reverse-continue
info symbol $pc
printf "rev start: seen %u counter %u\n", seen, counter
