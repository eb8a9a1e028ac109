/* Starting a replay from a checkpoint instead of from the beginning
 * (`ttvm replay --from EVENT`).
 *
 * The VM is first built from the trace as for a whole replay (images,
 * options, patched RDTSC sites), then the checkpoint's RAM and machine
 * state replace what the boot left, and the trace reader continues after
 * the checkpoint's event.  From there replay goes on as usual: every
 * later event, checkpoint digest and the final state are checked. */
#ifndef TTVM_REPLAY_SEEK_H
#define TTVM_REPLAY_SEEK_H
#include <stdint.h>

struct vm;
struct trace_ckpt_info;

/* Load checkpoint ci (RAM, vCPU, devices, run state) into vm, whose
 * rr_of(vm) replays the trace ci came from, check the restored memory and
 * registers against the digests recorded with it, and position the reader
 * right after its event.  0, or -EBADMSG (damaged or inconsistent
 * checkpoint) / -errno, message printed. */
int replay_restore_checkpoint(struct vm *vm, const struct trace_ckpt_info *ci);
/* `--from EVENT`: restore the nearest checkpoint at or before event (none:
 * start from the beginning) and hold the guest's serial output back until
 * the replay has met event.  0, or the exit status to end with (ST_USAGE
 * for an event the trace does not have, ST_BADTRACE, ST_HOST), message
 * printed. */
int replay_from(struct vm *vm, uint64_t event);
/* Undo replay_from's hold on the serial output (when the replay stopped
 * before event) and free its buffers; call before vm_destroy(). */
void replay_from_finish(struct vm *vm);

#endif
