/* PCI configuration mechanism #1 on a bus with no devices (ports
 * 0xcf8-0xcff), and the PC reset control register at 0xcf9 inside it. */
#ifndef TTVM_DEVICES_PCI_H
#define TTVM_DEVICES_PCI_H

#include "devices/bus.h"

struct pci;

/* New host bridge stub reporting resets through stop, or NULL on ENOMEM. */
struct pci *pci_new(struct dev_stop stop);
/* Free it; NULL is ignored. */
void pci_free(struct pci *p);
/* Claim ports 0xcf8-0xcff; 0 or -errno. */
int pci_attach(struct pci *p, struct bus *bus);

/* Snapshot state (raw bytes in core/snapshot.c: a change of layout is a
 * change of the snapshot format). */
struct pci_state {
	uint32_t address;
	uint8_t rcr, pad[3];
};
/* Copy the config-address and reset-control registers out. */
void pci_save(const struct pci *p, struct pci_state *s);
/* Take over s.  0, or -EINVAL with p unchanged when s holds reserved bits. */
int pci_load(struct pci *p, const struct pci_state *s);

#endif
