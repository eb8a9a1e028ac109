/* i8042 model: a small output queue (each byte tagged keyboard or aux) and
 * the command byte; commands with a parameter wait for the next data write.
 * System control port A (0x92) lives here too: on PC chipsets it is the
 * fast path to the same two lines as the 8042's output port, A20 and reset. */
#include "devices/i8042.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define OUT_SIZE 16

#define STR_OBF 0x01
#define STR_SYS 0x04
#define STR_CMD 0x08    /* last write went to the command port */
#define STR_UNLOCK 0x10 /* keyboard not inhibited */
#define STR_AUXDATA 0x20

#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_SYS 0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20

#define RESP_NO_DEVICE 0xfe

#define P92_RESET 0x01 /* 0->1 resets the machine */
#define P92_A20 0x02
#define P92_BITS 0xcb  /* 0x04 and 0x10-0x20 are reserved: read back 0 */

struct i8042 {
	struct dev_stop stop;
	struct irq_line kbd_irq, aux_irq;
	uint8_t out[OUT_SIZE];
	bool out_aux[OUT_SIZE];
	unsigned head, count;
	uint8_t last_read;
	uint8_t ctr;
	uint8_t outport;
	uint8_t pending; /* command waiting for its data byte, 0 = none */
	bool last_cmd;
	int kbd_level, aux_level;
	uint8_t port92;
};

static void push(struct i8042 *k, uint8_t v, bool aux)
{
	unsigned i;

	if (k->count == OUT_SIZE)
		return; /* the guest is not reading: drop, as a full 8042 would */
	i = (k->head + k->count) % OUT_SIZE;
	k->out[i] = v;
	k->out_aux[i] = aux;
	k->count++;
}

static void update_irqs(struct i8042 *k)
{
	bool aux = k->count && k->out_aux[k->head];
	int kl = k->count && !aux && (k->ctr & CTR_KBDINT);
	int al = k->count && aux && (k->ctr & CTR_AUXINT);

	if (kl != k->kbd_level) {
		k->kbd_level = kl;
		irq_set(&k->kbd_irq, kl);
	}
	if (al != k->aux_level) {
		k->aux_level = al;
		irq_set(&k->aux_irq, al);
	}
}

static void reset_system(struct i8042 *k)
{
	if (k->stop.fn)
		k->stop.fn(k->stop.opaque, DEV_STOP_RESET, 0);
}

static void write_command(struct i8042 *k, uint8_t cmd)
{
	k->pending = 0;
	if (cmd >= 0xf0) {
		/* Pulse output port lines low for bits that are 0; bit 0 is the
		 * CPU reset line (0xfe is the classic reboot). */
		if (!(cmd & 1))
			reset_system(k);
		return;
	}
	switch (cmd) {
	case 0x20:
		push(k, k->ctr, false);
		break;
	case 0x60: /* write command byte */
	case 0xd1: /* write output port */
	case 0xd2: /* write keyboard output buffer */
	case 0xd3: /* write aux output buffer (loop) */
	case 0xd4: /* write to aux device */
		k->pending = cmd;
		break;
	case 0xa7:
		k->ctr |= CTR_AUXDIS;
		break;
	case 0xa8:
		k->ctr &= (uint8_t)~CTR_AUXDIS;
		break;
	case 0xa9: /* aux interface test: no error */
	case 0xab: /* keyboard interface test: no error */
		push(k, 0x00, false);
		break;
	case 0xaa: /* controller self-test passed */
		push(k, 0x55, false);
		break;
	case 0xad:
		k->ctr |= CTR_KBDDIS;
		break;
	case 0xae:
		k->ctr &= (uint8_t)~CTR_KBDDIS;
		break;
	case 0xc0: /* input port: nothing strapped */
		push(k, 0x00, false);
		break;
	case 0xd0:
		push(k, k->outport, false);
		break;
	default:
		if (cmd > 0x20 && cmd < 0x40) /* read controller RAM */
			push(k, 0x00, false);
		else if (cmd > 0x60 && cmd < 0x80) /* write controller RAM */
			k->pending = cmd;
		break;
	}
}

static void write_data(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending;

	k->pending = 0;
	switch (cmd) {
	case 0x60:
		k->ctr = v;
		break;
	case 0xd1:
		k->outport = v;
		if (!(v & 1))
			reset_system(k);
		break;
	case 0xd2:
		push(k, v, false);
		break;
	case 0xd3:
		push(k, v, true);
		break;
	case 0xd4:
		push(k, RESP_NO_DEVICE, true);
		break;
	case 0:
		push(k, RESP_NO_DEVICE, false); /* a byte for the keyboard */
		break;
	default:
		break; /* controller RAM: not kept */
	}
}

static uint8_t read_status(struct i8042 *k)
{
	uint8_t s = STR_UNLOCK;

	if (k->count) {
		s |= STR_OBF;
		if (k->out_aux[k->head])
			s |= STR_AUXDATA;
	}
	if (k->ctr & CTR_SYS)
		s |= STR_SYS;
	if (k->last_cmd)
		s |= STR_CMD;
	return s;
}

static uint8_t read_data(struct i8042 *k)
{
	/* An empty buffer returns the last byte again, as the latch does. */
	if (k->count) {
		k->last_read = k->out[k->head];
		k->head = (k->head + 1) % OUT_SIZE;
		k->count--;
	}
	return k->last_read;
}

static int data_handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			bool is_write)
{
	struct i8042 *k = opaque;

	/* The port is one byte wide: bytes beyond it float. */
	if (is_write) {
		k->last_cmd = false;
		write_data(k, data[0]);
	} else {
		data[0] = read_data(k);
	}
	for (uint32_t i = 1; i < len && !is_write; i++)
		data[i] = 0xff;
	update_irqs(k);
	return 0;
}

static int cmd_handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
		       bool is_write)
{
	struct i8042 *k = opaque;

	if (is_write) {
		k->last_cmd = true;
		write_command(k, data[0]);
	} else {
		data[0] = read_status(k);
	}
	for (uint32_t i = 1; i < len && !is_write; i++)
		data[i] = 0xff;
	update_irqs(k);
	return 0;
}

/* Port 0x92.  The A20 bit only reads back: ttvm never masks address line
 * 20 (guest RAM does not wrap at 1 MiB whatever the gate says), which is
 * what every guest that turns A20 on expects. */
static int port92_handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
			  bool is_write)
{
	struct i8042 *k = opaque;

	(void)off, (void)len; /* one byte wide: the bus routes nothing else here */
	if (!is_write) {
		data[0] = k->port92;
		return 0;
	}
	uint8_t old = k->port92;
	k->port92 = data[0] & P92_BITS;
	if ((k->port92 & P92_RESET) && !(old & P92_RESET))
		reset_system(k);
	return 0;
}

struct i8042 *i8042_new(struct dev_stop stop)
{
	struct i8042 *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->stop = stop;
	/* What a BIOS leaves: interrupts on, POST passed, translation on. */
	k->ctr = CTR_KBDINT | CTR_AUXINT | CTR_SYS | 0x40;
	k->outport = 0x03; /* reset line high, A20 enabled */
	k->port92 = P92_A20; /* A20 on, as firmware and multiboot loaders leave it */
	return k;
}

void i8042_free(struct i8042 *k)
{
	free(k);
}

void i8042_set_irqs(struct i8042 *k, struct irq_line kbd, struct irq_line aux)
{
	k->kbd_irq = kbd;
	k->aux_irq = aux;
	k->kbd_level = k->aux_level = 0;
	update_irqs(k);
}

void i8042_save(const struct i8042 *k, struct i8042_state *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->out, k->out, sizeof(s->out));
	for (int i = 0; i < OUT_SIZE; i++)
		s->out_aux[i] = k->out_aux[i];
	s->head = (uint8_t)k->head;
	s->count = (uint8_t)k->count;
	s->last_read = k->last_read;
	s->ctr = k->ctr;
	s->outport = k->outport;
	s->pending = k->pending;
	s->last_cmd = k->last_cmd;
	s->kbd_level = (uint8_t)k->kbd_level;
	s->aux_level = (uint8_t)k->aux_level;
	s->port92 = k->port92;
}

int i8042_load(struct i8042 *k, const struct i8042_state *s)
{
	if (s->head >= OUT_SIZE || s->count > OUT_SIZE || s->last_cmd > 1 || s->kbd_level > 1 ||
	    s->aux_level > 1 || (s->port92 & ~P92_BITS))
		return -EINVAL;
	for (int i = 0; i < OUT_SIZE; i++)
		if (s->out_aux[i] > 1)
			return -EINVAL;
	memcpy(k->out, s->out, sizeof(k->out));
	for (int i = 0; i < OUT_SIZE; i++)
		k->out_aux[i] = s->out_aux[i];
	k->head = s->head;
	k->count = s->count;
	k->last_read = s->last_read;
	k->ctr = s->ctr;
	k->outport = s->outport;
	k->pending = s->pending;
	k->last_cmd = s->last_cmd;
	k->kbd_level = s->kbd_level;
	k->aux_level = s->aux_level;
	k->port92 = s->port92;
	return 0;
}

int i8042_attach(struct i8042 *k, struct bus *bus)
{
	int r;

	if ((r = bus_register(bus, BUS_PIO, 0x60, 1, data_handler, k, "i8042-data")) ||
	    (r = bus_register(bus, BUS_PIO, 0x92, 1, port92_handler, k, "port92")))
		return r;
	return bus_register(bus, BUS_PIO, 0x64, 1, cmd_handler, k, "i8042-cmd");
}
