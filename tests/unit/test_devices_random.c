/* Hammer every device through one bus with random guest accesses (any
 * port near a device, any width, any value, either direction) while time
 * moves and interrupts are acknowledged.  Passes when nothing crashes and
 * the bus only ever answers 0 or -ENOENT; meant to run under ASan+UBSan.
 * The PRNG has a fixed seed, so a failure reproduces. */
#include <errno.h>

#include "devices/clock.h"
#include "devices/cmos.h"
#include "devices/debugexit.h"
#include "devices/fwcfg.h"
#include "devices/i8042.h"
#include "devices/misc.h"
#include "devices/pci.h"
#include "devices/pic.h"
#include "devices/pit.h"
#include "devices/uart.h"
#include "testlib.h"
#include "unit/devtest.h"

#define ITERATIONS 400000

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static unsigned tx_bytes;

static void tx(void *opaque, uint8_t b)
{
	tx_bytes++;
}

/* Ports every device claims (plus the gaps between them). */
static const uint16_t hot_ports[] = {
	0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, 0x40, 0x41, 0x42, 0x43, 0x61,
	0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff, 0x70, 0x71,
	0xf4, 0xf5, 0xf6, 0xf7, 0x60, 0x64, 0x92, 0xcf8, 0xcf9, 0xcfa, 0xcfb, 0xcfc,
	0xcfd, 0xcfe, 0xcff, 0x80, 0x510, 0x511,
};

static void test_hammer(void)
{
	struct ttvm_clock *clk = clock_new_manual(1700000000);
	struct bus *bus = bus_new();
	struct stop_rec rec = { 0 };
	struct dev_stop stop = { stop_rec_fn, &rec };
	struct pic *pic = pic_new();
	struct irq_line irq0 = { pic_irq_fn, pic, 0 }, irq4 = { pic_irq_fn, pic, 4 };
	struct irq_line irq1 = { pic_irq_fn, pic, 1 }, irq12 = { pic_irq_fn, pic, 12 };
	struct pit *pit = pit_new(clk, irq0);
	struct uart *uart = uart_new(irq4, tx, NULL);
	struct cmos *cmos = cmos_new(clk, 6ull << 30);
	struct debugexit *dbg = debugexit_new(stop);
	struct i8042 *kbc = i8042_new(stop);
	struct pci *pci = pci_new(stop);
	struct fwcfg *fw = fwcfg_new(6ull << 30);
	static const uint32_t widths[] = { 1, 2, 4, 8 };
	uint64_t now = 0, handled = 0, unknown = 0, acks = 0;

	CHECK(clk && bus && pic && pit && uart && cmos && dbg && kbc && pci && fw);
	i8042_set_irqs(kbc, irq1, irq12);
	CHECK_EQ(fwcfg_add_file(fw, "etc/test", "data", 4), 0);
	CHECK_EQ(pic_attach(pic, bus), 0);
	CHECK_EQ(pit_attach(pit, bus), 0);
	CHECK_EQ(uart_attach(uart, bus, 0x3f8), 0);
	CHECK_EQ(cmos_attach(cmos, bus), 0);
	CHECK_EQ(debugexit_attach(dbg, bus, 0xf4, 4), 0);
	CHECK_EQ(i8042_attach(kbc, bus), 0);
	CHECK_EQ(pci_attach(pci, bus), 0);
	CHECK_EQ(port80_attach(bus), 0);
	CHECK_EQ(fwcfg_attach(fw, bus), 0);

	for (int i = 0; i < ITERATIONS; i++) {
		uint64_t r = rng();
		uint8_t data[8];
		uint16_t port;
		uint32_t len = widths[r & 3];
		bool is_write = (r >> 2) & 1;
		int rc;

		if ((r >> 3) & 7)
			port = (uint16_t)(hot_ports[(r >> 6) % (sizeof(hot_ports) / sizeof(hot_ports[0]))] +
					  (int)((r >> 20) % 5) - 2);
		else
			port = (uint16_t)(r >> 32);
		for (int j = 0; j < 8; j++)
			data[j] = (uint8_t)(rng() >> (8 * j));
		rc = bus_access(bus, BUS_PIO, port, data, len, is_write);
		CHECK(rc == 0 || rc == -ENOENT);
		if (rc == 0)
			handled++;
		else
			unknown++;

		switch ((r >> 40) & 15) {
		case 0: /* time moves: sometimes a little, sometimes a lot */
			now += (r >> 44) & ((r >> 60) ? 0xfff : 0xfffffff);
			clock_set(clk, now);
			CHECK(bus_run_timers(bus, now) > now);
			break;
		case 1: /* a level-triggered line can stay pending: cap the burst */
			for (int k = 0; k < 64 && pic_pending(pic); k++) {
				int v = pic_ack(pic);
				CHECK(v >= 0 && v <= 0xff);
				acks++;
			}
			break;
		case 2: {
			uint8_t in[32];
			size_t room = uart_rx_room(uart);
			size_t n = (r >> 44) % sizeof(in);
			for (size_t j = 0; j < n; j++)
				in[j] = (uint8_t)rng();
			size_t took = uart_rx_push(uart, in, n);
			CHECK(took <= n && took <= room);
			break;
		}
		case 3: /* random interrupt lines, in and out of range */
			pic_set_irq(pic, (unsigned)((r >> 44) % 20), (int)((r >> 50) & 1));
			break;
		case 4:
			CHECK(pit_out(pit, (unsigned)((r >> 44) % 4)) <= 1);
			break;
		case 5: { /* MMIO: nothing is mapped there */
			rc = bus_access(bus, BUS_MMIO, rng(), data, len, is_write);
			CHECK_EQ(rc, -ENOENT);
			break;
		}
		default:
			break;
		}
	}
	printf("handled %llu, unknown %llu, acks %llu, stops %d, tx %u\n",
	       (unsigned long long)handled, (unsigned long long)unknown,
	       (unsigned long long)acks, rec.count, tx_bytes);
	/* The mix must actually reach the devices and the stops. */
	CHECK(handled > ITERATIONS / 4);
	CHECK(unknown > 0);
	CHECK(rec.count > 0);
	CHECK(acks > 0);
	CHECK(tx_bytes > 0);

	fwcfg_free(fw);
	pci_free(pci);
	i8042_free(kbc);
	debugexit_free(dbg);
	cmos_free(cmos);
	uart_free(uart);
	pit_free(pit);
	pic_free(pic);
	bus_free(bus);
	clock_free(clk);
}

int main(void)
{
	RUN_TEST(test_hammer);
	return TEST_EXIT();
}
