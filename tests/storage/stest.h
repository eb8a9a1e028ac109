/* Helpers shared by the storage tests: temp paths, a deterministic event
 * generator covering every kind, and event comparison. */
#ifndef TTVM_TESTS_STORAGE_STEST_H
#define TTVM_TESTS_STORAGE_STEST_H
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/inspect.h"
#include "storage/trace.h"

static char stest_dir[256];

static inline const char *stest_path(const char *name)
{
	static char buf[8][512];
	static int n;
	if (!stest_dir[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(stest_dir, sizeof(stest_dir), "%s/ttvm-storage-XXXXXX", t ? t : "/tmp");
		if (!mkdtemp(stest_dir)) {
			perror("mkdtemp");
			exit(2);
		}
	}
	char *b = buf[n++ % 8];
	snprintf(b, 512, "%s/%s", stest_dir, name);
	return b;
}

/* Run `ttvm inspect ARGS...` (args NULL-terminated, at most 14) in this
 * process, its stdout captured into out (NUL-terminated, cut at outlen - 1).
 * Returns inspect's exit status. */
static inline int stest_inspect(const char *const *args, char *out, size_t outlen)
{
	char *argv[16];
	int argc = 0;
	argv[argc++] = "inspect";
	for (; *args && argc < 15; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	const char *cap = stest_path("stdout.txt");
	fflush(stdout);
	int saved = dup(1);
	int fd = open(cap, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	dup2(fd, 1);
	close(fd);
	int rc = inspect_main(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	FILE *f = fopen(cap, "r");
	size_t n = fread(out, 1, outlen - 1, f);
	out[n] = 0;
	fclose(f);
	return rc;
}

static inline void stest_cleanup(void)
{
	char cmd[600];
	if (stest_dir[0] && !getenv("STEST_KEEP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", stest_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cleanup of %s failed\n", stest_dir);
	}
}

static inline uint64_t stest_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static const uint8_t stest_blob[64] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!";

/* Event i of a deterministic sequence using every kind but END; exit_no grows. */
static inline void stest_event(uint64_t i, uint64_t *exit_no, uint64_t *rng, struct trace_event *ev)
{
	uint64_t r = stest_rand(rng);
	memset(ev, 0, sizeof(*ev));
	*exit_no += r % 5 == 0 ? (r >> 8) % 300 : (r >> 8) % 3;
	ev->exit_no = *exit_no;
	/* Every kind but END, which is the trace's last event (kind 9 of 12). */
	ev->kind = 1 + (uint32_t)(i % (TRACE_EV_KIND_MAX - 1));
	if (ev->kind >= TRACE_EV_END)
		ev->kind++;
	if ((r >> 20) % 7 == 0) {
		ev->flags = TRACE_EVF_FP;
		ev->fp.exit_reason = (uint32_t)(r >> 24) % 80;
		ev->fp.rip = 0xffffffff81000000ull + ((r >> 30) % 100000);
		ev->fp.regs_hash = r * 0x9e3779b97f4a7c15ull;
	}
	switch (ev->kind) {
	case TRACE_EV_PIO_READ:
		ev->u.pio.port = (uint16_t)(r >> 16);
		ev->u.pio.size = (uint8_t)(1u << ((r >> 40) % 3));
		ev->u.pio.value = (uint32_t)(r >> 3);
		break;
	case TRACE_EV_MMIO_READ:
		ev->u.mmio.addr = (r >> 3) & ((1ull << 52) - 1);
		ev->u.mmio.size = (uint8_t)(1u << ((r >> 40) % 4));
		ev->u.mmio.value = r * 31;
		break;
	case TRACE_EV_IRQ:
		ev->u.irq.vector = (uint8_t)r;
		ev->u.irq.rip = r % 3 ? 0xffffffff81000000ull + (r >> 44) : r;
		ev->u.irq.regs_hash = r % 2 ? r ^ 0x5555 : 0;
		break;
	case TRACE_EV_RDTSC:
	case TRACE_EV_RDTSCP:
		ev->u.tsc.value = r % 4 ? i * 1000 + (r >> 50) : r;
		if (ev->kind == TRACE_EV_RDTSCP)
			ev->u.tsc.aux = (uint32_t)(r >> 32);
		break;
	case TRACE_EV_RDRAND:
		ev->u.tsc.value = r % 3 ? r : (uint32_t)r;
		ev->u.tsc.rand_insn = r % 2 ? TRACE_RAND_RDRAND : TRACE_RAND_RDSEED;
		ev->u.tsc.rand_cf = (r >> 9) % 5 != 0;
		break;
	case TRACE_EV_SERIAL_IN:
	case TRACE_EV_CPUID:
		ev->u.blob.data = stest_blob + (r >> 10) % 16;
		ev->u.blob.len = 1 + (uint32_t)((r >> 30) % 48);
		break;
	case TRACE_EV_CHECKPOINT:
		ev->u.ckpt.id = r >> 40;
		break;
	case TRACE_EV_PROBE:
		ev->u.probe.addr = r % 3 ? 0xffffffff81000000ull + (r >> 44) : r;
		ev->u.probe.on = (uint8_t)((r >> 7) % 3);
		if (ev->u.probe.on == TRACE_PROBE_AT_KICK) {
			ev->u.probe.regs_hash = r | 1;
			ev->u.probe.mem_hash = r * 7;
		}
		break;
	case TRACE_EV_MSR:
		ev->u.msr.index = r % 2 ? 0x10 : (uint32_t)(r >> 32);
		ev->u.msr.value = r % 3 ? i * 1000 + (r >> 50) : r;
		break;
	}
}

/* a as written, b as read back.  From format 6 on, b's register hash may
 * be chained (TRACE_EVF_FP_CHAINED, read as 0; stest_chain checks it). */
static inline int stest_equal(const struct trace_event *a, const struct trace_event *b)
{
	if (a->seq != b->seq || a->exit_no != b->exit_no || a->kind != b->kind ||
	    a->flags != (b->flags & ~(TRACE_EVF_FP_CHAINED | TRACE_EVF_CHECK | TRACE_EVF_SHORT | TRACE_EVF_POINT_MIX)))
		return 0;
	if ((b->flags & TRACE_EVF_FP_CHAINED) && b->fp.regs_hash != 0)
		return 0;
	if ((a->flags & TRACE_EVF_FP) &&
	    (a->fp.exit_reason != b->fp.exit_reason || a->fp.rip != b->fp.rip ||
	     (!(b->flags & TRACE_EVF_FP_CHAINED) && !trace_point_regs_eq(b->flags, b->fp.regs_hash, a->fp.regs_hash))))
		return 0;
	switch (a->kind) {
	case TRACE_EV_PIO_READ:
		return a->u.pio.port == b->u.pio.port && a->u.pio.size == b->u.pio.size &&
		       a->u.pio.value == b->u.pio.value;
	case TRACE_EV_MMIO_READ:
		return a->u.mmio.addr == b->u.mmio.addr && a->u.mmio.size == b->u.mmio.size &&
		       a->u.mmio.value == b->u.mmio.value;
	case TRACE_EV_IRQ:
		return a->u.irq.vector == b->u.irq.vector && a->u.irq.rip == b->u.irq.rip &&
		       trace_point_regs_eq(b->flags, b->u.irq.regs_hash, a->u.irq.regs_hash) &&
		       (!a->u.irq.regs_hash ||
			trace_point_mem_eq(b->flags, b->u.irq.mem_hash, a->u.irq.regs_hash, a->u.irq.mem_hash));
	case TRACE_EV_RDTSC:
		return a->u.tsc.value == b->u.tsc.value;
	case TRACE_EV_RDTSCP:
		return a->u.tsc.value == b->u.tsc.value && a->u.tsc.aux == b->u.tsc.aux;
	case TRACE_EV_RDRAND:
		return a->u.tsc.value == b->u.tsc.value && a->u.tsc.rand_insn == b->u.tsc.rand_insn &&
		       a->u.tsc.rand_cf == b->u.tsc.rand_cf;
	case TRACE_EV_SERIAL_IN:
	case TRACE_EV_CPUID:
		return a->u.blob.len == b->u.blob.len &&
		       (!a->u.blob.len || !memcmp(a->u.blob.data, b->u.blob.data, a->u.blob.len));
	case TRACE_EV_CHECKPOINT:
		return a->u.ckpt.id == b->u.ckpt.id;
	case TRACE_EV_PROBE:
		return a->u.probe.addr == b->u.probe.addr && a->u.probe.on == b->u.probe.on &&
		       trace_point_regs_eq(b->flags, b->u.probe.regs_hash, a->u.probe.regs_hash) &&
		       trace_point_mem_eq(b->flags, b->u.probe.mem_hash, a->u.probe.regs_hash, a->u.probe.mem_hash);
	case TRACE_EV_MSR:
		return a->u.msr.index == b->u.msr.index && a->u.msr.value == b->u.msr.value;
	case TRACE_EV_END:
		return a->u.end.reason == b->u.end.reason && a->u.end.status == b->u.end.status &&
		       a->u.end.crash_kind == b->u.end.crash_kind && a->u.end.rip == b->u.end.rip;
	}
	return 0;
}

/* Write n events of the stest sequence (+ an END record when end) to path. */
/* The reader's chained register hashes and checks, followed like replay
 * follows them: every chained hash (from a, the event written) goes into
 * the chain, and a check must equal it and come no later than
 * TRACE_FP_CHECK_EVERY - 1 events after the oldest hash it covers.  Zero
 * it first; 0 while all is well. */
struct stest_chain {
	uint64_t chain, oldest; /* oldest: seq + 1 of the oldest hash not covered yet (0: none) */
};

static inline int stest_chain_step(struct stest_chain *c, const struct trace_event *a, const struct trace_event *b)
{
	if (b->flags & TRACE_EVF_FP_CHAINED) {
		c->chain = trace_fp_chain(c->chain, a->fp.regs_hash);
		if (!c->oldest)
			c->oldest = b->seq + 1;
	}
	if (b->flags & TRACE_EVF_CHECK) {
		if (!trace_hash_eq(b->flags, b->check, c->chain))
			return -1;
		c->chain = 0;
		c->oldest = 0;
	}
	/* Format 8: a kick point's hashes, after its check. */
	if ((b->flags & TRACE_EVF_SHORT) && ((a->kind == TRACE_EV_IRQ && a->u.irq.regs_hash) ||
					    (a->kind == TRACE_EV_PROBE && a->u.probe.on == TRACE_PROBE_AT_KICK))) {
		c->chain = trace_fp_chain(c->chain, a->kind == TRACE_EV_IRQ
				? trace_point_hash(a->u.irq.regs_hash, a->u.irq.mem_hash)
				: trace_point_hash(a->u.probe.regs_hash, a->u.probe.mem_hash));
		if (!c->oldest)
			c->oldest = b->seq + 1;
	}
	if (c->oldest && b->seq + 1 - c->oldest >= TRACE_FP_CHECK_EVERY - 1)
		return -2; /* a check is overdue */
	if (c->oldest && (b->kind == TRACE_EV_CHECKPOINT || b->kind == TRACE_EV_END))
		return -3; /* a checkpoint or end without the check */
	return 0;
}

/* stest_write() in format version (0: the current one). */
static inline int stest_write_v(const char *path, uint64_t n, uint32_t chunk_target, int end, uint32_t version)
{
	struct trace_writer *w;
	struct trace_writer_opts o = { .chunk_target = chunk_target, .format_version = version };
	struct trace_meta m = { .kvm_flavour = "test", .cmdline = "ttvm record test", .mem_size = 1 << 20 };
	struct trace_event ev;
	uint64_t exit_no = 0, rng = 0x1234567;
	int rc = trace_writer_open(path, &m, &o, &w);
	if (rc)
		return rc;
	for (uint64_t i = 0; i < n; i++) {
		stest_event(i, &exit_no, &rng, &ev);
		if ((rc = trace_writer_append(w, &ev))) {
			trace_writer_close(w, NULL);
			return rc;
		}
	}
	memset(&ev, 0, sizeof(ev));
	ev.exit_no = exit_no + 1;
	ev.u.end.reason = TRACE_END_GUEST_EXIT;
	ev.u.end.status = 3;
	ev.u.end.rip = 0x1234;
	return trace_writer_close(w, end ? &ev : NULL);
}

static inline int stest_write(const char *path, uint64_t n, uint32_t chunk_target, int end)
{
	return stest_write_v(path, n, chunk_target, end, 0);
}

#endif
