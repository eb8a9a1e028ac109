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
 * `nest=1` besides, each pass goes through a chain of NEST functions down
 * to the work: a kick most likely stops the guest deep in the chain, and
 * the landing climbs out of it to the inner loop's exit.  With `quick=1`
 * the loop is mostly instructions that replay steps over by hand
 * (core/quickstep.h: NOPs, PAUSE, ENDBR64, LFENCE, a jump, moves and ALU
 * operations between registers), where kicks then stop it. */
#include "rt/rt.h"

#define TICKS 30

static volatile uint32_t ticks;
static volatile uint64_t counter, acc, hash = MIX64_INIT;

#define NEST 5

/* One pass of the work, NEST calls down.  The empty asm after each call
 * keeps it a call (no tail jump): every level returns through its own end. */
__attribute__((noinline)) static void pass_at(unsigned level)
{
	if (level) {
		pass_at(level - 1);
		__asm__ volatile("" ::: "memory");
		return;
	}
	acc = acc * 6364136223846793005ull + counter;
	counter = counter + 1;
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
	uint64_t nest = cmdline_num(cmdline, "nest", 0);
	rt_printf("compute: %d ticks of work at 1000 Hz\n", TICKS);
	rt_set_handler(IRQ_BASE + 0, on_tick);
	pit_start(1000);
	pic_unmask(0);
	sti();
	uint64_t quick = cmdline_num(cmdline, "quick", 0);
	while (ticks < TICKS && quick) {
		uint64_t x = counter;
		__asm__ volatile("nop\n\t"
				 "nopl 0(%%rax,%%rax,1)\n\t"
				 ".byte 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0\n\t"
				 "mov %0, %%rdx\n\t"
				 "movl %%edx, %%esi\n\t"
				 "add $3, %%rsi\n\t"
				 "test %%esi, %%esi\n\t"
				 "cmp %%rdx, %%rsi\n\t"
				 "sub $3, %%rsi\n\t"
				 "inc %%rsi\n\t"
				 "dec %%esi\n\t"
				 "xor %%r10d, %%r10d\n\t"
				 "or %%r10, %%rsi\n\t"
				 "mov %%rsi, %%r9\n\t"
				 "pause\n\t"
				 ".byte 0xf3, 0x0f, 0x1e, 0xfa\n\t" /* endbr64 */
				 "lfence\n\t"
				 "jmp 1f\n\t"
				 "nop\n"
				 "1:\n\t"
				 "mov %%r9, %0"
				 : "+r"(x)
				 :
				 : "rdx", "rsi", "r9", "r10", "cc", "memory");
		counter = x + 1;
		acc += x;
	}
	while (ticks < TICKS && !delay && !quick) {
		acc = acc * 6364136223846793005ull + counter;
		counter = counter + 1;
	}
	while (ticks < TICKS && delay) {
		acc += inb(0x61); /* PIT/speaker port B: an exit */
		for (uint64_t i = 0; i < delay; i++) {
			if (nest) {
				pass_at(NEST);
				continue;
			}
			acc = acc * 6364136223846793005ull + counter;
			counter = counter + 1;
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
