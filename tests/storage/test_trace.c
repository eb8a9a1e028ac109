/* Trace writer/reader: round trips, seeks, chunk boundaries, metadata,
 * images, incomplete traces (kill -9 of a writer) and a full disk. */
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "storage/codec.h"
#include "storage/trace.h"
#include "stest.h"
#include "testlib.h"

#define N_EVENTS 20000

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void check_all(const char *path, uint64_t n, int complete)
{
	struct trace_reader *r;
	struct trace_info info;
	struct trace_event want, got;
	struct stest_chain chain = { 0, 0 };
	uint64_t exit_no = 0, rng = 0x1234567;
	char err[512];
	int rc = trace_reader_open(path, &r, err, sizeof(err));
	CHECK_EQ(rc, 0);
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	trace_reader_info(r, &info);
	CHECK_EQ(info.n_events, n + (complete ? 1 : 0));
	CHECK_EQ(info.complete, complete);
	CHECK_EQ(info.format_version, TRACE_FORMAT_VERSION);
	for (uint64_t i = 0; i < n; i++) {
		stest_event(i, &exit_no, &rng, &want);
		want.seq = i;
		rc = trace_reader_next(r, &got);
		if (rc != 1 || !stest_equal(&want, &got)) {
			fprintf(stderr, "event %llu differs (rc %d: %s)\n", (unsigned long long)i, rc,
				trace_reader_errmsg(r));
			CHECK(0);
			break;
		}
		rc = stest_chain_step(&chain, &want, &got);
		if (rc) {
			fprintf(stderr, "event %llu: register check %d\n", (unsigned long long)i, rc);
			CHECK(0);
			break;
		}
	}
	if (complete) {
		CHECK_EQ(trace_reader_next(r, &got), 1);
		CHECK_EQ(stest_chain_step(&chain, &got, &got), 0);
		CHECK_EQ(got.kind, TRACE_EV_END);
		CHECK_EQ(got.u.end.status, 3);
		CHECK_EQ(got.u.end.rip, 0x1234);
		CHECK(!strcmp(trace_reader_meta(r, "end_reason"), "guest_exit"));
	}
	CHECK_EQ(trace_reader_next(r, &got), 0);
	trace_reader_close(r);
}

/* Every kind, with and without fingerprints, extremes of every field. */
static void test_roundtrip_kinds(void)
{
	const char *path = stest_path("kinds.trace");
	struct trace_writer *w;
	struct trace_event evs[32], got;
	struct trace_reader *r;
	char err[512];
	int n = 0;
	static const uint8_t big[3000] = { 1, 2, 3 };

	memset(evs, 0, sizeof(evs));
	evs[n].kind = TRACE_EV_CPUID; evs[n].u.blob.data = big; evs[n++].u.blob.len = sizeof(big);
	evs[n].kind = TRACE_EV_CPUID; evs[n].u.blob.len = 0; n++;
	evs[n].kind = TRACE_EV_PIO_READ; evs[n].u.pio.port = 0xffff; evs[n].u.pio.size = 4;
	evs[n++].u.pio.value = 0xffffffff;
	evs[n].kind = TRACE_EV_PIO_READ; evs[n].exit_no = 6; evs[n].u.pio.port = 0; evs[n].u.pio.size = 1; n++;
	evs[n].kind = TRACE_EV_MMIO_READ; evs[n].exit_no = 7; evs[n].u.mmio.addr = (1ull << 62) - 1;
	evs[n].u.mmio.size = 8; evs[n++].u.mmio.value = UINT64_MAX;
	evs[n].kind = TRACE_EV_MMIO_READ; evs[n].exit_no = 1000000; evs[n].u.mmio.addr = 0xfee00030;
	evs[n].u.mmio.size = 2; evs[n++].u.mmio.value = 0x50014;
	evs[n].kind = TRACE_EV_IRQ; evs[n].exit_no = UINT64_MAX / 2; evs[n].u.irq.vector = 255;
	evs[n++].u.irq.rip = UINT64_MAX;
	evs[n].kind = TRACE_EV_IRQ; evs[n].exit_no = UINT64_MAX / 2; evs[n].u.irq.vector = 0x20;
	evs[n].u.irq.rip = 1; evs[n++].u.irq.regs_hash = 0xdeadbeefcafef00dull;
	evs[n].kind = TRACE_EV_RDTSC; evs[n].exit_no = UINT64_MAX / 2 + 1; evs[n++].u.tsc.value = UINT64_MAX;
	evs[n].kind = TRACE_EV_RDTSC; evs[n].exit_no = UINT64_MAX / 2 + 1; evs[n++].u.tsc.value = 0;
	evs[n].kind = TRACE_EV_RDTSCP; evs[n].exit_no = UINT64_MAX / 2 + 2; evs[n].u.tsc.value = 12345;
	evs[n++].u.tsc.aux = 0xffffffff;
	evs[n].kind = TRACE_EV_RDRAND; evs[n].exit_no = UINT64_MAX / 2 + 2; evs[n].u.tsc.value = UINT64_MAX;
	evs[n].u.tsc.rand_insn = TRACE_RAND_RDRAND; evs[n++].u.tsc.rand_cf = 1;
	evs[n].kind = TRACE_EV_RDRAND; evs[n].exit_no = UINT64_MAX / 2 + 2; evs[n].u.tsc.value = 0;
	evs[n].u.tsc.rand_insn = TRACE_RAND_RDSEED; evs[n].flags = TRACE_EVF_FP; evs[n].fp.exit_reason = 2;
	evs[n].fp.rip = 0xffffffff81000000ull; evs[n++].fp.regs_hash = 42;
	evs[n].kind = TRACE_EV_SERIAL_IN; evs[n].exit_no = UINT64_MAX / 2 + 2; evs[n].u.blob.data = big;
	evs[n++].u.blob.len = 1;
	evs[n].kind = TRACE_EV_SERIAL_IN; evs[n].exit_no = UINT64_MAX / 2 + 2; evs[n].u.blob.data = big;
	evs[n].u.blob.len = 5; evs[n].flags = TRACE_EVF_FP; evs[n].fp.exit_reason = 30;
	evs[n].fp.rip = 0x7c00; evs[n++].fp.regs_hash = 1;
	evs[n].kind = TRACE_EV_CHECKPOINT; evs[n].exit_no = UINT64_MAX - 1; evs[n++].u.ckpt.id = UINT64_MAX;
	evs[n].kind = TRACE_EV_PIO_READ; evs[n].exit_no = UINT64_MAX; evs[n].u.pio.port = 0x3f8;
	evs[n].u.pio.size = 2; evs[n].flags = TRACE_EVF_FP; evs[n].fp.exit_reason = UINT32_MAX;
	evs[n].fp.rip = 0; evs[n++].fp.regs_hash = UINT64_MAX;
	int n_plain = n;
	evs[n].kind = TRACE_EV_END; evs[n].exit_no = UINT64_MAX; evs[n].u.end.reason = TRACE_END_CRASH;
	evs[n].u.end.status = INT32_MIN; evs[n].u.end.crash_kind = 7; evs[n++].u.end.rip = UINT64_MAX;

	CHECK_EQ(trace_writer_open(path, NULL, NULL, &w), 0);
	for (int i = 0; i < n_plain; i++) {
		CHECK_EQ(trace_writer_append(w, &evs[i]), 0);
		CHECK_EQ(evs[i].seq, i);
	}
	evs[n_plain].seq = n_plain;
	CHECK_EQ(trace_writer_close(w, &evs[n_plain]), 0);

	CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
	for (int i = 0; i < n; i++) {
		CHECK_EQ(trace_reader_next(r, &got), 1);
		CHECK(stest_equal(&evs[i], &got));
		if (!stest_equal(&evs[i], &got))
			fprintf(stderr, "event %d (kind %u) differs\n", i, evs[i].kind);
	}
	CHECK_EQ(trace_reader_next(r, &got), 0);
	trace_reader_close(r);
}

/* Format 5 (and older) as the writer can still write it for tests: every
 * fingerprint keeps its full register hash, and there are no checks. */
static void test_old_format(void)
{
	const char *path = stest_path("v5.trace");
	struct trace_writer *w;
	struct trace_writer_opts bad = { .format_version = TRACE_FORMAT_VERSION + 1 };
	struct trace_reader *r;
	struct trace_info info;
	struct trace_event want, got;
	uint64_t exit_no = 0, rng = 0x1234567, n_fp = 0;
	char err[512];

	CHECK_EQ(trace_writer_open(stest_path("v7.trace"), NULL, &bad, &w), -EINVAL);
	bad.format_version = 1;
	CHECK_EQ(trace_writer_open(stest_path("v1.trace"), NULL, &bad, &w), -EINVAL);
	CHECK_EQ(stest_write_v(path, 3000, 256, 1, 5), 0);
	CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
	trace_reader_info(r, &info);
	CHECK_EQ(info.format_version, 5);
	for (uint64_t i = 0; i < 3000; i++) {
		stest_event(i, &exit_no, &rng, &want);
		want.seq = i;
		CHECK_EQ(trace_reader_next(r, &got), 1);
		CHECK(stest_equal(&want, &got));
		CHECK_EQ(got.flags, want.flags); /* neither chained nor checked */
		if (want.flags & TRACE_EVF_FP)
			CHECK_EQ(got.fp.regs_hash, want.fp.regs_hash);
		n_fp += !!(want.flags & TRACE_EVF_FP);
	}
	CHECK(n_fp > 100);
	trace_reader_close(r);
}

/* Formats 6 and 7 (one stream per chunk, 64-bit checks and kick-point
 * hashes) as the writer still writes them for tests, read back whole; and
 * an event read from a format 8 trace (its hashes cut to 32 bits) cannot
 * be copied into an older format. */
static void test_format_7(void)
{
	for (uint32_t v = 6; v <= 7; v++) {
		char name[32];
		snprintf(name, sizeof(name), "v%u.trace", v);
		const char *path = stest_path(name);
		struct trace_reader *r;
		struct trace_info info;
		struct trace_event want, got;
		struct stest_chain chain = { 0, 0 };
		uint64_t exit_no = 0, rng = 0x1234567, n_kick = 0, n_check = 0;
		char err[512];

		CHECK_EQ(stest_write_v(path, 3000, 256, 1, v), 0);
		CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
		trace_reader_info(r, &info);
		CHECK_EQ(info.format_version, v);
		for (uint64_t i = 0; i < 3000; i++) {
			stest_event(i, &exit_no, &rng, &want);
			want.seq = i;
			CHECK_EQ(trace_reader_next(r, &got), 1);
			CHECK(stest_equal(&want, &got));
			CHECK_EQ(stest_chain_step(&chain, &want, &got), 0);
			CHECK(!(got.flags & TRACE_EVF_SHORT));
			if (want.kind == TRACE_EV_IRQ && want.u.irq.regs_hash) {
				CHECK_EQ(got.u.irq.regs_hash, want.u.irq.regs_hash);
				CHECK_EQ(got.u.irq.mem_hash, want.u.irq.mem_hash);
				n_kick++;
			}
			n_check += !!(got.flags & TRACE_EVF_CHECK);
		}
		CHECK(n_kick > 10 && n_check > 10);
		trace_reader_close(r);
	}

	const char *src = stest_path("v8src.trace");
	struct trace_reader *a;
	struct trace_writer *w;
	struct trace_writer_opts o7 = { .format_version = 7 };
	struct trace_event ev;
	char err[512];
	int n_short = 0, rc;
	CHECK_EQ(stest_write(src, 500, 512, 0), 0);
	CHECK_EQ(trace_reader_open(src, &a, err, sizeof(err)), 0);
	CHECK_EQ(trace_writer_open(stest_path("v7copy.trace"), NULL, &o7, &w), 0);
	while ((rc = trace_reader_next(a, &ev)) == 1) {
		if (ev.flags & TRACE_EVF_SHORT) {
			CHECK_EQ(trace_writer_append(w, &ev), -EINVAL);
			n_short++;
		}
	}
	CHECK_EQ(rc, 0);
	CHECK(n_short > 5);
	CHECK_EQ(trace_writer_close(w, NULL), 0);
	trace_reader_close(a);
}

/* Events read from a format 6 trace and written again (tests/rr/tamper does
 * this) keep their chained hashes and checks: the copy reads the same. */
static void test_copy_keeps_checks(void)
{
	const char *src = stest_path("orig.trace"), *dst = stest_path("copy.trace");
	struct trace_reader *a, *b;
	struct trace_writer *w;
	struct trace_event ea, eb;
	char err[512];
	int n_check = 0, rc;

	CHECK_EQ(stest_write(src, 2000, 512, 0), 0);
	CHECK_EQ(trace_reader_open(src, &a, err, sizeof(err)), 0);
	CHECK_EQ(trace_writer_open(dst, NULL, NULL, &w), 0);
	while ((rc = trace_reader_next(a, &ea)) == 1)
		CHECK_EQ(trace_writer_append(w, &ea), 0);
	CHECK_EQ(rc, 0);
	CHECK_EQ(trace_writer_close(w, NULL), 0);
	CHECK_EQ(trace_reader_seek(a, 0), 0);
	CHECK_EQ(trace_reader_open(dst, &b, err, sizeof(err)), 0);
	while ((rc = trace_reader_next(a, &ea)) == 1) {
		CHECK_EQ(trace_reader_next(b, &eb), 1);
		CHECK(ea.exit_no == eb.exit_no && ea.kind == eb.kind && ea.fp.exit_reason == eb.fp.exit_reason &&
		      ea.fp.rip == eb.fp.rip && ea.fp.regs_hash == eb.fp.regs_hash);
		CHECK_EQ(eb.flags, ea.flags);
		CHECK_EQ(eb.check, ea.check);
		n_check += !!(eb.flags & TRACE_EVF_CHECK);
	}
	CHECK(n_check > 10);
	trace_reader_close(a);
	trace_reader_close(b);
}

/* Format 9 keeps of a kick point an 8-bit filter of its register hash and
 * a 32-bit point hash (5 bytes instead of format 8's 8): read back, the
 * filter and the point hash match the full hashes written, a state that
 * differs only in its memory or only above the filter's bits does not
 * match, and a point cannot be copied between formats 8 and 9 (each holds
 * what the other cannot rebuild). */
static void test_format_9_points(void)
{
	uint64_t raw[2] = { 0, 0 }, kicks = 0;
	for (uint32_t v = 8; v <= 9; v++) {
		char name[32];
		snprintf(name, sizeof(name), "p%u.trace", v);
		const char *path = stest_path(name);
		struct trace_reader *r;
		struct trace_info info;
		struct trace_event want, got;
		uint64_t exit_no = 0, rng = 0x1234567, n_kick = 0;
		char err[512];

		CHECK_EQ(stest_write_v(path, 3000, 256, 1, v), 0);
		CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
		trace_reader_info(r, &info);
		raw[v - 8] = info.raw_bytes;
		for (uint64_t i = 0; i < 3000; i++) {
			stest_event(i, &exit_no, &rng, &want);
			CHECK_EQ(trace_reader_next(r, &got), 1);
			if (want.kind != TRACE_EV_IRQ || !want.u.irq.regs_hash)
				continue;
			n_kick++;
			uint64_t rh = want.u.irq.regs_hash, mh = want.u.irq.mem_hash;
			CHECK(got.flags & TRACE_EVF_SHORT);
			CHECK_EQ(!!(got.flags & TRACE_EVF_POINT_MIX), v == 9);
			if (v == 9) {
				CHECK_EQ(got.u.irq.regs_hash, 1ull << 32 | (rh & 0xff));
				CHECK_EQ(got.u.irq.mem_hash, (uint32_t)trace_point_hash(rh, mh));
			}
			CHECK(trace_point_regs_eq(got.flags, got.u.irq.regs_hash, rh));
			CHECK(trace_point_mem_eq(got.flags, got.u.irq.mem_hash, rh, mh));
			CHECK(!trace_point_mem_eq(got.flags, got.u.irq.mem_hash, rh, mh + 1));
			CHECK(!trace_point_regs_eq(got.flags, got.u.irq.regs_hash, rh ^ 1));
			/* Only above the filter: format 9 lets the pass through to
			 * the point hash, which tells it apart. */
			CHECK_EQ(trace_point_regs_eq(got.flags, got.u.irq.regs_hash, rh ^ 0x100), v == 9);
			if (v == 9)
				CHECK(!trace_point_mem_eq(got.flags, got.u.irq.mem_hash, rh ^ 0x100, mh));
		}
		CHECK(n_kick > 10);
		kicks = n_kick;
		trace_reader_close(r);
	}
	/* 3 bytes less per kick point (and per probe's), before compression. */
	CHECK(raw[0] - raw[1] >= 3 * kicks);

	for (uint32_t from = 8; from <= 9; from++) {
		char name[32];
		snprintf(name, sizeof(name), "p%u.trace", from);
		struct trace_reader *a;
		struct trace_writer *w;
		struct trace_writer_opts o = { .format_version = from == 8 ? 9 : 8 };
		struct trace_event ev;
		char err[512];
		int n_refused = 0, rc;
		CHECK_EQ(trace_reader_open(stest_path(name), &a, err, sizeof(err)), 0);
		snprintf(name, sizeof(name), "p%ucopy.trace", from);
		CHECK_EQ(trace_writer_open(stest_path(name), NULL, &o, &w), 0);
		while ((rc = trace_reader_next(a, &ev)) == 1)
			if (ev.kind == TRACE_EV_IRQ && ev.u.irq.regs_hash) {
				CHECK_EQ(trace_writer_append(w, &ev), -EINVAL);
				n_refused++;
			}
		CHECK_EQ(rc, 0);
		CHECK(n_refused > 10);
		CHECK_EQ(trace_writer_close(w, NULL), 0);
		trace_reader_close(a);
	}
}

static void test_invalid_events(void)
{
	const char *path = stest_path("invalid.trace");
	struct trace_writer *w;
	struct trace_event ev;
	CHECK_EQ(trace_writer_open(path, NULL, NULL, &w), 0);
	CHECK_EQ(trace_writer_open(path, NULL, NULL, &w) == 0, 0); /* exists: refused */
	memset(&ev, 0, sizeof(ev));
	ev.kind = 0;
	CHECK_EQ(trace_writer_append(w, &ev), -EINVAL);
	ev.kind = 99;
	CHECK_EQ(trace_writer_append(w, &ev), -EINVAL);
	ev.kind = TRACE_EV_PIO_READ;
	ev.u.pio.size = 3;
	CHECK_EQ(trace_writer_append(w, &ev), -EINVAL);
	ev.u.pio.size = 1;
	ev.exit_no = 10;
	CHECK_EQ(trace_writer_append(w, &ev), 0);
	ev.exit_no = 9; /* exit numbers never go back */
	CHECK_EQ(trace_writer_append(w, &ev), -EINVAL);
	ev.kind = TRACE_EV_SERIAL_IN;
	ev.exit_no = 10;
	ev.u.blob.len = 0;
	CHECK_EQ(trace_writer_append(w, &ev), -EINVAL);
	ev.kind = TRACE_EV_MMIO_READ;
	ev.u.mmio.size = 8;
	ev.u.mmio.addr = 1ull << 62;
	CHECK_EQ(trace_writer_append(w, &ev), -EINVAL);
	ev.kind = TRACE_EV_RDRAND; /* neither RDRAND nor RDSEED, or a CF that is not a bit */
	ev.u.tsc.rand_insn = 3;
	CHECK_EQ(trace_writer_append(w, &ev), -EINVAL);
	ev.u.tsc.rand_insn = TRACE_RAND_RDSEED;
	ev.u.tsc.rand_cf = 2;
	CHECK_EQ(trace_writer_append(w, &ev), -EINVAL);
	CHECK_EQ(trace_writer_next_seq(w), 1);
	ev.u.end.reason = 0; /* bad end record: the trace stays, incomplete */
	CHECK_EQ(trace_writer_close(w, &ev), -EINVAL);
	struct trace_reader *r;
	char err[512];
	CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
	struct trace_info info;
	trace_reader_info(r, &info);
	CHECK_EQ(info.n_events, 1);
	CHECK_EQ(info.complete, 0);
	trace_reader_close(r);
}

static void test_many_events_small_chunks(void)
{
	const char *path = stest_path("small.trace");
	CHECK_EQ(stest_write(path, N_EVENTS, 512, 1), 0);
	check_all(path, N_EVENTS, 1);
}

static void test_many_events_default_chunks(void)
{
	const char *path = stest_path("default.trace");
	CHECK_EQ(stest_write(path, 5 * N_EVENTS, 0, 1), 0);
	check_all(path, 5 * N_EVENTS, 1);
}

/* Random seeks (forward, backward, within and across chunks), each checked
 * against the generator; and every chunk's first and last event. */
static void test_seeks(void)
{
	const char *path = stest_path("seek.trace");
	enum { N = N_EVENTS };
	static struct trace_event want[N];
	static uint8_t blobs[N][64];
	uint64_t exit_no = 0, rng = 0x1234567, r2 = 99;
	struct trace_reader *r;
	struct trace_event got;
	struct trace_info info;
	char err[512];

	CHECK_EQ(stest_write(path, N, 700, 0), 0);
	for (uint64_t i = 0; i < N; i++) {
		stest_event(i, &exit_no, &rng, &want[i]);
		want[i].seq = i;
		if (want[i].kind == TRACE_EV_SERIAL_IN || want[i].kind == TRACE_EV_CPUID) {
			memcpy(blobs[i], want[i].u.blob.data, want[i].u.blob.len);
			want[i].u.blob.data = blobs[i];
		}
	}
	CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
	trace_reader_info(r, &info);
	CHECK(info.n_chunks > 50);
	int bad = 0;
	for (int k = 0; k < 3000; k++) {
		uint64_t i = stest_rand(&r2) % N;
		if (trace_reader_get(r, i, &got) != 1 || !stest_equal(&want[i], &got))
			bad++;
	}
	CHECK_EQ(bad, 0);
	for (uint64_t c = 0; c < info.n_chunks; c++) {
		struct trace_chunk_info ci;
		CHECK_EQ(trace_reader_chunk(r, c, &ci), 0);
		uint64_t a = ci.first_event, b = ci.first_event + ci.n_events - 1;
		if (trace_reader_get(r, b, &got) != 1 || !stest_equal(&want[b], &got) ||
		    got.exit_no != ci.last_exit)
			bad++;
		if (trace_reader_get(r, a, &got) != 1 || !stest_equal(&want[a], &got) ||
		    got.exit_no != ci.first_exit)
			bad++;
		/* reading on across the boundary */
		if (b + 1 < N && (trace_reader_seek(r, b) || trace_reader_next(r, &got) != 1 ||
				  trace_reader_next(r, &got) != 1 || !stest_equal(&want[b + 1], &got)))
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(trace_reader_chunk(r, info.n_chunks, &(struct trace_chunk_info){ 0 }), -ERANGE);
	/* seek by exit number: first event whose exit_no >= x */
	for (int k = 0; k < 500; k++) {
		uint64_t x = stest_rand(&r2) % (want[N - 1].exit_no + 1);
		uint64_t i = 0;
		while (want[i].exit_no < x)
			i++;
		if (trace_reader_seek_exit(r, x) || trace_reader_next(r, &got) != 1 ||
		    !stest_equal(&want[i], &got))
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(trace_reader_seek_exit(r, want[N - 1].exit_no + 1), -ERANGE);
	CHECK_EQ(trace_reader_seek(r, N + 5), -ERANGE);
	CHECK(strstr(trace_reader_errmsg(r), "past the end") != NULL);
	CHECK_EQ(trace_reader_get(r, N, &got), 0);
	trace_reader_close(r);
}

static void test_metadata_images(void)
{
	const char *path = stest_path("meta.trace");
	struct trace_writer *w;
	struct trace_reader *r;
	struct trace_image_info ii;
	struct trace_info info;
	char err[512];
	static uint8_t img[3 << 20];
	static uint8_t back[3 << 20];
	static const uint8_t policy[5] = { 9, 8, 7, 6, 5 };
	struct trace_meta m = { .kvm_flavour = "kvm-intel", .cmdline = "ttvm record -m 64 k.elf",
				.mem_size = 64 << 20, .start_time = 1700000000,
				.cpuid_policy = policy, .cpuid_policy_len = sizeof(policy) };
	for (size_t i = 0; i < sizeof(img); i++)
		img[i] = (uint8_t)(i * 7 / 4096);
	CHECK_EQ(trace_writer_open(path, &m, NULL, &w), 0);
	CHECK_EQ(trace_writer_add_image(w, "kernel.elf", img, sizeof(img), 1), 0);
	CHECK_EQ(trace_writer_add_image(w, "disk.img", img, 1000, 0), 0);
	CHECK_EQ(trace_writer_set_meta(w, "note", "hello"), 0);
	CHECK_EQ(trace_writer_close(w, NULL), 0);

	CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
	trace_reader_info(r, &info);
	CHECK_EQ(info.n_images, 2);
	CHECK_EQ(info.n_events, 0);
	CHECK_EQ(info.complete, 0);
	CHECK(!strcmp(trace_reader_meta(r, "kvm_flavour"), "kvm-intel"));
	CHECK(!strcmp(trace_reader_meta(r, "cmdline"), "ttvm record -m 64 k.elf"));
	CHECK(!strcmp(trace_reader_meta(r, "mem_size"), "67108864"));
	CHECK(!strcmp(trace_reader_meta(r, "start_time"), "1700000000"));
	CHECK(!strcmp(trace_reader_meta(r, "note"), "hello"));
	CHECK(!strcmp(trace_reader_meta(r, "state"), "incomplete"));
	CHECK(trace_reader_meta(r, "ttvm_version") != NULL);
	CHECK(trace_reader_meta(r, "nope") == NULL);
	size_t len;
	const uint8_t *p = trace_reader_meta_blob(r, "cpuid_policy", &len);
	CHECK(p && len == 5 && !memcmp(p, policy, 5));
	CHECK_EQ(trace_reader_image(r, 0, &ii), 0);
	CHECK(!strcmp(ii.name, "kernel.elf"));
	CHECK_EQ(ii.size, sizeof(img));
	CHECK_EQ(ii.stored, 1);
	CHECK_EQ(trace_reader_image_data(r, 0, back, sizeof(back)), 0);
	CHECK(!memcmp(back, img, sizeof(img)));
	CHECK_EQ(trace_reader_image(r, 1, &ii), 0);
	CHECK_EQ(ii.stored, 0);
	CHECK_EQ(trace_reader_image_data(r, 1, back, 1000), -ENOENT);
	CHECK_EQ(trace_reader_image(r, 2, &ii), -ERANGE);
	trace_reader_close(r);
}

/* A writer child appends forever, committing per its clock; the parent
 * SIGKILLs it and checks what survived: a readable, incomplete prefix. */
static void test_kill9(void)
{
	const char *path = stest_path("killed.trace");
	/* progress[k] = events appended by the child at ~k*10 ms */
	struct progress { uint64_t ns, events; } *prog;
	enum { NPROG = 4096 };
	int pfd[2];
	prog = mmap(NULL, NPROG * sizeof(*prog), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(prog != MAP_FAILED);
	CHECK_EQ(pipe(pfd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct trace_writer *w;
		struct trace_writer_opts o = { 0 }; /* the default commit interval */
		unsigned k = 0;
		struct trace_event ev;
		uint64_t exit_no = 0, rng = 0x1234567;
		close(pfd[0]);
		if (trace_writer_open(path, NULL, &o, &w))
			_exit(1);
		for (uint64_t i = 0;; i++) {
			stest_event(i, &exit_no, &rng, &ev);
			if (trace_writer_append(w, &ev))
				_exit(1);
			if (i == 1000 && write(pfd[1], "x", 1) != 1)
				_exit(1);
			if (i % 1000 == 0) {
				struct timespec ts = { 0, 200000 };
				nanosleep(&ts, NULL); /* slow enough to keep the file small */
				if (k < NPROG) {
					prog[k].ns = now_ns();
					prog[k].events = i + 1;
					k++;
				}
			}
		}
	}
	close(pfd[1]);
	char c;
	CHECK_EQ(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	struct timespec ts = { 2, 300 * 1000000 };
	nanosleep(&ts, NULL);
	uint64_t killed_at = now_ns();
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status));

	struct trace_reader *r;
	struct trace_info info;
	char err[512];
	CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
	if (!r) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	trace_reader_info(r, &info);
	CHECK_EQ(info.complete, 0);
	CHECK(info.n_events > 1000);
	printf("# kill -9: %llu events survived in %llu chunks\n",
	       (unsigned long long)info.n_events, (unsigned long long)info.n_chunks);
	uint64_t n = info.n_events, must = 0;
	for (unsigned k = 0; k < NPROG && prog[k].ns; k++)
		if (prog[k].ns + 1000000000ull <= killed_at)
			must = prog[k].events;
	printf("# events appended 1 s before the kill: %llu\n", (unsigned long long)must);
	CHECK(must > 0 && n >= must);
	munmap(prog, NPROG * sizeof(*prog));
	trace_reader_close(r);
	check_all(path, n, 0);
}

/* A slow recorder: the commit comes from the append path itself (the clock
 * is read on every event at low rates), or from trace_writer_tick() when
 * idle.  The child is killed while idle; what it had committed survives. */
static void slow_child(const char *path, int use_tick, int pfd)
{
	struct trace_writer *w;
	struct trace_event ev;
	uint64_t exit_no = 0, rng = 0x1234567;
	struct timespec ts = { 0, 600 * 1000000 };
	if (trace_writer_open(path, NULL, NULL, &w))
		_exit(1);
	for (uint64_t i = 0; i < 5; i++) {
		stest_event(i, &exit_no, &rng, &ev);
		if (trace_writer_append(w, &ev))
			_exit(1);
	}
	nanosleep(&ts, NULL);
	if (use_tick) {
		if (trace_writer_tick(w))
			_exit(1);
	} else {
		stest_event(5, &exit_no, &rng, &ev);
		if (trace_writer_append(w, &ev))
			_exit(1);
	}
	if (write(pfd, "x", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

static void test_slow_commit(void)
{
	for (int use_tick = 0; use_tick < 2; use_tick++) {
		const char *path = stest_path(use_tick ? "tick.trace" : "slow.trace");
		int pfd[2];
		char c;
		CHECK_EQ(pipe(pfd), 0);
		pid_t pid = fork();
		if (pid == 0) {
			close(pfd[0]);
			slow_child(path, use_tick, pfd[1]);
		}
		close(pfd[1]);
		CHECK_EQ(read(pfd[0], &c, 1), 1);
		close(pfd[0]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		check_all(path, use_tick ? 5 : 6, 0);
	}
}

/* A file-size cap acts as a full disk: the writer stops with -ENOSPC and a
 * message, and everything committed before stays readable. */
static void test_disk_full(void)
{
	const char *path = stest_path("full.trace");
	struct trace_writer *w;
	struct trace_writer_opts o = { .max_bytes = 256 * 1024, .commit_ms = 1 };
	struct trace_event ev;
	uint64_t exit_no = 0, rng = 0x1234567, i;
	int rc = 0;
	CHECK_EQ(trace_writer_open(path, NULL, &o, &w), 0);
	for (i = 0; i < 10000000; i++) {
		stest_event(i, &exit_no, &rng, &ev);
		if ((rc = trace_writer_append(w, &ev)))
			break;
		if (i % 500 == 0 && (rc = trace_writer_flush(w)))
			break;
	}
	CHECK_EQ(rc, -ENOSPC);
	CHECK_EQ(trace_writer_append(w, &ev), -ENOSPC);
	CHECK_EQ(trace_writer_close(w, NULL), -ENOSPC);
	struct trace_reader *r;
	struct trace_info info;
	char err[512];
	CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
	if (!r)
		return;
	trace_reader_info(r, &info);
	CHECK_EQ(info.complete, 0);
	CHECK(info.n_events > 0 && info.n_events <= i);
	CHECK(i - info.n_events <= 501);
	trace_reader_close(r);
	check_all(path, info.n_events, 0);
}

static void test_codec_names(void)
{
	for (uint32_t k = 1; k <= TRACE_EV_KIND_MAX; k++)
		CHECK_EQ(trace_kind_from_name(trace_kind_name(k)), k);
	CHECK(trace_kind_name(0) == NULL);
	CHECK_EQ(trace_kind_from_name("bogus"), 0);
	CHECK(!strcmp(trace_end_reason_name(TRACE_END_USER), "user"));
}

int main(void)
{
	RUN_TEST(test_codec_names);
	RUN_TEST(test_roundtrip_kinds);
	RUN_TEST(test_invalid_events);
	RUN_TEST(test_many_events_small_chunks);
	RUN_TEST(test_many_events_default_chunks);
	RUN_TEST(test_seeks);
	RUN_TEST(test_metadata_images);
	RUN_TEST(test_old_format);
	RUN_TEST(test_format_7);
	RUN_TEST(test_copy_keeps_checks);
	RUN_TEST(test_format_9_points);
	RUN_TEST(test_kill9);
	RUN_TEST(test_slow_commit);
	RUN_TEST(test_disk_full);
	stest_cleanup();
	return TEST_EXIT();
}
