# gdb side of tests/bench/gdb-bench: runs inside stock gdb (`gdb -batch -nx
# -x gdb_bench.py`) against `ttvm replay --gdb` or QEMU's gdb stub replaying
# an rr=replay log, with the guest's .elf64 loaded for symbols.  Python in
# gdb times each command from gdb's side (what a user waits for), without a
# process start per sample as `shell date` would add.
#
# Environment (set by gdb-bench):
#   GB_TARGET  ttvm | qemu          GB_PORT  the stub's TCP port
#   GB_TASK    rsi: reverse-stepi at GB_POINTS points spread over the guest's
#                   loop (from main to the first rt_printf after it)
#              bounds: (qemu) print "bounds LO HI", the instruction counts
#                   of the loop, for rsi's GB_LO and GB_HI
#              rc:  (ttvm) go to event GB_EVENT, arm GB_TRAP (watch: the
#                   stack slot of main's calls, last written by `call
#                   cmdline_num` before the loop; break: cmdline_num), time
#                   reverse-continue
# Output, one line per sample (gdb-bench computes medians):
#   rsi MS ok|BAD POINT DETAIL
#   rc TRAP MS ok|BAD EVENTS_BACK DETAIL
#   info TEXT
import os
import re
import time

import gdb

env = os.environ
TARGET = env["GB_TARGET"]


def run(cmd):
    return gdb.execute(cmd, to_string=True)


def timed(cmd):
    t = time.monotonic()
    out = run(cmd)
    return (time.monotonic() - t) * 1000.0, out


def ttvm_next_event():
    # "at exit E + K steps (next event N)"
    m = re.search(r"next event (\d+)", run("monitor when"))
    return int(m.group(1)) if m else -1


def ttvm_when():
    return run("monitor when").strip()


def qemu_icount():
    m = re.search(r"instruction count = (\d+)", run("monitor info replay"))
    return int(m.group(1)) if m else -1


def regs():
    run("maint flush register-cache")
    return run("info registers")


def first_diff(a, b):
    for x, y in zip(a.splitlines(), b.splitlines()):
        if x != y:
            return "%s | %s" % (" ".join(x.split()), " ".join(y.split()))
    return "register dump lengths differ"


def ttvm_points(n):
    m = re.search(r"(\d+) events", run("monitor info"))
    if not m:
        raise gdb.GdbError("monitor info printed no event count")
    total = int(m.group(1))
    # Event 0 is the first checkpoint, the last one the end: points in between.
    lo, hi = 1, total - 2
    return [lo + (hi - lo) * (2 * i + 1) // (2 * n) for i in range(n)]


def qemu_bounds():
    # The guest's loop in instructions: main to the first rt_printf (main
    # prints nothing before its loop).  Reached forward with breakpoints, in
    # a session of its own: QEMU's replay_seek back did not arrive (7.2).
    run("break main")
    run("continue")
    lo = qemu_icount()
    run("delete")
    run("break rt_printf")
    run("continue")
    hi = qemu_icount()
    run("delete")
    print("bounds %d %d" % (lo, hi))


def qemu_points(n):
    lo, hi = int(env["GB_LO"]), int(env["GB_HI"])
    return [lo + (hi - lo) * (2 * i + 1) // (2 * n) for i in range(n)]


def goto(point):
    if TARGET == "ttvm":
        out = run("monitor goto %d" % point)
        if "ttvm:" in out:
            raise gdb.GdbError("monitor goto %d: %s" % (point, out.strip()))
    else:
        # QEMU: points are visited forward; replay_break stops the replay
        # at an instruction count (replay_seek stopped early on QEMU 7.2).
        run("monitor replay_break %d" % point)
        run("continue")
        if qemu_icount() != point:
            raise gdb.GdbError("replay_break %d stopped at %d" % (point, qemu_icount()))


def where():
    return ttvm_when() if TARGET == "ttvm" else "icount %d" % qemu_icount()


def task_rsi():
    n = int(env["GB_POINTS"])
    points = ttvm_points(n) if TARGET == "ttvm" else qemu_points(n)
    for p in points:
        goto(p)
        run("maint flush register-cache")
        run("stepi")
        run("stepi")
        want, want_at = regs(), where()
        run("stepi")
        ms, _ = timed("reverse-stepi")
        got, got_at = regs(), where()
        if got == want and got_at == want_at:
            print("rsi %.3f ok %d %s" % (ms, p, got_at))
        else:
            print("rsi %.3f BAD %d want [%s] got [%s]: %s" % (ms, p, want_at, got_at, first_diff(want, got)))


def task_rc():
    event = int(env["GB_EVENT"])
    trap = env["GB_TRAP"]
    goto(event)
    run("maint flush register-cache")
    frame = gdb.selected_frame()
    if frame.name() != "main":
        raise gdb.GdbError("event %d is not in main's loop (in %s)" % (event, frame.name()))
    before = ttvm_next_event()
    if trap == "watch":
        # main's calls push their return address here; the loop calls nothing.
        slot = int(gdb.parse_and_eval("$rsp")) - 8
        run("watch *(long *)%#x" % slot)
    else:
        run("break cmdline_num")
    ms, out = timed("reverse-continue")
    after = ttvm_next_event()
    frame = gdb.selected_frame()
    insn = run("x/i $pc").strip()
    if trap == "watch":
        ok = "cmdline_num" in insn and "call" in insn
    else:
        ok = frame.name() == "cmdline_num" and int(frame.pc()) == int(gdb.parse_and_eval("&cmdline_num"))
    detail = "stopped at [%s] %s" % (ttvm_when(), " ".join(insn.split()))
    print("rc %s %.3f %s %d %s" % (trap, ms, "ok" if ok else "BAD", before - after, detail))
    if not ok:
        print("info reverse-continue said: %s" % " | ".join(out.strip().splitlines()))


run("set pagination off")
run("set confirm off")
run("target remote 127.0.0.1:%s" % env["GB_PORT"])
try:
    if env["GB_TASK"] == "rsi":
        task_rsi()
    elif env["GB_TASK"] == "bounds":
        qemu_bounds()
    else:
        task_rc()
finally:
    if TARGET == "ttvm":
        print("info " + run("monitor info").strip().replace("\n", " / "))
    run("kill")
