/* Going live (`ttvm replay --go-live EVENT [-o NEWTRACE]`): replay a
 * recording to an event, then let the guest run on live from that exact
 * state, with real time, the user's serial input and new interrupts, and
 * with -o a new recording of the live run that starts with a full
 * checkpoint of that state (so that `ttvm replay NEWTRACE` replays the
 * what-if run alone).
 *
 * The point: the boundary right after the guest exit that event EVENT is
 * positioned at (the exit `ttvm inspect --events` gives it): the reads of
 * that exit are the recorded ones; an interrupt the recording injected
 * right at it was pending there and is requested again (the live run
 * injects it); everything later comes live.  This is the quiet point
 * where a recorder takes its checkpoints. */
#ifndef TTVM_REPLAY_GOLIVE_H
#define TTVM_REPLAY_GOLIVE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

struct golive_opts {
	uint64_t event;
	const char *out;       /* -o: the new trace (must not exist), NULL = none */
	const char *serial_in; /* live serial input; NULL = stdin when it is not a terminal */
	double timeout_s;      /* stop after this much live guest time, 0 = none */
	bool quiet;            /* no status line */
	bool announce;         /* say where it goes live without -v (gdb's session ended) */
	const char *trace;     /* the recording's path (the new trace's metadata says where it came from) */
	int argc;              /* the command line, for the new trace's cmdline */
	char **argv;
};

/* vm was booted from the trace rr_of(vm) replays (replay/replay_cmd.c, no
 * --from): restore the nearest checkpoint at or before o->event, replay to
 * the point above, undo everything replay set up (its hooks, traps, loop
 * probes, guest debugging, the held-back serial output), and run the guest
 * live to its end (with o->out: recording it).  The serial output before
 * the point is held back as with --from EVENT.  Returns the live run's
 * status; ST_USAGE for an event the trace does not have or an unusable -o
 * (one line printed); the replay's status when it ends before the point. */
int golive_run(struct vm *vm, const struct golive_opts *o);

/* `monitor go-live [-o FILE]` under gdb: the guest is where the timeline
 * left it (the timeline freed: its snapshots, traps and quiet output gone);
 * run it live from there as golive_run does after its replay.  The new
 * trace's live_from names the last event the replay met. */
int golive_here(struct vm *vm, const struct golive_opts *o);
/* Can -o out be created?  0, or ST_USAGE with a message (no "ttvm: ") in msg. */
int golive_check_out(const char *out, char *msg, size_t len);

#endif
