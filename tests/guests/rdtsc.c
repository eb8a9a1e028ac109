/* rdtsc: reads the TSC 1000 times and prints the first value, the span and
 * a hash of all of them: differs between plain runs, must match between a
 * recording and its replay.  Also checks that the TSC never goes back.
 * Then RDRAND and RDSEED at every operand size (CPUID hides them, but ttvm
 * traps and logs them if a guest executes them anyway), hashed the same way. */
#include "rt/rt.h"

#define READS 1000
#define RANDS 32

/* Each returns the carry flag: 1 when the instruction delivered a value. */
static int rdrand64(uint64_t *v)
{
	uint8_t ok;
	__asm__ volatile("rdrand %0; setc %1" : "=r"(*v), "=qm"(ok) : : "cc");
	return ok;
}

static int rdseed32(uint32_t *v)
{
	uint8_t ok;
	__asm__ volatile("rdseed %0; setc %1" : "=r"(*v), "=qm"(ok) : : "cc");
	return ok;
}

static int rdrand16(uint16_t *v)
{
	uint8_t ok;
	__asm__ volatile("rdrand %0; setc %1" : "=r"(*v), "=qm"(ok) : : "cc");
	return ok;
}

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	uint64_t first = rdtsc(), prev = first, h = MIX64_INIT;
	uint32_t backwards = 0;
	for (int i = 0; i < READS; i++) {
		uint64_t t = rdtsc();
		if (t < prev)
			backwards++;
		h = mix64(h, t);
		prev = t;
	}
	rt_printf("rdtsc: %d reads\n", READS);
	rt_printf("rdtsc: first %llu span %llu\n", (unsigned long long)first,
		  (unsigned long long)(prev - first));
	rt_printf("rdtsc: hash %016llx\n", (unsigned long long)h);
	if (backwards)
		rt_fail("TSC went backwards %u times", backwards);

	uint64_t r64;
	uint32_t r32;
	uint16_t r16 = 0;
	int ok = 0;
	h = MIX64_INIT;
	for (int i = 0; i < RANDS; i++) {
		ok += rdrand64(&r64) + rdseed32(&r32) + rdrand16(&r16);
		h = mix64(mix64(mix64(h, r64), r32), r16);
	}
	rt_printf("rdtsc: rdrand/rdseed %d of %d succeeded, hash %016llx\n", ok, 3 * RANDS,
		  (unsigned long long)h);
	if (ok != 3 * RANDS)
		rt_fail("RDRAND/RDSEED failed %d times", 3 * RANDS - ok);
	rt_printf("rdtsc: done\n");
	return RT_EXIT_OK;
}
