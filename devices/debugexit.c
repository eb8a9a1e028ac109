/* isa-debug-exit: any write, of any width at any offset, is the exit value;
 * reads float high like an unclaimed ISA port. */
#include "devices/debugexit.h"

#include <errno.h>
#include <stdlib.h>

struct debugexit {
	struct dev_stop stop;
};

static int debugexit_handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			     bool is_write)
{
	struct debugexit *d = opaque;
	uint64_t v = 0;

	if (!is_write) {
		for (uint32_t i = 0; i < len; i++)
			data[i] = 0xff;
		return 0;
	}
	for (uint32_t i = 0; i < len; i++)
		v |= (uint64_t)data[i] << (8 * i);
	/* The status is an int, like QEMU's exit() argument: wider values
	 * keep their low 32 bits. */
	if (d->stop.fn)
		d->stop.fn(d->stop.opaque, DEV_STOP_DEBUG_EXIT, (int)(uint32_t)((v << 1) | 1));
	return 0;
}

struct debugexit *debugexit_new(struct dev_stop stop)
{
	struct debugexit *d = calloc(1, sizeof(*d));

	if (d)
		d->stop = stop;
	return d;
}

void debugexit_free(struct debugexit *d)
{
	free(d);
}

int debugexit_attach(struct debugexit *d, struct bus *bus, uint16_t port, uint32_t size)
{
	if (size == 0 || (uint32_t)port + size > 0x10000)
		return -EINVAL;
	return bus_register(bus, BUS_PIO, port, size, debugexit_handler, d, "debug-exit");
}
