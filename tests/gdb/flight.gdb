file tickloop.elf64
target remote 127.0.0.1:@PORT@
python
import re
info = gdb.execute("monitor info", to_string=True)
m = re.search(r"the kept part begins at event (\d+) \(guest exit (\d+)\)", info)
kept_event, kept_exit = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
print("flight: kept from event", kept_event, "exit", kept_exit)
def at_kept_start(what):
    when = gdb.execute("monitor when", to_string=True)
    e = re.search(r"at exit (\d+) \+ (\d+) steps", when)
    ok = e and kept_exit > 0 and int(e.group(1)) == kept_exit and int(e.group(2)) == 0
    print("flight: %s: %s" % (what, "at the kept start" if ok else "NOT at the kept start: " + when.strip()))
at_kept_start("connected")
for ev in (0, kept_event - 1, 99999999999):
    try:
        gdb.execute("monitor goto %d" % ev)
        print("flight: goto %d went" % ev)
    except gdb.error as err:
        print("flight: goto %d refused: %s" % (ev, err))
end
break note
continue
continue
info symbol $pc
delete
reverse-continue
python at_kept_start("reverse-continue")
reverse-stepi
python at_kept_start("reverse-stepi")
python gdb.execute("monitor goto %d" % (kept_event + 1)); print("flight: goto the event after the kept start went")
continue
