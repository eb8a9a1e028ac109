/* 8254 model.  A channel keeps the tick at which its count was loaded (or
 * its gate triggered it); the count and OUT at any time follow from the
 * ticks elapsed since, so nothing needs to run between guest reads. */
#include "devices/pit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1000000000ull
#define NO_EDGE UINT64_MAX
/* DRAM refresh request period on a PC (the toggle in port B bit 4). */
#define REFRESH_NS 15085u

struct pit_channel {
	uint8_t mode;     /* 0..5 */
	uint8_t rw;       /* 1 = lsb, 2 = msb, 3 = lsb then msb */
	bool bcd;
	bool gate;
	bool loaded;      /* a count was written since the control word */
	bool counting;    /* elapsed ticks advance (see ch_elapsed) */
	uint32_t reload;  /* 1..65536 (1..10000 in BCD) */
	uint64_t start;   /* tick the current count started from */
	uint64_t frozen;  /* elapsed ticks while not counting */
	uint16_t held;    /* what a read shows before a count is loaded */
	bool count_latched, latch_hi;
	uint16_t latch;
	bool status_latched;
	uint8_t status;
	bool read_hi, write_hi;
	uint8_t write_lsb;
};

struct pit {
	struct ttvm_clock *clk;
	struct irq_line irq0;
	struct pit_channel ch[3];
	uint64_t next_irq; /* tick of channel 0's next rising OUT edge */
	uint8_t portb;     /* writable bits 0-3 of port 0x61 */
};

static uint64_t ns_to_ticks(uint64_t ns)
{
	/* Split so that neither product can overflow 64 bits. */
	return (ns / NS_PER_S) * PIT_HZ + (ns % NS_PER_S) * PIT_HZ / NS_PER_S;
}

/* First virtual time at which ns_to_ticks() reaches t. */
static uint64_t ticks_to_ns(uint64_t t)
{
	uint64_t q = t / PIT_HZ, r = t % PIT_HZ;

	if (q >= UINT64_MAX / NS_PER_S - 1)
		return UINT64_MAX;
	return q * NS_PER_S + (r * NS_PER_S + PIT_HZ - 1) / PIT_HZ;
}

static uint64_t now_ticks(struct pit *p)
{
	return ns_to_ticks(clock_now_ns(p->clk));
}

static uint64_t ch_elapsed(const struct pit_channel *c, uint64_t now)
{
	if (!c->counting)
		return c->frozen;
	return now >= c->start ? now - c->start : 0;
}

static int ch_out(const struct pit_channel *c, uint64_t now)
{
	uint64_t n = c->reload, e = ch_elapsed(c, now);

	if (!c->loaded)
		return c->mode != 0;
	switch (c->mode) {
	case 0: /* interrupt on terminal count: low until it */
		return e >= n;
	case 1: /* hardware one-shot: low from the trigger to terminal count */
		return !c->counting || e >= n;
	case 2: /* rate generator: low for the one tick at count 1 */
		return !c->counting || e % n != n - 1;
	case 3: /* square wave: high for the first (larger) half */
		return !c->counting || e % n < (n + 1) / 2;
	case 4: /* software strobe: low for one tick at terminal count */
		return e != n;
	default: /* 5: hardware strobe */
		return !c->counting || e != n;
	}
}

static uint16_t to_bcd(uint32_t v)
{
	return (uint16_t)((v % 10) | (v / 10 % 10) << 4 | (v / 100 % 10) << 8 |
			  (v / 1000 % 10) << 12);
}

static uint16_t ch_count(const struct pit_channel *c, uint64_t now)
{
	uint64_t n = c->reload, e = ch_elapsed(c, now);
	uint64_t mod = c->bcd ? 10000 : 65536;
	uint64_t v;

	if (!c->loaded || ((c->mode == 1 || c->mode == 5) && !c->counting))
		return c->held;
	switch (c->mode) {
	case 2:
		v = n - e % n;
		break;
	case 3: /* counts down by two, twice per period */
		v = (n - (2 * (e % n)) % n) & ~1ull;
		break;
	default: /* 0, 1, 4, 5 keep counting (wrapping) after terminal count */
		v = n + mod - e % mod;
		break;
	}
	v %= mod;
	return c->bcd ? to_bcd((uint32_t)v) : (uint16_t)v;
}

/* Channel 0's next rising OUT edge strictly after tick now. */
static uint64_t ch0_next_edge(const struct pit *p, uint64_t now)
{
	const struct pit_channel *c = &p->ch[0];
	uint64_t n = c->reload, edge;

	if (!c->loaded || !c->counting)
		return NO_EDGE;
	switch (c->mode) {
	case 0:
		edge = c->start + n;
		break;
	case 4:
		edge = c->start + n + 1;
		break;
	case 2:
	case 3:
		if (now < c->start)
			return c->start + n;
		return c->start + ((now - c->start) / n + 1) * n;
	default:
		return NO_EDGE;
	}
	return edge > now ? edge : NO_EDGE;
}

static void ch_set_gate(struct pit_channel *c, bool gate, uint64_t now)
{
	bool rising = gate && !c->gate;

	if (gate == c->gate)
		return;
	c->gate = gate;
	if (!c->loaded)
		return;
	switch (c->mode) {
	case 0:
	case 4: /* the gate only suspends counting */
		if (rising) {
			c->start = now - c->frozen;
			c->counting = true;
		} else {
			c->frozen = ch_elapsed(c, now);
			c->counting = false;
		}
		break;
	case 2:
	case 3: /* low stops the count and forces OUT high; high reloads */
		if (rising) {
			c->start = now;
			c->counting = true;
		} else {
			c->frozen = ch_elapsed(c, now);
			c->counting = false;
		}
		break;
	default: /* 1, 5: a rising edge (re)triggers */
		if (rising) {
			c->start = now;
			c->counting = true;
		}
		break;
	}
}

static void ch_load(struct pit *p, struct pit_channel *c, uint32_t v)
{
	uint64_t now = now_ticks(p);

	if (c->bcd) {
		v = (v & 15) + (v >> 4 & 15) * 10 + (v >> 8 & 15) * 100 + (v >> 12 & 15) * 1000;
		v %= 10000;
		if (v == 0)
			v = 10000;
	} else if (v == 0) {
		v = 65536;
	}
	c->reload = v;
	c->loaded = true;
	c->frozen = 0;
	c->start = now;
	/* Modes 1 and 5 wait for a gate edge; the others run while it is high. */
	c->counting = c->gate && c->mode != 1 && c->mode != 5;
	if (c == &p->ch[0])
		p->next_irq = ch0_next_edge(p, now);
}

static void ch_set_mode(struct pit *p, struct pit_channel *c, uint8_t v)
{
	uint64_t now = now_ticks(p);

	c->held = ch_count(c, now);
	c->rw = (v >> 4) & 3;
	c->mode = (v >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4; /* 6 and 7 are aliases of 2 and 3 */
	c->bcd = v & 1;
	c->loaded = false;
	c->counting = false;
	c->count_latched = c->status_latched = false;
	c->read_hi = c->write_hi = false;
	if (c == &p->ch[0])
		p->next_irq = NO_EDGE;
}

static void ch_latch_count(struct pit_channel *c, uint64_t now)
{
	/* A second latch before the first was read is ignored. */
	if (c->count_latched)
		return;
	c->latch = ch_count(c, now);
	c->count_latched = true;
	c->latch_hi = false;
}

static void ch_latch_status(struct pit_channel *c, uint64_t now)
{
	if (c->status_latched)
		return;
	c->status = (uint8_t)(ch_out(c, now) << 7 | (!c->loaded) << 6 | c->rw << 4 |
			      c->mode << 1 | c->bcd);
	c->status_latched = true;
}

static void write_control(struct pit *p, uint8_t v)
{
	uint64_t now = now_ticks(p);
	unsigned sc = v >> 6;

	if (sc == 3) { /* read-back: bits 1-3 select, active-low latch flags */
		for (unsigned i = 0; i < 3; i++) {
			if (!(v & (2u << i)))
				continue;
			if (!(v & 0x20))
				ch_latch_count(&p->ch[i], now);
			if (!(v & 0x10))
				ch_latch_status(&p->ch[i], now);
		}
		return;
	}
	if (((v >> 4) & 3) == 0)
		ch_latch_count(&p->ch[sc], now);
	else
		ch_set_mode(p, &p->ch[sc], v);
}

static uint8_t read_channel(struct pit *p, struct pit_channel *c)
{
	uint16_t v;

	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->count_latched) {
		v = c->latch;
		if (c->rw == 3 && !c->latch_hi) {
			c->latch_hi = true;
			return (uint8_t)v;
		}
		c->count_latched = false;
		return c->rw == 2 || c->rw == 3 ? (uint8_t)(v >> 8) : (uint8_t)v;
	}
	v = ch_count(c, now_ticks(p));
	switch (c->rw) {
	case 2:
		return (uint8_t)(v >> 8);
	case 3:
		c->read_hi = !c->read_hi;
		return c->read_hi ? (uint8_t)v : (uint8_t)(v >> 8);
	default:
		return (uint8_t)v;
	}
}

static void write_channel(struct pit *p, struct pit_channel *c, uint8_t v)
{
	switch (c->rw) {
	case 2:
		ch_load(p, c, (uint32_t)v << 8);
		break;
	case 3:
		if (!c->write_hi) {
			c->write_lsb = v;
			c->write_hi = true;
		} else {
			c->write_hi = false;
			ch_load(p, c, c->write_lsb | (uint32_t)v << 8);
		}
		break;
	default:
		ch_load(p, c, v);
		break;
	}
}

static int pit_handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		       bool is_write)
{
	struct pit *p = opaque;

	/* Wider accesses are split into bytes at consecutive ports. */
	for (uint32_t i = 0; i < len; i++) {
		unsigned port = (unsigned)((off + i) & 3);
		if (port == 3) {
			if (is_write)
				write_control(p, data[i]);
			else
				data[i] = 0xff; /* the control word is write-only */
		} else if (is_write) {
			write_channel(p, &p->ch[port], data[i]);
		} else {
			data[i] = read_channel(p, &p->ch[port]);
		}
	}
	return 0;
}

static int portb_handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			 bool is_write)
{
	struct pit *p = opaque;
	uint64_t ns = clock_now_ns(p->clk);

	if (is_write) {
		/* Only the low four bits are latches; a wider write sets them from
		 * the first byte, as the only byte that lands on port 0x61. */
		p->portb = data[0] & 0x0f;
		ch_set_gate(&p->ch[2], p->portb & 1, ns_to_ticks(ns));
		return 0;
	}
	data[0] = (uint8_t)(p->portb | ((ns / REFRESH_NS) & 1) << 4 |
			    ch_out(&p->ch[2], ns_to_ticks(ns)) << 5);
	for (uint32_t i = 1; i < len; i++)
		data[i] = 0xff;
	return 0;
}

uint64_t pit_timer(void *opaque, uint64_t now_ns)
{
	struct pit *p = opaque;
	uint64_t now = ns_to_ticks(now_ns);

	if (p->next_irq == NO_EDGE)
		return UINT64_MAX;
	if (now >= p->next_irq) {
		/* One pulse however many edges were missed: a late caller must
		 * not get a burst of stale ticks. */
		irq_set(&p->irq0, 1);
		irq_set(&p->irq0, 0);
		p->next_irq = ch0_next_edge(p, now);
	}
	return p->next_irq == NO_EDGE ? UINT64_MAX : ticks_to_ns(p->next_irq);
}

int pit_out(struct pit *p, unsigned ch)
{
	if (!p || ch > 2)
		return 1;
	return ch_out(&p->ch[ch], now_ticks(p));
}

struct pit *pit_new(struct ttvm_clock *clk, struct irq_line irq0)
{
	struct pit *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->clk = clk;
	p->irq0 = irq0;
	for (unsigned i = 0; i < 3; i++) {
		struct pit_channel *c = &p->ch[i];
		c->gate = i != 2; /* channel 2's gate is port 0x61 bit 0, reset 0 */
		ch_set_mode(p, c, (uint8_t)(i << 6 | 0x36));
		ch_load(p, c, 0);
	}
	return p;
}

void pit_free(struct pit *p)
{
	free(p);
}

void pit_save(const struct pit *p, struct pit_state *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 3; i++) {
		const struct pit_channel *c = &p->ch[i];
		struct pit_channel_state *cs = &s->ch[i];
		cs->start = c->start;
		cs->frozen = c->frozen;
		cs->reload = c->reload;
		cs->held = c->held;
		cs->latch = c->latch;
		cs->mode = c->mode;
		cs->rw = c->rw;
		cs->bcd = c->bcd;
		cs->gate = c->gate;
		cs->loaded = c->loaded;
		cs->counting = c->counting;
		cs->count_latched = c->count_latched;
		cs->latch_hi = c->latch_hi;
		cs->status_latched = c->status_latched;
		cs->status = c->status;
		cs->read_hi = c->read_hi;
		cs->write_hi = c->write_hi;
		cs->write_lsb = c->write_lsb;
	}
	s->next_irq = p->next_irq;
	s->portb = p->portb;
}

int pit_load(struct pit *p, const struct pit_state *s)
{
	for (int i = 0; i < 3; i++) {
		const struct pit_channel_state *cs = &s->ch[i];
		/* reload divides: 0 would crash the model, and it never holds one. */
		if (cs->mode > 5 || cs->rw > 3 || cs->reload < 1 || cs->reload > 65536 || cs->bcd > 1 ||
		    cs->gate > 1 || cs->loaded > 1 || cs->counting > 1 || cs->count_latched > 1 ||
		    cs->latch_hi > 1 || cs->status_latched > 1 || cs->read_hi > 1 || cs->write_hi > 1)
			return -EINVAL;
	}
	if (s->portb & ~0x0f)
		return -EINVAL;
	for (int i = 0; i < 3; i++) {
		struct pit_channel *c = &p->ch[i];
		const struct pit_channel_state *cs = &s->ch[i];
		c->start = cs->start;
		c->frozen = cs->frozen;
		c->reload = cs->reload;
		c->held = cs->held;
		c->latch = cs->latch;
		c->mode = cs->mode;
		c->rw = cs->rw;
		c->bcd = cs->bcd;
		c->gate = cs->gate;
		c->loaded = cs->loaded;
		c->counting = cs->counting;
		c->count_latched = cs->count_latched;
		c->latch_hi = cs->latch_hi;
		c->status_latched = cs->status_latched;
		c->status = cs->status;
		c->read_hi = cs->read_hi;
		c->write_hi = cs->write_hi;
		c->write_lsb = cs->write_lsb;
	}
	p->next_irq = s->next_irq;
	p->portb = s->portb;
	return 0;
}

int pit_attach(struct pit *p, struct bus *bus)
{
	int r;

	if ((r = bus_register(bus, BUS_PIO, 0x40, 4, pit_handler, p, "pit")))
		return r;
	if ((r = bus_register(bus, BUS_PIO, 0x61, 1, portb_handler, p, "port-b")))
		return r;
	return bus_add_timer(bus, pit_timer, p);
}
