/* badport: touches I/O ports nothing claims.  Reads must return all-ones
 * and writes must be dropped (exit 0); under ttvm --strict the first access
 * stops the run (status 74). */
#include "rt/rt.h"

#define PORT 0x1234

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	rt_printf("badport: accessing port 0x%x\n", PORT);
	outb(PORT, 0x5a);
	uint8_t b = inb(PORT);
	uint16_t w = inw(PORT);
	uint32_t l = inl(PORT);
	rt_printf("badport: inb 0x%x inw 0x%x inl 0x%x\n", b, w, l);
	if (b != 0xff || w != 0xffff || l != 0xffffffffu)
		rt_fail("an unknown port did not read as all-ones");
	rt_printf("badport: done\n");
	return RT_EXIT_OK;
}
