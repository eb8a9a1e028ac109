/* Device snapshots (X_save / X_load): a machine of every device model is
 * driven into random states; at each of many points its device states (and
 * its clock) are copied into a second machine, and from there both get the
 * same random accesses, time steps and interrupt acknowledges: every value
 * read, every transmitted byte, every vector and every timer deadline must
 * be the same.  Inconsistent states are refused without a change. */
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

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

struct machine {
	struct ttvm_clock *clk;
	struct bus *bus;
	struct stop_rec stops;
	struct pic *pic;
	struct pit *pit;
	struct uart *uart;
	struct cmos *cmos;
	struct debugexit *dbg;
	struct i8042 *kbc;
	struct pci *pci;
	struct fwcfg *fw;
	uint64_t tx_hash, tx_count;
};

static void tx(void *opaque, uint8_t b)
{
	struct machine *m = opaque;
	m->tx_hash = (m->tx_hash ^ b) * 0x100000001b3ull;
	m->tx_count++;
}

static void machine_init(struct machine *m)
{
	memset(m, 0, sizeof(*m));
	m->clk = clock_new_manual(1700000000);
	m->bus = bus_new();
	struct dev_stop stop = { stop_rec_fn, &m->stops };
	m->pic = pic_new();
	struct irq_line irq0 = { pic_irq_fn, m->pic, 0 }, irq4 = { pic_irq_fn, m->pic, 4 };
	struct irq_line irq1 = { pic_irq_fn, m->pic, 1 }, irq12 = { pic_irq_fn, m->pic, 12 };
	m->pit = pit_new(m->clk, irq0);
	m->uart = uart_new(irq4, tx, m);
	m->cmos = cmos_new(m->clk, 6ull << 30);
	m->dbg = debugexit_new(stop);
	m->kbc = i8042_new(stop);
	m->pci = pci_new(stop);
	m->fw = fwcfg_new(6ull << 30);
	CHECK(m->clk && m->bus && m->pic && m->pit && m->uart && m->cmos && m->dbg && m->kbc && m->pci && m->fw);
	i8042_set_irqs(m->kbc, irq1, irq12);
	CHECK_EQ(fwcfg_add_file(m->fw, "etc/test", "data", 4), 0);
	CHECK_EQ(pic_attach(m->pic, m->bus), 0);
	CHECK_EQ(pit_attach(m->pit, m->bus), 0);
	CHECK_EQ(uart_attach(m->uart, m->bus, 0x3f8), 0);
	CHECK_EQ(cmos_attach(m->cmos, m->bus), 0);
	CHECK_EQ(debugexit_attach(m->dbg, m->bus, 0xf4, 4), 0);
	CHECK_EQ(i8042_attach(m->kbc, m->bus), 0);
	CHECK_EQ(pci_attach(m->pci, m->bus), 0);
	CHECK_EQ(port80_attach(m->bus), 0);
	CHECK_EQ(fwcfg_attach(m->fw, m->bus), 0);
}

static void machine_free(struct machine *m)
{
	fwcfg_free(m->fw);
	pci_free(m->pci);
	i8042_free(m->kbc);
	debugexit_free(m->dbg);
	cmos_free(m->cmos);
	uart_free(m->uart);
	pit_free(m->pit);
	pic_free(m->pic);
	bus_free(m->bus);
	clock_free(m->clk);
}

struct states {
	struct pic_state pic;
	struct pit_state pit;
	struct uart_state uart;
	struct cmos_state cmos;
	struct i8042_state kbc;
	struct pci_state pci;
	struct fwcfg_state fw;
	uint64_t now;
};

static void save_all(struct machine *m, struct states *s)
{
	pic_save(m->pic, &s->pic);
	pit_save(m->pit, &s->pit);
	uart_save(m->uart, &s->uart);
	cmos_save(m->cmos, &s->cmos);
	i8042_save(m->kbc, &s->kbc);
	pci_save(m->pci, &s->pci);
	fwcfg_save(m->fw, &s->fw);
	s->now = clock_now_ns(m->clk);
}

static void load_all(struct machine *m, const struct states *s)
{
	CHECK_EQ(pic_load(m->pic, &s->pic), 0);
	CHECK_EQ(pit_load(m->pit, &s->pit), 0);
	CHECK_EQ(uart_load(m->uart, &s->uart), 0);
	CHECK_EQ(cmos_load(m->cmos, &s->cmos), 0);
	CHECK_EQ(i8042_load(m->kbc, &s->kbc), 0);
	CHECK_EQ(pci_load(m->pci, &s->pci), 0);
	CHECK_EQ(fwcfg_load(m->fw, &s->fw), 0);
	clock_restore(m->clk, s->now, clock_epoch_s(m->clk));
}

/* Ports every device claims. */
static const uint16_t hot_ports[] = {
	0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, 0x40, 0x41, 0x42, 0x43, 0x61,
	0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff, 0x70, 0x71,
	0x60, 0x64, 0x92, 0xcf8, 0xcf9, 0xcfc, 0x510, 0x511,
};

/* One random step on m; the result (what a read returned, a vector, a
 * deadline) goes into *out.  r fixes the step, so two machines given the
 * same r do the same thing. */
static void step(struct machine *m, uint64_t r, uint64_t r2, uint64_t *out)
{
	static const uint32_t widths[] = { 1, 2, 4 };
	uint8_t data[8];
	uint16_t port = hot_ports[(r >> 6) % (sizeof(hot_ports) / sizeof(hot_ports[0]))];
	uint32_t len = widths[(r & 3) % 3];
	bool is_write = (r >> 2) & 1;

	*out = 0;
	for (int j = 0; j < 8; j++)
		data[j] = (uint8_t)(r2 >> (8 * j));
	/* Resets would end a real run; keep the i8042 and 0xcf9 from it
	 * only by not caring: they just count stops. */
	bus_access(m->bus, BUS_PIO, port, data, len, is_write);
	if (!is_write)
		memcpy(out, data, len);
	switch ((r >> 40) & 7) {
	case 0: {
		uint64_t now = clock_now_ns(m->clk) + ((r >> 44) & 0xfffff);
		clock_set(m->clk, now);
		*out ^= bus_run_timers(m->bus, now) * 3;
		break;
	}
	case 1:
		if (pic_pending(m->pic))
			*out ^= (uint64_t)pic_ack(m->pic) << 32;
		break;
	case 2: {
		uint8_t in[4] = { (uint8_t)r2, (uint8_t)(r2 >> 8), (uint8_t)(r2 >> 16), (uint8_t)(r2 >> 24) };
		*out ^= uart_rx_push(m->uart, in, (r >> 44) & 3) << 40;
		break;
	}
	default:
		break;
	}
}

static void test_copy_behaves_the_same(void)
{
	struct machine a, b;
	struct states s, s2;
	unsigned diverged = 0, points = 0;

	machine_init(&a);
	machine_init(&b);
	for (int round = 0; round < 200; round++) {
		uint64_t dummy;
		for (int i = 0; i < 500; i++) {
			uint64_t r = rng(), r2 = rng();
			step(&a, r, r2, &dummy);
		}
		save_all(&a, &s);
		load_all(&b, &s);
		/* A saved copy saves back to the very same bytes. */
		save_all(&b, &s2);
		CHECK(!memcmp(&s, &s2, sizeof(s)));
		a.tx_hash = b.tx_hash = a.tx_count = b.tx_count = 0;
		a.stops.count = b.stops.count = 0;
		for (int i = 0; i < 300; i++) {
			uint64_t r = rng(), r2 = rng(), va, vb;
			step(&a, r, r2, &va);
			step(&b, r, r2, &vb);
			if (va != vb && diverged++ < 5)
				fprintf(stderr, "round %d step %d: %#llx vs %#llx\n", round, i,
					(unsigned long long)va, (unsigned long long)vb);
		}
		CHECK_EQ(a.tx_hash, b.tx_hash);
		CHECK_EQ(a.tx_count, b.tx_count);
		CHECK_EQ(a.stops.count, b.stops.count);
		points++;
	}
	CHECK_EQ(diverged, 0);
	printf("%u snapshot points compared\n", points);
	machine_free(&a);
	machine_free(&b);
}

/* A refused state leaves the device exactly as it was. */
#define REFUSE(dev, st, field, value)                                        \
	do {                                                                     \
		struct dev##_state bad_ = (st), before_, after_;                     \
		bad_.field = (value);                                                \
		dev##_save(m.dev##_ptr, &before_);                                   \
		CHECK_EQ(dev##_load(m.dev##_ptr, &bad_), -EINVAL);                   \
		dev##_save(m.dev##_ptr, &after_);                                    \
		CHECK(!memcmp(&before_, &after_, sizeof(before_)));                  \
	} while (0)

static void test_inconsistent_states_refused(void)
{
	struct machine mm;
	struct states s;

	machine_init(&mm);
	struct {
		struct pic *pic_ptr;
		struct pit *pit_ptr;
		struct uart *uart_ptr;
		struct cmos *cmos_ptr;
		struct i8042 *i8042_ptr;
		struct pci *pci_ptr;
	} m = { mm.pic, mm.pit, mm.uart, mm.cmos, mm.kbc, mm.pci };
	save_all(&mm, &s);
	REFUSE(uart, s.uart, rx_head, 16);
	REFUSE(uart, s.uart, rx_count, 2); /* FIFO off: one byte deep */
	REFUSE(uart, s.uart, thri, 2);
	REFUSE(pic, s.pic, chip[0].priority_add, 8);
	REFUSE(pic, s.pic, chip[1].init_state, 4);
	REFUSE(pic, s.pic, chip[0].elcr, 0x01); /* IRQ0 is always edge */
	REFUSE(pit, s.pit, ch[0].reload, 0);
	REFUSE(pit, s.pit, ch[1].reload, 65537);
	REFUSE(pit, s.pit, ch[2].mode, 6);
	REFUSE(pit, s.pit, portb, 0x10);
	REFUSE(cmos, s.cmos, index, 0x80);
	REFUSE(cmos, s.cmos, offset_s, INT64_MAX);
	REFUSE(cmos, s.cmos, set_mon, INT32_MIN);
	REFUSE(i8042, s.kbc, head, 16);
	REFUSE(i8042, s.kbc, count, 17);
	REFUSE(i8042, s.kbc, port92, 0x10);
	REFUSE(pci, s.pci, address, 0x7f000000);
	REFUSE(pci, s.pci, rcr, 0x04);
	machine_free(&mm);
}

int main(void)
{
	RUN_TEST(test_copy_behaves_the_same);
	RUN_TEST(test_inconsistent_states_refused);
	return TEST_EXIT();
}
