/* port92: system control port A.  Reads it (A20 on: bit 1 set), turns the
 * fast A20 gate off and on again and reads each back, then sets bit 0, which
 * resets the machine: ttvm exits with status 66 (guest reset). */
#include "rt/rt.h"

#define PORT_A 0x92

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	uint8_t v = inb(PORT_A);
	rt_printf("port92: at boot %x\n", v);
	if (!(v & 0x02))
		rt_fail("A20 off at boot (port 0x92 reads %x)", v);
	outb(PORT_A, v & (uint8_t)~0x03);
	uint8_t off = inb(PORT_A);
	outb(PORT_A, (v & (uint8_t)~0x01) | 0x02);
	uint8_t on = inb(PORT_A);
	rt_printf("port92: A20 off %x, on %x\n", off, on);
	if ((off & 0x03) != 0 || (on & 0x03) != 0x02)
		rt_fail("the A20 bit does not read back");
	rt_printf("port92: fast reset\n");
	outb(PORT_A, on | 0x01);
	for (int i = 0; i < 1000; i++)
		cpu_relax();
	rt_fail("no reset after setting bit 0 of port 0x92");
}
