/* timer: PIT channel 0 in mode 2 at 1000 Hz through the remapped 8259A;
 * idles with sti;hlt until 50 ticks have been counted by the IRQ0 handler.
 * Exercises PIT, PIC (mask, EOI) and HLT wake-up by an injected interrupt. */
#include "rt/rt.h"

#define TICKS 50

static volatile uint32_t ticks;

static void on_tick(struct rt_frame *f)
{
	(void)f;
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
	uint32_t halts = 0;
	cli();
	while (ticks < TICKS) {
		sti_hlt();
		cli();
		halts++;
	}
	pic_mask(0);
	pit_stop();
	rt_printf("timer: counted %u ticks\n", ticks);
	if (halts < TICKS / 2)
		rt_fail("only %u HLT wake-ups for %u ticks", halts, ticks);
	rt_printf("timer: done\n");
	return RT_EXIT_OK;
}
