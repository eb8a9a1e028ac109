/* crash: loads an empty IDT and executes ud2.  #UD cannot be delivered,
 * nor can the #GP/#DF that follow: a triple fault, which ttvm reports as
 * shutdown (status 64). */
#include "rt/rt.h"

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	rt_printf("crash: loading an empty IDT and raising #UD\n");
	struct {
		uint16_t limit;
		uintptr_t base;
	} __attribute__((packed)) empty = {0, 0};
	__asm__ volatile("lidt %0; ud2" ::"m"(empty));
	rt_fail("still running after a triple fault");
}
