/* Stateless legacy ports. */
#ifndef TTVM_DEVICES_MISC_H
#define TTVM_DEVICES_MISC_H

#include "devices/bus.h"

/* Claim the POST diagnostic port 0x80 (writes ignored, reads 0xff; guests
 * also write it as an I/O delay); 0 or -errno. */
int port80_attach(struct bus *bus);

#endif
