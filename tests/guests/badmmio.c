/* badmmio: writes and reads a physical address where there is neither RAM
 * nor a device (3.5 GiB; our page tables map all of 0-4 GiB).  The monitor
 * must survive it: without --strict the guest goes on (exit 0, the value
 * read is printed but not checked), with --strict the run stops (74). */
#include "rt/rt.h"

#define WILD 0xe0000000u

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)WILD;
	rt_printf("badmmio: writing to 0x%x\n", WILD);
	*p = 0x12345678;
	uint32_t v = *p;
	rt_printf("badmmio: read back 0x%x\n", v);
	rt_printf("badmmio: done\n");
	return RT_EXIT_OK;
}
