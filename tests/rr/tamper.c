/* tamper IN OUT SEQ [point|elsewhere]: copy a trace, altering the value that
 * event SEQ carries (a port or MMIO read value, an interrupt vector, a TSC,
 * RDRAND or RDMSR value), so that a test can check that replay reports a
 * divergence instead of a wrong result.  With "point", alter instead where
 * an interrupt or a loop probe goes in at a kick point (its register hash):
 * a point replay cannot find.  With "elsewhere", move the kick point to the
 * address of the trace's first fingerprinted exit (set-up code the guest
 * has left behind): an address the guest no longer passes. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/trace.h"

static int die(const char *what)
{
	fprintf(stderr, "tamper: %s\n", what);
	return 1;
}

int main(int argc, char **argv)
{
	struct trace_reader *r;
	struct trace_writer *w;
	struct trace_info info;
	struct trace_event ev;
	char err[512];

	if (argc != 4 && !(argc == 5 && (!strcmp(argv[4], "point") || !strcmp(argv[4], "elsewhere"))))
		return die("usage: tamper IN OUT SEQ [point|elsewhere]");
	int point = argc == 5;
	int elsewhere = point && !strcmp(argv[4], "elsewhere");
	uint64_t first_rip = 0;
	uint64_t target = strtoull(argv[3], NULL, 0);
	if (trace_reader_open(argv[1], &r, err, sizeof(err)))
		return die(err);
	trace_reader_info(r, &info);
	const char *mem = trace_reader_meta(r, "mem_size");
	size_t cpuid_len = 0;
	const void *cpuid = trace_reader_meta_blob(r, "cpuid_policy", &cpuid_len);
	struct trace_meta meta = {
		.kvm_flavour = trace_reader_meta(r, "kvm_flavour"),
		.cmdline = trace_reader_meta(r, "cmdline"),
		.mem_size = mem ? strtoull(mem, NULL, 0) : 0,
		.cpuid_policy = cpuid,
		.cpuid_policy_len = cpuid_len,
	};
	/* meta strings are only valid until the next reader call: copy them. */
	char *flav = meta.kvm_flavour ? strdup(meta.kvm_flavour) : NULL;
	meta.kvm_flavour = flav;
	char *cmd = meta.cmdline ? strdup(meta.cmdline) : NULL;
	meta.cmdline = cmd;
	void *cp = NULL;
	if (cpuid_len) {
		cp = malloc(cpuid_len);
		memcpy(cp, cpuid, cpuid_len);
		meta.cpuid_policy = cp;
	}
	if (trace_writer_open(argv[2], &meta, NULL, &w))
		return die("cannot create the output trace");
	static const char *const keys[] = { "run_args", "final_state", "msr_filter", "max_exitless_ns" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = trace_reader_meta(r, keys[i]);
		if (v && trace_writer_set_meta(w, keys[i], v))
			return die("cannot copy metadata");
	}
	for (uint64_t i = 0; i < info.n_images; i++) {
		struct trace_image_info ii;
		if (trace_reader_image(r, i, &ii))
			return die("cannot read an image");
		void *buf = malloc(ii.size ? ii.size : 1);
		if (!buf || trace_reader_image_data(r, i, buf, ii.size) ||
		    trace_writer_add_image(w, ii.name, buf, ii.size, 1))
			return die("cannot copy an image");
		free(buf);
	}
	int found = 0, n;
	struct trace_event end;
	int have_end = 0;
	while ((n = trace_reader_next(r, &ev)) == 1) {
		if (!first_rip && (ev.flags & TRACE_EVF_FP))
			first_rip = ev.fp.rip;
		if (ev.seq == target && elsewhere) {
			found = 1;
			if (!first_rip)
				return die("no fingerprinted exit before event SEQ");
			if (ev.kind == TRACE_EV_IRQ && ev.u.irq.regs_hash)
				ev.u.irq.rip = first_rip;
			else if (ev.kind == TRACE_EV_PROBE && ev.u.probe.on == TRACE_PROBE_AT_KICK)
				ev.u.probe.addr = first_rip;
			else
				return die("event SEQ is no kick point");
		} else if (ev.seq == target && point) {
			found = 1;
			if (ev.kind == TRACE_EV_IRQ && ev.u.irq.regs_hash)
				ev.u.irq.regs_hash ^= 0x10;
			else if (ev.kind == TRACE_EV_PROBE && ev.u.probe.on == TRACE_PROBE_AT_KICK)
				ev.u.probe.regs_hash ^= 0x10;
			else
				return die("event SEQ is no kick point");
		} else if (ev.seq == target) {
			found = 1;
			switch (ev.kind) {
			case TRACE_EV_PIO_READ: ev.u.pio.value ^= 0x20; break; /* e.g. clears THR-empty */
			case TRACE_EV_MMIO_READ: ev.u.mmio.value ^= 0x41; break;
			case TRACE_EV_IRQ: ev.u.irq.vector ^= 1; break;
			case TRACE_EV_RDTSC:
			case TRACE_EV_RDTSCP: ev.u.tsc.value += 123456789; break;
			case TRACE_EV_RDRAND: ev.u.tsc.value ^= 0x5a5a; break;
			case TRACE_EV_MSR: ev.u.msr.value += 123456789; break;
			default: return die("event SEQ carries no value to alter");
			}
		}
		/* The checkpoints themselves are not copied: neither are their
		 * events, which would point at nothing.  A register check that
		 * one carries (format 6) goes on an empty cpuid event, a kind
		 * replay skips. */
		if (ev.kind == TRACE_EV_CHECKPOINT && !(ev.flags & TRACE_EVF_CHECK))
			continue;
		if (ev.kind == TRACE_EV_CHECKPOINT) {
			ev.kind = TRACE_EV_CPUID;
			ev.u.blob.data = NULL;
			ev.u.blob.len = 0;
		}
		if (ev.kind == TRACE_EV_END) {
			end = ev;
			have_end = 1;
			continue;
		}
		uint64_t in_seq = ev.seq;
		if (trace_writer_append(w, &ev))
			return die("cannot write an event");
		/* The copy has no checkpoint events: its numbers differ. */
		if (in_seq == target)
			printf("tamper: event %" PRIu64 " is event %" PRIu64 " of the copy\n", in_seq, ev.seq);
	}
	if (n < 0)
		return die(trace_reader_errmsg(r));
	if (!found)
		return die("no event SEQ");
	if (trace_writer_close(w, have_end ? &end : NULL))
		return die("cannot close the output trace");
	trace_reader_close(r);
	free(flav);
	free(cmd);
	free(cp);
	return 0;
}
