/* The port I/O / MMIO registry: one sorted array of ranges per space, so a
 * lookup is a binary search and an overlap is found by looking at the two
 * neighbours of the insertion point. */
#include "devices/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct bus_range {
	uint64_t base;
	uint64_t last; /* inclusive, so a range may end at UINT64_MAX */
	bus_handler_fn fn;
	void *opaque;
	const char *name;
};

struct bus_table {
	struct bus_range *r;
	size_t n, cap;
};

struct bus_timer {
	bus_timer_fn fn;
	void *opaque;
};

struct bus {
	struct bus_table space[2];
	struct bus_timer *timers;
	size_t ntimers, timers_cap;
};

struct bus *bus_new(void)
{
	return calloc(1, sizeof(struct bus));
}

void bus_free(struct bus *bus)
{
	if (!bus)
		return;
	free(bus->space[BUS_PIO].r);
	free(bus->space[BUS_MMIO].r);
	free(bus->timers);
	free(bus);
}

static struct bus_table *table(struct bus *bus, enum bus_space space)
{
	if (!bus || (space != BUS_PIO && space != BUS_MMIO))
		return NULL;
	return &bus->space[space];
}

/* Index of the first range whose base is > addr (0..n). */
static size_t upper_bound(const struct bus_table *t, uint64_t addr)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->r[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const struct bus_range *find(const struct bus_table *t, uint64_t addr)
{
	size_t i = upper_bound(t, addr);

	if (i == 0)
		return NULL;
	if (addr > t->r[i - 1].last)
		return NULL;
	return &t->r[i - 1];
}

int bus_register(struct bus *bus, enum bus_space space, uint64_t base,
		 uint64_t len, bus_handler_fn fn, void *opaque, const char *name)
{
	struct bus_table *t = table(bus, space);
	uint64_t last = base + len - 1;
	size_t i;

	if (!t || !fn || len == 0 || last < base)
		return -EINVAL;
	i = upper_bound(t, base);
	/* The previous range starts at or below base; the next one above it. */
	if (i > 0 && t->r[i - 1].last >= base)
		return -EEXIST;
	if (i < t->n && t->r[i].base <= last)
		return -EEXIST;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct bus_range *r = realloc(t->r, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		t->r = r;
		t->cap = cap;
	}
	memmove(&t->r[i + 1], &t->r[i], (t->n - i) * sizeof(*t->r));
	t->r[i] = (struct bus_range){ base, last, fn, opaque, name };
	t->n++;
	return 0;
}

int bus_access(struct bus *bus, enum bus_space space, uint64_t addr,
	       uint8_t *data, uint32_t len, bool is_write)
{
	const struct bus_table *t = table(bus, space);
	const struct bus_range *r;

	/* Handlers may assume 1 <= len <= 8 and a buffer to fill. */
	if (!t || !data || len == 0 || len > 8)
		return -EINVAL;
	if (addr + (len - 1) < addr)
		return -ENOENT;
	r = find(t, addr);
	if (!r || addr + (len - 1) > r->last)
		return -ENOENT;
	return r->fn(r->opaque, addr - r->base, data, len, is_write);
}

const char *bus_name_at(struct bus *bus, enum bus_space space, uint64_t addr)
{
	const struct bus_table *t = table(bus, space);
	const struct bus_range *r = t ? find(t, addr) : NULL;

	return r ? r->name : NULL;
}

int bus_add_timer(struct bus *bus, bus_timer_fn fn, void *opaque)
{
	if (!bus || !fn)
		return -EINVAL;
	if (bus->ntimers == bus->timers_cap) {
		size_t cap = bus->timers_cap ? bus->timers_cap * 2 : 4;
		struct bus_timer *tm = realloc(bus->timers, cap * sizeof(*tm));
		if (!tm)
			return -ENOMEM;
		bus->timers = tm;
		bus->timers_cap = cap;
	}
	bus->timers[bus->ntimers++] = (struct bus_timer){ fn, opaque };
	return 0;
}

uint64_t bus_run_timers(struct bus *bus, uint64_t now_ns)
{
	uint64_t next = UINT64_MAX;

	if (!bus)
		return next;
	for (size_t i = 0; i < bus->ntimers; i++) {
		uint64_t d = bus->timers[i].fn(bus->timers[i].opaque, now_ns);
		if (d < next)
			next = d;
	}
	return next;
}
