/* Intel 8254 programmable interval timer at 1193182 Hz, plus the PC's port
 * 0x61 ("port B": channel 2 gate, speaker, refresh toggle, OUT2 readback).
 *
 * All counts and outputs are functions of the virtual clock; only channel 0
 * has an interrupt (IRQ0, pulsed on each rising edge of OUT0). */
#ifndef TTVM_DEVICES_PIT_H
#define TTVM_DEVICES_PIT_H
#include <stdint.h>

#include "devices/clock.h"
#include "devices/bus.h"

#define PIT_HZ 1193182u

struct pit;

/* New timer in the state a PC BIOS leaves it (every channel mode 3 with
 * count 65536, channel 0 running from now), or NULL on ENOMEM. */
struct pit *pit_new(struct ttvm_clock *clk, struct irq_line irq0);
/* Free the timer; NULL is ignored. */
void pit_free(struct pit *p);
/* Claim ports 0x40-0x43 and 0x61 and add the channel 0 timer; 0 or -errno.
 * The monitor must re-run bus_run_timers() after a guest port write, since
 * reprogramming channel 0 moves its deadline. */
int pit_attach(struct pit *p, struct bus *bus);
/* Timer callback (bus_timer_fn): pulse IRQ0 for an OUT0 rising edge that fell
 * due by now_ns (one pulse however late), return the next edge's time. */
uint64_t pit_timer(void *opaque, uint64_t now_ns);
/* Level of channel ch's OUT pin now (0 or 1; 1 for an invalid ch). */
int pit_out(struct pit *p, unsigned ch);

/* Snapshot state (raw bytes in core/snapshot.c: a change of layout is a
 * change of the snapshot format).  Times are PIT ticks of the virtual clock,
 * so the clock's own state must be restored with it. */
struct pit_channel_state {
	uint64_t start, frozen;
	uint32_t reload;
	uint16_t held, latch;
	uint8_t mode, rw, bcd, gate, loaded, counting, count_latched, latch_hi;
	uint8_t status_latched, status, read_hi, write_hi, write_lsb, pad[3];
};
struct pit_state {
	struct pit_channel_state ch[3];
	uint64_t next_irq;
	uint8_t portb, pad[7];
};
/* Copy the timer's state out. */
void pit_save(const struct pit *p, struct pit_state *s);
/* Take over s.  0, or -EINVAL with p unchanged when s is inconsistent. */
int pit_load(struct pit *p, const struct pit_state *s);

#endif
