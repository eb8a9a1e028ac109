/* Quick runs: the guest run by hand, instruction by instruction
 * (core/quickstep.h), from one pass of a kick point's RIP to its next.
 *
 * Replay's search for a kick point stops the guest at every pass of the
 * point's RIP (replay/engine.c).  In code that runs a long time between two
 * guest exits (a kernel's string loops, its big-number arithmetic), a point
 * is passed 10^5 times or more before the pass the recording injected at:
 * each pass is a guest entry and exit, ~100 us in the SVM test host.  A
 * quick run goes on from the pass by hand while every instruction is one
 * that core/quickstep.c does, with memory only where vm_load_quiet(),
 * vm_store_quiet() and vm_fetch_quiet() promise what the CPU would do, and
 * stops before the first that is not, before any patch trap's address (a
 * loop probe's hit is a guest exit of the recording), and at the point's
 * RIP again, where the engine compares the state as at a trap hit. */
#ifndef TTVM_REPLAY_QUICKRUN_H
#define TTVM_REPLAY_QUICKRUN_H
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "core/vm.h"

enum quickrun_end {
	QR_AT_STOP,  /* at stop_at again, after at least one instruction */
	QR_AT_TRAP,  /* before another patch trap's address */
	QR_REFUSED,  /* before an instruction it cannot do by hand */
	QR_BUDGET,   /* max instructions done */
};

/* Run regs (64-bit code at CPL0; sregs: the vCPU's) by hand from regs->rip,
 * whatever is there (the caller stands on a trap there and steps over its
 * instruction this way), for at most max instructions; stores by hand only
 * when stores.  *done: the instructions done (0: the first was refused,
 * regs unchanged). */
enum quickrun_end quickrun(struct vm *vm, const struct kvm_sregs *sregs, struct kvm_regs *regs, uint64_t stop_at,
			   uint64_t max, bool stores, uint64_t *done);

#endif
