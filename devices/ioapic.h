/* I/O APIC (82093AA-like, version 0x11): 24 redirection entries behind
 * IOREGSEL (offset 0x00) and IOWIN (0x10) at 0xfec00000.
 *
 * Each input pin has a level (1 = asserted; the polarity bit is kept but
 * not applied: ttvm's devices drive logical levels).  Edge-triggered: a
 * rising edge on an unmasked pin sends its vector (an edge while masked is
 * lost, as the datasheet says).  Level-triggered: while the pin is asserted,
 * unmasked and remote IRR clear, the vector is sent and remote IRR set; the
 * local APIC's EOI of that vector clears remote IRR (ioapic_eoi) and a pin
 * still asserted sends again.  Messages go to the local APIC through the
 * send callback; ExtINT entries carry the 8259A's INTR instead (the monitor
 * asks ioapic_extint_open()). */
#ifndef TTVM_DEVICES_IOAPIC_H
#define TTVM_DEVICES_IOAPIC_H
#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"

#define IOAPIC_DEFAULT_ADDR 0xfec00000ull
#define IOAPIC_MMIO_SIZE 0x1000ull
#define IOAPIC_PINS 24
#define IOAPIC_VERSION 0x11
#define IOAPIC_DEFAULT_ID 1 /* after the one CPU's local APIC ID 0 */

/* Redirection entry fields (low dword). */
#define IOAPIC_RE_MASKED (1u << 16)
#define IOAPIC_RE_LEVEL (1u << 15)
#define IOAPIC_RE_REMOTE_IRR (1u << 14)
#define IOAPIC_RE_LOGICAL (1u << 11)

/* Send vector (fixed or lowest-priority delivery) to the local APIC(s) that
 * dest/dest_logical name; level = level-triggered.  Returns true when a
 * local APIC took it. */
typedef bool (*ioapic_send_fn)(void *opaque, uint8_t vector, bool level, uint8_t dest, bool dest_logical);

struct ioapic;

/* New IOAPIC, every entry masked, or NULL on ENOMEM. */
struct ioapic *ioapic_new(ioapic_send_fn send, void *opaque);
/* Free it; NULL is ignored. */
void ioapic_free(struct ioapic *io);
/* Claim its page at base; 0 or -errno. */
int ioapic_attach(struct ioapic *io, struct bus *bus, uint64_t base);
/* Register page handler (bus_handler_fn): 32-bit accesses at IOREGSEL or
 * IOWIN (and byte writes to IOREGSEL); anything else is refused (-EINVAL:
 * the monitor reports it and reads all-ones).  Unknown register indexes
 * read 0 and ignore writes. */
int ioapic_mmio(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
/* Drive input pin (0..23, others ignored) to level. */
void ioapic_set_irq(struct ioapic *io, unsigned pin, int level);
/* The local APIC's EOI for a level-triggered vector. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);
/* True when an unmasked entry has ExtINT delivery (the 8259A's INTR). */
bool ioapic_extint_open(const struct ioapic *io);
/* True when every entry is masked. */
bool ioapic_all_masked(const struct ioapic *io);
/* Redirection entry of pin (for tests and reports); 0 for a bad pin. */
uint64_t ioapic_entry(const struct ioapic *io, unsigned pin);

/* Snapshot state (raw bytes in core/snapshot.c: a change of layout is a
 * change of the snapshot format). */
struct ioapic_state {
	uint64_t redir[IOAPIC_PINS];
	uint32_t levels; /* input pin levels, bit per pin */
	uint32_t id;     /* ID register (bits 27:24) */
	uint8_t regsel, pad[7];
};
/* Copy the IOAPIC's state out. */
void ioapic_save(const struct ioapic *io, struct ioapic_state *s);
/* Take over s.  0, or -EINVAL with io unchanged when s is inconsistent. */
int ioapic_load(struct ioapic *io, const struct ioapic_state *s);

#endif
