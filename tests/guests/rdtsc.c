/* rdtsc: reads the TSC 1000 times and prints the first value, the span and
 * a hash of all of them: differs between plain runs, must match between a
 * recording and its replay.  Also checks that the TSC never goes back. */
#include "rt/rt.h"

#define READS 1000

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
	rt_printf("rdtsc: done\n");
	return RT_EXIT_OK;
}
