/* spin: loops forever at CPL0 with interrupts off; only ttvm's --timeout
 * ends it (status 72). */
#include "rt/rt.h"

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	rt_printf("spin: looping forever\n");
	for (;;)
		cpu_relax();
}
