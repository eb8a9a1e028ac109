/* Event sources pio_read, mmio_read and serial_in: what the guest reads
 * from devices (this covers the virtual clock as devices show it, and
 * serial input), and the bytes that went into the UART. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/vm.h"
#include "record/rr.h"

static uint64_t load_le(const uint8_t *d, uint32_t len)
{
	uint64_t v = 0;
	memcpy(&v, d, len > 8 ? 8 : len);
	return v;
}

void record_io_read(struct vm *vm, enum bus_space space, uint64_t addr, uint8_t *data, uint32_t len)
{
	struct trace_event ev;

	memset(&ev, 0, sizeof(ev));
	if (space == BUS_PIO) {
		ev.kind = TRACE_EV_PIO_READ;
		ev.u.pio.port = (uint16_t)addr;
		ev.u.pio.size = (uint8_t)len;
		ev.u.pio.value = (uint32_t)load_le(data, len);
	} else {
		ev.kind = TRACE_EV_MMIO_READ;
		ev.u.mmio.addr = addr;
		ev.u.mmio.size = (uint8_t)len;
		ev.u.mmio.value = load_le(data, len);
	}
	ev.flags = TRACE_EVF_FP;
	rr_fingerprint(vm, &ev.fp);
	rr_append(vm, &ev);
}

void replay_io_read(struct vm *vm, enum bus_space space, uint64_t addr, uint8_t *data, uint32_t len)
{
	const struct trace_event *e = rr_peek(vm);
	struct trace_fp fp;

	if (!e) {
		if (!vm->stop)
			rr_diverged(vm, "the guest reads a device after the end of the trace", NULL);
		return;
	}
	rr_fingerprint(vm, &fp);
	bool ok = e->exit_no == vm->guest_exits;
	if (space == BUS_PIO)
		ok = ok && e->kind == TRACE_EV_PIO_READ && e->u.pio.port == addr && e->u.pio.size == len;
	else
		ok = ok && e->kind == TRACE_EV_MMIO_READ && e->u.mmio.addr == addr && e->u.mmio.size == len;
	if (!ok || !rr_fp_matches(vm, e, &fp)) {
		char what[128];
		snprintf(what, sizeof(what), "the guest reads %s %#" PRIx64 " (%u byte%s)",
			 space == BUS_PIO ? "port" : "MMIO address", addr, len, len == 1 ? "" : "s");
		rr_diverged(vm, what, e);
		return;
	}
	uint64_t v = space == BUS_PIO ? e->u.pio.value : e->u.mmio.value;
	memcpy(data, &v, len > 8 ? 8 : len);
	rr_consume(vm);
}

/* Informational (for `ttvm inspect`): the guest only sees the bytes through
 * logged port reads, so replay skips these events (rr_peek). */
void record_serial_in(struct vm *vm, const uint8_t *buf, size_t n)
{
	struct trace_event ev;

	if (n == 0)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = TRACE_EV_SERIAL_IN;
	ev.u.blob.data = buf;
	ev.u.blob.len = (uint32_t)n;
	rr_append(vm, &ev);
}
