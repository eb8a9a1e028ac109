/* halt: cli;hlt with nothing that could ever wake the vCPU.  ttvm must
 * notice and exit with status 70 (halted forever) instead of hanging. */
#include "rt/rt.h"

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	rt_printf("halt: cli; hlt\n");
	__asm__ volatile("cli; hlt");
	rt_fail("woke up from cli;hlt");
}
