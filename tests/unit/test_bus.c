#include <errno.h>
#include <stdlib.h>

#include "testlib.h"
#include "unit/devtest.h"

struct rec {
	int calls;
	uint64_t off;
	uint32_t len;
	bool is_write;
	uint8_t first;
	int ret;
};

static int rec_handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct rec *r = opaque;

	r->calls++;
	r->off = off;
	r->len = len;
	r->is_write = is_write;
	r->first = data[0];
	if (!is_write)
		for (uint32_t i = 0; i < len; i++)
			data[i] = (uint8_t)(0xa0 + i);
	return r->ret;
}

static void test_overlap(void)
{
	struct bus *b = bus_new();
	struct rec r = { 0 };

	CHECK(b);
	CHECK_EQ(bus_register(b, BUS_PIO, 0x10, 0x10, rec_handler, &r, "a"), 0);
	CHECK_EQ(bus_register(b, BUS_PIO, 0x1f, 2, rec_handler, &r, "x"), -EEXIST);
	CHECK_EQ(bus_register(b, BUS_PIO, 0x00, 0x11, rec_handler, &r, "x"), -EEXIST);
	CHECK_EQ(bus_register(b, BUS_PIO, 0x12, 1, rec_handler, &r, "x"), -EEXIST);
	CHECK_EQ(bus_register(b, BUS_PIO, 0x08, 0x20, rec_handler, &r, "x"), -EEXIST);
	CHECK_EQ(bus_register(b, BUS_PIO, 0x10, 0x10, rec_handler, &r, "x"), -EEXIST);
	/* Touching but not overlapping is fine, on both sides. */
	CHECK_EQ(bus_register(b, BUS_PIO, 0x20, 0x10, rec_handler, &r, "b"), 0);
	CHECK_EQ(bus_register(b, BUS_PIO, 0x00, 0x10, rec_handler, &r, "c"), 0);
	/* Same addresses in the other space do not collide. */
	CHECK_EQ(bus_register(b, BUS_MMIO, 0x10, 0x10, rec_handler, &r, "m"), 0);
	CHECK_EQ(bus_register(b, BUS_PIO, 0x40, 0, rec_handler, &r, "x"), -EINVAL);
	CHECK_EQ(bus_register(b, BUS_MMIO, UINT64_MAX - 1, 3, rec_handler, &r, "x"), -EINVAL);
	CHECK_EQ(bus_register(b, BUS_MMIO, UINT64_MAX, 1, rec_handler, &r, "top"), 0);
	CHECK_EQ(bus_register(b, BUS_MMIO, 0x1000, 1, NULL, &r, "x"), -EINVAL);
	CHECK_EQ(bus_register(b, (enum bus_space)7, 0x1000, 1, rec_handler, &r, "x"), -EINVAL);
	CHECK(bus_name_at(b, BUS_PIO, 0x1f) && !strcmp(bus_name_at(b, BUS_PIO, 0x1f), "a"));
	CHECK(bus_name_at(b, BUS_PIO, 0x20) && !strcmp(bus_name_at(b, BUS_PIO, 0x20), "b"));
	CHECK(bus_name_at(b, BUS_PIO, 0x0) && !strcmp(bus_name_at(b, BUS_PIO, 0x0), "c"));
	CHECK(bus_name_at(b, BUS_PIO, 0x30) == NULL);
	CHECK(bus_name_at(b, BUS_MMIO, UINT64_MAX) && !strcmp(bus_name_at(b, BUS_MMIO, UINT64_MAX), "top"));
	bus_free(b);
}

static void test_access(void)
{
	struct bus *b = bus_new();
	struct rec r1 = { 0 }, r2 = { 0 }, m = { 0 };
	uint8_t d[8] = { 0x5a, 0, 0, 0, 0, 0, 0, 0 };

	CHECK_EQ(bus_register(b, BUS_PIO, 0x100, 8, rec_handler, &r1, "one"), 0);
	CHECK_EQ(bus_register(b, BUS_PIO, 0x108, 8, rec_handler, &r2, "two"), 0);
	CHECK_EQ(bus_register(b, BUS_MMIO, 0x100, 8, rec_handler, &m, "mm"), 0);
	CHECK_EQ(bus_access(b, BUS_PIO, 0x104, d, 4, true), 0);
	CHECK_EQ(r1.calls, 1);
	CHECK_EQ(r1.off, 4);
	CHECK_EQ(r1.len, 4);
	CHECK(r1.is_write);
	CHECK_EQ(r1.first, 0x5a);
	CHECK_EQ(m.calls, 0);
	/* Straddles the two devices: no single range covers it. */
	CHECK_EQ(bus_access(b, BUS_PIO, 0x106, d, 4, false), -ENOENT);
	CHECK_EQ(r1.calls + r2.calls, 1);
	CHECK_EQ(bus_access(b, BUS_PIO, 0x10c, d, 4, false), 0);
	CHECK_EQ(r2.off, 4);
	CHECK_EQ(d[0], 0xa0);
	CHECK_EQ(d[3], 0xa3);
	/* Past the end of the last range. */
	CHECK_EQ(bus_access(b, BUS_PIO, 0x10e, d, 4, false), -ENOENT);
	CHECK_EQ(bus_access(b, BUS_PIO, 0xff, d, 1, false), -ENOENT);
	CHECK_EQ(bus_access(b, BUS_PIO, 0x110, d, 1, false), -ENOENT);
	CHECK_EQ(bus_access(b, BUS_MMIO, 0x107, d, 1, true), 0);
	CHECK_EQ(m.off, 7);
	CHECK_EQ(bus_access(b, BUS_MMIO, UINT64_MAX - 2, d, 8, false), -ENOENT);
	CHECK_EQ(bus_access(b, BUS_PIO, 0x100, d, 0, false), -EINVAL);
	CHECK_EQ(bus_access(b, BUS_PIO, 0x100, d, 9, false), -EINVAL);
	/* A handler's refusal comes back as is. */
	r2.ret = -EPERM;
	CHECK_EQ(bus_access(b, BUS_PIO, 0x108, d, 1, false), -EPERM);
	bus_free(b);
}

static void test_many_sorted(void)
{
	struct bus *b = bus_new();
	static struct rec recs[200];
	unsigned order[200];

	/* Register in a scrambled order; every range must still route. */
	for (unsigned i = 0; i < 200; i++)
		order[i] = (i * 73) % 200;
	for (unsigned i = 0; i < 200; i++) {
		unsigned k = order[i];
		CHECK_EQ(bus_register(b, BUS_MMIO, 0x1000 + k * 0x10, 0x8, rec_handler, &recs[k], "r"), 0);
	}
	for (unsigned k = 0; k < 200; k++) {
		uint8_t d[2] = { 0 };
		CHECK_EQ(bus_access(b, BUS_MMIO, 0x1000 + k * 0x10 + 6, d, 2, false), 0);
		CHECK_EQ(recs[k].calls, 1);
		CHECK_EQ(recs[k].off, 6);
		CHECK_EQ(bus_access(b, BUS_MMIO, 0x1000 + k * 0x10 + 8, d, 1, false), -ENOENT);
		CHECK_EQ(bus_register(b, BUS_MMIO, 0x1000 + k * 0x10 + 7, 2, rec_handler, NULL, "x"), -EEXIST);
	}
	bus_free(b);
}

static uint64_t timer_a(void *opaque, uint64_t now)
{
	*(uint64_t *)opaque = now;
	return now + 100;
}

static uint64_t timer_b(void *opaque, uint64_t now)
{
	*(uint64_t *)opaque = now;
	return now + 50;
}

static void test_timers(void)
{
	struct bus *b = bus_new();
	uint64_t seen_a = 0, seen_b = 0;

	CHECK_EQ(bus_run_timers(b, 5), UINT64_MAX);
	CHECK_EQ(bus_add_timer(b, timer_a, &seen_a), 0);
	CHECK_EQ(bus_run_timers(b, 1000), 1100);
	CHECK_EQ(seen_a, 1000);
	CHECK_EQ(bus_add_timer(b, timer_b, &seen_b), 0);
	CHECK_EQ(bus_run_timers(b, 2000), 2050);
	CHECK_EQ(seen_a, 2000);
	CHECK_EQ(seen_b, 2000);
	CHECK_EQ(bus_add_timer(b, NULL, NULL), -EINVAL);
	bus_free(b);
	bus_free(NULL);
}

int main(void)
{
	RUN_TEST(test_overlap);
	RUN_TEST(test_access);
	RUN_TEST(test_many_sorted);
	RUN_TEST(test_timers);
	return TEST_EXIT();
}
