/* ticks: the benchmark guest for timer interrupt delivery.  `src=apic`
 * (needs --apic) takes the local APIC's periodic timer, `src=pit` (the
 * default) the PIT through the 8259A, at `hz=N` (default 1000) until
 * `ticks=N` (default 1000) have come; with `work=1` a CPL0 compute loop
 * runs between ticks (ticks land between exits: kick points and probes),
 * else the guest idles in sti;hlt.  Prints the tick count and a hash of
 * where they landed (differs run to run with work=1). */
#include "rt/rt.h"

#define APIC 0xfee00000ul

static inline void aw(uint32_t off, uint32_t v) { *(volatile uint32_t *)(APIC + off) = v; }

static volatile uint32_t ticks;
static volatile uint64_t counter, acc, hash = MIX64_INIT;

static void on_pit(struct rt_frame *f)
{
	(void)f;
	hash = mix64(mix64(hash, counter), acc);
	ticks++;
}

static void on_apic(struct rt_frame *f)
{
	on_pit(f);
	aw(0xb0, 0); /* EOI */
}

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic;
	const char *cmdline = (mbi->flags & MB_INFO_CMDLINE) ? (const char *)(uintptr_t)mbi->cmdline : "";
	unsigned long hz = cmdline_num(cmdline, "hz", 1000), n = cmdline_num(cmdline, "ticks", 1000);
	unsigned long work = cmdline_num(cmdline, "work", 0);
	unsigned long lines = cmdline_num(cmdline, "lines", 0);
	int apic = 0;
	for (const char *p = cmdline; *p; p++)
		if (!strncmp(p, "src=apic", 8))
			apic = 1;
	if (!hz)
		hz = 1;
	rt_printf("ticks: %lu ticks at %lu Hz from the %s, %s\n", n, hz, apic ? "APIC timer" : "PIT",
		  work ? "computing" : "idle");
	if (apic) {
		rt_set_handler(0x40, on_apic);
		aw(0xf0, 0x1ff);
		aw(0x3e0, 0xb);              /* divide by 1: 1 ns per count */
		aw(0x320, (1u << 17) | 0x40); /* periodic */
		aw(0x380, (uint32_t)(1000000000ul / hz));
	} else {
		rt_set_handler(IRQ_BASE + 0, on_pit);
		pit_start((uint32_t)hz);
		pic_unmask(0);
	}
	/* lines=N: N lines of output while the timer runs (a reader slower
	 * than the guest fills the pipe or terminal ttvm writes them to). */
	sti();
	for (unsigned long i = 1; i <= lines; i++)
		rt_printf("ticks: line %lu of %lu: the quick brown fox jumps over the lazy dog, again and again\n", i,
			  lines);
	cli();
	if (work) {
		sti();
		while (ticks < n) {
			acc = acc * 6364136223846793005ull + counter;
			counter = counter + 1;
		}
		cli();
	} else {
		cli();
		while (ticks < n)
			sti_hlt(), cli();
	}
	if (apic)
		aw(0x380, 0);
	else
		pit_stop();
	rt_printf("ticks: %u ticks, hash %016llx\n", ticks >= n ? (uint32_t)n : ticks, (unsigned long long)hash);
	rt_printf("ticks: done\n");
	return RT_EXIT_OK;
}
