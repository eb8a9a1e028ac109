/* msr: the MSRs KVM would answer from host state (core/msr.h).
 *
 * - IA32_TSC through RDMSR, 1000 times: first value, span and hash differ
 *   between plain runs, must match between a recording and its replay;
 *   it never goes back and stays in step with RDTSC.
 * - IA32_TSC_ADJUST: 0 at start; a write moves the TSC by the change (seen
 *   by RDMSR and by RDTSC), a write of IA32_TSC moves TSC_ADJUST by the
 *   same amount (its value then depends on when the write happened).
 * - MSRs ttvm refuses (kvmclock, KVM's paravirtual MSRs, APERF/MPERF, the
 *   AMD and Intel PMU, TSC deadline, Hyper-V): each access raises #GP.
 * - RDPMC: no PMU, no VMware backdoor: #GP for a counter and for the
 *   backdoor's pseudo-counters 0x10000-0x10002 alike.
 * - Refused accesses in a loop while the PIT ticks at 1000 Hz, until 20
 *   ticks: a tick due at such an exit must not be lost (it was: KVM got
 *   the interrupt with the #GP still pending, and the PIC never saw its
 *   EOI; Linux's PMU probe stopped its clock that way).
 * With `loop=1` it is instead issue 15's reproducer: a CPL0 loop that reads
 *   the TSC through RDMSR until 30 PIT ticks at 1000 Hz and at least 16
 *   iterations (tests/gdb/msr-break.gdb stops at 5 of them; the SVM test
 *   host, where each RDMSR is a user-space exit in a nested guest, made as
 *   few as 3 in CI's 30 ms), the IRQ0 handler hashing the counter and
 *   accumulator it interrupted. */
#include "rt/rt.h"

#define READS 1000
#define TICKS 30
#define MIN_ITERATIONS 16

static volatile uint32_t gp_faults;
static volatile uint32_t ticks;
static volatile uint64_t counter, acc, hash = MIX64_INIT;

/* RDMSR, WRMSR and RDPMC are all 2 bytes long: a #GP skips them. */
static void on_gp(struct rt_frame *f)
{
	gp_faults++;
	f->rip += 2;
}

static uint64_t rdmsr(uint32_t index)
{
	uint32_t lo = 0, hi = 0;
	__asm__ volatile("rdmsr" : "+a"(lo), "+d"(hi) : "c"(index) : "memory");
	return (uint64_t)hi << 32 | lo;
}

/* The loop's RDMSR, at a global label for gdb (tests/gdb/msr-break.gdb):
 * a breakpoint on an RDMSR must not move RIP when the guest goes on. */
__attribute__((noinline)) static uint64_t loop_rdmsr_tsc(void)
{
	uint32_t lo = 0, hi = 0;
	__asm__ volatile(".globl msr_loop_rdmsr\nmsr_loop_rdmsr: rdmsr" : "+a"(lo), "+d"(hi) : "c"(0x10) : "memory");
	return (uint64_t)hi << 32 | lo;
}

static void wrmsr(uint32_t index, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(index), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

static uint64_t rdpmc(uint32_t counter_no)
{
	uint32_t lo = 0, hi = 0;
	__asm__ volatile("rdpmc" : "+a"(lo), "+d"(hi) : "c"(counter_no) : "memory");
	return (uint64_t)hi << 32 | lo;
}

static void on_tick(struct rt_frame *f)
{
	(void)f;
	hash = mix64(mix64(hash, counter), acc);
	ticks++;
}

static int loop_mode(void)
{
	rt_printf("msr: RDMSR of the TSC in a loop until %d ticks at 1000 Hz and %d iterations\n", TICKS, MIN_ITERATIONS);
	rt_set_handler(IRQ_BASE + 0, on_tick);
	pit_start(1000);
	pic_unmask(0);
	sti();
	while (ticks < TICKS || counter < MIN_ITERATIONS) {
		acc = acc * 6364136223846793005ull + loop_rdmsr_tsc();
		counter = counter + 1;
	}
	cli();
	pic_mask(0);
	pit_stop();
	rt_printf("msr: iterations %llu\n", (unsigned long long)counter);
	rt_printf("msr: hash %016llx\n", (unsigned long long)hash);
	rt_printf("msr: done\n");
	return RT_EXIT_OK;
}

/* Each access must raise #GP: returns how many did not. */
static int refused(void)
{
	static const uint32_t reads[] = { 0x11, 0x12, 0x4b564d00, 0x4b564d01, 0x4b564d03, 0xe7, 0xe8,
					  0xc0010000, 0xc0010004, 0xc1, 0x186, 0x6e0, 0x40000020 };
	static const uint32_t writes[] = { 0x12, 0x4b564d01, 0x4b564d03, 0xc0010000, 0x186, 0x38f };
	static const uint32_t pmcs[] = { 0, 1, 0x10000, 0x10001, 0x10002 };
	int bad = 0;

	for (unsigned i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		uint32_t before = gp_faults;
		(void)rdmsr(reads[i]);
		if (gp_faults == before) {
			rt_printf("msr: RDMSR %#x did not fault\n", reads[i]);
			bad++;
		}
	}
	for (unsigned i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		uint32_t before = gp_faults;
		/* kvmclock's enable bit with a page address, an event select
		 * with its enable bit: what would start host-driven updates. */
		wrmsr(writes[i], 0x200001ull | (1ull << 22));
		if (gp_faults == before) {
			rt_printf("msr: WRMSR %#x did not fault\n", writes[i]);
			bad++;
		}
	}
	for (unsigned i = 0; i < sizeof(pmcs) / sizeof(pmcs[0]); i++) {
		uint32_t before = gp_faults;
		uint64_t v = rdpmc(pmcs[i]);
		if (gp_faults == before) {
			rt_printf("msr: RDPMC %#x did not fault (read %llu)\n", pmcs[i], (unsigned long long)v);
			bad++;
		}
	}
	rt_printf("msr: %u refused accesses raised #GP\n", gp_faults);
	return bad;
}

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic;
	const char *cmdline = (mbi->flags & MB_INFO_CMDLINE) ? (const char *)(uintptr_t)mbi->cmdline : "";
	rt_set_handler(13, on_gp);
	if (cmdline_num(cmdline, "loop", 0))
		return loop_mode();

	/* IA32_TSC by RDMSR. */
	uint64_t first = rdmsr(0x10), prev = first, h = MIX64_INIT;
	uint32_t backwards = 0;
	for (int i = 0; i < READS; i++) {
		uint64_t t = rdmsr(0x10);
		if (t < prev)
			backwards++;
		h = mix64(h, t);
		prev = t;
	}
	uint64_t tsc = rdtsc();
	rt_printf("msr: %d reads of IA32_TSC\n", READS);
	rt_printf("msr: first %llu span %llu\n", (unsigned long long)first, (unsigned long long)(prev - first));
	rt_printf("msr: hash %016llx\n", (unsigned long long)h);
	if (backwards)
		rt_fail("IA32_TSC went backwards %u times", backwards);
	if (tsc < prev)
		rt_fail("RDTSC %llu behind RDMSR's %llu", (unsigned long long)tsc, (unsigned long long)prev);

	/* IA32_TSC_ADJUST moves the TSC. */
	uint64_t adj0 = rdmsr(0x3b);
	if (adj0 != 0)
		rt_fail("IA32_TSC_ADJUST is %llu at start", (unsigned long long)adj0);
	const uint64_t step = 1ull << 40;
	uint64_t t0 = rdmsr(0x10);
	wrmsr(0x3b, step);
	uint64_t t1 = rdmsr(0x10), r1 = rdtsc(), adj1 = rdmsr(0x3b);
	if (adj1 != step)
		rt_fail("IA32_TSC_ADJUST reads %llu after writing %llu", (unsigned long long)adj1,
			(unsigned long long)step);
	if (t1 - t0 < step || t1 - t0 > step + (1ull << 36) || r1 < t1)
		rt_fail("TSC moved by %llu (RDTSC %llu) after TSC_ADJUST += %llu", (unsigned long long)(t1 - t0),
			(unsigned long long)(r1 - t0), (unsigned long long)step);
	rt_printf("msr: TSC_ADJUST write moved the TSC by 2^40 (+%llu)\n", (unsigned long long)(t1 - t0 - step));

	/* A write of IA32_TSC: the TSC restarts there, TSC_ADJUST follows. */
	wrmsr(0x10, 1000000);
	uint64_t t2 = rdmsr(0x10), r2 = rdtsc(), adj2 = rdmsr(0x3b);
	if (t2 < 1000000 || t2 > 1000000 + (1ull << 36) || r2 < t2)
		rt_fail("TSC reads %llu (RDTSC %llu) after writing 1000000", (unsigned long long)t2,
			(unsigned long long)r2);
	rt_printf("msr: TSC write: TSC %llu, TSC_ADJUST %llu\n", (unsigned long long)t2, (unsigned long long)adj2);

	int bad = refused();
	if (bad)
		rt_fail("%d accesses did not raise #GP", bad);

	rt_set_handler(IRQ_BASE + 0, on_tick);
	pit_start(1000);
	pic_unmask(0);
	sti();
	while (ticks < 20) {
		(void)rdmsr(0xc0010000);
		(void)rdpmc(0);
	}
	cli();
	pic_mask(0);
	pit_stop();
	rt_printf("msr: 20 ticks while refused accesses raised #GP\n");
	rt_printf("msr: done\n");
	return RT_EXIT_OK;
}
