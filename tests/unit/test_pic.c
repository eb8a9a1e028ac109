#include <errno.h>

#include "devices/pic.h"
#include "testlib.h"
#include "unit/devtest.h"

static struct bus *bus;
static struct pic *pic;

/* Linux's init_8259A sequence: vectors 0x20/0x28, cascade on IR2. */
static void setup(uint8_t icw4)
{
	bus_free(bus);
	pic_free(pic);
	bus = bus_new();
	pic = pic_new();
	CHECK_EQ(pic_attach(pic, bus), 0);
	outb(bus, 0x20, 0x11);
	outb(bus, 0x21, 0x20);
	outb(bus, 0x21, 0x04);
	outb(bus, 0x21, icw4);
	outb(bus, 0xa0, 0x11);
	outb(bus, 0xa1, 0x28);
	outb(bus, 0xa1, 0x02);
	outb(bus, 0xa1, icw4);
	outb(bus, 0x21, 0x00);
	outb(bus, 0xa1, 0x00);
}

static void pulse(unsigned irq)
{
	pic_set_irq(pic, irq, 1);
	pic_set_irq(pic, irq, 0);
}

static uint8_t read_isr(uint16_t port)
{
	outb(bus, port, 0x0b);
	return inb(bus, port);
}

static uint8_t read_irr(uint16_t port)
{
	outb(bus, port, 0x0a);
	return inb(bus, port);
}

static void test_reset_state(void)
{
	struct bus *b = bus_new();
	struct pic *p = pic_new();

	CHECK_EQ(pic_attach(p, b), 0);
	CHECK_EQ(inb(b, 0x21), 0xfb);
	CHECK_EQ(inb(b, 0xa1), 0xff);
	/* Masked lines still latch; unmasking delivers at the BIOS vector. */
	pic_set_irq(p, 0, 1);
	CHECK(!pic_pending(p));
	outb(b, 0x21, 0xfa);
	CHECK(pic_pending(p));
	CHECK_EQ(pic_ack(p), 0x08);
	CHECK_EQ(pic_attach(p, b), -EEXIST);
	pic_free(p);
	bus_free(b);
}

static void test_init_and_eoi(void)
{
	setup(0x01);
	CHECK(!pic_pending(pic));
	pulse(0);
	CHECK(pic_pending(pic));
	CHECK_EQ(pic_ack(pic), 0x20);
	CHECK(!pic_pending(pic));
	CHECK_EQ(read_isr(0x20), 0x01);
	/* A lower priority request waits for the EOI. */
	pulse(1);
	CHECK(!pic_pending(pic));
	CHECK_EQ(read_irr(0x20), 0x02);
	outb(bus, 0x20, 0x20);
	CHECK_EQ(read_isr(0x20), 0x00);
	CHECK(pic_pending(pic));
	CHECK_EQ(pic_ack(pic), 0x21);
	outb(bus, 0x20, 0x20);
	CHECK(!pic_pending(pic));
	/* Nothing requested: spurious IRQ7 vector, ISR untouched. */
	CHECK_EQ(pic_ack(pic), 0x27);
	CHECK_EQ(read_isr(0x20), 0x00);
}

static void test_priority_and_nesting(void)
{
	setup(0x01);
	pulse(3);
	pulse(1);
	CHECK_EQ(pic_ack(pic), 0x21);
	CHECK(!pic_pending(pic)); /* 3 is below 1 */
	pulse(0);                 /* 0 is above 1: nests */
	CHECK(pic_pending(pic));
	CHECK_EQ(pic_ack(pic), 0x20);
	CHECK_EQ(read_isr(0x20), 0x03);
	/* Non-specific EOI ends the highest priority in-service line. */
	outb(bus, 0x20, 0x20);
	CHECK_EQ(read_isr(0x20), 0x02);
	outb(bus, 0x20, 0x20);
	CHECK_EQ(pic_ack(pic), 0x23);
	outb(bus, 0x20, 0x20);
	CHECK_EQ(read_isr(0x20), 0x00);
}

static void test_specific_eoi(void)
{
	setup(0x01);
	pulse(3);
	CHECK_EQ(pic_ack(pic), 0x23);
	pulse(0);
	CHECK_EQ(pic_ack(pic), 0x20);
	CHECK_EQ(read_isr(0x20), 0x09);
	outb(bus, 0x20, 0x63); /* specific EOI, line 3 */
	CHECK_EQ(read_isr(0x20), 0x01);
	outb(bus, 0x20, 0x60);
	CHECK_EQ(read_isr(0x20), 0x00);
}

static void test_mask_and_edge(void)
{
	setup(0x01);
	outb(bus, 0x21, 0x01);
	CHECK_EQ(inb(bus, 0x21), 0x01);
	pic_set_irq(pic, 0, 1);
	CHECK(!pic_pending(pic));
	CHECK_EQ(read_irr(0x20), 0x01);
	outb(bus, 0x21, 0x00);
	CHECK(pic_pending(pic));
	CHECK_EQ(pic_ack(pic), 0x20);
	outb(bus, 0x20, 0x20);
	/* The line is still high: no new edge, no new request. */
	pic_set_irq(pic, 0, 1);
	CHECK(!pic_pending(pic));
	pic_set_irq(pic, 0, 0);
	pic_irq_fn(pic, 0, 1);
	CHECK(pic_pending(pic));
	/* Out-of-range lines are ignored. */
	pic_set_irq(pic, 16, 1);
	pic_set_irq(pic, 1000, 1);
}

static void test_auto_eoi(void)
{
	setup(0x03);
	pulse(5);
	CHECK_EQ(pic_ack(pic), 0x25);
	CHECK_EQ(read_isr(0x20), 0x00);
	pulse(6);
	CHECK(pic_pending(pic)); /* nothing in service blocks it */
	CHECK_EQ(pic_ack(pic), 0x26);
}

static void test_cascade(void)
{
	setup(0x01);
	pulse(8);
	CHECK(pic_pending(pic));
	CHECK_EQ(pic_ack(pic), 0x28);
	CHECK_EQ(read_isr(0x20), 0x04);
	CHECK_EQ(read_isr(0xa0), 0x01);
	pulse(9);
	CHECK(!pic_pending(pic));
	outb(bus, 0xa0, 0x20); /* slave EOI first, as Linux does */
	CHECK(!pic_pending(pic)); /* master IR2 still in service */
	outb(bus, 0x20, 0x20);
	CHECK(pic_pending(pic));
	CHECK_EQ(pic_ack(pic), 0x29);
	outb(bus, 0xa0, 0x20);
	outb(bus, 0x20, 0x20);
	/* Slave lines rank between IRQ1 and IRQ3. */
	pulse(3);
	pulse(15);
	CHECK_EQ(pic_ack(pic), 0x2f);
	outb(bus, 0xa0, 0x20);
	outb(bus, 0x20, 0x20);
	CHECK_EQ(pic_ack(pic), 0x23);
	outb(bus, 0x20, 0x20);
	/* Slave masked: its request never reaches the master. */
	outb(bus, 0xa1, 0x01);
	pulse(8);
	CHECK(!pic_pending(pic));
	CHECK_EQ(read_irr(0xa0), 0x01);
}

static void test_special_mask(void)
{
	setup(0x01);
	pulse(3);
	CHECK_EQ(pic_ack(pic), 0x23);
	pulse(5);
	CHECK(!pic_pending(pic));
	/* Special mask mode: masking the in-service line lets lower ones in. */
	outb(bus, 0x20, 0x68);
	outb(bus, 0x21, 0x08);
	CHECK(pic_pending(pic));
	CHECK_EQ(pic_ack(pic), 0x25);
	outb(bus, 0x20, 0x65);
	outb(bus, 0x20, 0x48);
	outb(bus, 0x21, 0x00);
	CHECK_EQ(read_isr(0x20), 0x08);
}

static void test_rotate(void)
{
	setup(0x01);
	pulse(0);
	CHECK_EQ(pic_ack(pic), 0x20);
	outb(bus, 0x20, 0xa0); /* rotate on non-specific EOI: 0 becomes lowest */
	pulse(0);
	pulse(4);
	CHECK_EQ(pic_ack(pic), 0x24);
	outb(bus, 0x20, 0x20);
	CHECK_EQ(pic_ack(pic), 0x20);
	outb(bus, 0x20, 0x20);
	outb(bus, 0x20, 0xc7); /* set priority: 7 lowest, 0 highest again */
	pulse(4);
	pulse(0);
	CHECK_EQ(pic_ack(pic), 0x20);
}

static void test_poll_and_wide(void)
{
	setup(0x01);
	pulse(2 + 2); /* IRQ4 */
	outb(bus, 0x20, 0x0c); /* poll */
	CHECK_EQ(inb(bus, 0x20), 0x84);
	CHECK_EQ(read_isr(0x20), 0x10);
	outb(bus, 0x20, 0x0c);
	CHECK_EQ(inb(bus, 0x20), 0x00);
	outb(bus, 0x20, 0x20);
	/* A 16-bit read of the pair: IRR (selected by OCW3) then IMR. */
	outb(bus, 0x21, 0x5a);
	pulse(1);
	outb(bus, 0x20, 0x0a);
	CHECK_EQ(io_in(bus, 0x20, 2), 0x5a02);
	CHECK_EQ(io_rc, 0);
	io_in(bus, 0x20, 4);
	CHECK_EQ(io_rc, -ENOENT);
}

static void test_elcr_level(void)
{
	setup(0x01);
	outb(bus, 0x4d0, 0xff);
	outb(bus, 0x4d1, 0xff);
	CHECK_EQ(inb(bus, 0x4d0), 0xf8);
	CHECK_EQ(inb(bus, 0x4d1), 0xde);
	outb(bus, 0x4d0, 0x08);
	pic_set_irq(pic, 3, 1);
	CHECK_EQ(pic_ack(pic), 0x23);
	outb(bus, 0x20, 0x20);
	CHECK(pic_pending(pic)); /* level still high: requests again */
	pic_set_irq(pic, 3, 0);
	CHECK(!pic_pending(pic));
	CHECK_EQ(io_in(bus, 0x4d0, 2), 0xde08); /* master, then slave ELCR */
}

/* Can any line reach INTR?  What halted-forever detection asks. */
static void test_all_masked(void)
{
	/* Power-on state (SeaBIOS's masks): only the cascade is open. */
	pic_free(pic);
	pic = pic_new();
	CHECK(pic_all_masked(pic));
	pic_set_irq(pic, 11, 1); /* a request on a masked line changes nothing */
	CHECK(pic_all_masked(pic));
	CHECK(!pic_pending(pic));
	setup(0x01);
	CHECK(!pic_all_masked(pic));
	outb(bus, 0x21, 0xfb);
	CHECK(!pic_all_masked(pic)); /* slave lines open behind the cascade */
	outb(bus, 0xa1, 0xf7);
	CHECK(!pic_all_masked(pic));
	outb(bus, 0xa1, 0xff);
	CHECK(pic_all_masked(pic));
	outb(bus, 0xa1, 0x00);
	outb(bus, 0x21, 0xff); /* cascade masked: the slave cannot get through */
	CHECK(pic_all_masked(pic));
	outb(bus, 0x21, 0xfe);
	CHECK(!pic_all_masked(pic));
}

int main(void)
{
	RUN_TEST(test_reset_state);
	RUN_TEST(test_init_and_eoi);
	RUN_TEST(test_priority_and_nesting);
	RUN_TEST(test_specific_eoi);
	RUN_TEST(test_mask_and_edge);
	RUN_TEST(test_auto_eoi);
	RUN_TEST(test_cascade);
	RUN_TEST(test_special_mask);
	RUN_TEST(test_rotate);
	RUN_TEST(test_poll_and_wide);
	RUN_TEST(test_elcr_level);
	RUN_TEST(test_all_masked);
	pic_free(pic);
	bus_free(bus);
	return TEST_EXIT();
}
