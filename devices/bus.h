/* One registry for port I/O and MMIO, and the types every device shares.
 *
 * Every device has the same handler shape: (opaque, offset within its range,
 * data, length, direction).  Ranges are half-open [base, base+len) and must
 * not overlap within a space: a registration that would overlap is refused. */
#ifndef TTVM_DEVICES_BUS_H
#define TTVM_DEVICES_BUS_H
#include <stdbool.h>
#include <stdint.h>

enum bus_space { BUS_PIO = 0, BUS_MMIO = 1 };

/* Access handler.  data holds len bytes (1, 2, 4 or 8), little-endian; for a
 * read the handler fills them.  Returns 0, or -errno when the device refuses
 * the access (the caller then treats it like an unknown port). */
typedef int (*bus_handler_fn)(void *opaque, uint64_t offset, uint8_t *data,
			      uint32_t len, bool is_write);

/* Timer callback: advance the device to now_ns (virtual), raise any IRQ that
 * fell due, and return the next virtual time at which it wants to be called
 * (UINT64_MAX for never). */
typedef uint64_t (*bus_timer_fn)(void *opaque, uint64_t now_ns);

/* An interrupt line as a device sees it; level 1 = asserted.  The 8259A
 * model is edge-triggered: a 0->1 transition requests the IRQ. */
typedef void (*irq_set_fn)(void *opaque, unsigned line, int level);
struct irq_line {
	irq_set_fn fn;
	void *opaque;
	unsigned line;
};
static inline void irq_set(const struct irq_line *l, int level)
{
	if (l && l->fn)
		l->fn(l->opaque, l->line, level);
}

/* How a device asks the monitor to end the run. */
enum dev_stop_reason {
	DEV_STOP_DEBUG_EXIT = 1, /* status = (value << 1) | 1 */
	DEV_STOP_RESET = 2,      /* guest asked for a system reset */
};
typedef void (*dev_stop_fn)(void *opaque, enum dev_stop_reason why, int status);
struct dev_stop {
	dev_stop_fn fn;
	void *opaque;
};

struct bus;

/* New empty registry, or NULL on ENOMEM. */
struct bus *bus_new(void);
void bus_free(struct bus *bus);
/* Claim [base, base+len) in space for fn/opaque; name is kept (not copied) for
 * messages.  0, -EEXIST on overlap, -EINVAL on len 0 or wrap-around, -ENOMEM. */
int bus_register(struct bus *bus, enum bus_space space, uint64_t base,
		 uint64_t len, bus_handler_fn fn, void *opaque, const char *name);
/* Route one access.  0 when a device handled it; -ENOENT when no single range
 * covers [addr, addr+len) (the caller applies the unknown-port policy); the
 * handler's -errno otherwise. */
int bus_access(struct bus *bus, enum bus_space space, uint64_t addr,
	       uint8_t *data, uint32_t len, bool is_write);
/* Name of the device covering addr, or NULL. */
const char *bus_name_at(struct bus *bus, enum bus_space space, uint64_t addr);
/* Add a timer callback; 0 or -ENOMEM. */
int bus_add_timer(struct bus *bus, bus_timer_fn fn, void *opaque);
/* Run every timer callback at now_ns; returns the earliest next deadline
 * (UINT64_MAX when none). */
uint64_t bus_run_timers(struct bus *bus, uint64_t now_ns);

#endif
