/* Bare 32-bit multiboot guests that use no runtime (tests/guests/rt sets
 * its own stack first thing, which is exactly what these must not do):
 * mbstack.S and mbhigh.S enter main.c's mb_main. */
#ifndef TTVM_GUEST_MB_H
#define TTVM_GUEST_MB_H
#include <stdint.h>

/* Called by the entry code with the loader's EAX and EBX and the ESP the
 * loader left (mbhigh: 0, it sets its own stack). */
void mb_main(uint32_t magic, uint32_t mbi, uint32_t entry_esp) __attribute__((noreturn));

#endif
