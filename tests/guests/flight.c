/* flight: a long-running guest for flight recording (`ttvm record --keep`,
 * issue 16).  PIT ticks at `hz` (default 100) land in a CPL0 loop without
 * exits (as in tickloop); at each tick the loop rewrites one page of a
 * buffer of `pages` pages (default 256, at most 1024) in turn with values
 * that depend on where the ticks landed, so every checkpoint holds new page
 * contents and the ones overwritten become garbage a flight recording must
 * drop.  Every `every` ticks (default 50) it prints the tick and a hash of
 * the buffer, which differs between two plain runs (a replay must print the
 * recording's); after `ticks` ticks (default 200) it prints the final hash
 * and ends. */
#include "rt/rt.h"

#define PAGE 4096
#define PAGES_MAX 1024

static uint8_t buf[PAGES_MAX * PAGE] __attribute__((aligned(PAGE)));
static volatile uint32_t ticks;
static volatile uint64_t counter, acc, hash = MIX64_INIT;

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

__attribute__((noinline)) static void work(void)
{
	slow();
	acc = acc * 6364136223846793005ull + counter;
	counter = counter + 1;
}

/* Rewrite page p from the state the ticks left. */
static void fill(uint32_t p)
{
	uint64_t *w = (uint64_t *)(buf + (uint64_t)p * PAGE);
	uint64_t v = mix64(hash, counter);
	for (uint32_t i = 0; i < PAGE / 8; i++) {
		v = v * 6364136223846793005ull + 1442695040888963407ull;
		w[i] = v;
	}
}

static uint64_t buf_hash(uint32_t pages)
{
	uint64_t h = MIX64_INIT;
	const uint64_t *w = (const uint64_t *)buf;
	for (uint64_t i = 0; i < (uint64_t)pages * PAGE / 8; i += 61)
		h = mix64(h, w[i]);
	return h;
}

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic;
	const char *cmdline = (mbi->flags & MB_INFO_CMDLINE) ? (const char *)(uintptr_t)mbi->cmdline : "";
	uint32_t n = (uint32_t)cmdline_num(cmdline, "ticks", 200);
	uint32_t hz = (uint32_t)cmdline_num(cmdline, "hz", 100);
	uint32_t pages = (uint32_t)cmdline_num(cmdline, "pages", 256);
	uint32_t every = (uint32_t)cmdline_num(cmdline, "every", 50);

	if (pages < 1 || pages > PAGES_MAX)
		pages = 256;
	if (!every)
		every = 50;
	rt_set_handler(IRQ_BASE + 0, on_tick);
	pit_start(hz);
	pic_unmask(0);
	sti();
	for (uint32_t k = 1; k <= n; k++) {
		while (ticks < k)
			work();
		cli();
		fill(k % pages);
		if (k % every == 0)
			rt_printf("flight: tick %u hash %016llx\n", k, (unsigned long long)buf_hash(pages));
		sti();
	}
	cli();
	pic_mask(0);
	pit_stop();
	rt_printf("flight: %u ticks, final hash %016llx\n", n, (unsigned long long)mix64(hash, buf_hash(pages)));
	rt_printf("flight: done\n");
	return RT_EXIT_OK;
}
