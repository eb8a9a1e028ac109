/* Port I/O helpers for device unit tests: every access goes through a real
 * struct bus, the way the monitor's exit handler drives the devices. */
#ifndef TTVM_TESTS_UNIT_DEVTEST_H
#define TTVM_TESTS_UNIT_DEVTEST_H
#include <stdint.h>

#include "devices/bus.h"

static int io_rc; /* bus_access result of the last helper call */

static inline uint64_t io_in(struct bus *b, uint16_t port, uint32_t len)
{
	uint8_t d[8] = { 0 };
	uint64_t v = 0;

	io_rc = bus_access(b, BUS_PIO, port, d, len, false);
	for (uint32_t i = 0; i < len && i < 8; i++)
		v |= (uint64_t)d[i] << (8 * i);
	return v;
}

static inline void io_out(struct bus *b, uint16_t port, uint64_t v, uint32_t len)
{
	uint8_t d[8];

	for (uint32_t i = 0; i < 8; i++)
		d[i] = (uint8_t)(v >> (8 * i));
	io_rc = bus_access(b, BUS_PIO, port, d, len, true);
}

static inline uint8_t inb(struct bus *b, uint16_t port)
{
	return (uint8_t)io_in(b, port, 1);
}

static inline void outb(struct bus *b, uint16_t port, uint8_t v)
{
	io_out(b, port, v, 1);
}

/* Records calls of a dev_stop. */
struct stop_rec {
	int count;
	enum dev_stop_reason why;
	int status;
};

static inline void stop_rec_fn(void *opaque, enum dev_stop_reason why, int status)
{
	struct stop_rec *r = opaque;

	r->count++;
	r->why = why;
	r->status = status;
}

/* Records an interrupt line: its level and the number of rising edges. */
struct irq_rec {
	int level;
	int rises;
};

static inline void irq_rec_fn(void *opaque, unsigned line, int level)
{
	struct irq_rec *r = opaque;

	if (level && !r->level)
		r->rises++;
	r->level = level;
}

#endif
