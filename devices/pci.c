/* Mechanism #1 stub.  The address register is only a dword at 0xcf8; byte
 * accesses there are the mechanism #2 / reset-control ports, so a probe
 * for mechanism #2 reads 0xff and fails.  Data reads are all-ones, which is
 * how a config read of an absent function ends (master abort). */
#include "devices/pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RCR_SYS_RST 0x02 /* hard (system) reset rather than CPU only */
#define RCR_RST_CPU 0x04 /* 0->1 starts the reset */

struct pci {
	struct dev_stop stop;
	uint32_t address;
	uint8_t rcr;
};

static void byte_access(struct pci *p, unsigned port, uint8_t *b, bool is_write)
{
	if (port == 1) { /* 0xcf9 */
		if (!is_write) {
			*b = p->rcr;
			return;
		}
		p->rcr = *b & (RCR_SYS_RST | 0x08);
		/* Hard or soft, ttvm has one kind of reset: end the run. */
		if ((*b & RCR_RST_CPU) && p->stop.fn)
			p->stop.fn(p->stop.opaque, DEV_STOP_RESET, 0);
		return;
	}
	if (!is_write)
		*b = 0xff;
}

static int pci_handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		       bool is_write)
{
	struct pci *p = opaque;

	if (off == 0 && len == 4) {
		if (is_write) {
			/* Enable, bus, device, function, dword register; bits 30-24
			 * and 1-0 are reserved and read back as zero. */
			p->address = (data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
				      (uint32_t)data[3] << 24) & 0x80fffffc;
		} else {
			for (int i = 0; i < 4; i++)
				data[i] = (uint8_t)(p->address >> (8 * i));
		}
		return 0;
	}
	for (uint32_t i = 0; i < len; i++)
		byte_access(p, (unsigned)(off + i), &data[i], is_write);
	return 0;
}

struct pci *pci_new(struct dev_stop stop)
{
	struct pci *p = calloc(1, sizeof(*p));

	if (p)
		p->stop = stop;
	return p;
}

void pci_free(struct pci *p)
{
	free(p);
}

void pci_save(const struct pci *p, struct pci_state *s)
{
	memset(s, 0, sizeof(*s));
	s->address = p->address;
	s->rcr = p->rcr;
}

int pci_load(struct pci *p, const struct pci_state *s)
{
	if ((s->address & ~0x80fffffcu) || (s->rcr & ~(RCR_SYS_RST | 0x08)))
		return -EINVAL;
	p->address = s->address;
	p->rcr = s->rcr;
	return 0;
}

int pci_attach(struct pci *p, struct bus *bus)
{
	return bus_register(bus, BUS_PIO, 0xcf8, 8, pci_handler, p, "pci");
}
