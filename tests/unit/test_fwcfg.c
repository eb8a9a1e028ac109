#include <errno.h>

#include "devices/fwcfg.h"
#include "testlib.h"
#include "unit/devtest.h"

static struct bus *bus;

static void select_item(uint16_t sel)
{
	io_out(bus, 0x510, sel, 2);
}

static void read_bytes(uint8_t *out, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		out[i] = inb(bus, 0x511);
}

static uint64_t read_le(unsigned n)
{
	uint8_t b[8];
	uint64_t v = 0;

	read_bytes(b, n);
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static uint64_t read_be(unsigned n)
{
	uint8_t b[8];
	uint64_t v = 0;

	read_bytes(b, n);
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | b[i];
	return v;
}

static void test_items(void)
{
	struct fwcfg *f = fwcfg_new(3ull << 30);
	uint8_t sig[5] = { 0 };

	bus = bus_new();
	CHECK_EQ(fwcfg_attach(f, bus), 0);
	select_item(FWCFG_SIGNATURE);
	read_bytes(sig, 4);
	CHECK(!memcmp(sig, "QEMU", 4));
	CHECK_EQ(inb(bus, 0x511), 0); /* past the end */
	select_item(FWCFG_ID);
	CHECK_EQ(read_le(4), 1);
	select_item(FWCFG_RAM_SIZE);
	CHECK_EQ(read_le(8), 3ull << 30);
	select_item(FWCFG_NB_CPUS);
	CHECK_EQ(read_le(2), 1);
	select_item(FWCFG_MAX_CPUS);
	CHECK_EQ(read_le(2), 1);
	select_item(FWCFG_FILE_DIR);
	CHECK_EQ(read_be(4), 0);
	select_item(0x1234);
	CHECK_EQ(read_le(4), 0);
	/* Reselecting rewinds; an 8-bit selector write zero-extends. */
	select_item(FWCFG_SIGNATURE);
	CHECK_EQ(inb(bus, 0x511), 'Q');
	outb(bus, 0x510, 0x00);
	CHECK_EQ(inb(bus, 0x511), 'Q');
	/* A 16-bit read at the data port takes two bytes. */
	CHECK_EQ(io_in(bus, 0x510, 2), 0);
	io_in(bus, 0x511, 2);
	CHECK_EQ(io_rc, -ENOENT);
	CHECK_EQ(fwcfg_attach(f, bus), -EEXIST);
	fwcfg_free(f);
	bus_free(bus);
}

static void test_files(void)
{
	struct fwcfg *f = fwcfg_new(1 << 20);
	char name[FWCFG_NAME_MAX + 8];
	uint8_t got[16];

	bus = bus_new();
	CHECK_EQ(fwcfg_attach(f, bus), 0);
	CHECK_EQ(fwcfg_add_file(f, "etc/hello", "hello world", 11), 0);
	CHECK_EQ(fwcfg_add_file(f, "etc/two", "\x01\x02", 2), 0);
	CHECK_EQ(fwcfg_add_file(f, "etc/hello", "x", 1), -EEXIST);
	CHECK_EQ(fwcfg_add_file(f, "", "x", 1), -EINVAL);
	memset(name, 'a', sizeof(name));
	name[FWCFG_NAME_MAX] = 0;
	CHECK_EQ(fwcfg_add_file(f, name, "x", 1), -EINVAL);
	name[FWCFG_NAME_MAX - 1] = 0;
	CHECK_EQ(fwcfg_add_file(f, name, "x", 1), 0);

	select_item(FWCFG_FILE_DIR);
	CHECK_EQ(read_be(4), 3);
	CHECK_EQ(read_be(4), 11);
	CHECK_EQ(read_be(2), 0x20);
	CHECK_EQ(read_be(2), 0);
	read_bytes((uint8_t *)name, FWCFG_NAME_MAX);
	CHECK(!strcmp(name, "etc/hello"));
	CHECK_EQ(read_be(4), 2);
	CHECK_EQ(read_be(2), 0x21);

	select_item(0x20);
	read_bytes(got, 12);
	CHECK(!memcmp(got, "hello world", 11));
	CHECK_EQ(got[11], 0);
	select_item(0x21);
	CHECK_EQ(read_le(2), 0x0201);
	select_item(0x23);
	CHECK_EQ(read_le(2), 0);
	fwcfg_free(f);
	bus_free(bus);
}

int main(void)
{
	RUN_TEST(test_items);
	RUN_TEST(test_files);
	return TEST_EXIT();
}
