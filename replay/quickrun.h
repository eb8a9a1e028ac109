/* Quick runs: the guest run by hand, instruction by instruction
 * (core/quickstep.h), from one pass of a kick point's RIP to its next.
 *
 * Replay's search for a kick point stops the guest at every pass of the
 * point's RIP (replay/engine.c).  In code that runs a long time between two
 * guest exits (a kernel's string loops, its big-number arithmetic), a point
 * is passed 10^5 times or more before the pass the recording injected at:
 * each pass is a guest entry and exit, ~100 us in the SVM test host.  A
 * quick run goes on from the pass by hand while every instruction is one
 * that core/quickstep.c does, with memory only where the CPU's access would
 * fault on nothing and change nothing but the bytes (vm_quiet_page(): the
 * accessed bits, and for a store the dirty bit, already set; supervisor
 * pages in RAM), and stops before the first that is not, before any patch
 * trap's address (a loop probe's hit is a guest exit of the recording),
 * and at the point's RIP again, where the engine compares the state as at
 * a trap hit. */
#ifndef TTVM_REPLAY_QUICKRUN_H
#define TTVM_REPLAY_QUICKRUN_H
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "core/ptrap.h"
#include "core/vm.h"

enum quickrun_end {
	QR_AT_STOP,  /* at stop_at again, after at least one instruction */
	QR_AT_TRAP,  /* before another patch trap's address */
	QR_REFUSED,  /* before an instruction it cannot do by hand */
	QR_BUDGET,   /* max instructions done */
};

/* What stopped quick runs (statistics): per opcode of the instruction
 * refused (after a REX prefix; 0f xx at 256 + xx), with its last address. */
struct quickrun_stats {
	uint64_t refused[512];
	uint64_t refused_at[512];
	uint64_t unfetched; /* code not fetchable quietly */
};

#define QR_TLB 64
#define QR_TABLE_PAGES 32

/* One stretch of runs by hand between two runs of the guest under KVM
 * (nothing else changes guest memory or the vCPU's state meanwhile): the
 * pages looked up so far, the patch traps' addresses. */
struct quickrun {
	struct vm *vm;
	const struct kvm_sregs *sregs;
	bool stores;
	struct quickrun_stats *stats; /* NULL: not kept */
	struct {
		uint64_t vpage; /* UINT64_MAX: empty */
		uint8_t *host;  /* NULL: no quiet access there */
		uint64_t gpa_page;
		unsigned ok;    /* VM_QUIET_ bits */
	} tlb[QR_TLB];
	/* The guest-physical pages holding the paging-structure entries the
	 * kept pages depend on: a store there drops them all. */
	uint64_t table_pages[QR_TABLE_PAGES];
	unsigned ntable_pages;
	uint64_t traps[PTRAP_MAX];
	unsigned ntraps;
};

/* Start a stretch: stores by hand only when stores; st may be NULL. */
void quickrun_begin(struct quickrun *qr, struct vm *vm, const struct kvm_sregs *sregs, bool stores,
		    struct quickrun_stats *st);
/* Run regs (64-bit code at CPL0) by hand from regs->rip, whatever is there
 * (the caller stands on a trap there and steps over its instruction this
 * way), for at most max instructions.  *done: the instructions done (0:
 * the first was refused, regs unchanged). */
enum quickrun_end quickrun(struct quickrun *qr, struct kvm_regs *regs, uint64_t stop_at, uint64_t max, uint64_t *done);
/* Log the most frequent refusals in st (debug level). */
void quickrun_report(const struct quickrun_stats *st);

#endif
