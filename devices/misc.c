/* Port 0x80: the POST code port; nothing to keep. */
#include "devices/misc.h"

#include <stddef.h>

static int port80_handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			  bool is_write)
{
	if (!is_write)
		for (uint32_t i = 0; i < len; i++)
			data[i] = 0xff;
	return 0;
}

int port80_attach(struct bus *bus)
{
	return bus_register(bus, BUS_PIO, 0x80, 1, port80_handler, NULL, "port80");
}
