#include <errno.h>

#include "devices/uart.h"
#include "testlib.h"
#include "unit/devtest.h"

#define BASE 0x3f8
#define RBR (BASE + 0)
#define IER (BASE + 1)
#define IIR (BASE + 2)
#define FCR (BASE + 2)
#define LCR (BASE + 3)
#define MCR (BASE + 4)
#define LSR (BASE + 5)
#define MSR (BASE + 6)
#define SCR (BASE + 7)

static struct bus *bus;
static struct uart *uart;
static struct irq_rec irq;
static uint8_t sent[64];
static unsigned nsent;

static void tx(void *opaque, uint8_t b)
{
	CHECK(opaque == &nsent);
	if (nsent < sizeof(sent))
		sent[nsent] = b;
	nsent++;
}

static void setup(void)
{
	struct irq_line l = { irq_rec_fn, &irq, 4 };

	uart_free(uart);
	bus_free(bus);
	irq = (struct irq_rec){ 0 };
	nsent = 0;
	bus = bus_new();
	uart = uart_new(l, tx, &nsent);
	CHECK_EQ(uart_attach(uart, bus, BASE), 0);
}

/* A fresh UART with the host's input let in (test_rx_pacing checks how). */
static void setup_open(void)
{
	setup();
	CHECK_EQ(inb(bus, LSR), 0x60);
}

static void test_reset_and_tx(void)
{
	setup();
	CHECK_EQ(inb(bus, LSR), 0x60);
	CHECK_EQ(inb(bus, IIR), 0x01);
	CHECK_EQ(inb(bus, MSR), 0xb0);
	CHECK_EQ(inb(bus, IER), 0x00);
	outb(bus, RBR, 'h');
	outb(bus, RBR, 'i');
	CHECK_EQ(nsent, 2);
	CHECK_EQ(sent[0], 'h');
	CHECK_EQ(sent[1], 'i');
	CHECK_EQ(inb(bus, LSR), 0x60);
	CHECK_EQ(uart_attach(uart, bus, BASE), -EEXIST);
}

static void test_divisor_latch(void)
{
	setup();
	outb(bus, LCR, 0x83);
	outb(bus, RBR, 0x01);
	outb(bus, IER, 0x02);
	CHECK_EQ(inb(bus, RBR), 0x01);
	CHECK_EQ(inb(bus, IER), 0x02);
	outb(bus, LCR, 0x03);
	CHECK_EQ(inb(bus, LCR), 0x03);
	CHECK_EQ(inb(bus, IER), 0x00); /* the divisor write did not touch IER */
	CHECK_EQ(nsent, 0);            /* nor transmit */
	outb(bus, IER, 0x05);
	CHECK_EQ(inb(bus, IER), 0x05);
	outb(bus, LCR, 0x80);
	CHECK_EQ(io_in(bus, RBR, 2), 0x0201);
	outb(bus, SCR, 0xa5);
	CHECK_EQ(inb(bus, SCR), 0xa5);
}

static void test_loopback(void)
{
	setup_open();
	outb(bus, MCR, 0x1a); /* loop, OUT2, RTS: Linux's autoconfig probe */
	CHECK_EQ(inb(bus, MSR) & 0xf0, 0x90);
	outb(bus, RBR, 'A');
	CHECK_EQ(nsent, 0);
	CHECK_EQ(inb(bus, LSR), 0x61);
	CHECK_EQ(inb(bus, RBR), 'A');
	CHECK_EQ(inb(bus, LSR), 0x60);
	CHECK_EQ(uart_rx_room(uart), 0);
	CHECK_EQ(uart_rx_push(uart, (const uint8_t *)"x", 1), 0);
	/* Second byte without FIFOs: overrun. */
	outb(bus, RBR, 'B');
	outb(bus, RBR, 'C');
	CHECK_EQ(inb(bus, LSR), 0x63);
	CHECK_EQ(inb(bus, LSR), 0x61); /* OE clears on read */
	CHECK_EQ(inb(bus, RBR), 'B');
	outb(bus, MCR, 0x0b);
	CHECK_EQ(inb(bus, MSR) & 0xf0, 0xb0);
	outb(bus, RBR, 'D');
	CHECK_EQ(nsent, 1);
}

static void test_msr_deltas(void)
{
	setup();
	outb(bus, MCR, 0x10); /* loopback with every output off */
	CHECK_EQ(inb(bus, MSR), 0x0b);
	CHECK_EQ(inb(bus, MSR), 0x00);
	outb(bus, MCR, 0x14); /* OUT1 -> RI */
	CHECK_EQ(inb(bus, MSR), 0x40);
	outb(bus, MCR, 0x10); /* RI trailing edge */
	CHECK_EQ(inb(bus, MSR), 0x04);
}

static void test_iir_priorities(void)
{
	setup_open();
	outb(bus, MCR, 0x08); /* OUT2: let the IRQ through */
	outb(bus, IER, 0x0f);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(inb(bus, IIR), 0x02); /* THR empty, acknowledged by this read */
	CHECK_EQ(irq.level, 0);
	CHECK_EQ(inb(bus, IIR), 0x01);
	CHECK_EQ(uart_rx_push(uart, (const uint8_t *)"ab", 2), 1); /* no FIFO: 1 byte */
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(inb(bus, IIR), 0x04);
	outb(bus, RBR, 'z'); /* THR empty again */
	CHECK_EQ(inb(bus, IIR), 0x04); /* data outranks THR empty */
	CHECK_EQ(inb(bus, RBR), 'a');
	CHECK_EQ(inb(bus, IIR), 0x02);
	CHECK_EQ(inb(bus, IIR), 0x01);
	CHECK_EQ(irq.level, 0);
	/* Line status outranks data. */
	outb(bus, MCR, 0x18);
	outb(bus, RBR, '1');
	outb(bus, RBR, '2');
	outb(bus, MCR, 0x08);
	CHECK_EQ(inb(bus, IIR), 0x06);
	CHECK_EQ(irq.level, 1);
	inb(bus, LSR);
	CHECK_EQ(inb(bus, IIR), 0x04);
	inb(bus, RBR);
	CHECK_EQ(inb(bus, IIR), 0x02); /* from the THR writes above */
	CHECK_EQ(inb(bus, IIR), 0x00); /* the loopback switches moved CTS/DSR */
	inb(bus, MSR);
	CHECK_EQ(inb(bus, IIR), 0x01);
	/* Modem status change is last. */
	outb(bus, MCR, 0x18);
	outb(bus, MCR, 0x08);
	CHECK_EQ(inb(bus, IIR), 0x00);
	inb(bus, MSR);
	CHECK_EQ(inb(bus, IIR), 0x01);
}

static void test_out2_gates_irq(void)
{
	setup_open();
	outb(bus, IER, 0x01);
	CHECK_EQ(uart_rx_push(uart, (const uint8_t *)"q", 1), 1);
	CHECK_EQ(inb(bus, IIR), 0x04);
	CHECK_EQ(irq.level, 0);
	outb(bus, MCR, 0x08);
	CHECK_EQ(irq.level, 1);
	CHECK_EQ(irq.rises, 1);
	outb(bus, MCR, 0x00);
	CHECK_EQ(irq.level, 0);
	outb(bus, MCR, 0x08);
	CHECK_EQ(irq.rises, 2);
	inb(bus, RBR);
	CHECK_EQ(irq.level, 0);
	outb(bus, IER, 0x00);
	CHECK_EQ(uart_rx_push(uart, (const uint8_t *)"q", 1), 1);
	CHECK_EQ(irq.level, 0); /* not enabled in IER */
}

static void test_fifo(void)
{
	uint8_t buf[20];

	setup_open();
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)('a' + i);
	outb(bus, FCR, 0xc1); /* FIFO on, trigger 14 */
	CHECK_EQ(inb(bus, IIR), 0xc1);
	CHECK_EQ(uart_rx_room(uart), 16);
	outb(bus, IER, 0x01);
	CHECK_EQ(uart_rx_push(uart, buf, 5), 5);
	CHECK_EQ(inb(bus, IIR), 0xcc); /* below trigger: timeout at once */
	CHECK_EQ(uart_rx_push(uart, buf + 5, 15), 11);
	CHECK_EQ(inb(bus, IIR), 0xc4);
	CHECK_EQ(uart_rx_room(uart), 0);
	for (unsigned i = 0; i < 16; i++)
		CHECK_EQ(inb(bus, RBR), 'a' + i);
	CHECK_EQ(inb(bus, LSR) & 0x03, 0);
	CHECK_EQ(uart_rx_push(uart, buf, 3), 3);
	outb(bus, FCR, 0xc3); /* clear RX */
	CHECK_EQ(inb(bus, LSR) & 0x01, 0);
	CHECK_EQ(uart_rx_push(uart, buf, 3), 3);
	outb(bus, FCR, 0x00); /* FIFO off: both cleared */
	CHECK_EQ(inb(bus, LSR) & 0x01, 0);
	CHECK_EQ(inb(bus, IIR), 0x01);
	CHECK_EQ(uart_rx_room(uart), 1);
}

static void test_wide(void)
{
	setup();
	/* 16-bit read of LSR+MSR, 32-bit read of the top four registers. */
	CHECK_EQ(io_in(bus, LSR, 2), 0xb060);
	outb(bus, SCR, 0x77);
	CHECK_EQ(io_in(bus, BASE + 4, 4), 0x77b06000);
	io_in(bus, BASE + 6, 4);
	CHECK_EQ(io_rc, -ENOENT);
	io_out(bus, BASE, 0x4241, 2); /* THR 'A', IER 0x42 -> 0x02 */
	CHECK_EQ(nsent, 1);
	CHECK_EQ(inb(bus, IER), 0x02);
}

/* Host input waits until the guest looks for it; a start-up drain, FIFO
 * clear or loopback test before that loses nothing. */
static void test_rx_pacing(void)
{
	/* Typical driver start-up: IER 0, FIFO on and cleared, a loopback
	 * test, a read of RBR to drain: all before any input is let in. */
	setup();
	CHECK_EQ(uart_rx_room(uart), 0);
	CHECK_EQ(uart_rx_push(uart, (const uint8_t *)"help", 4), 0);
	outb(bus, IER, 0x00);
	outb(bus, FCR, 0xc7);
	outb(bus, MCR, 0x1e);
	outb(bus, RBR, 0xae);
	CHECK_EQ(inb(bus, LSR) & 0x01, 0x01); /* the looped-back byte */
	CHECK_EQ(inb(bus, RBR), 0xae);
	CHECK_EQ(inb(bus, LSR) & 0x01, 0x00); /* empty, but in loopback: still closed */
	outb(bus, MCR, 0x0f);
	CHECK_EQ(inb(bus, RBR), 0x00);
	CHECK_EQ(uart_rx_room(uart), 0);
	/* The drain loop's first LSR read finds nothing: now input comes. */
	CHECK_EQ(inb(bus, LSR), 0x60);
	CHECK_EQ(uart_rx_room(uart), 16);
	CHECK_EQ(uart_rx_push(uart, (const uint8_t *)"help", 4), 4);
	CHECK_EQ(inb(bus, LSR) & 0x01, 0x01);
	CHECK_EQ(inb(bus, RBR), 'h');
	/* An LSR read that finds data does not open the gate by itself... */
	struct uart_state st;
	setup();
	outb(bus, MCR, 0x1e);
	outb(bus, RBR, 'x');
	outb(bus, MCR, 0x0b);
	CHECK_EQ(inb(bus, LSR) & 0x01, 0x01);
	CHECK_EQ(uart_rx_room(uart), 0);
	/* ...enabling the received-data interrupt does (not with DLAB set). */
	outb(bus, LCR, 0x80);
	outb(bus, IER, 0x01);
	CHECK_EQ(uart_rx_room(uart), 0);
	outb(bus, LCR, 0x03);
	outb(bus, IER, 0x01);
	CHECK_EQ(uart_rx_room(uart), 0); /* open, but the FIFO is off and holds 'x' */
	CHECK_EQ(inb(bus, RBR), 'x');
	CHECK_EQ(uart_rx_room(uart), 1);
	/* The gate is part of the snapshot state. */
	uart_save(uart, &st);
	CHECK_EQ(st.rx_open, 1);
	setup();
	CHECK_EQ(uart_load(uart, &st), 0);
	CHECK_EQ(uart_rx_room(uart), 1);
	st.rx_open = 2;
	CHECK_EQ(uart_load(uart, &st), -EINVAL);
}

int main(void)
{
	RUN_TEST(test_reset_and_tx);
	RUN_TEST(test_divisor_latch);
	RUN_TEST(test_loopback);
	RUN_TEST(test_msr_deltas);
	RUN_TEST(test_iir_priorities);
	RUN_TEST(test_out2_gates_irq);
	RUN_TEST(test_fifo);
	RUN_TEST(test_wide);
	RUN_TEST(test_rx_pacing);
	uart_free(uart);
	bus_free(bus);
	return TEST_EXIT();
}
