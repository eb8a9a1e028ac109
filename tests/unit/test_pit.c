#include <errno.h>

#include "devices/clock.h"
#include "devices/pit.h"
#include "testlib.h"
#include "unit/devtest.h"

static struct bus *bus;
static struct pit *pit;
static struct ttvm_clock *clk;
static struct irq_rec irq0;

/* Time of PIT tick t, computed here independently of the model. */
static uint64_t tick_ns(uint64_t t)
{
	return (t * 1000000000ull + PIT_HZ - 1) / PIT_HZ;
}

static void setup(void)
{
	struct irq_line l = { irq_rec_fn, &irq0, 0 };

	pit_free(pit);
	bus_free(bus);
	clock_free(clk);
	irq0 = (struct irq_rec){ 0 };
	clk = clock_new_manual(0);
	bus = bus_new();
	pit = pit_new(clk, l);
	CHECK_EQ(pit_attach(pit, bus), 0);
}

static void program(unsigned ch, uint8_t mode_bits, uint16_t count)
{
	outb(bus, 0x43, (uint8_t)(ch << 6 | 0x30 | mode_bits << 1));
	outb(bus, 0x40 + ch, (uint8_t)count);
	outb(bus, 0x40 + ch, (uint8_t)(count >> 8));
}

/* Two unlatched byte reads, low first (in sequence: C leaves the order of
 * operands of | unspecified). */
static uint16_t read16(unsigned ch)
{
	uint16_t lo = inb(bus, 0x40 + ch);

	return (uint16_t)(lo | inb(bus, 0x40 + ch) << 8);
}

static uint16_t latch_read(unsigned ch)
{
	uint16_t v;

	outb(bus, 0x43, (uint8_t)(ch << 6));
	v = inb(bus, 0x40 + ch);
	return (uint16_t)(v | inb(bus, 0x40 + ch) << 8);
}

static void test_reset_state(void)
{
	setup();
	/* BIOS state: mode 3, count 65536, channel 0 running: 18.2 Hz. */
	CHECK_EQ(bus_run_timers(bus, 0), tick_ns(65536));
	CHECK_EQ(irq0.rises, 0);
	clock_set(clk, tick_ns(65536));
	CHECK_EQ(bus_run_timers(bus, tick_ns(65536)), tick_ns(2 * 65536));
	CHECK_EQ(irq0.rises, 1);
	CHECK_EQ(irq0.level, 0); /* pulsed, not left high */
	CHECK_EQ(inb(bus, 0x43), 0xff);
	CHECK_EQ(pit_attach(pit, bus), -EEXIST);
}

static void test_mode2_period(void)
{
	uint64_t d, now = 0;

	setup();
	program(0, 2, 1193);
	d = bus_run_timers(bus, 0);
	CHECK_EQ(d, tick_ns(1193));
	/* Follow the deadlines for one simulated second: 1193182/1193 ticks. */
	while (d <= 1000000000ull) {
		CHECK(d > now);
		now = d;
		clock_set(clk, now);
		d = bus_run_timers(bus, now);
		CHECK_EQ(d, tick_ns(1193 * (uint64_t)(irq0.rises + 1)));
	}
	CHECK_EQ(irq0.rises, 1000);
	/* Calling before the deadline delivers nothing. */
	CHECK_EQ(bus_run_timers(bus, d - 1), d);
	CHECK_EQ(irq0.rises, 1000);
}

static void test_late_caller(void)
{
	uint64_t d;

	setup();
	program(0, 2, 1193);
	/* 10 periods late: one IRQ, and the next edge lies in the future. */
	clock_set(clk, 10 * tick_ns(1193) + 5000);
	d = bus_run_timers(bus, clock_now_ns(clk));
	CHECK_EQ(irq0.rises, 1);
	CHECK_EQ(d, tick_ns(11 * 1193));
	d = bus_run_timers(bus, clock_now_ns(clk));
	CHECK_EQ(irq0.rises, 1);
}

static void test_mode0_once(void)
{
	uint64_t d;

	setup();
	program(0, 0, 500);
	CHECK_EQ(pit_out(pit, 0), 0);
	d = bus_run_timers(bus, 0);
	CHECK_EQ(d, tick_ns(500));
	clock_set(clk, d);
	CHECK_EQ(pit_out(pit, 0), 1);
	CHECK_EQ(bus_run_timers(bus, d), UINT64_MAX);
	CHECK_EQ(irq0.rises, 1);
	clock_set(clk, d * 100);
	CHECK_EQ(bus_run_timers(bus, d * 100), UINT64_MAX);
	CHECK_EQ(irq0.rises, 1);
	/* A control word stops it: nothing scheduled until a count arrives. */
	outb(bus, 0x43, 0x34);
	CHECK_EQ(bus_run_timers(bus, d * 100), UINT64_MAX);
}

static void test_latch_and_readback(void)
{
	setup();
	program(0, 2, 10000);
	clock_set(clk, 1000000); /* 1 ms = 1193.182 ticks */
	CHECK_EQ(latch_read(0), 10000 - 1193);
	/* A latched value holds while time moves on. */
	outb(bus, 0x43, 0x00);
	clock_set(clk, 2000000);
	CHECK_EQ(inb(bus, 0x40), (uint8_t)(10000 - 1193));
	CHECK_EQ(inb(bus, 0x40), (uint8_t)((10000 - 1193) >> 8));
	/* Unlatched reads follow the clock. */
	CHECK_EQ(read16(0), 10000 - 2386);
	/* Read-back: status only, channel 0: OUT high, lohi, mode 2. */
	outb(bus, 0x43, 0xe2);
	CHECK_EQ(inb(bus, 0x40), 0xb4);
	/* Status and count together: status first. */
	outb(bus, 0x43, 0xc2);
	CHECK_EQ(inb(bus, 0x40), 0xb4);
	CHECK_EQ(read16(0), 10000 - 2386);
	/* After a control word and before the count: null count (bit 6). */
	outb(bus, 0x43, 0x30);
	outb(bus, 0x43, 0xe2);
	CHECK_EQ(inb(bus, 0x40), 0x70);
	outb(bus, 0x40, 0x10);
	outb(bus, 0x40, 0x00);
	outb(bus, 0x43, 0xe2);
	CHECK_EQ(inb(bus, 0x40) & 0x40, 0);
}

static void test_lobyte_and_bcd(void)
{
	uint64_t d;

	setup();
	outb(bus, 0x43, 0x14); /* ch0, lsb only, mode 2 */
	outb(bus, 0x40, 100);
	d = bus_run_timers(bus, 0);
	CHECK_EQ(d, tick_ns(100));
	clock_set(clk, tick_ns(30));
	CHECK_EQ(inb(bus, 0x40), 70);
	outb(bus, 0x43, 0x35); /* ch0, lohi, mode 2, BCD */
	outb(bus, 0x40, 0x00);
	outb(bus, 0x40, 0x10); /* 1000 decimal */
	CHECK_EQ(bus_run_timers(bus, clock_now_ns(clk)), tick_ns(1030));
	clock_set(clk, tick_ns(30 + 1));
	CHECK_EQ(latch_read(0), 0x0999);
	/* Count 0 in binary means 65536. */
	program(0, 2, 0);
	clock_set(clk, tick_ns(32));
	CHECK_EQ(latch_read(0), 65535);
}

static void test_mode3_square(void)
{
	setup();
	program(0, 3, 1000);
	clock_set(clk, tick_ns(100));
	CHECK_EQ(latch_read(0), 800); /* counts down by two */
	clock_set(clk, tick_ns(499));
	CHECK_EQ(pit_out(pit, 0), 1);
	clock_set(clk, tick_ns(500));
	CHECK_EQ(pit_out(pit, 0), 0);
	CHECK_EQ(bus_run_timers(bus, tick_ns(500)), tick_ns(1000));
	clock_set(clk, tick_ns(1000));
	CHECK_EQ(pit_out(pit, 0), 1);
	CHECK_EQ(bus_run_timers(bus, tick_ns(1000)), tick_ns(2000));
	CHECK_EQ(irq0.rises, 1);
}

static void test_mode2_out_pulse(void)
{
	setup();
	program(0, 2, 100);
	clock_set(clk, tick_ns(98));
	CHECK_EQ(pit_out(pit, 0), 1);
	clock_set(clk, tick_ns(99));
	CHECK_EQ(pit_out(pit, 0), 0); /* low for the one tick at count 1 */
	CHECK_EQ(latch_read(0), 1);
	clock_set(clk, tick_ns(100));
	CHECK_EQ(pit_out(pit, 0), 1);
	CHECK_EQ(latch_read(0), 100);
	CHECK_EQ(pit_out(pit, 3), 1);
}

static void test_ch2_gate_port61(void)
{
	setup();
	/* Linux's TSC calibration: gate on, speaker off, mode 0 on ch2. */
	outb(bus, 0x61, (uint8_t)((inb(bus, 0x61) & ~0x02) | 0x01));
	CHECK_EQ(inb(bus, 0x61) & 0x0f, 0x01);
	outb(bus, 0x43, 0xb0);
	outb(bus, 0x42, 0xe8);
	outb(bus, 0x42, 0x03); /* 1000 */
	CHECK_EQ(inb(bus, 0x61) & 0x20, 0);
	clock_set(clk, tick_ns(999));
	CHECK_EQ(inb(bus, 0x61) & 0x20, 0);
	clock_set(clk, tick_ns(1000));
	CHECK_EQ(inb(bus, 0x61) & 0x20, 0x20);
	CHECK_EQ(irq0.rises, 0); /* channel 2 has no interrupt */
	/* Gate low suspends a mode 0 count. */
	outb(bus, 0x43, 0xb0);
	outb(bus, 0x42, 0xe8);
	outb(bus, 0x42, 0x03);
	clock_set(clk, tick_ns(1400));
	outb(bus, 0x61, 0x00);
	clock_set(clk, tick_ns(5000));
	CHECK_EQ(latch_read(2), 600);
	CHECK_EQ(inb(bus, 0x61) & 0x20, 0);
	outb(bus, 0x61, 0x01);
	clock_set(clk, tick_ns(5000 + 600));
	CHECK_EQ(inb(bus, 0x61) & 0x20, 0x20);
	/* With the gate off from the start, nothing counts. */
	outb(bus, 0x61, 0x00);
	outb(bus, 0x43, 0xb0);
	outb(bus, 0x42, 0x10);
	outb(bus, 0x42, 0x00);
	clock_set(clk, tick_ns(9000));
	CHECK_EQ(latch_read(2), 0x10);
}

static void test_refresh_toggle(void)
{
	uint8_t a, b;

	setup();
	clock_set(clk, 100);
	a = inb(bus, 0x61) & 0x10;
	clock_set(clk, 100 + 15085);
	b = inb(bus, 0x61) & 0x10;
	CHECK(a != b);
}

static void test_wide_access(void)
{
	setup();
	program(0, 2, 0x1234);
	/* 16-bit read at 0x40: ch0 low byte, then ch1 (unlatched, mode 3). */
	CHECK_EQ(io_in(bus, 0x40, 2) & 0xff, 0x34);
	CHECK_EQ(io_rc, 0);
	CHECK_EQ(io_in(bus, 0x40, 4) >> 24, 0xff);
	io_in(bus, 0x42, 4);
	CHECK_EQ(io_rc, -ENOENT);
	CHECK_EQ(io_in(bus, 0x61, 1) & 0xc0, 0);
}

int main(void)
{
	RUN_TEST(test_reset_state);
	RUN_TEST(test_mode2_period);
	RUN_TEST(test_late_caller);
	RUN_TEST(test_mode0_once);
	RUN_TEST(test_latch_and_readback);
	RUN_TEST(test_lobyte_and_bcd);
	RUN_TEST(test_mode3_square);
	RUN_TEST(test_mode2_out_pulse);
	RUN_TEST(test_ch2_gate_port61);
	RUN_TEST(test_refresh_toggle);
	RUN_TEST(test_wide_access);
	pit_free(pit);
	bus_free(bus);
	clock_free(clk);
	return TEST_EXIT();
}
