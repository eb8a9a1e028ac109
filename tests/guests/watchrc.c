/* watchrc: the guest of the gdb tests of reverse-continue to a write
 * watchpoint on hosts without data breakpoints, where ttvm finds the last
 * write through the dirty log and the checkpoints' page lists instead of
 * single-stepping everything (replay/timeline.c).
 *
 * `quiet` is written once at the start and never again, while the guest
 * then reads a port `loops=N` times (default 60000; every read is an exit,
 * so a recording with --checkpoint-interval 0.2 gets checkpoints whose page
 * lists never name its page).  `target` is set to A, then, half-way through
 * the loop, set to B and back to A with no exit in between (aba(): the
 * value at every exit boundary stays A, only the writes show it).  `noise`
 * shares target's page and is written every 512 reads: that page is dirty
 * in stretches where target does not change.  Each variable page-aligned:
 * nothing else the guest writes lies on their pages. */
#include "rt/rt.h"

#define COM1_LSR 0x3fd
#define A 10
#define B 11

static struct {
	volatile uint64_t quiet;
	uint8_t pad[4096 - 8];
} __attribute__((aligned(4096))) qpage;

static struct {
	volatile uint64_t target;
	volatile uint64_t noise;
	uint8_t pad[4096 - 16];
} __attribute__((aligned(4096))) tpage;

__attribute__((noinline)) void set_quiet(void)
{
	qpage.quiet = 81;
}

__attribute__((noinline)) void set_target(void)
{
	tpage.target = A;
}

__attribute__((noinline)) void aba(void)
{
	tpage.target = B;
	tpage.target = A;
}

/* n port reads; the noise write every 512th.  Returns a hash of them. */
__attribute__((noinline)) uint64_t reads(unsigned long n)
{
	uint64_t h = MIX64_INIT;
	for (unsigned long i = 0; i < n; i++) {
		h = mix64(h, inb(COM1_LSR));
		if (!(i & 511))
			tpage.noise++;
	}
	return h;
}

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic;
	const char *cmdline = (mbi->flags & MB_INFO_CMDLINE) ? (const char *)(uintptr_t)mbi->cmdline : "";
	unsigned long loops = cmdline_num(cmdline, "loops", 60000);

	set_quiet();
	set_target();
	uint64_t h = reads(loops / 2);
	aba();
	h = mix64(h, reads(loops - loops / 2));
	if (qpage.quiet != 81 || tpage.target != A)
		rt_fail("watched values changed: quiet %llu target %llu", (unsigned long long)qpage.quiet,
			(unsigned long long)tpage.target);
	rt_printf("watchrc: %lu reads, noise %llu, hash %016llx\n", loops, (unsigned long long)tpage.noise,
		  (unsigned long long)h);
	rt_printf("watchrc: done\n");
	return RT_EXIT_OK;
}
