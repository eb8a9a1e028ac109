#include <errno.h>

#include "devices/clock.h"
#include "devices/cmos.h"
#include "testlib.h"
#include "unit/devtest.h"

/* 2023-11-14 22:13:20 UTC, a Tuesday. */
#define EPOCH 1700000000

static struct bus *bus;
static struct cmos *cmos;
static struct ttvm_clock *clk;

static void setup(uint64_t ram)
{
	cmos_free(cmos);
	bus_free(bus);
	clock_free(clk);
	clk = clock_new_manual(EPOCH);
	bus = bus_new();
	cmos = cmos_new(clk, ram);
	CHECK_EQ(cmos_attach(cmos, bus), 0);
}

static uint8_t rd(uint8_t idx)
{
	outb(bus, 0x70, idx);
	return inb(bus, 0x71);
}

static void wr(uint8_t idx, uint8_t v)
{
	outb(bus, 0x70, idx);
	outb(bus, 0x71, v);
}

static void test_bcd_time(void)
{
	setup(64 << 20);
	CHECK_EQ(rd(0x0b), 0x02);
	CHECK_EQ(rd(0x00), 0x20);
	CHECK_EQ(rd(0x02), 0x13);
	CHECK_EQ(rd(0x04), 0x22);
	CHECK_EQ(rd(0x06), 0x03);
	CHECK_EQ(rd(0x07), 0x14);
	CHECK_EQ(rd(0x08), 0x11);
	CHECK_EQ(rd(0x09), 0x23);
	CHECK_EQ(rd(0x32), 0x20);
	clock_set(clk, 61500000000ull);
	CHECK_EQ(rd(0x00), 0x21);
	CHECK_EQ(rd(0x02), 0x14);
	/* The NMI-disable bit of the index is ignored. */
	CHECK_EQ(rd(0x80), 0x21);
	CHECK_EQ(cmos_attach(cmos, bus), -EEXIST);
}

static void test_binary_and_12h(void)
{
	setup(64 << 20);
	wr(0x0b, 0x06); /* binary, 24h */
	CHECK_EQ(rd(0x00), 20);
	CHECK_EQ(rd(0x02), 13);
	CHECK_EQ(rd(0x04), 22);
	CHECK_EQ(rd(0x09), 23);
	CHECK_EQ(rd(0x32), 20);
	wr(0x0b, 0x04); /* binary, 12h: 10 PM */
	CHECK_EQ(rd(0x04), 0x8a);
	wr(0x0b, 0x00); /* BCD, 12h */
	CHECK_EQ(rd(0x04), 0x90);
	/* Past midnight (a day later at 00:13): 12 AM. */
	clock_set(clk, (uint64_t)(2 * 3600) * 1000000000ull);
	CHECK_EQ(rd(0x04), 0x12);
	CHECK_EQ(rd(0x07), 0x15);
	CHECK_EQ(rd(0x06), 0x04);
}

static void test_uip_and_flags(void)
{
	setup(64 << 20);
	CHECK_EQ(rd(0x0a), 0x26);
	clock_set(clk, 999999000ull);
	CHECK_EQ(rd(0x0a), 0xa6);
	clock_set(clk, 1500000000ull);
	CHECK_EQ(rd(0x0a), 0x26);
	wr(0x0a, 0xa6); /* UIP is read-only */
	CHECK_EQ(rd(0x0a), 0x26);
	CHECK_EQ(rd(0x0d), 0x80);
	/* A second boundary has passed since creation: UF, then cleared. */
	CHECK_EQ(rd(0x0c) & 0x10, 0x10);
	CHECK_EQ(rd(0x0c) & 0x10, 0x00);
	wr(0x0b, 0x12); /* UIE: IRQF follows */
	clock_set(clk, 2500000000ull);
	CHECK_EQ(rd(0x0c) & 0x90, 0x90);
}

static void test_set_time(void)
{
	setup(64 << 20);
	wr(0x0b, 0x82); /* SET */
	wr(0x04, 0x05);
	wr(0x09, 0x30);
	wr(0x32, 0x20);
	CHECK_EQ(rd(0x04), 0x05);
	clock_set(clk, 5000000000ull);
	CHECK_EQ(rd(0x00), 0x20); /* frozen while SET */
	CHECK_EQ(rd(0x0a) & 0x80, 0);
	wr(0x0b, 0x02);
	CHECK_EQ(rd(0x04), 0x05);
	CHECK_EQ(rd(0x09), 0x30);
	CHECK_EQ(rd(0x08), 0x11);
	CHECK_EQ(rd(0x00), 0x20);
	clock_set(clk, 7000000000ull);
	CHECK_EQ(rd(0x00), 0x22); /* and runs on from there */
	/* 2030-11-14 05:13:22 */
	CHECK_EQ(cmos_time(cmos), 1920863602);
	CHECK_EQ(clock_epoch_s(clk), EPOCH);
	/* Without SET a single field write applies at once. */
	wr(0x02, 0x45);
	CHECK_EQ(rd(0x02), 0x45);
	CHECK_EQ(rd(0x04), 0x05);
	/* 12-hour writes: 3 PM shows as 15 in 24-hour mode. */
	wr(0x0b, 0x00);
	wr(0x04, 0x83);
	wr(0x0b, 0x02);
	CHECK_EQ(rd(0x04), 0x15);
	/* Setting SET clears UIE. */
	wr(0x0b, 0x92);
	CHECK_EQ(rd(0x0b), 0x82);
	wr(0x0b, 0x02);
	/* Nonsense BCD does not break anything. */
	wr(0x08, 0xff);
	wr(0x07, 0xee);
	CHECK(rd(0x08) <= 0x12);
}

static void test_memory_bytes(void)
{
	setup(64ull << 20);
	CHECK_EQ(rd(0x15) | rd(0x16) << 8, 640);
	CHECK_EQ(rd(0x17) | rd(0x18) << 8, 63 * 1024);
	CHECK_EQ(rd(0x30) | rd(0x31) << 8, 63 * 1024);
	CHECK_EQ(rd(0x34) | rd(0x35) << 8, 768);
	CHECK_EQ(rd(0x5b) | rd(0x5c) << 8 | rd(0x5d) << 16, 0);
	setup(512ull << 20);
	CHECK_EQ(rd(0x17) | rd(0x18) << 8, 0xffff);
	CHECK_EQ(rd(0x34) | rd(0x35) << 8, 0x1f00);
	setup(8ull << 30);
	CHECK_EQ(rd(0x34) | rd(0x35) << 8, 0xbf00);
	CHECK_EQ(rd(0x5b) | rd(0x5c) << 8 | rd(0x5d) << 16, 0x14000);
	setup(8ull << 20);
	CHECK_EQ(rd(0x17) | rd(0x18) << 8, 7 * 1024);
	CHECK_EQ(rd(0x34) | rd(0x35) << 8, 0);
	wr(0x40, 0x5a);
	CHECK_EQ(rd(0x40), 0x5a);
	CHECK_EQ(inb(bus, 0x70), 0xff);
	/* 16-bit write: index then data. */
	io_out(bus, 0x70, 0x6641, 2);
	CHECK_EQ(rd(0x41), 0x66);
}

int main(void)
{
	RUN_TEST(test_bcd_time);
	RUN_TEST(test_binary_and_12h);
	RUN_TEST(test_uip_and_flags);
	RUN_TEST(test_set_time);
	RUN_TEST(test_memory_bytes);
	cmos_free(cmos);
	bus_free(bus);
	clock_free(clk);
	return TEST_EXIT();
}
