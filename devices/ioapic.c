/* I/O APIC.  Facts from the Intel 82093AA datasheet: IOREGSEL/IOWIN,
 * registers 0 (ID, bits 27:24), 1 (version, maximum redirection entry in
 * bits 23:16), 2 (arbitration ID), 0x10 + 2n / 0x11 + 2n (entry n, low and
 * high dword), the entry's fields. */
#include "devices/ioapic.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Writable bits of an entry's low dword: vector, delivery mode, destination
 * mode, polarity, trigger mode, mask (delivery status and remote IRR are
 * read-only); the high dword holds the destination in bits 63:56. */
#define RE_WRITABLE_LO 0x1afffull
#define RE_DEST_MASK 0xff00000000000000ull

struct ioapic {
	ioapic_send_fn send;
	void *opaque;
	uint64_t redir[IOAPIC_PINS];
	uint32_t levels, id;
	uint8_t regsel;
};

struct ioapic *ioapic_new(ioapic_send_fn send, void *opaque)
{
	struct ioapic *io = calloc(1, sizeof(*io));

	if (!io)
		return NULL;
	io->send = send;
	io->opaque = opaque;
	for (int i = 0; i < IOAPIC_PINS; i++)
		io->redir[i] = IOAPIC_RE_MASKED;
	io->id = (uint32_t)IOAPIC_DEFAULT_ID << 24;
	return io;
}

void ioapic_free(struct ioapic *io)
{
	free(io);
}

static unsigned delivery_mode(uint64_t e)
{
	return (unsigned)(e >> 8) & 7;
}

static bool send(struct ioapic *io, uint64_t e)
{
	unsigned dm = delivery_mode(e);

	/* Fixed and lowest priority; NMI/SMI/INIT have nowhere to go and
	 * ExtINT is the 8259A's INTR (ioapic_extint_open). */
	if ((dm != 0 && dm != 1) || !io->send)
		return false;
	return io->send(io->opaque, (uint8_t)e, (e & IOAPIC_RE_LEVEL) != 0, (uint8_t)(e >> 56),
			(e & IOAPIC_RE_LOGICAL) != 0);
}

/* A level-triggered pin: send while asserted, unmasked and not in service. */
static void service_level(struct ioapic *io, unsigned pin)
{
	uint64_t *e = &io->redir[pin];

	if (!(*e & IOAPIC_RE_LEVEL) || (*e & (IOAPIC_RE_MASKED | IOAPIC_RE_REMOTE_IRR)) ||
	    !(io->levels & (1u << pin)))
		return;
	if (send(io, *e))
		*e |= IOAPIC_RE_REMOTE_IRR;
}

void ioapic_set_irq(struct ioapic *io, unsigned pin, int level)
{
	if (!io || pin >= IOAPIC_PINS)
		return;
	uint32_t m = 1u << pin;
	bool rising = level && !(io->levels & m);
	if (level)
		io->levels |= m;
	else
		io->levels &= ~m;
	uint64_t e = io->redir[pin];
	if (e & IOAPIC_RE_LEVEL)
		service_level(io, pin);
	else if (rising && !(e & IOAPIC_RE_MASKED))
		send(io, e);
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
	for (unsigned i = 0; i < IOAPIC_PINS; i++) {
		uint64_t *e = &io->redir[i];
		if ((*e & IOAPIC_RE_LEVEL) && (uint8_t)*e == vector && (*e & IOAPIC_RE_REMOTE_IRR)) {
			*e &= ~(uint64_t)IOAPIC_RE_REMOTE_IRR;
			service_level(io, i);
		}
	}
}

bool ioapic_extint_open(const struct ioapic *io)
{
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		if (!(io->redir[i] & IOAPIC_RE_MASKED) && delivery_mode(io->redir[i]) == 7)
			return true;
	return false;
}

bool ioapic_all_masked(const struct ioapic *io)
{
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		if (!(io->redir[i] & IOAPIC_RE_MASKED))
			return false;
	return true;
}

uint64_t ioapic_entry(const struct ioapic *io, unsigned pin)
{
	return pin < IOAPIC_PINS ? io->redir[pin] : 0;
}

static uint32_t reg_read(const struct ioapic *io, uint8_t idx)
{
	if (idx == 0)
		return io->id;
	if (idx == 1)
		return ((uint32_t)(IOAPIC_PINS - 1) << 16) | IOAPIC_VERSION;
	if (idx == 2)
		return io->id; /* arbitration ID: the ID after reset */
	if (idx >= 0x10 && idx < 0x10 + 2 * IOAPIC_PINS) {
		uint64_t e = io->redir[(idx - 0x10) >> 1];
		return (idx & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
	}
	return 0;
}

static void reg_write(struct ioapic *io, uint8_t idx, uint32_t v)
{
	if (idx == 0) {
		io->id = v & 0x0f000000u;
		return;
	}
	if (idx < 0x10 || idx >= 0x10 + 2 * IOAPIC_PINS)
		return; /* version, arbitration: read-only; the rest reserved */
	unsigned pin = (unsigned)(idx - 0x10) >> 1;
	uint64_t *e = &io->redir[pin];
	if (idx & 1) {
		*e = (*e & ~RE_DEST_MASK) | (((uint64_t)v << 32) & RE_DEST_MASK);
		return;
	}
	*e = (*e & (0xffffffff00000000ull | IOAPIC_RE_REMOTE_IRR)) | (v & RE_WRITABLE_LO);
	/* Remote IRR has no meaning for an edge entry. */
	if (!(*e & IOAPIC_RE_LEVEL))
		*e &= ~(uint64_t)IOAPIC_RE_REMOTE_IRR;
	/* Unmasking an asserted level pin sends it now. */
	service_level(io, pin);
}

int ioapic_mmio(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct ioapic *io = opaque;
	uint32_t v = 0;

	if (off == 0 && (len == 4 || (len == 1 && is_write))) {
		if (is_write)
			io->regsel = data[0];
		else
			memcpy(data, &(uint32_t){ io->regsel }, 4);
		return 0;
	}
	if (off != 0x10 || len != 4)
		return -EINVAL;
	if (is_write) {
		memcpy(&v, data, 4);
		reg_write(io, io->regsel, v);
	} else {
		v = reg_read(io, io->regsel);
		memcpy(data, &v, 4);
	}
	return 0;
}

int ioapic_attach(struct ioapic *io, struct bus *bus, uint64_t base)
{
	return bus_register(bus, BUS_MMIO, base, IOAPIC_MMIO_SIZE, ioapic_mmio, io, "ioapic");
}

void ioapic_save(const struct ioapic *io, struct ioapic_state *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->redir, io->redir, sizeof(s->redir));
	s->levels = io->levels;
	s->id = io->id;
	s->regsel = io->regsel;
}

int ioapic_load(struct ioapic *io, const struct ioapic_state *s)
{
	if ((s->levels >> IOAPIC_PINS) || (s->id & ~0x0f000000u))
		return -EINVAL;
	for (int i = 0; i < 7; i++)
		if (s->pad[i])
			return -EINVAL;
	for (int i = 0; i < IOAPIC_PINS; i++)
		if (s->redir[i] & ~(RE_DEST_MASK | RE_WRITABLE_LO | IOAPIC_RE_REMOTE_IRR))
			return -EINVAL;
	memcpy(io->redir, s->redir, sizeof(io->redir));
	io->levels = s->levels;
	io->id = s->id;
	io->regsel = s->regsel;
	return 0;
}
