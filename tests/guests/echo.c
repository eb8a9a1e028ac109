/* echo: reads COM1 through its receive interrupt (IER.RDA, IRQ4), sleeping
 * with sti;hlt in between, and echoes every line back upper-cased.  Stops
 * at a line that is exactly "q" or at a 0x04 byte (EOT), then prints the
 * byte and line counts.  Exercises UART input, the RX interrupt and HLT
 * wake-up; run it with ttvm's --serial-in. */
#include "rt/rt.h"

#define COM1 0x3f8
#define RING 256

static volatile uint8_t ring[RING];
static volatile uint32_t head, tail; /* head: written by the IRQ handler */
static volatile uint32_t overruns;

static void on_rx(struct rt_frame *f)
{
	(void)f;
	/* Drain everything the FIFO holds: one interrupt may stand for many bytes. */
	for (int n = 0; n < 64 && (inb(COM1 + 5) & 0x01); n++) {
		uint8_t c = inb(COM1);
		if (head - tail < RING)
			ring[head++ % RING] = c;
		else
			overruns++;
	}
	(void)inb(COM1 + 2); /* IIR: acknowledge */
}

static int getc_irq(void)
{
	cli();
	while (head == tail) {
		sti_hlt();
		cli();
	}
	int c = ring[tail++ % RING];
	sti();
	return c;
}

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	rt_set_handler(IRQ_BASE + 4, on_rx);
	outb(COM1 + 1, 0x01); /* IER: received-data interrupt */
	pic_unmask(4);
	/* Input may have arrived before IER was set; take it in now rather
	 * than rely on the UART raising an interrupt for it. */
	on_rx(NULL);
	rt_printf("echo: ready\n");

	uint32_t bytes = 0, lines = 0, linelen = 0;
	int line_is_q = 0;
	for (;;) {
		int c = getc_irq();
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
	outb(COM1 + 1, 0x00);
	pic_mask(4);
	rt_printf("echo: %u bytes, %u lines\n", bytes, lines);
	if (overruns)
		rt_fail("ring overran %u times", overruns);
	rt_printf("echo: done\n");
	return RT_EXIT_OK;
}
