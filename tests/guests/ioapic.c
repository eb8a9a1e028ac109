/* ioapic: ttvm's IOAPIC (`--apic`): the MP table that points to it (found
 * as Linux finds it, in 0xf0000-0xfffff), its ID and version registers,
 * an edge entry (the PIT on pin 2, ISA IRQ0 as the MP table says) masked
 * and unmasked, and a level entry (the UART's THR-empty interrupt on pin 4):
 * remote IRR set while in service, the EOI resending it while the line is
 * still asserted, masking holding it, unmasking sending it. */
#include <stdbool.h>

#include "rt/rt.h"

#define APIC 0xfee00000ul
#define IOAPIC 0xfec00000ul
#define EOI 0xb0
#define SVR 0xf0
#define LVT_TIMER 0x320
#define TMICT 0x380
#define TMCCT 0x390
#define TDCR 0x3e0
#define MASKED (1u << 16)
#define LEVEL (1u << 15)
#define REMOTE_IRR (1u << 14)
#define COM1 0x3f8

static inline uint32_t ar(uint32_t off) { return *(volatile uint32_t *)(APIC + off); }
static inline void aw(uint32_t off, uint32_t v) { *(volatile uint32_t *)(APIC + off) = v; }
static uint32_t io_rd(uint32_t idx)
{
	*(volatile uint32_t *)IOAPIC = idx;
	return *(volatile uint32_t *)(IOAPIC + 0x10);
}
static void io_wr(uint32_t idx, uint32_t v)
{
	*(volatile uint32_t *)IOAPIC = idx;
	*(volatile uint32_t *)(IOAPIC + 0x10) = v;
}

static uint8_t sum(const uint8_t *p, uint32_t n)
{
	uint8_t s = 0;
	for (uint32_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static void check(bool ok, const char *what)
{
	if (!ok)
		rt_fail("%s", what);
	rt_printf("ioapic: %s ok\n", what);
}

/* The MP table's IOAPIC address and the pin of ISA IRQ0; 0 when absent. */
static uint32_t find_mp(uint32_t *irq0_pin)
{
	for (uintptr_t a = 0xf0000; a < 0x100000; a += 16) {
		const uint8_t *f = (const uint8_t *)a;
		if (memcmp(f, "_MP_", 4) || sum(f, 16))
			continue;
		const uint8_t *c = (const uint8_t *)(uintptr_t)*(const uint32_t *)(f + 4);
		uint16_t len = *(const uint16_t *)(c + 4), n = *(const uint16_t *)(c + 34);
		if (memcmp(c, "PCMP", 4) || sum(c, len))
			return 0;
		uint32_t ioapic = 0;
		const uint8_t *e = c + 44;
		for (uint16_t i = 0; i < n; i++) {
			if (e[0] == 0) {
				e += 20;
				continue;
			}
			if (e[0] == 2)
				ioapic = *(const uint32_t *)(e + 4);
			if (e[0] == 3 && e[1] == 0 && e[5] == 0)
				*irq0_pin = e[7];
			e += 8;
		}
		return ioapic;
	}
	return 0;
}

static volatile uint32_t ticks, uart_hits, uart_remote_irr;

static void on_tick(struct rt_frame *f)
{
	(void)f;
	ticks++;
	aw(EOI, 0);
}

/* Level: the line stays up until the THR-empty interrupt is acknowledged
 * (an IIR read); the first call leaves it up, so the EOI sends it again. */
static void on_uart(struct rt_frame *f)
{
	(void)f;
	uart_hits++;
	if (io_rd(0x10 + 2 * 4) & REMOTE_IRR)
		uart_remote_irr++;
	if (uart_hits != 1) {
		outb(COM1 + 1, 0x00); /* IER: off */
		(void)inb(COM1 + 2);  /* IIR: acknowledges THR empty */
	}
	aw(EOI, 0);
}

static void delay_ms(uint32_t ms)
{
	aw(LVT_TIMER, MASKED | 0x4f);
	aw(TDCR, 0xb);
	aw(TMICT, ms * 1000000u);
	while (ar(TMCCT))
		cpu_relax();
}

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic, (void)mbi;
	uint32_t pin = 0xff;
	uint32_t base = find_mp(&pin);
	rt_printf("ioapic: MP table: IOAPIC at %x, ISA IRQ0 on pin %u\n", base, pin);
	check(base == IOAPIC && pin == 2, "MP table");
	rt_printf("ioapic: id %x version %x\n", io_rd(0), io_rd(1));
	check(io_rd(0) == 0x01000000 && io_rd(1) == 0x00170011 && io_rd(0x10) == MASKED, "registers");

	aw(SVR, 0x1ff);
	rt_set_handler(0x60, on_tick);
	rt_set_handler(0x61, on_uart);

	/* Edge: the PIT on pin 2 (the 8259A keeps IRQ0 masked). */
	pit_start(1000);
	io_wr(0x11 + 2 * 2, 0);
	io_wr(0x10 + 2 * 2, 0x60);
	sti();
	cli();
	while (ticks < 10)
		sti_hlt(), cli();
	sti();
	io_wr(0x10 + 2 * 2, MASKED | 0x60);
	uint32_t t0 = ticks;
	delay_ms(10);
	uint32_t masked = ticks - t0;
	io_wr(0x10 + 2 * 2, 0x60);
	cli();
	while (ticks < t0 + 5)
		sti_hlt(), cli();
	sti();
	io_wr(0x10 + 2 * 2, MASKED | 0x60);
	pit_stop();
	check(masked == 0 && ticks >= t0 + 5, "edge entry (PIT on pin 2), masked and unmasked");

	/* Level: the UART on pin 4. */
	io_wr(0x11 + 2 * 4, 0);
	io_wr(0x10 + 2 * 4, MASKED | LEVEL | 0x61);
	outb(COM1 + 1, 0x02); /* IER: THR empty: the line goes up */
	bool quiet = uart_hits == 0;
	io_wr(0x10 + 2 * 4, LEVEL | 0x61); /* unmasked: sent at once */
	uint32_t after = io_rd(0x10 + 2 * 4);
	check(quiet && uart_hits == 2 && uart_remote_irr == 2 && !(after & REMOTE_IRR),
	      "level entry: remote IRR, EOI resends while asserted");
	io_wr(0x10 + 2 * 4, MASKED | LEVEL | 0x61);
	outb(COM1 + 1, 0x02);
	quiet = uart_hits == 2;
	io_wr(0x10 + 2 * 4, LEVEL | 0x61);
	check(quiet && uart_hits == 3 && !(io_rd(0x10 + 2 * 4) & REMOTE_IRR), "level entry masked, then unmasked");
	cli();
	rt_printf("ioapic: done\n");
	return RT_EXIT_OK;
}
