/* QEMU isa-debug-exit compatible port: a guest write ends the run with
 * status (value << 1) | 1, so a test guest can report pass or fail. */
#ifndef TTVM_DEVICES_DEBUGEXIT_H
#define TTVM_DEVICES_DEBUGEXIT_H
#include <stdint.h>

#include "devices/bus.h"

struct debugexit;

/* New device that reports through stop, or NULL on ENOMEM. */
struct debugexit *debugexit_new(struct dev_stop stop);
/* Free it; NULL is ignored. */
void debugexit_free(struct debugexit *d);
/* Claim ports [port, port+size); 0 or -errno (-EINVAL for size 0). */
int debugexit_attach(struct debugexit *d, struct bus *bus, uint16_t port, uint32_t size);

#endif
