/* `ttvm replay --gdb [HOST:]PORT TRACE`: serve a recording to gdb, with
 * reverse execution (the debugging session: requests from gdbproto.h,
 * movement through the recording from timeline.h). */
#ifndef TTVM_REPLAY_GDBSERVER_H
#define TTVM_REPLAY_GDBSERVER_H
#include <stdbool.h>
#include <stdio.h>

#include "replay/gdbregs.h"

struct vm;

/* `monitor go-live [-o NEWTRACE]`: the session ends (gdb's connection is
 * closed after the reply) and the caller runs the guest live from where
 * the replay stands (replay/golive.h: golive_here). */
struct gdb_golive {
	bool wanted;
	char out[4096]; /* "" = no new recording */
};

/* Listen on hostport, serve one gdb connection over the VM (booted for
 * replay, memory digest on) until gdb detaches or kills.  serial: where
 * the guest's output goes.  Returns an exit status (0 after a clean
 * detach/kill, ST_HOST/ST_USAGE on a socket error, message printed).
 * live: set when gdb asked to go live (the timeline is freed by then). */
int gdbserver_main(struct vm *vm, const char *hostport, enum gdb_arch arch, FILE *serial, struct gdb_golive *live);

#endif
