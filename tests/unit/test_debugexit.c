#include <errno.h>

#include "devices/debugexit.h"
#include "testlib.h"
#include "unit/devtest.h"

static void test_status_values(void)
{
	struct stop_rec rec = { 0 };
	struct dev_stop stop = { stop_rec_fn, &rec };
	struct bus *b = bus_new();
	struct debugexit *d = debugexit_new(stop);

	CHECK_EQ(debugexit_attach(d, b, 0xf4, 4), 0);
	outb(b, 0xf4, 0x00);
	CHECK_EQ(rec.count, 1);
	CHECK_EQ(rec.why, DEV_STOP_DEBUG_EXIT);
	CHECK_EQ(rec.status, 1);
	outb(b, 0xf4, 0x01);
	CHECK_EQ(rec.status, 3);
	io_out(b, 0xf4, 0x7f, 4);
	CHECK_EQ(rec.status, 0xff);
	io_out(b, 0xf6, 0x1234, 2);
	CHECK_EQ(io_rc, 0);
	CHECK_EQ(rec.status, 0x2469);
	CHECK_EQ(rec.count, 4);
	CHECK_EQ(io_in(b, 0xf4, 4), 0xffffffff);
	CHECK_EQ(rec.count, 4); /* reads do not stop */
	io_out(b, 0xf8, 0, 1);
	CHECK_EQ(io_rc, -ENOENT);
	io_out(b, 0xf6, 0, 4);
	CHECK_EQ(io_rc, -ENOENT);
	CHECK_EQ(rec.count, 4);
	CHECK_EQ(debugexit_attach(d, b, 0xf4, 1), -EEXIST);
	CHECK_EQ(debugexit_attach(d, b, 0x500, 0), -EINVAL);
	CHECK_EQ(debugexit_attach(d, b, 0xffff, 2), -EINVAL);
	debugexit_free(d);
	bus_free(b);
}

static void test_no_callback(void)
{
	struct dev_stop none = { NULL, NULL };
	struct bus *b = bus_new();
	struct debugexit *d = debugexit_new(none);

	CHECK_EQ(debugexit_attach(d, b, 0x501, 1), 0);
	outb(b, 0x501, 0x33);
	CHECK_EQ(io_rc, 0);
	debugexit_free(d);
	bus_free(b);
}

int main(void)
{
	RUN_TEST(test_status_values);
	RUN_TEST(test_no_callback);
	return TEST_EXIT();
}
