/* live: a guest for `ttvm replay --go-live` (tests/rr/rr-golive-test).
 * Runs the PIT at 100 Hz (IRQ0 counts ticks) and measures 20 ticks with
 * RDTSC; then enables the UART's receive interrupt (IRQ4), prints
 * "live: ready", reads one line of serial input and echoes it; then
 * measures 20 ticks again and checks that they took as long as the first
 * 20 (within 35%: a live continuation whose PIT, PIC or clock did not
 * carry over gets no ticks, a burst, or another rate); then "live: done".
 * The PIT and the UART are programmed only before the input, so after
 * going live at a point before the read they must have carried over. */
#include "rt/rt.h"

#define COM1 0x3f8
#define HZ 100
#define SPAN 20

static volatile uint32_t ticks;
static volatile uint8_t line[64];
static volatile uint32_t len, done;

static void on_tick(struct rt_frame *f)
{
	(void)f;
	ticks++;
}

static void on_rx(struct rt_frame *f)
{
	(void)f;
	for (int n = 0; n < 64 && (inb(COM1 + 5) & 0x01); n++) {
		uint8_t c = inb(COM1);
		if (done)
			continue;
		if (c == '\n' || c == 0x04)
			done = 1;
		else if (c != '\r' && len < sizeof(line) - 1)
			line[len++] = c;
	}
	(void)inb(COM1 + 2);
}

/* Sleep until the tick count reaches t; returns the TSC right after it. */
static uint64_t until_tick(uint32_t t)
{
	cli();
	while (ticks < t) {
		sti_hlt();
		cli();
	}
	uint64_t v = rdtsc();
	sti();
	return v;
}

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	rt_set_handler(IRQ_BASE + 0, on_tick);
	rt_set_handler(IRQ_BASE + 4, on_rx);
	pit_start(HZ);
	pic_unmask(0);
	uint64_t t0 = until_tick(5);
	uint64_t t1 = until_tick(5 + SPAN);
	rt_printf("live: %d ticks measured\n", SPAN);

	outb(COM1 + 1, 0x01); /* IER: received-data interrupt */
	pic_unmask(4);
	on_rx(NULL);
	rt_printf("live: ready\n");
	cli();
	while (!done) {
		sti_hlt();
		cli();
	}
	sti();
	line[len] = 0;
	rt_printf("live: got \"%s\"\n", (const char *)line);

	uint32_t now = ticks;
	uint64_t t2 = until_tick(now + 2);
	uint64_t t3 = until_tick(now + 2 + SPAN);
	uint64_t a = t1 - t0, b = t3 - t2;
	uint64_t pct = a ? b * 100 / a : 0;
	if (pct < 65 || pct > 135)
		rt_fail("%d ticks took %llu TSC cycles after the input, %llu before (%llu%%)", SPAN,
			(unsigned long long)b, (unsigned long long)a, (unsigned long long)pct);
	rt_printf("live: tick rate kept\n");
	pic_mask(4);
	pic_mask(0);
	pit_stop();
	rt_printf("live: done\n");
	return RT_EXIT_OK;
}
