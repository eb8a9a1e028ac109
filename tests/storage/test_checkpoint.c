/* Checkpoints: full + incremental snapshots, dedup, nearest lookup, rebuild,
 * damaged pages. */
#include <errno.h>
#include <sqlite3.h>

#include "storage/checkpoint.h"
#include "storage/trace.h"
#include "stest.h"
#include "testlib.h"

#define PAGES 64
#define MEM (PAGES * TRACE_CKPT_PAGE)

static uint8_t mem0[MEM], mem1[MEM], mem2[MEM], back[MEM];

static void fill(uint8_t *m, uint64_t seed)
{
	uint64_t rng = seed;
	memset(m, 0, MEM);
	for (int p = 0; p < PAGES; p++) {
		if (p % 4 == 3)
			continue; /* zero pages */
		for (int i = 0; i < (int)TRACE_CKPT_PAGE; i += 8) {
			uint64_t v = p % 4 == 2 ? 0x1111111111111111ull : stest_rand(&rng);
			memcpy(m + p * TRACE_CKPT_PAGE + i, &v, 8);
		}
	}
}

static uint64_t count(const char *path, const char *q)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	uint64_t v = 0;
	sqlite3_open(path, &db);
	if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void test_store_load(void)
{
	const char *path = stest_path("ckpt.trace");
	struct trace_writer *w;
	struct trace_event ev;
	uint64_t exit_no = 0, rng = 5, id0, id1, id2, dirty[3];
	char vcpu[100], vback[100];

	fill(mem0, 1);
	memcpy(mem1, mem0, MEM);
	memset(mem1 + 5 * TRACE_CKPT_PAGE, 0x42, TRACE_CKPT_PAGE); /* page 5 changes */
	memset(mem1 + 6 * TRACE_CKPT_PAGE, 0, TRACE_CKPT_PAGE);    /* page 6 becomes zero */
	memcpy(mem2, mem1, MEM);
	memset(mem2 + 7 * TRACE_CKPT_PAGE, 0x43, TRACE_CKPT_PAGE); /* page 7 changes */

	CHECK_EQ(trace_writer_open(path, NULL, NULL, &w), 0);
	for (int i = 0; i < 100; i++) {
		stest_event((uint64_t)i, &exit_no, &rng, &ev);
		ev.kind = TRACE_EV_RDTSC;
		CHECK_EQ(trace_writer_append(w, &ev), 0);
	}
	memset(vcpu, 'a', sizeof(vcpu));
	CHECK_EQ(trace_ckpt_store(w, exit_no, vcpu, sizeof(vcpu), mem0, MEM, NULL, 0, 0, &id0), 0);
	CHECK_EQ(trace_writer_next_seq(w), 101);
	for (int i = 0; i < 100; i++) {
		stest_event((uint64_t)i, &exit_no, &rng, &ev);
		ev.kind = TRACE_EV_RDTSC;
		CHECK_EQ(trace_writer_append(w, &ev), 0);
	}
	dirty[0] = 5;
	dirty[1] = 6;
	dirty[2] = 5; /* duplicates are harmless */
	memset(vcpu, 'b', sizeof(vcpu));
	CHECK_EQ(trace_ckpt_store(w, exit_no, vcpu, sizeof(vcpu), mem1, MEM, dirty, 3, id0, &id1), 0);
	dirty[0] = 7;
	memset(vcpu, 'c', sizeof(vcpu));
	CHECK_EQ(trace_ckpt_store(w, exit_no + 1, vcpu, 50, mem2, MEM, dirty, 1, id1, &id2), 0);
	/* bad arguments never stop the writer */
	uint64_t bad;
	CHECK_EQ(trace_ckpt_store(w, exit_no + 1, vcpu, 50, mem2, MEM, dirty, 1, 99, &bad), -ENOENT);
	dirty[0] = PAGES;
	CHECK_EQ(trace_ckpt_store(w, exit_no + 1, vcpu, 50, mem2, MEM, dirty, 1, id1, &bad), -EINVAL);
	CHECK_EQ(trace_ckpt_store(w, exit_no + 1, vcpu, 50, mem2, MEM - 1, NULL, 0, 0, &bad), -EINVAL);
	CHECK_EQ(trace_writer_close(w, NULL), 0);

	/* dedup: page kinds 0/1 random (unique), 2 shared, 3 zero */
	uint64_t n_pages = count(path, "SELECT count(*) FROM pages");
	printf("# %llu page rows for 3 checkpoints of %d pages\n", (unsigned long long)n_pages, PAGES);
	CHECK_EQ(n_pages, PAGES / 2 + 1 + 2);

	struct trace_reader *r;
	struct trace_ckpt_info ci;
	char err[512];
	CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
	struct trace_info info;
	trace_reader_info(r, &info);
	CHECK_EQ(info.n_checkpoints, 3);
	CHECK_EQ(trace_ckpt_get(r, 0, &ci), 0);
	CHECK_EQ(ci.id, id0);
	CHECK_EQ(ci.full, 1);
	CHECK_EQ(ci.event_no, 100);
	CHECK_EQ(trace_ckpt_get(r, 3, &ci), -ERANGE);
	CHECK_EQ(trace_ckpt_find(r, 99, &ci), -ENOENT);
	CHECK_EQ(trace_ckpt_find(r, 150, &ci), 0);
	CHECK_EQ(ci.id, id0);
	CHECK_EQ(trace_ckpt_find(r, 1000, &ci), 0);
	CHECK_EQ(ci.id, id2);
	CHECK_EQ(ci.parent, id1);
	CHECK_EQ(ci.n_pages, 1);
	CHECK_EQ(ci.vcpu_size, 50);
	/* the checkpoint event points at it */
	struct trace_event got;
	CHECK_EQ(trace_reader_get(r, ci.event_no, &got), 1);
	CHECK_EQ(got.kind, TRACE_EV_CHECKPOINT);
	CHECK_EQ(got.u.ckpt.id, id2);

	CHECK_EQ(trace_ckpt_load(r, id0, vback, sizeof(vback), back, MEM), 0);
	CHECK(!memcmp(back, mem0, MEM));
	CHECK(vback[0] == 'a' && vback[99] == 'a');
	CHECK_EQ(trace_ckpt_load(r, id1, vback, sizeof(vback), back, MEM), 0);
	CHECK(!memcmp(back, mem1, MEM));
	CHECK(vback[0] == 'b');
	CHECK_EQ(trace_ckpt_load(r, id2, vback, sizeof(vback), back, MEM), 0);
	CHECK(!memcmp(back, mem2, MEM));
	CHECK(vback[0] == 'c');
	CHECK_EQ(trace_ckpt_load(r, id2, vback, 10, back, MEM), -EINVAL);
	CHECK_EQ(trace_ckpt_load(r, id2, vback, sizeof(vback), back, MEM / 2), -EINVAL);
	CHECK_EQ(trace_ckpt_load(r, 77, vback, sizeof(vback), back, MEM), -ENOENT);
	trace_reader_close(r);

	/* a damaged page is reported, not loaded */
	sqlite3 *db;
	sqlite3_open(path, &db);
	CHECK_EQ(sqlite3_exec(db, "UPDATE pages SET data=randomblob(length(data)) WHERE id=(SELECT page"
			      " FROM checkpoint_pages WHERE checkpoint=1 AND page IS NOT NULL LIMIT 1)",
			      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
	CHECK_EQ(trace_ckpt_load(r, id1, vback, sizeof(vback), back, MEM), -EBADMSG);
	printf("#   %s\n", trace_reader_errmsg(r));
	CHECK(strstr(trace_reader_errmsg(r), "damaged") != NULL);
	trace_reader_close(r);

	/* a broken parent chain too */
	sqlite3_open(path, &db);
	CHECK_EQ(sqlite3_exec(db, "UPDATE checkpoints SET parent=3 WHERE id=2", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
	CHECK_EQ(trace_ckpt_load(r, id2, vback, sizeof(vback), back, MEM), -EBADMSG);
	printf("#   %s\n", trace_reader_errmsg(r));
	trace_reader_close(r);
}

static void mark_page(void *ctx, uint64_t page_no)
{
	uint64_t *seen = ctx;
	if (page_no < PAGES)
		seen[page_no]++;
}

/* A full checkpoint of listed pages (the rest known zero), and reading a
 * checkpoint's vCPU blob alone. */
static void test_full_from_list(void)
{
	const char *path = stest_path("ckpt-list.trace");
	struct trace_writer *w;
	struct trace_reader *r;
	struct trace_ckpt_info ci;
	uint64_t id, id2, pages[3] = { 1, 2, 9 };
	char err[512], vcpu[64], vback[64];
	size_t vlen = 0;

	memset(mem0, 0, MEM);
	memset(mem0 + 1 * TRACE_CKPT_PAGE, 0x11, TRACE_CKPT_PAGE);
	memset(mem0 + 9 * TRACE_CKPT_PAGE, 0x99, TRACE_CKPT_PAGE); /* page 2 listed but zero */
	memcpy(mem1, mem0, MEM);
	memset(mem1 + 30 * TRACE_CKPT_PAGE, 0x30, TRACE_CKPT_PAGE); /* unlisted: must not appear */
	memset(vcpu, 'v', sizeof(vcpu));
	CHECK_EQ(trace_writer_open(path, NULL, NULL, &w), 0);
	CHECK_EQ(trace_ckpt_store(w, 7, vcpu, sizeof(vcpu), mem1, MEM, pages, 3, 0, &id), 0);
	pages[0] = 30;
	CHECK_EQ(trace_ckpt_store(w, 8, vcpu, 10, mem1, MEM, pages, 1, id, &id2), 0);
	CHECK_EQ(trace_writer_close(w, NULL), 0);
	CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
	CHECK_EQ(trace_ckpt_get(r, 0, &ci), 0);
	CHECK_EQ(ci.full, 1);
	CHECK_EQ(ci.parent, 0);
	CHECK_EQ(ci.n_pages, 2); /* the zero page costs no row */
	CHECK_EQ(trace_ckpt_load(r, id, vback, sizeof(vback), back, MEM), 0);
	CHECK(!memcmp(back, mem0, MEM));
	CHECK_EQ(trace_ckpt_load(r, id2, vback, sizeof(vback), back, MEM), 0);
	CHECK(!memcmp(back, mem1, MEM));
	/* Applied over zeroed memory: the same image, and the pages written. */
	uint64_t seen[PAGES] = { 0 };
	memset(back, 0, MEM);
	CHECK_EQ(trace_ckpt_apply(r, id2, vback, sizeof(vback), back, MEM, mark_page, seen), 0);
	CHECK(!memcmp(back, mem1, MEM));
	CHECK(seen[1] == 1 && seen[9] == 1 && seen[30] == 1 && seen[0] == 0 && seen[2] == 0);
	memset(vback, 0, sizeof(vback));
	CHECK_EQ(trace_ckpt_vcpu(r, id, vback, sizeof(vback), &vlen), 0);
	CHECK_EQ(vlen, sizeof(vcpu));
	CHECK(!memcmp(vback, vcpu, sizeof(vcpu)));
	CHECK_EQ(trace_ckpt_vcpu(r, id2, vback, sizeof(vback), &vlen), 0);
	CHECK_EQ(vlen, 10);
	CHECK_EQ(trace_ckpt_vcpu(r, id, vback, 10, &vlen), -EINVAL);
	CHECK_EQ(trace_ckpt_vcpu(r, 99, vback, sizeof(vback), &vlen), -ENOENT);
	trace_reader_close(r);
}

/* Which pages a checkpoint itself lists (reverse-continue skips the
 * intervals whose incremental checkpoint lists no watched page). */
static void test_has_page(void)
{
	const char *path = stest_path("ckpt-has.trace");
	struct trace_writer *w;
	struct trace_reader *r;
	uint64_t id, id2, id3, pages[3] = { 1, 2, 9 };
	char err[512], vcpu[16] = "v";

	memset(mem0, 0, MEM);
	memset(mem0 + 1 * TRACE_CKPT_PAGE, 0x11, TRACE_CKPT_PAGE);
	memset(mem0 + 9 * TRACE_CKPT_PAGE, 0x99, TRACE_CKPT_PAGE);
	CHECK_EQ(trace_writer_open(path, NULL, NULL, &w), 0);
	CHECK_EQ(trace_ckpt_store(w, 7, vcpu, sizeof(vcpu), mem0, MEM, pages, 3, 0, &id), 0);
	memset(mem0 + 9 * TRACE_CKPT_PAGE, 0, TRACE_CKPT_PAGE); /* written back to zero: still listed */
	pages[0] = 9;
	pages[1] = 40;
	CHECK_EQ(trace_ckpt_store(w, 8, vcpu, sizeof(vcpu), mem0, MEM, pages, 2, id, &id2), 0);
	CHECK_EQ(trace_ckpt_store(w, 9, vcpu, sizeof(vcpu), mem0, MEM, pages, 0, id2, &id3), 0);
	CHECK_EQ(trace_writer_close(w, NULL), 0);
	CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
	CHECK_EQ(trace_ckpt_has_page(r, id, 1), 1);
	CHECK_EQ(trace_ckpt_has_page(r, id, 9), 1);
	CHECK_EQ(trace_ckpt_has_page(r, id, 2), 0); /* listed but zero: a full image stores no row */
	CHECK_EQ(trace_ckpt_has_page(r, id, 40), 0);
	CHECK_EQ(trace_ckpt_has_page(r, id2, 9), 1);
	CHECK_EQ(trace_ckpt_has_page(r, id2, 40), 1);
	CHECK_EQ(trace_ckpt_has_page(r, id2, 1), 0); /* only the parent lists it */
	CHECK_EQ(trace_ckpt_has_page(r, id3, 9), 0); /* an empty list */
	CHECK_EQ(trace_ckpt_has_page(r, id3, UINT64_MAX), 0);
	CHECK_EQ(trace_ckpt_has_page(r, 99, 1), -ENOENT);
	CHECK_EQ(trace_ckpt_has_page(r, 99, UINT64_MAX), -ENOENT);
	trace_reader_close(r);

	/* A trace whose page table is gone answers an error, not a guess. */
	sqlite3 *db;
	sqlite3_open(path, &db);
	CHECK_EQ(sqlite3_exec(db, "DROP TABLE checkpoint_pages", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	if (trace_reader_open(path, &r, err, sizeof(err)) == 0) {
		CHECK_EQ(trace_ckpt_has_page(r, id2, 9), -EBADMSG);
		printf("#   %s\n", trace_reader_errmsg(r));
		trace_reader_close(r);
	}
}

/* Which pages a checkpoint changed: listed with other contents than its
 * parent chain holds (the table pages of a watched translation, which some
 * hosts mark written without a change). */
static void test_page_changed(void)
{
	const char *path = stest_path("ckpt-changed.trace");
	struct trace_writer *w;
	struct trace_reader *r;
	uint64_t id, id2, id3, pages[3] = { 1, 2, 9 };
	char err[512], vcpu[16] = "v";

	memset(mem0, 0, MEM);
	memset(mem0 + 1 * TRACE_CKPT_PAGE, 0x11, TRACE_CKPT_PAGE);
	memset(mem0 + 9 * TRACE_CKPT_PAGE, 0x99, TRACE_CKPT_PAGE);
	CHECK_EQ(trace_writer_open(path, NULL, NULL, &w), 0);
	CHECK_EQ(trace_ckpt_store(w, 7, vcpu, sizeof(vcpu), mem0, MEM, pages, 3, 0, &id), 0);
	/* id2 lists 1 (same), 9 (now zero), 40 (was zero, now not), 2 (zero, still zero) */
	memset(mem0 + 9 * TRACE_CKPT_PAGE, 0, TRACE_CKPT_PAGE);
	memset(mem0 + 40 * TRACE_CKPT_PAGE, 0x40, TRACE_CKPT_PAGE);
	uint64_t p2[4] = { 1, 2, 9, 40 };
	CHECK_EQ(trace_ckpt_store(w, 8, vcpu, sizeof(vcpu), mem0, MEM, p2, 4, id, &id2), 0);
	/* id3 lists 1 changed, 40 the same as id2 had it, 9 still zero */
	memset(mem0 + 1 * TRACE_CKPT_PAGE, 0x12, TRACE_CKPT_PAGE);
	uint64_t p3[3] = { 1, 9, 40 };
	CHECK_EQ(trace_ckpt_store(w, 9, vcpu, sizeof(vcpu), mem0, MEM, p3, 3, id2, &id3), 0);
	CHECK_EQ(trace_writer_close(w, NULL), 0);
	CHECK_EQ(trace_reader_open(path, &r, err, sizeof(err)), 0);
	CHECK_EQ(trace_ckpt_page_changed(r, id, 1), 1);   /* a full one: from zero */
	CHECK_EQ(trace_ckpt_page_changed(r, id, 2), 0);   /* listed zero, was zero */
	CHECK_EQ(trace_ckpt_page_changed(r, id2, 1), 0);  /* relisted unchanged */
	CHECK_EQ(trace_ckpt_page_changed(r, id2, 2), 0);
	CHECK_EQ(trace_ckpt_page_changed(r, id2, 9), 1);  /* to zero */
	CHECK_EQ(trace_ckpt_page_changed(r, id2, 40), 1); /* from zero */
	CHECK_EQ(trace_ckpt_page_changed(r, id2, 5), 0);  /* not listed */
	CHECK_EQ(trace_ckpt_page_changed(r, id3, 1), 1);  /* the parent's 0x11 -> 0x12 */
	CHECK_EQ(trace_ckpt_page_changed(r, id3, 9), 0);  /* zero, as the parent left it */
	CHECK_EQ(trace_ckpt_page_changed(r, id3, 40), 0); /* as the parent left it */
	CHECK_EQ(trace_ckpt_page_changed(r, 99, 1), -ENOENT);
	trace_reader_close(r);
}

int main(void)
{
	RUN_TEST(test_store_load);
	RUN_TEST(test_full_from_list);
	RUN_TEST(test_has_page);
	RUN_TEST(test_page_changed);
	stest_cleanup();
	return TEST_EXIT();
}
