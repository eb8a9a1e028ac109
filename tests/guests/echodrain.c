/* echodrain: a serial driver as hobby kernels write it.  At start-up it
 * clears the FIFOs, runs the loopback self-test, reads RBR once and drains
 * whatever LSR says is there, discarding it; then it echoes input lines
 * upper-cased by polling LSR, until a line "q" or a 0x04 byte.  With
 * --serial-in the whole input is ready before the first instruction: it
 * must all reach the echo loop, the first byte too. */
#include "rt/rt.h"

#define COM1 0x3f8
#define LSR_DR 0x01

static int getc_polled(void)
{
	while (!(inb(COM1 + 5) & LSR_DR))
		cpu_relax();
	return inb(COM1);
}

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	outb(COM1 + 1, 0x00); /* IER: no interrupts */
	outb(COM1 + 3, 0x80); /* DLAB */
	outb(COM1 + 0, 0x03); /* 38400 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1 */
	outb(COM1 + 2, 0xc7); /* FIFO on, both cleared, trigger 14 */
	outb(COM1 + 4, 0x1e); /* loopback self-test */
	outb(COM1 + 0, 0xae);
	uint8_t echo = inb(COM1 + 0);
	outb(COM1 + 4, 0x0f); /* normal operation */
	if (echo != 0xae)
		rt_fail("loopback self-test read %x", echo);
	/* Discard anything left from before us. */
	uint32_t drained = 0;
	(void)inb(COM1 + 0);
	while ((inb(COM1 + 5) & LSR_DR) && drained < 64) {
		(void)inb(COM1 + 0);
		drained++;
	}
	rt_printf("echodrain: start-up drain took %u bytes\n", drained);

	uint32_t bytes = 0, lines = 0, linelen = 0;
	int line_is_q = 0;
	for (;;) {
		int c = getc_polled();
		if (c == 0x04)
			break;
		bytes++;
		if (c == '\r')
			continue;
		if (c == '\n') {
			serial_putc('\n');
			lines++;
			if (line_is_q && linelen == 1)
				break;
			linelen = 0;
			continue;
		}
		line_is_q = linelen == 0 && c == 'q';
		linelen++;
		serial_putc(c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : (char)c);
	}
	rt_printf("echodrain: %u bytes, %u lines\n", bytes, lines);
	rt_printf("echodrain: done\n");
	return RT_EXIT_OK;
}
