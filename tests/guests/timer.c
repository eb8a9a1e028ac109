/* timer: PIT channel 0 in mode 2 at 1000 Hz through the remapped 8259A;
 * idles with sti;hlt until 50 ticks have been counted by the IRQ0 handler.
 * Exercises PIT, PIC (mask, EOI) and HLT wake-up by an injected interrupt. */
#include "rt/rt.h"

#define TICKS 50
#define FLAGS_IF 0x200u

static volatile uint32_t ticks;
static volatile uint32_t ticks_if_off; /* ticks that interrupted IF=0 code */

static void on_tick(struct rt_frame *f)
{
#ifdef __x86_64__
	uint64_t flags = f->rflags;
#else
	uint32_t flags = f->eflags;
#endif
	/* The frame holds the interrupted code's flags: a tick taken there
	 * with IF clear was injected while the guest had interrupts off. */
	if (!(flags & FLAGS_IF))
		ticks_if_off++;
	/* Two ticks can be pending when the loop sees the last one (a late
	 * host delivers them back to back, and the second lands before cli):
	 * stop counting at TICKS so the printed count does not depend on it. */
	if (ticks < TICKS)
		ticks++;
}

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	rt_printf("timer: PIT at 1000 Hz, waiting for %d ticks\n", TICKS);
	rt_set_handler(IRQ_BASE + 0, on_tick);
	pit_start(1000);
	pic_unmask(0);
	uint32_t wakeups = 0, empty = 0;
	cli();
	while (ticks < TICKS) {
		uint32_t before = ticks;
		sti_hlt();
		cli();
		wakeups++;
		/* Only IRQ0 is unmasked, so HLT can end only by taking a tick
		 * (the STI shadow keeps it from arriving before the HLT). */
		if (ticks == before)
			empty++;
	}
	pic_mask(0);
	pit_stop();
	rt_printf("timer: counted %u ticks\n", ticks);
	rt_printf("timer: %u HLT wake-ups\n", wakeups);
	/* Wake-ups and ticks need not match: a host that runs the guest late
	 * finds the next tick pending when the handler's IRET sets IF again,
	 * so several ticks can arrive per HLT (on the SVM test host, nested
	 * under QEMU with four CPU hogs beside ttvm: 16 to 48 wake-ups for 50
	 * ticks), and no lower bound on wake-ups per tick holds.  What always
	 * holds: every HLT ended by taking a tick, no tick interrupted code
	 * with interrupts off, and so at least one HLT was woken. */
	if (empty)
		rt_fail("HLT returned %u of %u times without an interrupt", empty, wakeups);
	if (ticks_if_off)
		rt_fail("%u of %u ticks interrupted code with interrupts off", ticks_if_off, ticks);
	if (!wakeups)
		rt_fail("%u ticks arrived without any HLT wake-up", ticks);
	rt_printf("timer: done\n");
	return RT_EXIT_OK;
}
