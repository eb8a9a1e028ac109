/* reset: asks the i8042 for a CPU reset (0xfe to port 0x64); ttvm exits
 * with status 66 (guest reset). */
#include "rt/rt.h"

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	rt_printf("reset: pulsing the reset line through the i8042\n");
	outb(0x64, 0xfe);
	for (int i = 0; i < 1000; i++)
		cpu_relax();
	rt_fail("no reset after 0xfe to port 0x64");
}
