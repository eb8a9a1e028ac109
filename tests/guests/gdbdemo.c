/* gdbdemo: the bug of README's time-travel walkthrough, and the guest of
 * the gdb tests.  A seed from RDTSC (so two plain runs print different
 * numbers, and a replay must print the recorded ones) is stirred into
 * `value` by a loop that leaves the CPU at every round (port 0x80), then
 * fill_table() writes one slot too many: table[8] is where the `report`
 * function pointer lives.  Calling report() jumps to a wild address and the
 * guest dies of the exception (status 7).  With gdb: watch state.report,
 * reverse-continue, and the culprit is the write in fill_table(). */
#include "rt/rt.h"

#define ROUNDS 200
#define SLOTS 8

struct state {
	uint64_t table[SLOTS];
	void (*report)(uint64_t v);
};

static struct state state;
volatile uint64_t value;

static void print_report(uint64_t v)
{
	rt_printf("gdbdemo: report %016llx\n", (unsigned long long)v);
}

__attribute__((noinline)) void stir(uint64_t seed)
{
	for (uint32_t round = 0; round < ROUNDS; round++) {
		value = mix64(value ^ seed, round);
		outb(0x80, (uint8_t)round);
	}
}

__attribute__((noinline)) void fill_table(uint64_t base)
{
	for (unsigned i = 0; i <= SLOTS; i++) /* the bug: <= */
		((volatile uint64_t *)state.table)[i] = base + i;
}

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	state.report = print_report;
	uint64_t seed = rdtsc();
	rt_printf("gdbdemo: seed %016llx\n", (unsigned long long)seed);
	stir(seed);
	rt_printf("gdbdemo: value %016llx\n", (unsigned long long)value);
	fill_table(value);
	state.report(value);
	rt_fail("report() returned");
}
