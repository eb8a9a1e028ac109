/* Trace-store benchmark: append throughput for a realistic event mix, bytes
 * per event after compression, random reads of single events, sequential
 * read rate.  Prints a table.
 *
 *   bench_storage [--events N] [--reads K] [--dir DIR] [--keep]
 *
 * The mix imitates a guest booting and idling with a serial console: polling
 * loops on UART/PS2 status ports, PIT and CMOS reads, LAPIC/HPET MMIO reads,
 * frequent RDTSC, timer interrupts at a few idle RIPs, rare serial input,
 * and a divergence fingerprint on 1% of events.  Events come from a
 * pre-generated pool (so generation is not timed), re-based on each pass to
 * keep exit numbers and TSC values increasing. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/trace.h"

#define POOL (1u << 20)

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const uint8_t serial_bytes[] = "ls -l /proc\n";

static void make_pool(struct trace_event *pool, uint64_t *pool_exits, uint64_t *pool_tsc)
{
	uint64_t exit_no = 0, tsc = 1000000000ull, pit = 0xffff, lapic = 0x100000, hpet = 0;
	unsigned burst = 0, burst_kind = 0;
	for (uint32_t i = 0; i < POOL; i++) {
		struct trace_event *ev = &pool[i];
		uint64_t r = rnd();
		unsigned pick = (unsigned)(r % 1000);
		memset(ev, 0, sizeof(*ev));
		exit_no += 1 + (r >> 10) % 4 / 3 + ((r >> 12) % 50 == 0 ? (r >> 20) % 40 : 0);
		tsc += 300 + (r >> 24) % 3000;
		ev->exit_no = exit_no;
		if (burst) { /* inside a polling loop: the same read again */
			burst--;
			pick = burst_kind;
		} else if (pick < 60) {
			burst = 5 + (unsigned)((r >> 32) % 60);
			burst_kind = pick;
		}
		if (pick < 350) { /* port I/O */
			ev->kind = TRACE_EV_PIO_READ;
			ev->u.pio.size = 1;
			switch (pick % 6) {
			case 0: case 1: ev->u.pio.port = 0x3fd; ev->u.pio.value = (r >> 40) % 50 ? 0x60 : 0x61; break;
			case 2: ev->u.pio.port = 0x64; ev->u.pio.value = 0x1c; break;
			case 3: ev->u.pio.port = 0x40; pit = (pit - 37 - (r >> 50) % 100) & 0xffff; ev->u.pio.value = (uint32_t)(pit & 0xff); break;
			case 4: ev->u.pio.port = 0x71; ev->u.pio.value = (uint32_t)((r >> 44) % 60); break;
			default: ev->u.pio.port = 0xcfc; ev->u.pio.size = 4; ev->u.pio.value = 0x12378086; break;
			}
		} else if (pick < 500) { /* MMIO */
			ev->kind = TRACE_EV_MMIO_READ;
			ev->u.mmio.size = 4;
			switch (pick % 4) {
			case 0: ev->u.mmio.addr = 0xfee00030; ev->u.mmio.value = 0x50014; break;
			case 1: ev->u.mmio.addr = 0xfee00390; lapic -= 100 + (r >> 40) % 500; ev->u.mmio.value = lapic & 0xffffffff; break;
			case 2: ev->u.mmio.addr = 0xfed000f0; ev->u.mmio.size = 8; hpet += 1000 + (r >> 40) % 4000; ev->u.mmio.value = hpet; break;
			default: ev->u.mmio.addr = 0xfec00010; ev->u.mmio.value = 0x170011; break;
			}
		} else if (pick < 820) {
			ev->kind = pick < 780 ? TRACE_EV_RDTSC : TRACE_EV_RDTSCP;
			ev->u.tsc.value = tsc;
		} else if (pick < 960) {
			static const uint64_t idle_rip[] = { 0xffffffff81a3c2f1ull, 0xffffffff81a3c2f3ull,
							     0xffffffff8107b4c0ull };
			ev->kind = TRACE_EV_IRQ;
			ev->u.irq.vector = (r >> 40) % 10 < 8 ? 0x20 : (r >> 40) % 10 == 8 ? 0x21 : 0x24;
			ev->u.irq.rip = (r >> 44) % 10 < 8 ? idle_rip[(r >> 48) % 3]
				: 0xffffffff81000000ull + (r >> 40) % 0x800000;
		} else {
			ev->kind = TRACE_EV_SERIAL_IN;
			ev->u.blob.data = serial_bytes + (r >> 40) % 11;
			ev->u.blob.len = 1;
		}
		if ((r >> 52) % 100 == 0) {
			ev->flags = TRACE_EVF_FP;
			ev->fp.exit_reason = 30;
			ev->fp.rip = 0xffffffff81000000ull + (r >> 30) % 0x800000;
			ev->fp.regs_hash = rnd();
		}
	}
	*pool_exits = exit_no;
	*pool_tsc = tsc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	uint64_t n = 100000000ull, reads = 1000;
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int keep = 0;
	char path[512];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--events") && i + 1 < argc)
			n = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--reads") && i + 1 < argc)
			reads = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--keep"))
			keep = 1;
		else {
			fprintf(stderr, "usage: %s [--events N] [--reads K] [--dir DIR] [--keep]\n", argv[0]);
			return 2;
		}
	}
	if (!n || !reads)
		return 2;
	snprintf(path, sizeof(path), "%s/bench-storage-%d.trace", dir, (int)getpid());

	struct trace_event *pool = malloc(POOL * sizeof(*pool));
	uint64_t pool_exits, pool_tsc;
	if (!pool)
		return 1;
	make_pool(pool, &pool_exits, &pool_tsc);

	/* append */
	struct trace_writer *w;
	struct trace_meta meta = { .kvm_flavour = "bench", .cmdline = "bench_storage", .mem_size = 1 << 30 };
	int rc = trace_writer_open(path, &meta, NULL, &w);
	if (rc)
		return 1;
	double t0 = now_s(), c0 = cpu_s();
	uint64_t base_exit = 0, base_tsc = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint32_t k = (uint32_t)(i % POOL);
		if (k == 0 && i) {
			base_exit += pool_exits;
			base_tsc += pool_tsc;
		}
		struct trace_event ev = pool[k];
		ev.exit_no += base_exit;
		if (ev.kind == TRACE_EV_RDTSC || ev.kind == TRACE_EV_RDTSCP)
			ev.u.tsc.value += base_tsc;
		if ((rc = trace_writer_append(w, &ev))) {
			fprintf(stderr, "append failed: %d\n", rc);
			return 1;
		}
	}
	struct trace_event end = { .exit_no = base_exit + pool_exits, .kind = TRACE_EV_END };
	end.u.end.reason = TRACE_END_GUEST_EXIT;
	if (trace_writer_close(w, &end))
		return 1;
	double t_append = now_s() - t0, c_append = cpu_s() - c0;
	free(pool);

	/* random reads */
	struct trace_reader *r;
	struct trace_info info;
	struct trace_event ev;
	char err[512];
	t0 = now_s();
	if (trace_reader_open(path, &r, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	double t_open = now_s() - t0;
	trace_reader_info(r, &info);
	double *lat = malloc(reads * sizeof(*lat));
	for (uint64_t i = 0; i < reads; i++) {
		uint64_t seq = rnd() % info.n_events;
		double a = now_s();
		if (trace_reader_get(r, seq, &ev) != 1 || ev.seq != seq) {
			fprintf(stderr, "read of event %" PRIu64 " failed: %s\n", seq, trace_reader_errmsg(r));
			return 1;
		}
		lat[i] = now_s() - a;
		if (getenv("BENCH_TRACE_SLOW") && lat[i] > 1e-3)
			fprintf(stderr, "read %" PRIu64 " (event %" PRIu64 "): %.0f us\n", i, seq, lat[i] * 1e6);
	}
	qsort(lat, reads, sizeof(*lat), cmp_double);

	/* sequential read of (up to) 20 M events from a random start */
	uint64_t seq_n = info.n_events < 20000000 ? info.n_events : 20000000;
	uint64_t start = rnd() % (info.n_events - seq_n + 1);
	t0 = now_s();
	if (trace_reader_seek(r, start))
		return 1;
	for (uint64_t i = 0; i < seq_n; i++)
		if (trace_reader_next(r, &ev) != 1)
			return 1;
	double t_seq = now_s() - t0;
	trace_reader_close(r);

	printf("trace store benchmark: %" PRIu64 " events (+ end record), %" PRIu64 " chunks, file %s\n",
	       n, info.n_chunks, path);
	printf("| %-34s | %14s | %-12s |\n", "metric", "value", "goal");
	printf("|%s|%s|%s|\n", "------------------------------------", "----------------", "--------------");
	printf("| %-34s | %14.2f | %-12s |\n", "append throughput (M events/s)", (double)n / t_append / 1e6, ">= 10");
	printf("| %-34s | %14.2f | %-12s |\n", "  same, per CPU second (M/s)", (double)n / c_append / 1e6, "");
	printf("| %-34s | %14.3f | %-12s |\n", "stored bytes/event (lz4)", (double)info.stored_bytes / (double)info.n_events, "<= 3");
	printf("| %-34s | %14.3f | %-12s |\n", "encoded bytes/event (before lz4)", (double)info.raw_bytes / (double)info.n_events, "");
	printf("| %-34s | %14.2f | %-12s |\n", "compression ratio", (double)info.raw_bytes / (double)info.stored_bytes, "");
	printf("| %-34s | %14.1f | %-12s |\n", "reader open (ms)", t_open * 1e3, "");
	printf("| %-34s | %14.1f | %-12s |\n", "random read median (us)", lat[reads / 2] * 1e6, "< 1000");
	printf("| %-34s | %14.1f | %-12s |\n", "random read p99 (us)", lat[reads * 99 / 100] * 1e6, "");
	printf("| %-34s | %14.1f | %-12s |\n", "random read max (us)", lat[reads - 1] * 1e6, "");
	printf("| %-34s | %14.2f | %-12s |\n", "sequential read (M events/s)", (double)seq_n / t_seq / 1e6, "");
	free(lat);
	if (!keep) {
		char wal[600];
		unlink(path);
		snprintf(wal, sizeof(wal), "%s-wal", path);
		unlink(wal);
		snprintf(wal, sizeof(wal), "%s-shm", path);
		unlink(wal);
	}
	return 0;
}
