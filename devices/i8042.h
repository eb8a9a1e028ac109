/* Intel 8042 PS/2 controller, just enough for probes to finish quickly: the
 * controller commands answer, no keyboard or mouse is attached (a byte sent
 * to either is answered 0xfe), and pulsing the reset line ends the run.
 * Ports 0x60 and 0x64, and system control port A (0x92: bit 0 set from 0
 * resets, bit 1 the fast A20 gate, read back as written, 0x02 at power-on);
 * 0x61 belongs to the PIT. */
#ifndef TTVM_DEVICES_I8042_H
#define TTVM_DEVICES_I8042_H

#include "devices/bus.h"

struct i8042;

/* New controller reporting resets through stop, or NULL on ENOMEM. */
struct i8042 *i8042_new(struct dev_stop stop);
/* Free it; NULL is ignored. */
void i8042_free(struct i8042 *k);
/* Claim ports 0x60, 0x64 and 0x92; 0 or -errno. */
int i8042_attach(struct i8042 *k, struct bus *bus);
/* Optional: wire the keyboard (IRQ1) and aux (IRQ12) outputs, which follow
 * "output buffer full" for their source when enabled in the command byte. */
void i8042_set_irqs(struct i8042 *k, struct irq_line kbd, struct irq_line aux);

/* Snapshot state (raw bytes in core/snapshot.c: a change of layout is a
 * change of the snapshot format). */
struct i8042_state {
	uint8_t out[16], out_aux[16];
	uint8_t head, count, last_read, ctr, outport, pending, last_cmd, kbd_level;
	uint8_t aux_level, port92, pad[6];
};
/* Copy the controller's state out. */
void i8042_save(const struct i8042 *k, struct i8042_state *s);
/* Take over s (IRQ lines are not driven).  0, or -EINVAL with k unchanged
 * when s is inconsistent. */
int i8042_load(struct i8042 *k, const struct i8042_state *s);

#endif
