#include <errno.h>

#include "devices/pci.h"
#include "testlib.h"
#include "unit/devtest.h"

static void test_config_space(void)
{
	struct stop_rec rec = { 0 };
	struct dev_stop stop = { stop_rec_fn, &rec };
	struct bus *b = bus_new();
	struct pci *p = pci_new(stop);

	CHECK_EQ(pci_attach(p, b), 0);
	io_out(b, 0xcf8, 0x80000000, 4);
	CHECK_EQ(io_in(b, 0xcf8, 4), 0x80000000);
	io_out(b, 0xcf8, 0xffffffff, 4);
	CHECK_EQ(io_in(b, 0xcf8, 4), 0x80fffffc);
	io_out(b, 0xcf8, 0x80000000, 4);
	/* No device anywhere: every data read is all-ones. */
	CHECK_EQ(io_in(b, 0xcfc, 4), 0xffffffff);
	CHECK_EQ(io_in(b, 0xcfe, 2), 0xffff);
	CHECK_EQ(io_in(b, 0xcff, 1), 0xff);
	io_out(b, 0xcfc, 0x12345678, 4);
	CHECK_EQ(io_in(b, 0xcfc, 4), 0xffffffff);
	/* Mechanism #2 probe: byte ports read 0xff, so it fails. */
	outb(b, 0xcfb, 0x00);
	outb(b, 0xcf8, 0x00);
	outb(b, 0xcfa, 0x00);
	CHECK_EQ(inb(b, 0xcf8), 0xff);
	CHECK_EQ(inb(b, 0xcfa), 0xff);
	CHECK_EQ(io_in(b, 0xcf8, 4), 0x80000000); /* byte writes left it alone */
	CHECK_EQ(rec.count, 0);
	pci_free(p);
	bus_free(b);
}

static void test_reset_control(void)
{
	struct stop_rec rec = { 0 };
	struct dev_stop stop = { stop_rec_fn, &rec };
	struct bus *b = bus_new();
	struct pci *p = pci_new(stop);

	CHECK_EQ(pci_attach(p, b), 0);
	outb(b, 0xcf9, 0x02); /* Linux reboot=pci: select hard reset... */
	CHECK_EQ(rec.count, 0);
	CHECK_EQ(inb(b, 0xcf9), 0x02);
	outb(b, 0xcf9, 0x06); /* ...then pull it */
	CHECK_EQ(rec.count, 1);
	CHECK_EQ(rec.why, DEV_STOP_RESET);
	CHECK_EQ(pci_attach(p, b), -EEXIST);
	io_in(b, 0xcfe, 4);
	CHECK_EQ(io_rc, -ENOENT);
	pci_free(p);
	bus_free(b);
}

int main(void)
{
	RUN_TEST(test_config_space);
	RUN_TEST(test_reset_control);
	return TEST_EXIT();
}
