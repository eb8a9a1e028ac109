/* popfhlt: an interrupt window that opens right at a HLT after POPF.  With
 * interrupts off, the guest polls the PIC's IRR (each read an exit) until
 * the PIT's tick is pending: ttvm, seeing it pending while the guest cannot
 * take it, asks KVM for an interrupt window.  Then `pushf; or IF; popf`
 * sets IF (no interrupt shadow, unlike STI) right before HLT: the window
 * opens with RIP on the HLT and the interrupt goes in there, before the HLT
 * executes; the handler returns to the HLT, which waits for the next tick.
 * Replay looks for window points by single steps, and KVM steps with TF in
 * the guest's RFLAGS: the stepped PUSHF pushes TF, the stack word differs
 * from the recording's and so does the memory digest of the window point
 * (core/stepfix.h).  On PVM, whose emulator runs the POPF and the HLT in
 * one go, the window opens only at the HLT's exit: the tick wakes the HLT
 * and a round sees one tick, not two. */
#include "rt/rt.h"

#define ROUNDS 5

static volatile uint32_t ticks;

static void on_tick(struct rt_frame *f)
{
	(void)f;
	ticks++;
}

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	uint32_t polls = 0;

	rt_set_handler(IRQ_BASE + 0, on_tick);
	cli();
	pit_start(1000);
	pic_unmask(0);
	for (int i = 0; i < ROUNDS; i++) {
		while (!(inb(0x20) & 1)) /* OCW3 default: IRR */
			polls++;
		__asm__ volatile("pushfq; orq $0x200, (%%rsp); popfq; hlt" ::: "memory", "cc");
		cli();
	}
	pic_mask(0);
	pit_stop();
	if (ticks < ROUNDS)
		rt_fail("%u ticks in %d rounds", ticks, ROUNDS);
	rt_printf("popfhlt: %d rounds, %u ticks, %u polls\n", ROUNDS, ticks, polls);
	rt_printf("popfhlt: done\n");
	return RT_EXIT_OK;
}
