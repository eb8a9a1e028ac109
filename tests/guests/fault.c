/* fault: divides by zero.  The runtime's #DE handler prints the vector and
 * RIP and exits with RT_EXIT_EXCEPTION (status 7): checks exception
 * delivery through the guest's own IDT. */
#include "rt/rt.h"

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	volatile uint32_t zero = 0;
	rt_printf("fault: dividing by zero\n");
	rt_printf("fault: %u\n", 1000u / zero);
	rt_fail("division by zero did not fault");
}
