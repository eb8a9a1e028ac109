#include <errno.h>

#include "devices/misc.h"
#include "testlib.h"
#include "unit/devtest.h"

static void test_port80(void)
{
	struct bus *b = bus_new();

	CHECK_EQ(port80_attach(b), 0);
	outb(b, 0x80, 0x12);
	CHECK_EQ(io_rc, 0);
	CHECK_EQ(inb(b, 0x80), 0xff);
	CHECK_EQ(io_rc, 0);
	io_in(b, 0x80, 2);
	CHECK_EQ(io_rc, -ENOENT);
	CHECK_EQ(port80_attach(b), -EEXIST);
	bus_free(b);
}

int main(void)
{
	RUN_TEST(test_port80);
	return TEST_EXIT();
}
