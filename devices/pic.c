/* 8259A pair.  Priorities are kept as in the datasheet: priority_add is the
 * line that currently has the highest priority (0 until a rotate command),
 * and "priority p" means line (p + priority_add) & 7. */
#include "devices/pic.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct pic_chip {
	struct pic *pic;
	uint8_t irr, isr, imr;
	uint8_t level;        /* current input levels, for edge detection */
	uint8_t elcr;         /* 1 = level-triggered line */
	uint8_t elcr_mask;    /* ELCR bits that exist on this chip */
	uint8_t base;         /* vector of line 0 (ICW2 & 0xf8) */
	uint8_t priority_add; /* line with the highest priority */
	uint8_t icw3;
	uint8_t init_state;   /* 0 ready, 1 wants ICW2, 2 ICW3, 3 ICW4 */
	bool icw4_needed, single, ltim;
	bool auto_eoi, rotate_on_aeoi, special_mask, sfnm;
	bool read_isr, poll;
	bool is_master;
};

struct pic {
	struct pic_chip chip[2];
};

static void chip_reset(struct pic_chip *c)
{
	c->irr &= c->elcr & c->level; /* level-triggered lines still asserted */
	c->isr = 0;
	c->imr = 0;
	c->priority_add = 0;
	c->init_state = 0;
	c->auto_eoi = c->rotate_on_aeoi = c->special_mask = c->sfnm = false;
	c->read_isr = c->poll = false;
	c->single = c->ltim = false;
}

struct pic *pic_new(void)
{
	struct pic *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	for (int i = 0; i < 2; i++) {
		p->chip[i].pic = p;
		p->chip[i].is_master = i == 0;
		chip_reset(&p->chip[i]);
	}
	/* IRQ0-2 and IRQ8/IRQ13 are always edge (the PIIX ELCR forces them). */
	p->chip[0].elcr_mask = 0xf8;
	p->chip[1].elcr_mask = 0xde;
	/* What SeaBIOS leaves behind, so a guest booted without a BIOS and
	 * without its own PIC setup sees sane vectors, not exception numbers. */
	p->chip[0].base = 0x08;
	p->chip[1].base = 0x70;
	p->chip[0].icw3 = 0x04;
	p->chip[1].icw3 = 0x02;
	p->chip[0].imr = 0xfb;
	p->chip[1].imr = 0xff;
	return p;
}

void pic_free(struct pic *p)
{
	free(p);
}

/* Priority (0 highest) of the best bit in mask, 8 when empty. */
static int get_priority(const struct pic_chip *c, uint8_t mask)
{
	if (!mask)
		return 8;
	for (int p = 0; p < 8; p++)
		if (mask & (1u << ((p + c->priority_add) & 7)))
			return p;
	return 8;
}

/* Line that would be delivered now, or -1. */
static int chip_get_irq(const struct pic_chip *c)
{
	int req = get_priority(c, c->irr & ~c->imr);
	uint8_t in_service = c->isr;
	int cur;

	if (req == 8)
		return -1;
	/* Special mask mode lets masked in-service lines stop blocking. */
	if (c->special_mask)
		in_service &= ~c->imr;
	/* Special fully nested: the slave may interrupt its own service. */
	if (c->sfnm && c->is_master)
		in_service &= ~(1u << 2);
	cur = get_priority(c, in_service);
	if (req < cur)
		return (req + c->priority_add) & 7;
	return -1;
}

static void chip_set_input(struct pic_chip *c, unsigned bit, int level)
{
	uint8_t m = (uint8_t)(1u << bit);

	if (c->ltim || (c->elcr & m)) {
		if (level) {
			c->irr |= m;
			c->level |= m;
		} else {
			c->irr &= ~m;
			c->level &= ~m;
		}
		return;
	}
	if (level) {
		if (!(c->level & m))
			c->irr |= m;
		c->level |= m;
	} else {
		c->level &= ~m;
	}
}

/* The slave's INTR pin is wired to the master's IR2 input. */
static void pic_update(struct pic *p)
{
	chip_set_input(&p->chip[0], 2, chip_get_irq(&p->chip[1]) >= 0);
}

void pic_set_irq(struct pic *p, unsigned irq, int level)
{
	if (!p || irq > 15)
		return;
	chip_set_input(&p->chip[irq >> 3], irq & 7, level != 0);
	pic_update(p);
}

void pic_irq_fn(void *opaque, unsigned line, int level)
{
	pic_set_irq(opaque, line, level);
}

bool pic_pending(struct pic *p)
{
	return p && chip_get_irq(&p->chip[0]) >= 0;
}

bool pic_all_masked(const struct pic *p)
{
	const struct pic_chip *m = &p->chip[0], *s = &p->chip[1];
	/* Cascaded, the master's IRQ2 is the slave's output, not a line. */
	uint8_t cascade = m->single ? 0 : (uint8_t)(m->icw3 & 0x04);

	if ((uint8_t)~m->imr & (uint8_t)~cascade)
		return false;
	return !cascade || (m->imr & cascade) || s->imr == 0xff;
}

static void chip_intack(struct pic_chip *c, int irq)
{
	uint8_t m = (uint8_t)(1u << irq);

	/* A level-triggered request stays while its line is high. */
	if (!(c->ltim || (c->elcr & m)))
		c->irr &= ~m;
	if (c->auto_eoi) {
		if (c->rotate_on_aeoi)
			c->priority_add = (uint8_t)((irq + 1) & 7);
	} else {
		c->isr |= m;
	}
}

int pic_ack(struct pic *p)
{
	struct pic_chip *m = &p->chip[0], *s = &p->chip[1];
	int irq = chip_get_irq(m);
	int vec;

	if (irq < 0) {
		vec = m->base + 7;
	} else if (irq == 2 && !m->single) {
		int irq2 = chip_get_irq(s);
		chip_intack(m, 2);
		if (irq2 >= 0) {
			chip_intack(s, irq2);
			vec = s->base + irq2;
		} else {
			vec = s->base + 7;
		}
	} else {
		chip_intack(m, irq);
		vec = m->base + irq;
	}
	pic_update(p);
	return vec;
}

int pic_request_vector(struct pic *p, uint8_t vec)
{
	struct pic_chip *m = &p->chip[0], *s = &p->chip[1];

	if (vec >= m->base && vec < m->base + 8 && (vec - m->base != 2 || m->single))
		m->irr |= (uint8_t)(1u << (vec - m->base));
	else if (!m->single && vec >= s->base && vec < s->base + 8)
		s->irr |= (uint8_t)(1u << (vec - s->base));
	else
		return -1;
	pic_update(p);
	return 0;
}

int pic_ack_vector(struct pic *p, uint8_t vec)
{
	struct pic_chip *m = &p->chip[0], *s = &p->chip[1];

	if (vec >= m->base && vec < m->base + 8 && (vec - m->base != 2 || m->single)) {
		chip_intack(m, vec - m->base);
	} else if (!m->single && vec >= s->base && vec < s->base + 8) {
		chip_intack(m, 2);
		chip_intack(s, vec - s->base);
	} else {
		return -1;
	}
	pic_update(p);
	return 0;
}

static void chip_eoi(struct pic_chip *c, int irq, bool rotate)
{
	c->isr &= (uint8_t)~(1u << irq);
	if (rotate)
		c->priority_add = (uint8_t)((irq + 1) & 7);
}

static void write_command(struct pic_chip *c, uint8_t v)
{
	if (v & 0x10) { /* ICW1 */
		chip_reset(c);
		c->icw4_needed = v & 1;
		c->single = v & 2;
		c->ltim = v & 8;
		c->init_state = 1;
		return;
	}
	if (v & 0x08) { /* OCW3 */
		if (v & 0x04)
			c->poll = true;
		if (v & 0x02)
			c->read_isr = v & 1;
		if (v & 0x40)
			c->special_mask = (v >> 5) & 1;
		return;
	}
	/* OCW2 */
	switch (v >> 5) {
	case 0: /* rotate in auto-EOI mode: clear */
	case 4: /* set */
		c->rotate_on_aeoi = v >> 7;
		break;
	case 1: /* non-specific EOI */
	case 5: { /* rotate on non-specific EOI */
		int prio = get_priority(c, c->isr);
		if (prio != 8)
			chip_eoi(c, (prio + c->priority_add) & 7, v & 0x80);
		break;
	}
	case 3: /* specific EOI */
	case 7: /* rotate on specific EOI */
		chip_eoi(c, v & 7, v & 0x80);
		break;
	case 6: /* set priority: line v&7 becomes the lowest */
		c->priority_add = (uint8_t)((v + 1) & 7);
		break;
	default: /* 2: no operation */
		break;
	}
}

static void write_data(struct pic_chip *c, uint8_t v)
{
	switch (c->init_state) {
	case 0: /* OCW1 */
		c->imr = v;
		break;
	case 1: /* ICW2 */
		c->base = v & 0xf8;
		c->init_state = c->single ? (c->icw4_needed ? 3 : 0) : 2;
		break;
	case 2: /* ICW3 */
		c->icw3 = v;
		c->init_state = c->icw4_needed ? 3 : 0;
		break;
	default: /* ICW4; microprocessor mode and buffering are moot here */
		c->auto_eoi = v & 2;
		c->sfnm = v & 0x10;
		c->init_state = 0;
		break;
	}
}

/* Poll command: the read acts as an acknowledge without a vector cycle. */
static uint8_t poll_read(struct pic *p, struct pic_chip *c)
{
	int irq = chip_get_irq(c);

	c->poll = false;
	if (irq < 0)
		return 0;
	chip_intack(c, irq);
	if (!c->is_master) {
		/* The master saw this as a request on IR2 and never got an INTA. */
		p->chip[0].irr &= ~(1u << 2);
		p->chip[0].isr &= ~(1u << 2);
	}
	return (uint8_t)(0x80 | irq);
}

static uint8_t chip_io(struct pic_chip *c, unsigned port, uint8_t v, bool is_write)
{
	struct pic *p = c->pic;
	uint8_t r = 0;

	if (is_write) {
		if (port == 0)
			write_command(c, v);
		else
			write_data(c, v);
	} else if (c->poll) {
		r = poll_read(p, c);
	} else if (port == 0) {
		r = c->read_isr ? c->isr : c->irr;
	} else {
		r = c->imr;
	}
	pic_update(p);
	return r;
}

/* Wider accesses are split into bytes at consecutive ports, as an ISA
 * bus cycle splitter would. */
static int chip_handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			bool is_write)
{
	for (uint32_t i = 0; i < len; i++)
		data[i] = chip_io(opaque, (unsigned)((off + i) & 1), data[i], is_write);
	return 0;
}

static int elcr_handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			bool is_write)
{
	struct pic *p = opaque;

	for (uint32_t i = 0; i < len; i++) {
		struct pic_chip *c = &p->chip[(off + i) & 1];
		if (is_write) {
			c->elcr = data[i] & c->elcr_mask;
		} else {
			data[i] = c->elcr;
		}
	}
	if (is_write)
		pic_update(p);
	return 0;
}

void pic_save(const struct pic *p, struct pic_state *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 2; i++) {
		const struct pic_chip *c = &p->chip[i];
		struct pic_chip_state *cs = &s->chip[i];
		cs->irr = c->irr;
		cs->isr = c->isr;
		cs->imr = c->imr;
		cs->level = c->level;
		cs->elcr = c->elcr;
		cs->base = c->base;
		cs->priority_add = c->priority_add;
		cs->icw3 = c->icw3;
		cs->init_state = c->init_state;
		cs->icw4_needed = c->icw4_needed;
		cs->single = c->single;
		cs->ltim = c->ltim;
		cs->auto_eoi = c->auto_eoi;
		cs->rotate_on_aeoi = c->rotate_on_aeoi;
		cs->special_mask = c->special_mask;
		cs->sfnm = c->sfnm;
		cs->read_isr = c->read_isr;
		cs->poll = c->poll;
	}
}

int pic_load(struct pic *p, const struct pic_state *s)
{
	for (int i = 0; i < 2; i++) {
		const struct pic_chip_state *cs = &s->chip[i];
		if (cs->priority_add > 7 || cs->init_state > 3 || (cs->base & 7) ||
		    (cs->elcr & ~p->chip[i].elcr_mask) || cs->icw4_needed > 1 || cs->single > 1 ||
		    cs->ltim > 1 || cs->auto_eoi > 1 || cs->rotate_on_aeoi > 1 || cs->special_mask > 1 ||
		    cs->sfnm > 1 || cs->read_isr > 1 || cs->poll > 1)
			return -EINVAL;
	}
	for (int i = 0; i < 2; i++) {
		struct pic_chip *c = &p->chip[i];
		const struct pic_chip_state *cs = &s->chip[i];
		c->irr = cs->irr;
		c->isr = cs->isr;
		c->imr = cs->imr;
		c->level = cs->level;
		c->elcr = cs->elcr;
		c->base = cs->base;
		c->priority_add = cs->priority_add;
		c->icw3 = cs->icw3;
		c->init_state = cs->init_state;
		c->icw4_needed = cs->icw4_needed;
		c->single = cs->single;
		c->ltim = cs->ltim;
		c->auto_eoi = cs->auto_eoi;
		c->rotate_on_aeoi = cs->rotate_on_aeoi;
		c->special_mask = cs->special_mask;
		c->sfnm = cs->sfnm;
		c->read_isr = cs->read_isr;
		c->poll = cs->poll;
	}
	return 0;
}

int pic_attach(struct pic *p, struct bus *bus)
{
	int r;

	if ((r = bus_register(bus, BUS_PIO, 0x20, 2, chip_handler, &p->chip[0], "pic-master")))
		return r;
	if ((r = bus_register(bus, BUS_PIO, 0xa0, 2, chip_handler, &p->chip[1], "pic-slave")))
		return r;
	return bus_register(bus, BUS_PIO, 0x4d0, 2, elcr_handler, p, "elcr");
}
