/* The hook tables of record and replay (core/hooks.h), and attaching the
 * engine to a VM. */
#include "core/hooks.h"
#include "core/vm.h"
#include "record/ckpt.h"
#include "record/probe.h"
#include "record/rr.h"

const struct vm_hooks record_hooks = {
	.io_read = record_io_read,
	.rdtsc = record_rdtsc,
	.rdrand = record_rdrand,
	.msr_read = record_msr_read,
	.serial_in = record_serial_in,
	.irq_point = record_irq_point,
	.irq = record_irq,
	.after_exit = record_after_exit,
	.kicked = record_probe_scout,
};

/* Only what exit_dispatch() calls: replay runs the guest from its own loop
 * (replay/engine.c), which injects interrupts and checks checkpoints. */
const struct vm_hooks replay_hooks = {
	.io_read = replay_io_read,
	.rdtsc = replay_rdtsc,
	.rdrand = replay_rdrand,
	.msr_read = replay_msr_read,
};

void rr_attach(struct vm *vm, struct rr *rr)
{
	vm->hook_ctx = rr;
	vm->hooks = !rr ? NULL : rr->mode == RR_RECORD ? &record_hooks : rr->mode == RR_REPLAY ? &replay_hooks : NULL;
}
