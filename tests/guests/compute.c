/* compute: a busy loop interrupted by the PIT at 1000 Hz.  The IRQ0 handler
 * mixes the loop counter and accumulator it interrupted into a hash, so the
 * printed hash depends on where each tick landed: it differs between two
 * plain runs and must be identical between a recording and its replay.
 * The loop ends after a fixed number of ticks, not iterations, so it stays
 * short on PVM (CPL0 runs in KVM's emulator) and still sees ticks on fast
 * hosts.
 *
 * With `delay=N` on the command line the work is shaped like a driver's
 * polling loop: a port read (a guest exit), then N passes of the loop
 * without exits, again and again: an interrupt due in there can go in
 * where the inner loop ends, right after an exit (record/land.c).  With
 * `nest=M` as well, the N passes run M times between two port reads: the
 * inner loop's exit is passed M times per exit, the outer loop's once;
 * `span=US` instead picks M so that they last about US microseconds. */
#include "rt/rt.h"

#define TICKS 30

static volatile uint32_t ticks;
static volatile uint64_t counter, acc, hash = MIX64_INIT;

#define LCG 6364136223846793005ull

/* The PIT's channel 0 count (it counts down from 1193 each ms). */
static uint32_t pit_count(void)
{
	outb(0x43, 0x00); /* latch channel 0 */
	uint32_t lo = inb(0x40);
	return lo | (uint32_t)inb(0x40) << 8;
}

/* Passes of the work loop per ms, timed by the PIT's count over a run of
 * passes that lasts between 0.3 and 1 ms (it wraps every ms). */
static uint64_t passes_per_ms(void)
{
	for (uint64_t k = 16; k < (1ull << 40); k *= 2) {
		uint32_t a = pit_count();
		for (uint64_t i = 0; i < k; i++) {
			acc = acc * LCG + counter;
			counter = counter + 1;
		}
		uint32_t d = (a + 1193 - pit_count()) % 1193;
		if (d >= 358)
			return k * 1193 / d;
	}
	return 1;
}

static void on_tick(struct rt_frame *f)
{
	(void)f;
	hash = mix64(mix64(hash, counter), acc);
	ticks++;
}

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic;
	const char *cmdline = (mbi->flags & MB_INFO_CMDLINE) ? (const char *)(uintptr_t)mbi->cmdline : "";
	uint64_t delay = cmdline_num(cmdline, "delay", 0);
	uint64_t nest = cmdline_num(cmdline, "nest", 1);
	uint64_t span = cmdline_num(cmdline, "span", 0);
	rt_printf("compute: %d ticks of work at 1000 Hz\n", TICKS);
	rt_set_handler(IRQ_BASE + 0, on_tick);
	pit_start(1000);
	pic_unmask(0);
	sti();
	if (span && delay) {
		/* span=US: nest chosen so that the passes between two port
		 * reads last about US microseconds on this host. */
		uint64_t per_ms = passes_per_ms();
		nest = span * per_ms / 1000 / delay;
		if (!nest)
			nest = 1;
		rt_printf("compute: %llu passes per ms, nest %llu\n", (unsigned long long)per_ms,
			  (unsigned long long)nest);
	}
	while (ticks < TICKS && !delay) {
		acc = acc * LCG + counter;
		counter = counter + 1;
	}
	while (ticks < TICKS && delay) {
		acc += inb(0x61); /* PIT/speaker port B: an exit */
		for (uint64_t j = 0; j < nest; j++) {
			for (uint64_t i = 0; i < delay; i++) {
				acc = acc * LCG + counter;
				counter = counter + 1;
			}
			acc ^= j; /* the inner loop's exit: passed nest times per port read */
		}
	}
	cli();
	pic_mask(0);
	pit_stop();
	rt_printf("compute: iterations %llu\n", (unsigned long long)counter);
	rt_printf("compute: hash %016llx\n", (unsigned long long)hash);
	rt_printf("compute: done\n");
	return RT_EXIT_OK;
}
