#include <errno.h>

#include "devices/i8042.h"
#include "testlib.h"
#include "unit/devtest.h"

static struct stop_rec rec;
static struct bus *bus;
static struct i8042 *kbc;

static void setup(void)
{
	struct dev_stop stop = { stop_rec_fn, &rec };

	i8042_free(kbc);
	bus_free(bus);
	rec = (struct stop_rec){ 0 };
	bus = bus_new();
	kbc = i8042_new(stop);
	CHECK_EQ(i8042_attach(kbc, bus), 0);
}

static void test_probe_sequence(void)
{
	setup();
	/* Buffers empty: no OBF, no IBF. */
	CHECK_EQ(inb(bus, 0x64) & 0x03, 0);
	outb(bus, 0x64, 0xaa);
	CHECK_EQ(inb(bus, 0x64) & 0x21, 0x01);
	CHECK_EQ(inb(bus, 0x60), 0x55);
	CHECK_EQ(inb(bus, 0x64) & 0x01, 0);
	outb(bus, 0x64, 0x20);
	CHECK_EQ(inb(bus, 0x60), 0x47);
	outb(bus, 0x64, 0x60);
	outb(bus, 0x60, 0x65);
	outb(bus, 0x64, 0x20);
	CHECK_EQ(inb(bus, 0x60), 0x65);
	outb(bus, 0x64, 0xad);
	outb(bus, 0x64, 0xa7);
	outb(bus, 0x64, 0x20);
	CHECK_EQ(inb(bus, 0x60), 0x75);
	outb(bus, 0x64, 0xae);
	outb(bus, 0x64, 0xa8);
	outb(bus, 0x64, 0x20);
	CHECK_EQ(inb(bus, 0x60), 0x45);
	outb(bus, 0x64, 0xab);
	CHECK_EQ(inb(bus, 0x60), 0x00);
	/* Aux loopback comes back flagged as aux data. */
	outb(bus, 0x64, 0xd3);
	outb(bus, 0x60, 0x5a);
	CHECK_EQ(inb(bus, 0x64) & 0x21, 0x21);
	CHECK_EQ(inb(bus, 0x60), 0x5a);
	/* No keyboard attached: a byte sent to it is answered 0xfe. */
	outb(bus, 0x60, 0xf2);
	CHECK_EQ(inb(bus, 0x64) & 0x21, 0x01);
	CHECK_EQ(inb(bus, 0x60), 0xfe);
	CHECK_EQ(inb(bus, 0x64) & 0x01, 0);
	CHECK_EQ(rec.count, 0);
	/* 0x61 is the PIT's port B, not ours. */
	inb(bus, 0x61);
	CHECK_EQ(io_rc, -ENOENT);
}

static void test_reset(void)
{
	setup();
	outb(bus, 0x64, 0xfe);
	CHECK_EQ(rec.count, 1);
	CHECK_EQ(rec.why, DEV_STOP_RESET);
	outb(bus, 0x64, 0xff); /* pulses nothing */
	CHECK_EQ(rec.count, 1);
	outb(bus, 0x64, 0xf1);
	CHECK_EQ(rec.count, 1);
	outb(bus, 0x64, 0xfc); /* pulses reset among other lines */
	CHECK_EQ(rec.count, 2);
	outb(bus, 0x64, 0xd1); /* output port with the reset bit low */
	outb(bus, 0x60, 0xfe);
	CHECK_EQ(rec.count, 3);
	outb(bus, 0x64, 0xd1);
	outb(bus, 0x60, 0xdf);
	CHECK_EQ(rec.count, 3);
	outb(bus, 0x64, 0xd0);
	CHECK_EQ(inb(bus, 0x60), 0xdf);
}

static void test_irqs(void)
{
	struct irq_rec k = { 0 }, a = { 0 };
	struct irq_line kl = { irq_rec_fn, &k, 1 }, al = { irq_rec_fn, &a, 12 };

	setup();
	i8042_set_irqs(kbc, kl, al);
	outb(bus, 0x64, 0xd2);
	outb(bus, 0x60, 0x1c);
	CHECK_EQ(k.level, 1);
	CHECK_EQ(a.level, 0);
	CHECK_EQ(inb(bus, 0x60), 0x1c);
	CHECK_EQ(k.level, 0);
	outb(bus, 0x64, 0xd4);
	outb(bus, 0x60, 0xff);
	CHECK_EQ(a.level, 1);
	CHECK_EQ(inb(bus, 0x60), 0xfe);
	CHECK_EQ(a.level, 0);
	/* Interrupts off in the command byte: data but no IRQ. */
	outb(bus, 0x64, 0x60);
	outb(bus, 0x60, 0x44);
	outb(bus, 0x64, 0xaa);
	CHECK_EQ(k.level, 0);
	CHECK_EQ(inb(bus, 0x60), 0x55);
	CHECK_EQ(k.rises, 1);
}

static void test_overflow(void)
{
	setup();
	for (int i = 0; i < 100; i++)
		outb(bus, 0x64, 0xaa);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(inb(bus, 0x60), 0x55);
	CHECK_EQ(inb(bus, 0x64) & 0x01, 0);
	CHECK_EQ(inb(bus, 0x60), 0x55); /* the latch keeps the last byte */
}

/* System control port A: reset on bit 0 going 0->1, A20 reads back. */
static void test_port92(void)
{
	setup();
	CHECK_EQ(inb(bus, 0x92), 0x02); /* A20 on at power-on */
	outb(bus, 0x92, 0x00);
	CHECK_EQ(io_rc, 0);
	CHECK_EQ(inb(bus, 0x92), 0x00);
	outb(bus, 0x92, 0x02);
	CHECK_EQ(inb(bus, 0x92), 0x02);
	CHECK_EQ(rec.count, 0);
	outb(bus, 0x92, 0x03);
	CHECK_EQ(rec.count, 1);
	CHECK_EQ(rec.why, DEV_STOP_RESET);
	/* Bit 0 stays set: writing it again is no new edge. */
	CHECK_EQ(inb(bus, 0x92), 0x03);
	outb(bus, 0x92, 0x03);
	CHECK_EQ(rec.count, 1);
	outb(bus, 0x92, 0x02);
	outb(bus, 0x92, 0x01);
	CHECK_EQ(rec.count, 2);
	/* Reserved bits read as zero; a wider access is not the port's. */
	outb(bus, 0x92, 0xfe);
	CHECK_EQ(inb(bus, 0x92), 0xca);
	io_in(bus, 0x92, 2);
	CHECK_EQ(io_rc, -ENOENT);
	CHECK_EQ(rec.count, 2);
	/* Snapshots carry it; a state with reserved bits set is refused. */
	struct i8042_state st;
	i8042_save(kbc, &st);
	CHECK_EQ(st.port92, 0xca);
	setup();
	CHECK_EQ(i8042_load(kbc, &st), 0);
	CHECK_EQ(inb(bus, 0x92), 0xca);
	st.port92 = 0x04;
	CHECK_EQ(i8042_load(kbc, &st), -EINVAL);
	CHECK_EQ(inb(bus, 0x92), 0xca);
	/* Its neighbours are not claimed. */
	inb(bus, 0x91);
	CHECK_EQ(io_rc, -ENOENT);
	inb(bus, 0x93);
	CHECK_EQ(io_rc, -ENOENT);
}

int main(void)
{
	RUN_TEST(test_probe_sequence);
	RUN_TEST(test_reset);
	RUN_TEST(test_irqs);
	RUN_TEST(test_overflow);
	RUN_TEST(test_port92);
	i8042_free(kbc);
	bus_free(bus);
	return TEST_EXIT();
}
