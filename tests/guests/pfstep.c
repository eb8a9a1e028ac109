/* pfstep: a page fault taken inside a single step (core/stepfix.h).
 *
 * The guest prints where its faulting load is, then loads from 4 GiB (just
 * past the runtime's identity map: not present, #PF).  The #PF handler
 * prints a line (serial exits inside the handler), moves RIP past the load
 * and returns.  tests/core/test_stepfix stops the guest on the load and
 * single-steps it the way record and replay step over their traps: KVM's
 * step sets TF in RFLAGS, the fault's frame gets RFLAGS with TF, the
 * delivery clears TF, and the step's KVM_RUN ends at the handler's first
 * serial exit with the frame still on the stack.  Unless ttvm takes TF out
 * of that frame, the handler's IRET sets it and the guest takes a
 * single-step #DB of its own after the next instruction (a recorded Linux
 * kernel WARNed in exc_debug that way).  The guest counts such traps: it
 * passes with one page fault and no #DB.  A plain run passes too. */
#include "rt/rt.h"

#define RFLAGS_TF 0x100ull

static volatile uint32_t faults, debug_traps;
extern char pfstep_load[], pfstep_after[];

static void on_pf(struct rt_frame *f)
{
	faults++;
	rt_printf("pfstep: #PF at 0x%lx, error 0x%lx\n", (unsigned long)f->rip, (unsigned long)f->error);
	if (f->rip == (uint64_t)pfstep_load)
		f->rip = (uint64_t)pfstep_after;
}

static void on_db(struct rt_frame *f)
{
	debug_traps++;
	f->rflags &= ~RFLAGS_TF;
}

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	uint64_t v = 0;

	rt_set_handler(14, on_pf);
	rt_set_handler(1, on_db);
	rt_printf("pfstep: load at 0x%lx\n", (unsigned long)pfstep_load);
	__asm__ volatile(".globl pfstep_load\npfstep_load: mov (%1), %0\n.globl pfstep_after\npfstep_after:"
			 : "+r"(v)
			 : "r"(0x100000000ull)
			 : "memory");
	uint32_t pf = faults, db = debug_traps;
	rt_printf("pfstep: %u page fault(s), %u single-step trap(s)\n", pf, db);
	if (pf != 1 || db != 0 || debug_traps != 0)
		rt_fail("pfstep: %u single-step trap(s) by now: expected 1 page fault and none", debug_traps);
	rt_printf("pfstep: done\n");
	return RT_EXIT_OK;
}
