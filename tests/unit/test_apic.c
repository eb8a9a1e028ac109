/* Local APIC and IOAPIC models: registers, priorities, EOI, timer against
 * a manual virtual clock, IOAPIC edge/level/remote IRR/mask, save/load. */
#include <errno.h>

#include "devices/apic.h"
#include "devices/ioapic.h"
#include "testlib.h"

#define BASE APIC_DEFAULT_ADDR
#define IOBASE IOAPIC_DEFAULT_ADDR

static struct bus *bus;
static struct ttvm_clock *clk;
static struct apic *apic;
static struct ioapic *io;
static int mmio_rc;
static int eois[256];

static uint32_t rd(uint64_t addr)
{
	uint8_t d[4] = { 0 };
	uint32_t v;

	mmio_rc = bus_access(bus, BUS_MMIO, addr, d, 4, false);
	memcpy(&v, d, 4);
	return v;
}

static void wr(uint64_t addr, uint32_t v)
{
	uint8_t d[4];

	memcpy(d, &v, 4);
	mmio_rc = bus_access(bus, BUS_MMIO, addr, d, 4, true);
}

static bool send_to_apic(void *opaque, uint8_t vector, bool level, uint8_t dest, bool logical)
{
	return apic_deliver(opaque, vector, level, dest, logical);
}

static void on_eoi(void *opaque, uint8_t vector)
{
	(void)opaque;
	eois[vector]++;
	ioapic_eoi(io, vector);
}

static void setup(void)
{
	bus_free(bus);
	apic_free(apic);
	ioapic_free(io);
	if (clk)
		clock_free(clk);
	memset(eois, 0, sizeof(eois));
	bus = bus_new();
	clk = clock_new_manual(0);
	apic = apic_new(clk);
	io = ioapic_new(send_to_apic, apic);
	apic_set_eoi_sink(apic, on_eoi, NULL);
	CHECK_EQ(apic_attach(apic, bus, BASE), 0);
	CHECK_EQ(ioapic_attach(io, bus, IOBASE), 0);
}

static void enable(void)
{
	wr(BASE + APIC_SVR, 0x1ff);
}

static uint32_t io_rd(uint8_t idx)
{
	wr(IOBASE, idx);
	return rd(IOBASE + 0x10);
}

static void io_wr(uint8_t idx, uint32_t v)
{
	wr(IOBASE, idx);
	wr(IOBASE + 0x10, v);
}

static void test_reset_and_registers(void)
{
	setup();
	CHECK_EQ(rd(BASE + APIC_ID), 0);
	CHECK_EQ(rd(BASE + APIC_LVR), APIC_VERSION);
	CHECK_EQ(rd(BASE + APIC_SVR), 0xff);
	CHECK_EQ(rd(BASE + APIC_DFR), 0xffffffffu);
	CHECK_EQ(rd(BASE + APIC_LVT_TIMER), APIC_LVT_MASKED);
	CHECK_EQ(rd(BASE + APIC_LVT_LINT0), 0x700);
	CHECK_EQ(rd(BASE + APIC_LVT_LINT1), APIC_LVT_MASKED);
	CHECK(apic_extint_open(apic));
	/* Software disabled: LVT masks cannot be cleared. */
	wr(BASE + APIC_LVT_TIMER, 0x40);
	CHECK_EQ(rd(BASE + APIC_LVT_TIMER), APIC_LVT_MASKED | 0x40);
	enable();
	CHECK_EQ(rd(BASE + APIC_SVR), 0x1ff);
	wr(BASE + APIC_LVT_TIMER, 0x20040 | (1u << 18) | (1u << 12));
	CHECK_EQ(rd(BASE + APIC_LVT_TIMER), 0x20040); /* no TSC-deadline, status read-only */
	wr(BASE + APIC_ID, 0x05123456);
	CHECK_EQ(rd(BASE + APIC_ID), 0x05000000);
	wr(BASE + APIC_ID, 0);
	wr(BASE + APIC_DFR, 0x0);
	CHECK_EQ(rd(BASE + APIC_DFR), 0x0fffffff);
	wr(BASE + APIC_DFR, 0xffffffff);
	wr(BASE + APIC_TDCR, 0xff);
	CHECK_EQ(rd(BASE + APIC_TDCR), 0xb);
	wr(BASE + APIC_LVR, 0);
	CHECK_EQ(rd(BASE + APIC_LVR), APIC_VERSION);
	/* Disabling again sets every mask. */
	wr(BASE + APIC_SVR, 0xff);
	CHECK(rd(BASE + APIC_LVT_LINT0) & APIC_LVT_MASKED);
	CHECK(!apic_extint_open(apic));
}

static void test_bad_accesses(void)
{
	uint8_t d[8] = { 0 };

	setup();
	CHECK_EQ(bus_access(bus, BUS_MMIO, BASE + APIC_ID, d, 1, false), -EINVAL);
	CHECK_EQ(bus_access(bus, BUS_MMIO, BASE + APIC_ID, d, 8, false), -EINVAL);
	CHECK_EQ(bus_access(bus, BUS_MMIO, BASE + APIC_ID + 4, d, 4, true), -EINVAL);
	CHECK_EQ(bus_access(bus, BUS_MMIO, BASE + 0xffc, d, 4, false), -EINVAL);
	CHECK_EQ(bus_access(bus, BUS_MMIO, IOBASE + 4, d, 4, false), -EINVAL);
	CHECK_EQ(bus_access(bus, BUS_MMIO, IOBASE + 0x10, d, 2, true), -EINVAL);
	CHECK_EQ(bus_access(bus, BUS_MMIO, IOBASE + 0x800, d, 4, true), -EINVAL);
	/* A reserved register: reads 0, logs "illegal register address". */
	enable();
	CHECK_EQ(rd(BASE + 0x40), 0);
	CHECK_EQ(mmio_rc, 0);
	wr(BASE + 0x3f0, 1);
	CHECK_EQ(rd(BASE + APIC_ESR), 0);
	wr(BASE + APIC_ESR, 0);
	CHECK_EQ(rd(BASE + APIC_ESR), APIC_ESR_ILLEGAL_REG);
	wr(BASE + APIC_ESR, 0);
	CHECK_EQ(rd(BASE + APIC_ESR), 0);
	/* Globally disabled: the page is gone. */
	apic_set_hw_enabled(apic, false);
	CHECK_EQ(bus_access(bus, BUS_MMIO, BASE + APIC_ID, d, 4, false), -ENOENT);
	CHECK(apic_extint_open(apic));
	apic_set_hw_enabled(apic, true);
	CHECK_EQ(rd(BASE + APIC_SVR), 0xff); /* back to the reset state */
	CHECK_EQ(rd(BASE + APIC_LVT_LINT0), APIC_LVT_MASKED);
}

static void test_priority_eoi(void)
{
	setup();
	CHECK(!apic_deliver(apic, 0x40, false, 0, false)); /* software disabled: dropped */
	enable();
	CHECK(apic_deliver(apic, 0x40, false, 0, false));
	CHECK(apic_deliver(apic, 0x61, false, 0xff, false));
	CHECK(!apic_deliver(apic, 0x62, false, 3, false)); /* not our ID */
	CHECK_EQ(rd(BASE + APIC_IRR + 0x20), 1u);       /* 0x40 */
	CHECK_EQ(rd(BASE + APIC_IRR + 0x30), 2u);       /* 0x61 */
	/* TPR 0x60 blocks class 6 and below. */
	wr(BASE + APIC_TPR, 0x60);
	CHECK_EQ(rd(BASE + APIC_PPR), 0x60);
	CHECK(!apic_has_interrupt(apic));
	CHECK_EQ(apic_ack(apic), 0xff); /* spurious vector */
	wr(BASE + APIC_TPR, 0x50);
	CHECK(apic_has_interrupt(apic));
	CHECK_EQ(apic_ack(apic), 0x61);
	CHECK_EQ(rd(BASE + APIC_ISR + 0x30), 2u);
	CHECK_EQ(rd(BASE + APIC_PPR), 0x60);
	wr(BASE + APIC_TPR, 0);
	CHECK(!apic_has_interrupt(apic)); /* 0x40 waits for the EOI of 0x61 */
	CHECK(apic_deliver(apic, 0x75, false, 0, false));
	CHECK_EQ(apic_ack(apic), 0x75); /* a higher class nests */
	wr(BASE + APIC_EOI, 0);
	CHECK_EQ(rd(BASE + APIC_ISR + 0x70), 0);
	wr(BASE + APIC_EOI, 0);
	CHECK_EQ(rd(BASE + APIC_ISR + 0x30), 0);
	CHECK_EQ(apic_ack(apic), 0x40);
	wr(BASE + APIC_EOI, 0);
	CHECK(!apic_has_interrupt(apic));
	CHECK_EQ(eois[0x40] + eois[0x61] + eois[0x75], 0); /* edge: no EOI message */
	/* Same class: no nesting. */
	CHECK(apic_deliver(apic, 0x41, false, 0, false));
	CHECK_EQ(apic_ack(apic), 0x41);
	CHECK(apic_deliver(apic, 0x4f, false, 0, false));
	CHECK(!apic_has_interrupt(apic));
	wr(BASE + APIC_EOI, 0);
	CHECK_EQ(apic_ack(apic), 0x4f);
	/* Illegal vector: receive-illegal error, with the error LVT. */
	wr(BASE + APIC_EOI, 0);
	wr(BASE + APIC_LVT_ERROR, 0xe0);
	CHECK(!apic_deliver(apic, 5, false, 0, false));
	wr(BASE + APIC_ESR, 0);
	CHECK_EQ(rd(BASE + APIC_ESR), APIC_ESR_RECV_ILLEGAL);
	CHECK_EQ(apic_ack(apic), 0xe0);
	/* Logical flat destination. */
	wr(BASE + APIC_EOI, 0);
	wr(BASE + APIC_LDR, 0x02000000);
	CHECK(apic_deliver(apic, 0x50, false, 0x06, true));
	CHECK(!apic_deliver(apic, 0x51, false, 0x01, true));
}

static void test_self_ipi(void)
{
	setup();
	enable();
	wr(BASE + APIC_ICR_LO, 0x40000 | 0x55); /* shorthand self */
	CHECK_EQ(rd(BASE + APIC_ICR_LO) & (1u << 12), 0);
	CHECK_EQ(apic_ack(apic), 0x55);
	wr(BASE + APIC_EOI, 0);
	wr(BASE + APIC_ICR_HI, 0);
	wr(BASE + APIC_ICR_LO, 0x66); /* destination = own ID */
	CHECK_EQ(apic_ack(apic), 0x66);
	wr(BASE + APIC_EOI, 0);
	wr(BASE + APIC_ICR_HI, 0x07000000);
	wr(BASE + APIC_ICR_LO, 0x67); /* someone else */
	CHECK(!apic_has_interrupt(apic));
	wr(BASE + APIC_ICR_LO, 0xc0000 | 0x68); /* all excluding self */
	CHECK(!apic_has_interrupt(apic));
	wr(BASE + APIC_ICR_LO, 0x80000 | 0x69); /* all including self */
	CHECK_EQ(apic_ack(apic), 0x69);
	wr(BASE + APIC_EOI, 0);
	wr(BASE + APIC_ICR_LO, 0x40000 | 0x400 | 0x20); /* NMI: not modelled */
	CHECK(!apic_has_interrupt(apic));
	wr(BASE + APIC_ICR_LO, 0x40000 | 0x3); /* illegal vector */
	wr(BASE + APIC_ESR, 0);
	CHECK_EQ(rd(BASE + APIC_ESR), APIC_ESR_SEND_ILLEGAL);
}

static void test_timer(void)
{
	setup();
	enable();
	CHECK_EQ(apic_timer(apic, 0), UINT64_MAX);
	wr(BASE + APIC_TDCR, 0x3); /* divide by 16 */
	wr(BASE + APIC_LVT_TIMER, 0x30);
	wr(BASE + APIC_TMICT, 1000); /* 16 us */
	CHECK_EQ(rd(BASE + APIC_TMCCT), 1000);
	clock_set(clk, 1600);
	CHECK_EQ(rd(BASE + APIC_TMCCT), 900);
	CHECK_EQ(apic_timer(apic, 1600), 16000);
	CHECK(!apic_has_interrupt(apic));
	CHECK_EQ(apic_timer(apic, 16000), UINT64_MAX); /* one-shot: fired, stopped */
	CHECK_EQ(apic_ack(apic), 0x30);
	wr(BASE + APIC_EOI, 0);
	clock_set(clk, 20000);
	CHECK_EQ(rd(BASE + APIC_TMCCT), 0);
	/* Periodic, divide by 1: 100 ns period; late callbacks fire once. */
	wr(BASE + APIC_TDCR, 0xb);
	wr(BASE + APIC_LVT_TIMER, 0x20031);
	wr(BASE + APIC_TMICT, 100);
	CHECK_EQ(apic_timer(apic, 20050), 20100);
	CHECK_EQ(apic_timer(apic, 20100), 20200);
	CHECK_EQ(apic_ack(apic), 0x31);
	wr(BASE + APIC_EOI, 0);
	clock_set(clk, 20130);
	CHECK_EQ(rd(BASE + APIC_TMCCT), 70);
	CHECK_EQ(apic_timer(apic, 20555), 20600); /* 4 periods late: one interrupt */
	CHECK_EQ(apic_ack(apic), 0x31);
	CHECK(!apic_has_interrupt(apic));
	wr(BASE + APIC_EOI, 0);
	/* Masked: counts, no interrupt. */
	wr(BASE + APIC_LVT_TIMER, 0x30031);
	CHECK_EQ(apic_timer(apic, 20600), 20700);
	CHECK(!apic_has_interrupt(apic));
	CHECK(apic_quiet(apic));
	/* Divide change keeps the count and runs on at the new rate. */
	wr(BASE + APIC_LVT_TIMER, 0x20031);
	clock_set(clk, 20640);
	CHECK_EQ(rd(BASE + APIC_TMCCT), 60);
	CHECK(!apic_quiet(apic));
	wr(BASE + APIC_TDCR, 0x0); /* divide by 2 */
	CHECK_EQ(apic_timer(apic, 20640), 20760);
	/* Initial count 0 stops it. */
	wr(BASE + APIC_TMICT, 0);
	CHECK_EQ(apic_timer(apic, 30000), UINT64_MAX);
	CHECK_EQ(rd(BASE + APIC_TMCCT), 0);
}

static void test_ioapic_regs(void)
{
	setup();
	CHECK_EQ(io_rd(0), (uint32_t)IOAPIC_DEFAULT_ID << 24);
	CHECK_EQ(io_rd(1), 0x170011u);
	CHECK_EQ(io_rd(2), (uint32_t)IOAPIC_DEFAULT_ID << 24);
	io_wr(0, 0xff000000);
	CHECK_EQ(io_rd(0), 0x0f000000u);
	io_wr(1, 0);
	CHECK_EQ(io_rd(1), 0x170011u);
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		CHECK_EQ(io_rd((uint8_t)(0x10 + 2 * i)), IOAPIC_RE_MASKED);
	io_wr(0x12, 0xfffeffff);
	CHECK_EQ(io_rd(0x12), 0xafffu); /* status, remote IRR read-only */
	io_wr(0x13, 0xffffffff);
	CHECK_EQ(io_rd(0x13), 0xff000000u);
	CHECK_EQ(io_rd(0x80), 0); /* beyond the table */
	CHECK_EQ(io_rd(0xff), 0);
	CHECK(!ioapic_all_masked(io));
	uint8_t d = 0x10;
	CHECK_EQ(bus_access(bus, BUS_MMIO, IOBASE, &d, 1, true), 0);
	CHECK_EQ(rd(IOBASE), 0x10);
}

static void test_ioapic_edge(void)
{
	setup();
	enable();
	io_wr(0x10 + 2 * 4, 0x10000 | 0x44); /* pin 4 masked */
	ioapic_set_irq(io, 4, 1);
	ioapic_set_irq(io, 4, 0);
	CHECK(!apic_has_interrupt(apic));
	io_wr(0x10 + 2 * 4, 0x44); /* unmasked: the edge while masked is lost */
	CHECK(!apic_has_interrupt(apic));
	ioapic_set_irq(io, 4, 1);
	CHECK_EQ(apic_ack(apic), 0x44);
	ioapic_set_irq(io, 4, 1); /* no new edge */
	wr(BASE + APIC_EOI, 0);
	CHECK(!apic_has_interrupt(apic));
	CHECK_EQ(eois[0x44], 0);
	ioapic_set_irq(io, 4, 0);
	ioapic_set_irq(io, 4, 1);
	CHECK_EQ(apic_ack(apic), 0x44);
	wr(BASE + APIC_EOI, 0);
	/* Destination elsewhere: nothing. */
	io_wr(0x10 + 2 * 5 + 1, 0x03000000);
	io_wr(0x10 + 2 * 5, 0x45);
	ioapic_set_irq(io, 5, 1);
	CHECK(!apic_has_interrupt(apic));
	/* ExtINT entry. */
	CHECK(!ioapic_extint_open(io));
	io_wr(0x10, 0x700);
	CHECK(ioapic_extint_open(io));
}

static void test_ioapic_level(void)
{
	setup();
	enable();
	io_wr(0x10 + 2 * 9, 0x8000 | 0x59); /* pin 9 level, unmasked */
	ioapic_set_irq(io, 9, 1);
	CHECK(ioapic_entry(io, 9) & IOAPIC_RE_REMOTE_IRR);
	CHECK_EQ(io_rd(0x10 + 2 * 9) & IOAPIC_RE_REMOTE_IRR, IOAPIC_RE_REMOTE_IRR);
	CHECK_EQ(rd(BASE + APIC_TMR + 0x20), 1u << (0x59 - 0x40));
	CHECK_EQ(apic_ack(apic), 0x59);
	/* Still asserted, remote IRR set: nothing new before the EOI. */
	ioapic_set_irq(io, 9, 1);
	CHECK(!apic_has_interrupt(apic));
	wr(BASE + APIC_EOI, 0);
	CHECK_EQ(eois[0x59], 1);
	/* The EOI cleared remote IRR; the pin is still high: sent again. */
	CHECK(ioapic_entry(io, 9) & IOAPIC_RE_REMOTE_IRR);
	CHECK_EQ(apic_ack(apic), 0x59);
	ioapic_set_irq(io, 9, 0);
	wr(BASE + APIC_EOI, 0);
	CHECK_EQ(eois[0x59], 2);
	CHECK(!(ioapic_entry(io, 9) & IOAPIC_RE_REMOTE_IRR));
	CHECK(!apic_has_interrupt(apic));
	/* Masked while asserted: held; unmasking sends it. */
	io_wr(0x10 + 2 * 9, 0x18000 | 0x59);
	ioapic_set_irq(io, 9, 1);
	CHECK(!apic_has_interrupt(apic));
	io_wr(0x10 + 2 * 9, 0x8000 | 0x59);
	CHECK_EQ(apic_ack(apic), 0x59);
	/* Switching to edge clears remote IRR. */
	io_wr(0x10 + 2 * 9, 0x59);
	CHECK(!(ioapic_entry(io, 9) & IOAPIC_RE_REMOTE_IRR));
}

static void test_save_load(void)
{
	struct apic_state s, s2;
	struct ioapic_state is, is2;

	setup();
	enable();
	wr(BASE + APIC_TPR, 0x20);
	wr(BASE + APIC_LVT_TIMER, 0x20033);
	wr(BASE + APIC_TMICT, 500);
	apic_deliver(apic, 0x90, true, 0, false);
	apic_ack(apic);
	apic_deliver(apic, 0x91, false, 0, false);
	io_wr(0x10 + 2 * 3, 0x8000 | 0x63);
	ioapic_set_irq(io, 3, 1);
	apic_save(apic, &s);
	ioapic_save(io, &is);

	struct apic *b = apic_new(clk);
	struct ioapic *io2 = ioapic_new(NULL, NULL);
	CHECK_EQ(apic_load(b, &s), 0);
	CHECK_EQ(ioapic_load(io2, &is), 0);
	apic_save(b, &s2);
	ioapic_save(io2, &is2);
	CHECK(!memcmp(&s, &s2, sizeof(s)));
	CHECK(!memcmp(&is, &is2, sizeof(is)));
	CHECK_EQ(apic_timer(b, 100), apic_timer(apic, 100));
	CHECK_EQ(apic_ack(b), apic_ack(apic));

	/* Inconsistent states are refused, the model unchanged. */
	s2 = s;
	s2.svr = 0x1000;
	CHECK_EQ(apic_load(b, &s2), -EINVAL);
	s2 = s;
	s2.irr[0] = 1;
	CHECK_EQ(apic_load(b, &s2), -EINVAL);
	s2 = s;
	s2.lvt[0] |= 1u << 18;
	CHECK_EQ(apic_load(b, &s2), -EINVAL);
	s2 = s;
	s2.timer_running = 1;
	s2.timer_next = UINT64_MAX;
	CHECK_EQ(apic_load(b, &s2), -EINVAL);
	is2 = is;
	is2.levels = 1u << 30;
	CHECK_EQ(ioapic_load(io2, &is2), -EINVAL);
	is2 = is;
	is2.redir[0] |= 1u << 12;
	CHECK_EQ(ioapic_load(io2, &is2), -EINVAL);
	apic_free(b);
	ioapic_free(io2);
}

int main(void)
{
	RUN_TEST(test_reset_and_registers);
	RUN_TEST(test_bad_accesses);
	RUN_TEST(test_priority_eoi);
	RUN_TEST(test_self_ipi);
	RUN_TEST(test_timer);
	RUN_TEST(test_ioapic_regs);
	RUN_TEST(test_ioapic_edge);
	RUN_TEST(test_ioapic_level);
	RUN_TEST(test_save_load);
	bus_free(bus);
	apic_free(apic);
	ioapic_free(io);
	clock_free(clk);
	return TEST_EXIT();
}
