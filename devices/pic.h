/* Intel 8259A programmable interrupt controller: the PC's master/slave pair,
 * slave cascaded on master IRQ2, with the ELCR edge/level register.
 *
 * Lines are edge-triggered unless the guest sets their ELCR bit; the monitor
 * asks pic_pending() whether INTR is up and pic_ack() for the vector. */
#ifndef TTVM_DEVICES_PIC_H
#define TTVM_DEVICES_PIC_H
#include <stdbool.h>

#include "devices/bus.h"

struct pic;

/* New pair in the state a PC BIOS leaves it (vectors 0x08/0x70, all lines
 * masked but the cascade), or NULL on ENOMEM. */
struct pic *pic_new(void);
/* Free the pair; NULL is ignored. */
void pic_free(struct pic *p);
/* Claim ports 0x20-0x21, 0xa0-0xa1 and the ELCR 0x4d0-0x4d1; 0 or -errno
 * (the bus cannot undo a partial attach: on error, free the bus). */
int pic_attach(struct pic *p, struct bus *bus);
/* Drive input irq (0..15, others ignored) to level; a 0->1 edge requests it. */
void pic_set_irq(struct pic *p, unsigned irq, int level);
/* irq_set_fn adapter: opaque is the struct pic, line the IRQ number. */
void pic_irq_fn(void *opaque, unsigned line, int level);
/* True when INTR is asserted: an unmasked request above the in-service level. */
bool pic_pending(struct pic *p);
/* True when the masks let no input line reach INTR: each line is masked at
 * its chip, or sits on a slave whose cascade line is masked at the master.
 * Nothing but the guest can unmask them. */
bool pic_all_masked(const struct pic *p);
/* Interrupt acknowledge: the vector to inject (base+7 when spurious), moving
 * the request from IRR to ISR unless in auto-EOI mode. */
int pic_ack(struct pic *p);
/* Replay: the recording acknowledged vector vec here (the trace says so;
 * replay's own requests are not the recording's): move its line to ISR
 * as pic_ack would have, so that the in-service state is the recording's.
 * 0, or -1 when vec is none of this pair's vectors (nothing changed). */
int pic_ack_vector(struct pic *p, uint8_t vec);
/* replay --go-live: the recording had vector vec requested here (its next
 * event injects it right at this exit): latch its line's request in IRR as
 * an edge would have.  0, or -1 when vec is none of this pair's vectors. */
int pic_request_vector(struct pic *p, uint8_t vec);

/* Snapshot state of one chip and of the pair (raw bytes in core/snapshot.c:
 * a change of layout is a change of the snapshot format).  The wiring
 * (master/slave, which ELCR bits exist) is fixed and not part of it. */
struct pic_chip_state {
	uint8_t irr, isr, imr, level, elcr, base, priority_add, icw3;
	uint8_t init_state, icw4_needed, single, ltim, auto_eoi, rotate_on_aeoi, special_mask, sfnm;
	uint8_t read_isr, poll, pad[2];
};
struct pic_state {
	struct pic_chip_state chip[2];
};
/* Copy the pair's state out. */
void pic_save(const struct pic *p, struct pic_state *s);
/* Take over s.  0, or -EINVAL with p unchanged when s is inconsistent. */
int pic_load(struct pic *p, const struct pic_state *s);

#endif
