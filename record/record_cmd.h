/* `ttvm record`: the command. */
#ifndef TTVM_RECORD_RECORD_CMD_H
#define TTVM_RECORD_RECORD_CMD_H
#include <stddef.h>
#include <stdint.h>

struct vm;
struct rr;

/* `ttvm record -o TRACE [--checkpoint-interval SEC] [run options] KERNEL`
 * (argv[0] = "record"); returns the exit status. */
int record_main(int argc, char **argv);

/* After a recorded run: store the final state, the end record for status
 * and mark the trace complete (rr->w is closed).  Returns status, or
 * ST_HOST when the trace cannot be completed. */
int record_close_trace(struct vm *vm, struct rr *rr, int status);

/* The status line's figures (core/status.h): its time is the run loop's
 * virtual clock, which follows the host's from VM creation. */
struct record_status {
	struct vm *vm;
	struct rr *rr;
	uint64_t last_ns, last_exits;
	uint64_t first_exits; /* guest exits when the recording began (0; --go-live: where it went live) */
	const char *what;     /* "record" or "live" */
};
/* core/status.h's line callback for a struct record_status. */
void record_status_line(void *ctx, uint64_t now_ns, uint64_t start_ns, char *buf, size_t len);

#endif
