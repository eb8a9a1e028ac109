/* Flight recording in the store: trace_drop_before() re-bases the new oldest
 * checkpoint, drops what lies before it, and the reader starts there; the
 * file stays bounded over many drops; a kill -9 or a full disk in the middle
 * of dropping leaves a readable trace whose checkpoints all rebuild. */
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "storage/checkpoint.h"
#include "storage/trace.h"
#include "stest.h"
#include "testlib.h"

#define PAGES 64
#define MEM (PAGES * TRACE_CKPT_PAGE)

static uint8_t mem[MEM], exp_a[MEM], exp_b[MEM], back[MEM];

static uint64_t count(const char *path, const char *q)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	uint64_t v = UINT64_MAX;
	sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Events of every kind but checkpoint and end (those come from the store). */
static void append_events(struct trace_writer *w, uint64_t n, uint64_t *exit_no, uint64_t *rng)
{
	for (uint64_t i = 0; i < n; i++) {
		struct trace_event ev;
		stest_event(i, exit_no, rng, &ev);
		if (ev.kind == TRACE_EV_CHECKPOINT) {
			memset(&ev.u, 0, sizeof(ev.u));
			ev.kind = TRACE_EV_PIO_READ;
			ev.u.pio.size = 1;
		}
		if (trace_writer_append(w, &ev))
			return;
	}
}

/* Rewrite n pages of mem (page numbers into dirty) with fresh contents;
 * some become zero. */
static size_t scribble(uint64_t *rng, uint64_t *dirty, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		uint64_t p = stest_rand(rng) % PAGES;
		dirty[k] = p;
		if (stest_rand(rng) % 8 == 0) {
			memset(mem + p * TRACE_CKPT_PAGE, 0, TRACE_CKPT_PAGE);
			continue;
		}
		for (unsigned i = 0; i < TRACE_CKPT_PAGE; i += 8) {
			uint64_t v = stest_rand(rng);
			memcpy(mem + p * TRACE_CKPT_PAGE + i, &v, 8);
		}
	}
	return n;
}

static uint64_t orphans(const char *path)
{
	return count(path, "SELECT count(*) FROM pages WHERE id NOT IN"
			   " (SELECT page FROM checkpoint_pages WHERE page IS NOT NULL)");
}

/* Every event from the kept start reads, every checkpoint rebuilds (pages
 * checked against their hashes), the oldest is full at the kept start. */
static void check_readable(const char *path, uint64_t *first_out, uint64_t *nck_out)
{
	struct trace_reader *r;
	struct trace_info info;
	struct trace_event ev;
	char err[512];
	int rc;

	CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
	if (!r) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	trace_reader_info(r, &info);
	uint64_t n = 0;
	while ((rc = trace_reader_next(r, &ev)) == 1) {
		if (!n)
			CHECK_EQ(ev.seq, info.first_event);
		n++;
	}
	CHECK_EQ(rc, 0);
	CHECK_EQ(n, info.n_events - info.first_event);
	for (uint64_t i = 0; i < info.n_checkpoints; i++) {
		struct trace_ckpt_info ci;
		uint8_t vcpu[64];
		CHECK_EQ(trace_ckpt_get(r, i, &ci), 0);
		if (i == 0 && info.first_event) {
			CHECK(ci.full);
			CHECK_EQ(ci.event_no, info.first_event);
		}
		CHECK_EQ(trace_ckpt_load(r, ci.id, vcpu, sizeof(vcpu), back, MEM), 0);
	}
	if (first_out)
		*first_out = info.first_event;
	if (nck_out)
		*nck_out = info.n_checkpoints;
	trace_reader_close(r);
}

static void test_drop(void)
{
	const char *path = stest_path("drop.trace");
	struct trace_writer_opts o = { .flight = 1 };
	struct trace_writer *w;
	struct trace_reader *r;
	struct trace_info info;
	struct trace_ckpt_info ci;
	struct trace_event ev;
	struct trace_drop_stats ds;
	uint64_t exit_no = 0, rng = 42, dirty[PAGES], id[4], ev_of[4];
	uint8_t vcpu[16] = "vcpu", v2[16];
	char err[512];

	CHECK_EQ(trace_writer_open(path, NULL, &o, &w), 0);
	memset(mem, 0, MEM);
	scribble(&rng, dirty, 40);
	for (int c = 0; c < 4; c++) {
		append_events(w, 3000, &exit_no, &rng);
		vcpu[5] = (uint8_t)c;
		ev_of[c] = trace_writer_next_seq(w);
		if (c == 0)
			CHECK_EQ(trace_ckpt_store(w, exit_no, vcpu, sizeof(vcpu), mem, MEM, NULL, 0, 0, &id[c]), 0);
		else
			CHECK_EQ(trace_ckpt_store(w, exit_no, vcpu, sizeof(vcpu), mem, MEM, dirty,
						  scribble(&rng, dirty, 6), id[c - 1], &id[c]), 0);
		/* what checkpoint 2 and 3 hold, to compare after the drop */
		if (c == 2)
			memcpy(exp_a, mem, MEM);
		if (c == 3)
			memcpy(exp_b, mem, MEM);
	}
	append_events(w, 500, &exit_no, &rng);
	uint64_t pages_before = (trace_writer_flush(w), count(path, "SELECT count(*) FROM pages"));

	/* Not a flight writer, no such checkpoint. */
	CHECK_EQ(trace_drop_before(w, 999, NULL), -ENOENT);
	CHECK_EQ(trace_drop_before(w, id[2], &ds), 0);
	CHECK_EQ(ds.checkpoints, 2);
	CHECK_EQ(ds.events, ev_of[2]);
	CHECK(ds.chunks > 0);
	CHECK(ds.pages > 0);
	CHECK(count(path, "SELECT count(*) FROM pages") < pages_before);
	CHECK_EQ(orphans(path), 0);
	CHECK_EQ(count(path, "SELECT min(first_event) FROM chunks"), ev_of[2]);

	/* A reader of the trace being written starts at the kept checkpoint. */
	CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
	trace_reader_info(r, &info);
	CHECK_EQ(info.first_event, ev_of[2]);
	CHECK_EQ(info.n_events, ev_of[3] + 1 + 500);
	CHECK_EQ(info.n_checkpoints, 2);
	CHECK_EQ(trace_reader_next(r, &ev), 1);
	CHECK_EQ(ev.seq, ev_of[2]);
	CHECK_EQ(ev.kind, TRACE_EV_CHECKPOINT);
	CHECK_EQ(ev.u.ckpt.id, id[2]);
	CHECK_EQ(trace_reader_get(r, 0, &ev), -ERANGE);
	CHECK(strstr(trace_reader_errmsg(r), "event 0 was dropped") != NULL);
	CHECK_EQ(trace_reader_seek(r, ev_of[2] - 1), -ERANGE);
	CHECK_EQ(trace_reader_get(r, ev_of[3], &ev), 1);
	CHECK_EQ(ev.u.ckpt.id, id[3]);
	CHECK_EQ(trace_ckpt_find(r, ev_of[2] - 1, &ci), -ENOENT);
	CHECK_EQ(trace_ckpt_find(r, ev_of[2], &ci), 0);
	CHECK_EQ(ci.id, id[2]);
	CHECK(ci.full);
	CHECK_EQ(ci.parent, 0);
	CHECK_EQ(trace_ckpt_load(r, id[2], v2, sizeof(v2), back, MEM), 0);
	CHECK(!memcmp(back, exp_a, MEM));
	CHECK_EQ(v2[5], 2);
	CHECK_EQ(trace_ckpt_load(r, id[3], v2, sizeof(v2), back, MEM), 0);
	CHECK(!memcmp(back, exp_b, MEM));
	trace_reader_close(r);

	/* Again to the newest, then complete it. */
	CHECK_EQ(trace_drop_before(w, id[3], &ds), 0);
	CHECK_EQ(ds.checkpoints, 1);
	CHECK_EQ(ds.events, ev_of[3] - ev_of[2]);
	CHECK_EQ(orphans(path), 0);
	struct trace_event end = { .kind = TRACE_EV_END, .exit_no = exit_no };
	end.u.end.reason = TRACE_END_GUEST_EXIT;
	CHECK_EQ(trace_writer_close(w, &end), 0);
	uint64_t first = 0;
	check_readable(path, &first, NULL);
	CHECK_EQ(first, ev_of[3]);
	CHECK_EQ(count(path, "SELECT value FROM meta WHERE key='dropped_checkpoints'"), 3);
	CHECK_EQ(count(path, "SELECT value FROM meta WHERE key='kept_from_checkpoint'"), id[3]);

	/* inspect says where the kept part begins and what went. */
	char out[8192];
	const char *args[] = { path, NULL };
	CHECK_EQ(stest_inspect(args, out, sizeof(out)), 0);
	char want[128];
	snprintf(want, sizeof(want), "kept part      begins at event %llu (checkpoint %llu,",
		 (unsigned long long)ev_of[3], (unsigned long long)id[3]);
	CHECK(strstr(out, want) != NULL);
	snprintf(want, sizeof(want), "dropped        events 0..%llu, 3 checkpoint(s), in 2 drop(s)",
		 (unsigned long long)ev_of[3] - 1);
	CHECK(strstr(out, want) != NULL);
	const char *args2[] = { "--events", "0:5", path, NULL };
	CHECK_EQ(stest_inspect(args2, out, sizeof(out)), 0);
	CHECK(strstr(out, "# events 0..4 were dropped (flight recording)") != NULL);

	/* Only a flight writer drops. */
	const char *p2 = stest_path("plain.trace");
	CHECK_EQ(trace_writer_open(p2, NULL, NULL, &w), 0);
	CHECK_EQ(trace_ckpt_store(w, 0, vcpu, sizeof(vcpu), mem, MEM, NULL, 0, 0, &id[0]), 0);
	CHECK_EQ(trace_drop_before(w, id[0], NULL), -EINVAL);
	trace_writer_close(w, NULL);
}

static uint64_t file_bytes(const char *path)
{
	struct stat st;
	char wal[600];
	uint64_t n = stat(path, &st) ? 0 : (uint64_t)st.st_size;
	snprintf(wal, sizeof(wal), "%s-wal", path);
	return n + (stat(wal, &st) ? 0 : (uint64_t)st.st_size);
}

/* 300 rounds of events and a checkpoint with fresh pages, keeping the last
 * 10 checkpoints: the file (database and WAL) levels off. */
static void test_bounded(void)
{
	const char *path = stest_path("bounded.trace");
	struct trace_writer_opts o = { .flight = 1 };
	struct trace_writer *w;
	uint64_t exit_no = 0, rng = 7, dirty[PAGES], id[400], at50 = 0, peak_after = 0;
	uint8_t vcpu[16] = "vcpu";

	CHECK_EQ(trace_writer_open(path, NULL, &o, &w), 0);
	memset(mem, 0, MEM);
	scribble(&rng, dirty, PAGES);
	for (int c = 0; c < 300; c++) {
		append_events(w, 4000, &exit_no, &rng);
		int rc = c == 0 ? trace_ckpt_store(w, exit_no, vcpu, sizeof(vcpu), mem, MEM, NULL, 0, 0, &id[c])
				: trace_ckpt_store(w, exit_no, vcpu, sizeof(vcpu), mem, MEM, dirty,
						   scribble(&rng, dirty, 12), id[c - 1], &id[c]);
		CHECK_EQ(rc, 0);
		if (rc)
			break;
		if (c >= 10)
			CHECK_EQ(trace_drop_before(w, id[c - 10], NULL), 0);
		uint64_t b = file_bytes(path);
		if (c == 50)
			at50 = b;
		if (c > 50 && b > peak_after)
			peak_after = b;
	}
	trace_writer_close(w, NULL);
	printf("# bounded: %llu bytes after 50 rounds, at most %llu over the next 250\n",
	       (unsigned long long)at50, (unsigned long long)peak_after);
	/* The WAL may swing by its limit (4 MiB) plus a commit. */
	CHECK(peak_after <= at50 + (5u << 20));
	CHECK(count(path, "SELECT count(*) FROM checkpoints") <= 11);
	CHECK_EQ(orphans(path), 0);
	check_readable(path, NULL, NULL);
}

/* A child records with drops after every checkpoint, forever; SIGKILL at a
 * random moment (many times): the trace stays readable, starts at a full
 * checkpoint, and everything in it rebuilds. */
static void test_kill9_drop(void)
{
	for (int round = 0; round < 6; round++) {
		char name[64];
		snprintf(name, sizeof(name), "killdrop%d.trace", round);
		const char *path = stest_path(name);
		int pfd[2];
		CHECK_EQ(pipe(pfd), 0);
		pid_t pid = fork();
		if (pid == 0) {
			struct trace_writer_opts o = { .flight = 1, .commit_ms = 20 };
			struct trace_writer *w;
			uint64_t exit_no = 0, rng = 99 + (uint64_t)round, dirty[PAGES], id[3] = { 0 };
			uint8_t vcpu[16] = "vcpu";
			close(pfd[0]);
			if (trace_writer_open(path, NULL, &o, &w))
				_exit(1);
			memset(mem, 0, MEM);
			scribble(&rng, dirty, PAGES);
			for (uint64_t c = 0;; c++) {
				append_events(w, 1500, &exit_no, &rng);
				uint64_t nid;
				if (trace_ckpt_store(w, exit_no, vcpu, sizeof(vcpu), mem, MEM, c ? dirty : NULL,
						     c ? scribble(&rng, dirty, 10) : 0, id[2], &nid))
					_exit(1);
				id[0] = id[1], id[1] = id[2], id[2] = nid;
				if (c >= 2 && trace_drop_before(w, id[0], NULL))
					_exit(1);
				if (c == 5 && write(pfd[1], "x", 1) != 1)
					_exit(1);
			}
		}
		close(pfd[1]);
		char ch;
		CHECK_EQ(read(pfd[0], &ch, 1), 1);
		close(pfd[0]);
		struct timespec ts = { 0, (long)(50 + 97 * round) * 1000000 };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		CHECK(WIFSIGNALED(status));
		uint64_t first = 0, nck = 0;
		check_readable(path, &first, &nck);
		CHECK(first > 0);
		CHECK(nck >= 1 && nck <= 4);
		CHECK_EQ(orphans(path), 0);
	}
}

/* A full disk (the writer's cap) while the kept part grows: the writer
 * stops with -ENOSPC, and what was committed (drops included) reads. */
static void test_full_disk_drop(void)
{
	const char *path = stest_path("fulldrop.trace");
	struct trace_writer_opts o = { .flight = 1, .max_bytes = 3u << 20 };
	struct trace_writer *w;
	uint64_t exit_no = 0, rng = 5, dirty[PAGES], id[1000];
	uint8_t vcpu[16] = "vcpu";
	int rc = 0, c;

	CHECK_EQ(trace_writer_open(path, NULL, &o, &w), 0);
	memset(mem, 0, MEM);
	scribble(&rng, dirty, PAGES);
	for (c = 0; c < 1000 && !rc; c++) {
		append_events(w, 2000, &exit_no, &rng);
		rc = c == 0 ? trace_ckpt_store(w, exit_no, vcpu, sizeof(vcpu), mem, MEM, NULL, 0, 0, &id[c])
			    : trace_ckpt_store(w, exit_no, vcpu, sizeof(vcpu), mem, MEM, dirty,
					       scribble(&rng, dirty, 16), id[c - 1], &id[c]);
		/* keep half of them: the kept part grows until the disk is full */
		if (!rc && c >= 2)
			rc = trace_drop_before(w, id[c / 2], NULL);
	}
	CHECK_EQ(rc, -ENOSPC);
	printf("# full disk after %d rounds\n", c);
	trace_writer_close(w, NULL);
	uint64_t first = 0;
	check_readable(path, &first, NULL);
	CHECK(first > 0);
	CHECK_EQ(orphans(path), 0);
}

int main(void)
{
	RUN_TEST(test_drop);
	RUN_TEST(test_bounded);
	RUN_TEST(test_kill9_drop);
	RUN_TEST(test_full_disk_drop);
	stest_cleanup();
	return TEST_EXIT();
}
