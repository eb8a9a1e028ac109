/* Event source checkpoint: checkpoints while recording, their checks in
 * replay.
 *
 * While recording, every rr.ckpt_interval seconds of wall time the recorder
 * stores a checkpoint (storage/checkpoint.h) at the next quiet point: right
 * after a guest exit was handled (before any injection), with no event
 * queued in KVM.  The first is full (the pages that may be non-zero), the
 * next ones hold the pages whose dirty generation is newer than the
 * previous checkpoint's.  Its vCPU blob is a struct rr_ckpt_header followed
 * by the machine state (core/snapshot.h).
 *
 * Replay checks every checkpoint it passes: at the same exit, right after
 * it was handled, the memory digest and register hash must be the
 * recorded ones, else replay diverged.  `ttvm replay --from` restores one
 * (replay/seek.h). */
#ifndef TTVM_RECORD_CKPT_H
#define TTVM_RECORD_CKPT_H
#include <stddef.h>
#include <stdint.h>

#include "storage/trace.h"

struct vm;

#define RR_CKPT_MAGIC "TTVMCKPT"
#define RR_CKPT_VERSION 1
/* --checkpoint-interval's default: seconds of recording wall time. */
#define RR_CKPT_DEFAULT_INTERVAL 1.0

struct rr_ckpt_header {
	char magic[8];
	uint32_t version;
	uint32_t state_len;  /* bytes of machine state after the header */
	uint64_t exit_mem;   /* memory digest right after the exit was handled: */
	uint64_t exit_regs;  /* and register hash: what replay compares there */
	uint64_t saved_mem;  /* the same for the RAM and state stored (a pending */
	uint64_t saved_regs; /* PIO/MMIO access completed): checked on restore */
};

/* Record (the after_exit hook), right after a guest exit was handled and
 * before any injection: take a checkpoint when one is due and the point is
 * quiet. */
void record_after_exit(struct vm *vm);
/* Record: take a checkpoint now, whether one is due or not (the first one
 * of a trace is full): `ttvm replay --go-live -o` starts its new trace with
 * the state it went live from.  Call at a quiet point right after a guest
 * exit.  0, -EAGAIN (KVM holds a half-delivered event) or -EIO (the writer
 * stopped; the VM is stopped with a message). */
int record_checkpoint_now(struct vm *vm);
/* Replay (the engine, at the same point): check the checkpoints the trace
 * holds for this exit (a mismatch stops the VM with ST_DIVERGED).  No-op
 * when the VM is stopped. */
void replay_after_exit(struct vm *vm);
/* Check a checkpoint's vCPU blob; on success *h is its header and
 * *state / *state_len the machine state in it.  0 or -EBADMSG. */
int rr_ckpt_parse(const void *blob, size_t len, struct rr_ckpt_header *h, const void **state,
		  size_t *state_len);
/* The guest's virtual clock (ns) in a checkpoint's vCPU blob, for
 * `ttvm inspect --timeline`.  0, -EBADMSG or -EINVAL. */
int rr_ckpt_guest_ns(const void *blob, size_t len, uint64_t *ns);
/* Replay: the vCPU blob of checkpoint id into rr_of(vm)'s scratch buffer.
 * 0, or -errno with a one-line message in err. */
int rr_ckpt_read(struct vm *vm, uint64_t id, const void **blob, size_t *len, char *err, size_t errlen);

#endif
