/* Damaged, foreign and future trace files: each gives one clear error that
 * names the trace and the position, a negative status, and no crash. */
#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "storage/hash.h"
#include "storage/trace.h"
#include "stest.h"
#include "testlib.h"

static void sql(const char *path, const char *stmt)
{
	sqlite3 *db;
	CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
	int rc = sqlite3_exec(db, stmt, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		fprintf(stderr, "sql %s: %s\n", stmt, sqlite3_errmsg(db));
	CHECK_EQ(rc, SQLITE_OK);
	sqlite3_close(db);
}

static const char *fresh(const char *name, uint64_t n, uint32_t chunk)
{
	const char *path = stest_path(name);
	CHECK_EQ(stest_write(path, n, chunk, 1), 0);
	return path;
}

/* Open must fail with rc and a message holding the path and `what`. */
static void expect_open_fail(const char *path, int want, const char *what)
{
	struct trace_reader *r = NULL;
	char err[512] = "";
	int rc = trace_reader_open(path, &r, err, sizeof(err));
	printf("#   %s\n", err);
	CHECK(rc < 0);
	if (want)
		CHECK_EQ(rc, want);
	CHECK(r == NULL);
	CHECK(strstr(err, path) != NULL);
	CHECK(strstr(err, what) != NULL);
	if (rc == 0)
		trace_reader_close(r);
}

/* Open succeeds; reading every event must fail with a message holding `what`. */
static void expect_read_fail(const char *path, int want, const char *what)
{
	struct trace_reader *r;
	struct trace_event ev;
	char err[512];
	int rc = trace_reader_open(path, &r, err, sizeof(err));
	CHECK_EQ(rc, 0);
	if (rc) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	while ((rc = trace_reader_next(r, &ev)) == 1)
		;
	printf("#   %s\n", trace_reader_errmsg(r));
	CHECK(rc < 0);
	if (want)
		CHECK_EQ(rc, want);
	CHECK(strstr(trace_reader_errmsg(r), path) != NULL);
	CHECK(strstr(trace_reader_errmsg(r), what) != NULL);
	CHECK(strstr(trace_reader_errmsg(r), "event") != NULL);
	trace_reader_close(r);
}

static void test_missing(void)
{
	expect_open_fail(stest_path("nonexistent.trace"), 0, "cannot open");
}

static void test_foreign_text(void)
{
	const char *path = stest_path("text.trace");
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 200; i++)
		fputs("this is not a trace file at all\n", f);
	fclose(f);
	expect_open_fail(path, -EBADMSG, "not a ttvm trace");
}

static void test_foreign_sqlite(void)
{
	const char *path = stest_path("other.sqlite");
	sql(path, "CREATE TABLE t(x); INSERT INTO t VALUES(1);");
	expect_open_fail(path, -EBADMSG, "application id");
}

static void test_empty_file(void)
{
	const char *path = stest_path("empty.trace");
	FILE *f = fopen(path, "w");
	fclose(f);
	expect_open_fail(path, -EBADMSG, "not a ttvm trace");
}

static void test_newer_version(void)
{
	const char *path = fresh("newer.trace", 100, 0);
	char q[64];
	snprintf(q, sizeof(q), "PRAGMA user_version=%d", TRACE_FORMAT_VERSION + 1);
	sql(path, q);
	expect_open_fail(path, -ENOTSUP, "newer");
}

static void test_version_disagrees(void)
{
	const char *path = fresh("vmeta.trace", 100, 0);
	char q[96];
	snprintf(q, sizeof(q), "UPDATE meta SET value='%d' WHERE key='format_version'", TRACE_FORMAT_VERSION + 1);
	sql(path, q);
	expect_open_fail(path, -EBADMSG, "format_version");
}

static void test_missing_table(void)
{
	const char *path = fresh("notable.trace", 100, 0);
	sql(path, "DROP TABLE chunks");
	expect_open_fail(path, -EBADMSG, "chunk table");
}

static void test_complete_count_lies(void)
{
	const char *path = fresh("count.trace", 100, 0);
	sql(path, "UPDATE meta SET value='5' WHERE key='events'");
	expect_open_fail(path, -EBADMSG, "marked complete");
}

static void test_chunk_gap(void)
{
	const char *path = fresh("gap.trace", 3000, 256);
	sql(path, "DELETE FROM chunks WHERE first_event=(SELECT first_event FROM chunks"
		  " ORDER BY first_event LIMIT 1 OFFSET 3)");
	expect_open_fail(path, -EBADMSG, "chunk 3");
}

static void test_raw_size_lies_middle(void)
{
	const char *path = fresh("rawmid.trace", 3000, 256);
	sql(path, "UPDATE chunks SET raw_size=raw_size+10 WHERE first_event=(SELECT first_event"
		  " FROM chunks ORDER BY first_event LIMIT 1 OFFSET 2)");
	expect_open_fail(path, -EBADMSG, "byte offset");
}

static void test_raw_size_huge(void)
{
	const char *path = fresh("rawhuge.trace", 3000, 256);
	sql(path, "UPDATE chunks SET raw_size=1099511627776 WHERE first_event=0");
	expect_open_fail(path, -EBADMSG, "impossible raw size");
}

static void test_raw_size_lies_last(void)
{
	const char *path = fresh("rawlast.trace", 3000, 256);
	sql(path, "UPDATE chunks SET raw_size=raw_size+10 WHERE first_event=(SELECT max(first_event)"
		  " FROM chunks)");
	expect_read_fail(path, -EBADMSG, "decompressed size differs");
}

static void test_raw_size_shrinks_last(void)
{
	const char *path = fresh("rawless.trace", 3000, 256);
	sql(path, "UPDATE chunks SET raw_size=raw_size-1 WHERE first_event=(SELECT max(first_event)"
		  " FROM chunks)");
	expect_read_fail(path, -EBADMSG, "chunk");
}

static void test_chunk_garbage(void)
{
	const char *path = fresh("garbage.trace", 3000, 256);
	sql(path, "UPDATE chunks SET data=randomblob(length(data)) WHERE first_event=(SELECT first_event"
		  " FROM chunks ORDER BY first_event LIMIT 1 OFFSET 4)");
	expect_read_fail(path, -EBADMSG, "chunk 4");
}

static void test_chunk_bitflip(void)
{
	/* flip one byte in the middle of the compressed data: lz4 may still
	 * decode it, then the checksum must catch it */
	const char *path = fresh("flip.trace", 3000, 256);
	sqlite3 *db;
	sqlite3_stmt *st;
	CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ(sqlite3_prepare_v2(db, "SELECT data FROM chunks WHERE first_event=0", -1, &st, NULL), 0);
	CHECK_EQ(sqlite3_step(st), SQLITE_ROW);
	int n = sqlite3_column_bytes(st, 0);
	uint8_t *z = malloc((size_t)n);
	memcpy(z, sqlite3_column_blob(st, 0), (size_t)n);
	sqlite3_finalize(st);
	z[n - 3] ^= 0x10; /* in the last literals: lz4 still decodes it */
	CHECK_EQ(sqlite3_prepare_v2(db, "UPDATE chunks SET data=? WHERE first_event=0", -1, &st, NULL), 0);
	sqlite3_bind_blob(st, 1, z, n, SQLITE_STATIC);
	CHECK_EQ(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(z);
	expect_read_fail(path, -EBADMSG, "checksum mismatch");
}

static void test_chunk_count_lies(void)
{
	const char *path = fresh("nlies.trace", 3000, 256);
	sql(path, "UPDATE chunks SET n_events=n_events+1 WHERE first_event=(SELECT max(first_event) FROM chunks);"
		  "UPDATE meta SET value=value+1 WHERE key='events'");
	expect_read_fail(path, -EBADMSG, "event 3000");
}

/* Re-encode the first chunk with byte off of its raw events changed: of
 * stream A when in_a (after the chunk header), else of the whole chunk. */
static void rewrite_first_chunk_in(const char *path, int off, uint8_t byte, int in_a)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_EQ(sqlite3_prepare_v2(db, "SELECT raw_size, data FROM chunks WHERE first_event=0", -1, &st, NULL), 0);
	CHECK_EQ(sqlite3_step(st), SQLITE_ROW);
	int raw = sqlite3_column_int(st, 0);
	char *buf = malloc((size_t)raw), *z = malloc((size_t)LZ4_compressBound(raw));
	CHECK_EQ(LZ4_decompress_safe(sqlite3_column_blob(st, 1), buf, sqlite3_column_bytes(st, 1), raw), raw);
	sqlite3_finalize(st);
	/* off counts from the start of stream A, after the chunk header
	 * (format 8: the varint length of stream A). */
	for (int i = 0; in_a && i < raw && (buf[i] & 0x80); i++)
		off++;
	off += in_a;
	CHECK(off < raw);
	buf[off] = (char)byte;
	int zl = LZ4_compress_default(buf, z, raw, LZ4_compressBound(raw));
	CHECK_EQ(sqlite3_prepare_v2(db, "UPDATE chunks SET data=?, checksum=? WHERE first_event=0", -1, &st, NULL), 0);
	sqlite3_bind_blob(st, 1, z, zl, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)hash64(buf, (size_t)raw));
	CHECK_EQ(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(buf);
	free(z);
}

static void rewrite_first_chunk_at(const char *path, int off, uint8_t byte)
{
	rewrite_first_chunk_in(path, off, byte, 1);
}

/* Re-encode the first chunk with its first tag byte changed. */
static void rewrite_first_chunk(const char *path, uint8_t tag)
{
	rewrite_first_chunk_at(path, 0, tag);
}

/* A trace whose first event is an rdrand event (tag, insn/CF byte, value). */
static const char *rdrand_trace(const char *name)
{
	const char *path = stest_path(name);
	struct trace_writer *w;
	struct trace_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = TRACE_EV_RDRAND;
	ev.u.tsc.value = 0x1234;
	ev.u.tsc.rand_insn = TRACE_RAND_RDSEED;
	ev.u.tsc.rand_cf = 1;
	CHECK_EQ(trace_writer_open(path, NULL, NULL, &w), 0);
	CHECK_EQ(trace_writer_append(w, &ev), 0);
	ev.kind = TRACE_EV_END;
	ev.u.end.reason = TRACE_END_GUEST_EXIT;
	CHECK_EQ(trace_writer_close(w, &ev), 0);
	return path;
}

/* Format 6: a fingerprint byte that says nothing valid.  The trace's first
 * event is a port read at exit 0 with a fingerprint: tag, port/size, then
 * the fingerprint byte at offset 2 of stream A (format 8: the value is in
 * stream B). */
static void test_bad_fp_byte(void)
{
	static const uint8_t bad[] = {
		0x80,        /* no fingerprint, yet no check */
		0x20 | 0x01, /* "the kick point" on a port read, with a RIP index */
		0xa0,        /* no fingerprint together with "the kick point" */
	};
	for (unsigned i = 0; i < sizeof(bad); i++) {
		char name[32];
		snprintf(name, sizeof(name), "fpbyte%u.trace", i);
		const char *path = stest_path(name);
		struct trace_writer *w;
		struct trace_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.kind = TRACE_EV_PIO_READ;
		ev.u.pio.size = 1;
		ev.flags = TRACE_EVF_FP;
		ev.fp.exit_reason = 2;
		ev.fp.rip = 0x1000;
		ev.fp.regs_hash = 77;
		CHECK_EQ(trace_writer_open(path, NULL, NULL, &w), 0);
		CHECK_EQ(trace_writer_append(w, &ev), 0);
		memset(&ev, 0, sizeof(ev));
		ev.kind = TRACE_EV_END;
		ev.u.end.reason = TRACE_END_GUEST_EXIT;
		CHECK_EQ(trace_writer_close(w, &ev), 0);
		rewrite_first_chunk_at(path, 2, bad[i]);
		expect_read_fail(path, -EBADMSG, "bad fingerprint byte");
	}
}

static void test_rdrand_bad_insn(void)
{
	const char *path = rdrand_trace("rdrand-insn.trace");
	rewrite_first_chunk_at(path, 1, 3 << 1 | 1); /* instruction 3: neither RDRAND nor RDSEED */
	expect_read_fail(path, -EBADMSG, "unknown RDRAND-family instruction");
	path = rdrand_trace("rdrand-insn0.trace");
	rewrite_first_chunk_at(path, 1, 0 << 1 | 1);
	expect_read_fail(path, -EBADMSG, "unknown RDRAND-family instruction");
}

/* Format 3 added the rdrand kind: an older trace cannot hold one, but its
 * other events still read. */
static void test_rdrand_in_old_format(void)
{
	const char *path = stest_path("old-rdrand.trace");
	CHECK_EQ(stest_write_v(path, 300, 256, 1, 2), 0);
	expect_read_fail(path, -EBADMSG, "rdrand event in a trace of format version 2");
	path = stest_path("old-plain.trace"); /* stest's events 0..7 hold no rdrand */
	CHECK_EQ(stest_write_v(path, 8, 0, 1, 2), 0);
	struct trace_reader *r;
	struct trace_event ev;
	char err[512];
	int n = 0, rc;
	CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
	while ((rc = trace_reader_next(r, &ev)) == 1)
		n++;
	CHECK_EQ(rc, 0);
	CHECK_EQ(n, 9); /* with the end record */
	trace_reader_close(r);
}

/* Format 5 added the msr kind: a trace of format 4 cannot hold one. */
static void test_msr_in_old_format(void)
{
	const char *path = stest_path("old-msr.trace");
	/* stest's event 10 is the first msr event; 8 and 9 (rdrand, probe) are fine in format 4. */
	CHECK_EQ(stest_write_v(path, 300, 256, 1, 4), 0);
	expect_read_fail(path, -EBADMSG, "msr event in a trace of format version 4");
}

static void test_unknown_kind(void)
{
	const char *path = fresh("kind.trace", 3000, 256);
	rewrite_first_chunk(path, 0x0f);
	expect_read_fail(path, -EPROTO, "unknown event kind");
	path = fresh("kind0.trace", 3000, 256);
	rewrite_first_chunk(path, 0x00);
	expect_read_fail(path, -EPROTO, "event 0 ");
}

/* Format 8: a chunk header whose stream A runs past the chunk's end. */
static void test_bad_chunk_header(void)
{
	const char *path = fresh("hdr.trace", 3000, 256);
	rewrite_first_chunk_in(path, 0, 0xff, 0);
	rewrite_first_chunk_in(path, 1, 0x7f, 0);
	expect_read_fail(path, -EBADMSG, "stream A runs past the chunk end");
}

static void test_bad_state(void)
{
	const char *path = fresh("state.trace", 10, 0);
	sql(path, "UPDATE meta SET value='weird' WHERE key='state'");
	expect_open_fail(path, -EBADMSG, "state");
}

static void test_wrong_column_type(void)
{
	const char *path = fresh("coltype.trace", 3000, 256);
	sql(path, "UPDATE chunks SET first_exit='abc' WHERE first_event=0");
	expect_open_fail(path, -EBADMSG, "not an integer");
}

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat sb;
	CHECK_EQ(stat(path, &sb), 0);
	uint8_t *buf = malloc((size_t)sb.st_size);
	FILE *f = fopen(path, "rb");
	CHECK_EQ(fread(buf, 1, (size_t)sb.st_size, f), (size_t)sb.st_size);
	fclose(f);
	*len = (size_t)sb.st_size;
	return buf;
}

/* Read everything a damaged image offers; any outcome but a crash is fine. */
static int read_all_mem(const uint8_t *buf, size_t len)
{
	struct trace_reader *r;
	struct trace_event ev;
	char err[512];
	int rc = trace_reader_open_mem(buf, len, "mem", &r, err, sizeof(err));
	if (rc) {
		CHECK(strstr(err, "trace mem") != NULL);
		return rc;
	}
	while ((rc = trace_reader_next(r, &ev)) == 1)
		;
	if (rc < 0)
		CHECK(strstr(trace_reader_errmsg(r), "trace mem") != NULL);
	trace_reader_close(r);
	return rc;
}

static void test_truncated(void)
{
	const char *path = fresh("trunc.trace", 20000, 0);
	size_t len;
	uint8_t *buf = slurp(path, &len);
	int failures = 0;
	CHECK_EQ(read_all_mem(buf, len), 0);
	for (size_t cut = 0; cut < len; cut += len / 37 + 1)
		failures += read_all_mem(buf, cut) < 0;
	printf("#   %d of 37 truncations refused\n", failures);
	CHECK(failures >= 30);
	/* and through a real file */
	const char *tpath = stest_path("trunc2.trace");
	FILE *f = fopen(tpath, "wb");
	fwrite(buf, 1, len / 2, f);
	fclose(f);
	struct trace_reader *r;
	char err[512];
	int rc = trace_reader_open(tpath, &r, err, sizeof(err));
	if (rc == 0) {
		struct trace_event ev;
		while ((rc = trace_reader_next(r, &ev)) == 1)
			;
		trace_reader_close(r);
	} else {
		CHECK(strstr(err, tpath) != NULL);
	}
	CHECK(rc < 0);
	free(buf);
}

static void test_random_corruption(void)
{
	const char *path = fresh("corrupt.trace", 5000, 1024);
	size_t len;
	uint8_t *buf = slurp(path, &len);
	uint8_t *copy = malloc(len);
	uint64_t rng = 42;
	int errors = 0;
	for (int it = 0; it < 400; it++) {
		memcpy(copy, buf, len);
		int flips = 1 + (int)(stest_rand(&rng) % 8);
		for (int k = 0; k < flips; k++)
			copy[stest_rand(&rng) % len] ^= (uint8_t)(1 + stest_rand(&rng) % 255);
		errors += read_all_mem(copy, len) < 0;
	}
	printf("#   %d of 400 corrupted copies gave an error\n", errors);
	free(copy);
	free(buf);
}

int main(void)
{
	RUN_TEST(test_missing);
	RUN_TEST(test_foreign_text);
	RUN_TEST(test_foreign_sqlite);
	RUN_TEST(test_empty_file);
	RUN_TEST(test_newer_version);
	RUN_TEST(test_version_disagrees);
	RUN_TEST(test_missing_table);
	RUN_TEST(test_complete_count_lies);
	RUN_TEST(test_bad_state);
	RUN_TEST(test_wrong_column_type);
	RUN_TEST(test_chunk_gap);
	RUN_TEST(test_raw_size_lies_middle);
	RUN_TEST(test_raw_size_huge);
	RUN_TEST(test_raw_size_lies_last);
	RUN_TEST(test_raw_size_shrinks_last);
	RUN_TEST(test_chunk_garbage);
	RUN_TEST(test_chunk_bitflip);
	RUN_TEST(test_chunk_count_lies);
	RUN_TEST(test_unknown_kind);
	RUN_TEST(test_bad_chunk_header);
	RUN_TEST(test_rdrand_bad_insn);
	RUN_TEST(test_rdrand_in_old_format);
	RUN_TEST(test_msr_in_old_format);
	RUN_TEST(test_bad_fp_byte);
	RUN_TEST(test_truncated);
	RUN_TEST(test_random_corruption);
	stest_cleanup();
	return TEST_EXIT();
}
