/* 16550A model.  Interrupt sources and their IIR codes follow the datasheet
 * priority order; a received character below the FIFO trigger level reports
 * the character-timeout code at once, since there is no real line timing.
 *
 * Host input is paced: none is taken until the guest first shows that it
 * waits for input (it enables the received-data interrupt, or reads LSR and
 * finds no data).  On a real line the first byte comes long after the
 * driver's start-up, which may clear the FIFO, run a loopback test or read
 * RBR to drain it; with a file as input every byte would be there from the
 * first instruction, and the start-up would eat it.  The gate depends on
 * guest accesses only, so it is deterministic; record/replay logs what the
 * guest reads either way. */
#include "devices/uart.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FIFO_SIZE 16

#define IER_RDI 0x01  /* received data available */
#define IER_THRI 0x02 /* THR empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI 0x08  /* modem status */

#define IIR_NONE 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_TIMEOUT 0x0c
#define IIR_FIFO 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

struct uart {
	struct irq_line irq;
	uart_tx_fn tx;
	void *tx_opaque;
	uint8_t rx[FIFO_SIZE];
	unsigned rx_head, rx_count;
	uint8_t ier, lcr, mcr, scr, fcr;
	uint8_t lsr_err;   /* sticky error bits of LSR (OE), cleared by reading LSR */
	uint8_t msr_delta; /* delta bits of MSR, cleared by reading MSR */
	uint8_t msr_lines; /* current CTS/DSR/RI/DCD bits */
	uint16_t divisor;
	bool thri;         /* THR-empty interrupt pending */
	bool rx_open;      /* the guest has looked for input: host bytes may come */
	int irq_level;
};

static unsigned rx_capacity(const struct uart *u)
{
	return (u->fcr & FCR_ENABLE) ? FIFO_SIZE : 1;
}

static unsigned rx_trigger(const struct uart *u)
{
	static const unsigned level[4] = { 1, 4, 8, 14 };

	return (u->fcr & FCR_ENABLE) ? level[u->fcr >> 6] : 1;
}

static uint8_t iir_code(const struct uart *u)
{
	if ((u->ier & IER_RLSI) && u->lsr_err)
		return IIR_RLSI;
	if ((u->ier & IER_RDI) && u->rx_count)
		return u->rx_count >= rx_trigger(u) ? IIR_RDI : IIR_TIMEOUT;
	if ((u->ier & IER_THRI) && u->thri)
		return IIR_THRI;
	if ((u->ier & IER_MSI) && u->msr_delta)
		return IIR_MSI;
	return IIR_NONE;
}

static void update_irq(struct uart *u)
{
	/* On a PC the OUT2 pin enables the IRQ driver; in loopback the chip
	 * forces its modem outputs inactive, so nothing reaches the PIC. */
	int level = iir_code(u) != IIR_NONE && (u->mcr & MCR_OUT2) && !(u->mcr & MCR_LOOP);

	if (level != u->irq_level) {
		u->irq_level = level;
		irq_set(&u->irq, level);
	}
}

/* Modem status inputs: looped back from MCR, or a terminal that is always
 * there (CTS, DSR, DCD up) so that guests with flow control still send. */
static void update_msr(struct uart *u)
{
	uint8_t lines, changed;

	if (u->mcr & MCR_LOOP)
		lines = (uint8_t)(((u->mcr & MCR_RTS) ? MSR_CTS : 0) | ((u->mcr & MCR_DTR) ? MSR_DSR : 0) |
				  ((u->mcr & MCR_OUT1) ? MSR_RI : 0) | ((u->mcr & MCR_OUT2) ? MSR_DCD : 0));
	else
		lines = MSR_CTS | MSR_DSR | MSR_DCD;
	changed = lines ^ u->msr_lines;
	if (changed & MSR_CTS)
		u->msr_delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		u->msr_delta |= MSR_DDSR;
	if (changed & MSR_DCD)
		u->msr_delta |= MSR_DDCD;
	if ((changed & MSR_RI) && !(lines & MSR_RI)) /* trailing edge only */
		u->msr_delta |= MSR_TERI;
	u->msr_lines = lines;
}

static void rx_put(struct uart *u, uint8_t b)
{
	if (u->rx_count >= rx_capacity(u)) {
		u->lsr_err |= LSR_OE; /* the shift register's byte is lost */
		return;
	}
	u->rx[(u->rx_head + u->rx_count) % FIFO_SIZE] = b;
	u->rx_count++;
}

static uint8_t rx_get(struct uart *u)
{
	uint8_t b;

	if (!u->rx_count)
		return 0;
	b = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % FIFO_SIZE;
	u->rx_count--;
	return b;
}

static void rx_clear(struct uart *u)
{
	u->rx_head = u->rx_count = 0;
}

void uart_rx_drop(struct uart *u)
{
	rx_clear(u);
	update_irq(u);
}

static void write_reg(struct uart *u, unsigned reg, uint8_t v)
{
	switch (reg) {
	case 0:
		if (u->lcr & LCR_DLAB) {
			u->divisor = (uint16_t)((u->divisor & 0xff00) | v);
			break;
		}
		if (u->mcr & MCR_LOOP)
			rx_put(u, v);
		else if (u->tx)
			u->tx(u->tx_opaque, v);
		/* The byte left at once, so THR is empty again. */
		u->thri = true;
		break;
	case 1:
		if (u->lcr & LCR_DLAB) {
			u->divisor = (uint16_t)((u->divisor & 0x00ff) | v << 8);
			break;
		}
		/* Enabling the THR interrupt while THR is empty raises it. */
		if ((v & IER_THRI) && !(u->ier & IER_THRI))
			u->thri = true;
		if (v & IER_RDI)
			u->rx_open = true;
		u->ier = v & 0x0f;
		break;
	case 2:
		if ((v ^ u->fcr) & FCR_ENABLE)
			rx_clear(u); /* switching FIFO mode empties both FIFOs */
		if (v & FCR_CLEAR_RX)
			rx_clear(u);
		/* Clear bits self-reset; DMA mode is meaningless here. */
		u->fcr = v & (FCR_ENABLE | 0xc0);
		break;
	case 3:
		u->lcr = v;
		break;
	case 4:
		u->mcr = v & 0x1f;
		update_msr(u);
		break;
	case 5: /* LSR: writes are a factory test, ignored */
	case 6: /* MSR: read-only */
		break;
	default:
		u->scr = v;
		break;
	}
}

static uint8_t read_reg(struct uart *u, unsigned reg)
{
	uint8_t v;

	switch (reg) {
	case 0:
		if (u->lcr & LCR_DLAB)
			return (uint8_t)u->divisor;
		return rx_get(u);
	case 1:
		if (u->lcr & LCR_DLAB)
			return (uint8_t)(u->divisor >> 8);
		return u->ier;
	case 2:
		v = iir_code(u);
		/* Reading IIR acknowledges a THR-empty interrupt it reports. */
		if (v == IIR_THRI)
			u->thri = false;
		return (uint8_t)(v | ((u->fcr & FCR_ENABLE) ? IIR_FIFO : 0));
	case 3:
		return u->lcr;
	case 4:
		return u->mcr;
	case 5:
		v = (uint8_t)(LSR_THRE | LSR_TEMT | u->lsr_err | (u->rx_count ? LSR_DR : 0));
		u->lsr_err = 0;
		/* Polled an empty receiver with the line connected: a driver
		 * waiting for input (or done draining it). */
		if (!u->rx_count && !(u->mcr & MCR_LOOP))
			u->rx_open = true;
		return v;
	case 6:
		v = u->msr_lines | u->msr_delta;
		u->msr_delta = 0;
		return v;
	default:
		return u->scr;
	}
}

static int uart_handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			bool is_write)
{
	struct uart *u = opaque;

	/* Wider accesses are split into bytes at consecutive registers. */
	for (uint32_t i = 0; i < len; i++) {
		unsigned reg = (unsigned)((off + i) & 7);
		if (is_write)
			write_reg(u, reg, data[i]);
		else
			data[i] = read_reg(u, reg);
	}
	update_irq(u);
	return 0;
}

size_t uart_rx_room(struct uart *u)
{
	if ((u->mcr & MCR_LOOP) || !u->rx_open)
		return 0;
	return rx_capacity(u) - u->rx_count;
}

size_t uart_rx_push(struct uart *u, const uint8_t *buf, size_t n)
{
	size_t room = uart_rx_room(u), i;

	for (i = 0; i < n && i < room; i++)
		rx_put(u, buf[i]);
	update_irq(u);
	return i;
}

struct uart *uart_new(struct irq_line irq, uart_tx_fn tx, void *tx_opaque)
{
	struct uart *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->irq = irq;
	u->tx = tx;
	u->tx_opaque = tx_opaque;
	u->divisor = 12; /* 9600 baud, what a BIOS programs */
	update_msr(u);
	u->msr_delta = 0; /* no change is reported for the power-on state */
	return u;
}

void uart_free(struct uart *u)
{
	free(u);
}

void uart_save(const struct uart *u, struct uart_state *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->rx, u->rx, sizeof(s->rx));
	s->rx_head = (uint8_t)u->rx_head;
	s->rx_count = (uint8_t)u->rx_count;
	s->ier = u->ier;
	s->lcr = u->lcr;
	s->mcr = u->mcr;
	s->scr = u->scr;
	s->fcr = u->fcr;
	s->lsr_err = u->lsr_err;
	s->msr_delta = u->msr_delta;
	s->msr_lines = u->msr_lines;
	s->thri = u->thri;
	s->rx_open = u->rx_open;
	s->irq_level = (uint8_t)u->irq_level;
	s->divisor = u->divisor;
}

int uart_load(struct uart *u, const struct uart_state *s)
{
	/* Only states the model itself can reach: the FIFO indexes above all. */
	if (s->rx_head >= FIFO_SIZE || s->rx_count > ((s->fcr & FCR_ENABLE) ? FIFO_SIZE : 1) ||
	    (s->ier & ~0x0f) || (s->mcr & ~0x1f) || (s->fcr & ~(FCR_ENABLE | 0xc0)) ||
	    (s->lsr_err & ~LSR_OE) || (s->msr_delta & ~0x0f) || (s->msr_lines & 0x0f) || s->thri > 1 ||
	    s->irq_level > 1 || s->rx_open > 1)
		return -EINVAL;
	memcpy(u->rx, s->rx, sizeof(u->rx));
	u->rx_head = s->rx_head;
	u->rx_count = s->rx_count;
	u->ier = s->ier;
	u->lcr = s->lcr;
	u->mcr = s->mcr;
	u->scr = s->scr;
	u->fcr = s->fcr;
	u->lsr_err = s->lsr_err;
	u->msr_delta = s->msr_delta;
	u->msr_lines = s->msr_lines;
	u->thri = s->thri;
	u->rx_open = s->rx_open;
	u->irq_level = s->irq_level;
	u->divisor = s->divisor;
	return 0;
}

int uart_attach(struct uart *u, struct bus *bus, uint16_t base)
{
	return bus_register(bus, BUS_PIO, base, 8, uart_handler, u, "uart");
}
