# monitor go-live: stop at the first note() (one tick counted), then let the
# guest run on live from there; its remaining ticks must come live for it
# to end (the server's output is checked by the "@" lines of golive.expect).
file tickloop.elf64
target remote 127.0.0.1:@PORT@
break note
continue
printf "at note: k %u seen %u\n", k, seen
python
for bad in ("-o", "-x foo", "-o /nonexistent-dir/x/new.trace"):
    try:
        gdb.execute("monitor go-live " + bad)
        print("go-live %s: went" % bad)
    except gdb.error as err:
        print("go-live %s: refused" % bad)
end
printf "still here: k %u\n", k
monitor go-live
