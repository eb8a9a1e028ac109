/* tickloop: PIT ticks landing in a CPL0 loop that causes no exits, for the
 * gdb tests of breakpoints, watchpoints and reverse execution across
 * interrupts injected at kick points (issue 13).
 *
 * For each tick k = 1..N the loop calls work() until the IRQ0 handler has
 * counted k ticks, then note(k), which sets `seen` to k (in mark()): a
 * breakpoint on note() (inside the loop) stops N times, a watchpoint on
 * `seen` (written by the loop) N times with the values 1..N, however the
 * ticks fell (the handler may count two at once on a late host); done() is
 * called once after the loop.  note() runs with interrupts off, so no
 * interrupt is ever injected at its entry or at the watchpoint's stop: a
 * breakpoint or watchpoint stop there is never reported twice (as it would
 * be where the guest takes an interrupt right before the instruction of a
 * breakpoint that gdb has just stepped over).
 *
 * Each work() executes CPUID, which KVM handles in the kernel (no exit
 * reaches ttvm) but which is slow: a tick lands after a few thousand
 * instructions since the handler's last exit (its EOI), not hundreds of
 * thousands, so hosts without working debug registers (the SVM test host),
 * which find a kick point by single steps from the last exit, find it in
 * well under a second.  The IRQ0 handler hashes the counter and
 * accumulator it interrupted: the printed hash depends on where each tick
 * landed (it differs between two plain runs, and a replay must print the
 * recording's).
 *
 * On the command line, `ticks=N`: how many ticks (default 4), `hz=N`: the
 * PIT's rate (default 100: at 1000 Hz the SVM test host, nested under
 * QEMU's emulator, spends more than a tick period in each handler, so the
 * ticks would all land right after its IRET, none in the loop). */
#include "rt/rt.h"

static volatile uint32_t ticks;
static volatile uint32_t seen;
static volatile uint64_t counter, acc, hash = MIX64_INIT;
static volatile uint64_t noted_at; /* counter when the loop saw the last tick (for gdb) */

static void on_tick(struct rt_frame *f)
{
	(void)f;
	hash = mix64(mix64(hash, counter), acc);
	ticks++;
}

static inline void slow(void)
{
	uint32_t a = 0, b, c = 0, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d)::"memory");
}

/* One iteration's work. */
__attribute__((noinline)) void work(void)
{
	slow();
	acc = acc * 6364136223846793005ull + counter;
	counter = counter + 1;
}

/* Sets `seen` with its first instruction: a breakpoint here and a
 * watchpoint on `seen` fire together when gdb steps over the breakpoint. */
__attribute__((noinline)) void mark(uint32_t k)
{
	seen = k;
}

/* The loop saw tick k (called with interrupts off).  The store to `seen`
 * is not note()'s first instruction, so that going backwards the
 * watchpoint (before the store) and a breakpoint on note() are two stops. */
__attribute__((noinline)) void note(uint32_t k)
{
	noted_at = counter;
	mark(k);
}

__attribute__((noinline)) void done(uint32_t n)
{
	rt_printf("tickloop: %u ticks, %u seen\n", n, seen);
	rt_printf("tickloop: iterations %llu\n", (unsigned long long)counter);
}

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic;
	const char *cmdline = (mbi->flags & MB_INFO_CMDLINE) ? (const char *)(uintptr_t)mbi->cmdline : "";
	uint32_t n = (uint32_t)cmdline_num(cmdline, "ticks", 4);
	uint32_t hz = (uint32_t)cmdline_num(cmdline, "hz", 100);

	rt_set_handler(IRQ_BASE + 0, on_tick);
	pit_start(hz);
	pic_unmask(0);
	sti();
	for (uint32_t k = 1; k <= n; k++) {
		while (ticks < k)
			work();
		cli();
		note(k);
		sti();
	}
	cli();
	pic_mask(0);
	pit_stop();
	done(n);
	rt_printf("tickloop: hash %016llx\n", (unsigned long long)hash);
	rt_printf("tickloop: done\n");
	return RT_EXIT_OK;
}
