#include "storage/checkpoint.h"

#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/hash.h"
#include "storage/trace_internal.h"

static int page_is_zero(const uint8_t *p)
{
	uint64_t acc = 0, w;
	for (size_t i = 0; i < TRACE_CKPT_PAGE; i += 8) {
		memcpy(&w, p + i, 8);
		acc |= w;
	}
	return acc == 0;
}

struct ckpt_stmts {
	sqlite3_stmt *find_page, *ins_page, *ins_map;
	uint8_t z[LZ4_COMPRESSBOUND(TRACE_CKPT_PAGE)];
	uint8_t raw[TRACE_CKPT_PAGE];
};

/* Id of a page row holding exactly these bytes, inserting one if needed. */
static int page_id(sqlite3 *db, struct ckpt_stmts *s, const uint8_t *page, int64_t *id)
{
	uint64_t h = hash64(page, TRACE_CKPT_PAGE);
	int rc;
	sqlite3_bind_int64(s->find_page, 1, (int64_t)h);
	while ((rc = sqlite3_step(s->find_page)) == SQLITE_ROW) {
		/* same hash: compare the bytes, so a collision only costs a row */
		const char *z = sqlite3_column_blob(s->find_page, 1);
		int zl = sqlite3_column_bytes(s->find_page, 1);
		if (z && LZ4_decompress_safe(z, (char *)s->raw, zl, TRACE_CKPT_PAGE) == TRACE_CKPT_PAGE &&
		    !memcmp(s->raw, page, TRACE_CKPT_PAGE)) {
			*id = sqlite3_column_int64(s->find_page, 0);
			sqlite3_reset(s->find_page);
			return SQLITE_OK;
		}
	}
	sqlite3_reset(s->find_page);
	if (rc != SQLITE_DONE)
		return rc;
	int zl = LZ4_compress_default((const char *)page, (char *)s->z, TRACE_CKPT_PAGE, sizeof(s->z));
	if (zl <= 0)
		return SQLITE_INTERNAL;
	sqlite3_bind_int64(s->ins_page, 1, (int64_t)h);
	sqlite3_bind_blob(s->ins_page, 2, s->z, zl, SQLITE_STATIC);
	rc = sqlite3_step(s->ins_page);
	sqlite3_reset(s->ins_page);
	if (rc != SQLITE_DONE)
		return rc;
	*id = sqlite3_last_insert_rowid(db);
	return SQLITE_OK;
}

static int store_page(sqlite3 *db, struct ckpt_stmts *s, int64_t ckpt, uint64_t page_no,
		      const uint8_t *page, int full, uint64_t *n_pages)
{
	int64_t id = 0;
	int rc, zero = page_is_zero(page);
	if (zero && full)
		return SQLITE_OK; /* a full image starts zeroed */
	if (!zero && (rc = page_id(db, s, page, &id)) != SQLITE_OK)
		return rc;
	sqlite3_bind_int64(s->ins_map, 1, ckpt);
	sqlite3_bind_int64(s->ins_map, 2, (int64_t)page_no);
	if (zero)
		sqlite3_bind_null(s->ins_map, 3);
	else
		sqlite3_bind_int64(s->ins_map, 3, id);
	rc = sqlite3_step(s->ins_map);
	sqlite3_reset(s->ins_map);
	if (rc != SQLITE_DONE)
		return rc;
	(*n_pages)++;
	return SQLITE_OK;
}

int trace_ckpt_store(struct trace_writer *w, uint64_t exit_no,
		     const void *vcpu, size_t vcpu_len,
		     const uint8_t *mem, uint64_t mem_size,
		     const uint64_t *dirty, size_t n_dirty, uint64_t parent,
		     uint64_t *id_out)
{
	sqlite3 *db = trace_writer_db(w);
	struct ckpt_stmts *s = NULL;
	sqlite3_stmt *st = NULL;
	uint8_t *zv = NULL;
	uint64_t n_pages = 0, n_total = mem_size / TRACE_CKPT_PAGE;
	int64_t id;
	int rc, err = trace_writer_status(w);
	/* parent 0 with a page list: a full checkpoint of just those pages (the
	 * caller knows the rest is zero, e.g. never touched) */
	int full = dirty == NULL || parent == 0;
	const char *what = "storing a checkpoint";

	if (err)
		return err;
	if (!mem_size || mem_size % TRACE_CKPT_PAGE || !mem || vcpu_len > INT32_MAX / 2 ||
	    (vcpu_len && !vcpu) || (!dirty && parent))
		return -EINVAL;
	for (size_t i = 0; dirty && i < n_dirty; i++)
		if (dirty[i] >= n_total)
			return -EINVAL;
	if (!full) {
		rc = sqlite3_prepare_v2(db, "SELECT mem_size FROM checkpoints WHERE id=?", -1, &st, NULL);
		if (rc != SQLITE_OK)
			goto sqlfail;
		sqlite3_bind_int64(st, 1, (int64_t)parent);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			goto sqlfail;
		err = rc == SQLITE_DONE ? -ENOENT
			: (uint64_t)sqlite3_column_int64(st, 0) != mem_size ? -EINVAL : 0;
		sqlite3_finalize(st);
		st = NULL;
		if (err)
			return err;
	}

	s = calloc(1, sizeof(*s));
	int zcap = LZ4_compressBound((int)vcpu_len);
	zv = malloc((size_t)zcap + 1);
	if (!s || !zv) {
		err = -ENOMEM;
		goto out;
	}
	int zl = vcpu_len ? LZ4_compress_default(vcpu, (char *)zv, (int)vcpu_len, zcap) : 0;
	if (vcpu_len && zl <= 0) {
		rc = SQLITE_INTERNAL;
		goto sqlfail;
	}
	rc = sqlite3_prepare_v2(db, "INSERT INTO checkpoints(event_no, exit_no, parent, full, mem_size,"
				" n_pages, vcpu_raw_size, vcpu) VALUES(?,?,?,?,?,0,?,?)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto sqlfail;
	sqlite3_bind_int64(st, 1, (int64_t)trace_writer_next_seq(w));
	sqlite3_bind_int64(st, 2, (int64_t)exit_no);
	if (full)
		sqlite3_bind_null(st, 3);
	else
		sqlite3_bind_int64(st, 3, (int64_t)parent);
	sqlite3_bind_int(st, 4, full);
	sqlite3_bind_int64(st, 5, (int64_t)mem_size);
	sqlite3_bind_int64(st, 6, (int64_t)vcpu_len);
	sqlite3_bind_blob(st, 7, zv, zl, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(st);
	st = NULL;
	id = sqlite3_last_insert_rowid(db);

	if ((rc = sqlite3_prepare_v2(db, "SELECT id, data FROM pages WHERE hash=?", -1, &s->find_page, NULL)) ||
	    (rc = sqlite3_prepare_v2(db, "INSERT INTO pages(hash, data) VALUES(?,?)", -1, &s->ins_page, NULL)) ||
	    (rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO checkpoint_pages(checkpoint, page_no, page)"
				     " VALUES(?,?,?)", -1, &s->ins_map, NULL)))
		goto sqlfail;
	if (!dirty) {
		for (uint64_t p = 0; p < n_total; p++)
			if ((rc = store_page(db, s, id, p, mem + p * TRACE_CKPT_PAGE, 1, &n_pages)) != SQLITE_OK)
				goto sqlfail;
	} else {
		for (size_t i = 0; i < n_dirty; i++)
			if ((rc = store_page(db, s, id, dirty[i], mem + dirty[i] * TRACE_CKPT_PAGE, full,
					     &n_pages)) != SQLITE_OK)
				goto sqlfail;
	}
	rc = sqlite3_prepare_v2(db, "UPDATE checkpoints SET n_pages=(SELECT count(*) FROM checkpoint_pages"
				" WHERE checkpoint=?1) WHERE id=?1", -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto sqlfail;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		goto sqlfail;

	/* A flight recording's checkpoint event starts a chunk: the chunks
	 * before it can then be dropped whole (trace_drop_before). */
	if (trace_writer_is_flight(w) && (err = trace_writer_cut(w)))
		goto out;
	struct trace_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = TRACE_EV_CHECKPOINT;
	ev.exit_no = exit_no;
	ev.u.ckpt.id = (uint64_t)id;
	if ((err = trace_writer_append(w, &ev)))
		goto out;
	*id_out = (uint64_t)id;
	err = 0;
	goto out;
sqlfail:
	err = trace_writer_sqlfail(w, rc, what);
out:
	if (s) {
		sqlite3_finalize(s->find_page);
		sqlite3_finalize(s->ins_page);
		sqlite3_finalize(s->ins_map);
	}
	sqlite3_finalize(st);
	free(s);
	free(zv);
	return err;
}

static int row_info(sqlite3_stmt *st, struct trace_ckpt_info *ci)
{
	memset(ci, 0, sizeof(*ci));
	ci->id = (uint64_t)sqlite3_column_int64(st, 0);
	ci->event_no = (uint64_t)sqlite3_column_int64(st, 1);
	ci->exit_no = (uint64_t)sqlite3_column_int64(st, 2);
	ci->parent = (uint64_t)sqlite3_column_int64(st, 3);
	ci->full = sqlite3_column_int(st, 4) != 0;
	ci->mem_size = (uint64_t)sqlite3_column_int64(st, 5);
	ci->n_pages = (uint64_t)sqlite3_column_int64(st, 6);
	ci->vcpu_size = (uint64_t)sqlite3_column_int64(st, 7);
	return 0;
}

#define CKPT_COLS "id, event_no, exit_no, ifnull(parent, 0), full, mem_size, n_pages, vcpu_raw_size"

static int query_one(struct trace_reader *r, const char *sql, uint64_t arg,
		     struct trace_ckpt_info *ci, int missing)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(trace_reader_db(r), sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return trace_reader_fail(r, -EBADMSG, "checkpoint table unreadable: %s",
					 sqlite3_errmsg(trace_reader_db(r)));
	sqlite3_bind_int64(st, 1, (int64_t)arg);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = row_info(st, ci);
	else if (rc == SQLITE_DONE)
		rc = missing;
	else
		rc = trace_reader_fail(r, trace_sql_errno(rc), "checkpoint table unreadable: %s",
				       sqlite3_errmsg(trace_reader_db(r)));
	sqlite3_finalize(st);
	return rc;
}

int trace_ckpt_get(struct trace_reader *r, uint64_t idx, struct trace_ckpt_info *ci)
{
	return query_one(r, "SELECT " CKPT_COLS " FROM checkpoints ORDER BY event_no, id LIMIT 1 OFFSET ?",
			 idx, ci, -ERANGE);
}

int trace_ckpt_find(struct trace_reader *r, uint64_t event_no, struct trace_ckpt_info *ci)
{
	return query_one(r, "SELECT " CKPT_COLS " FROM checkpoints WHERE event_no <= ?"
			 " ORDER BY event_no DESC, id DESC LIMIT 1", event_no, ci, -ENOENT);
}

int trace_ckpt_has_page(struct trace_reader *r, uint64_t id, uint64_t page_no)
{
	struct trace_ckpt_info ci;
	sqlite3_stmt *st;
	int rc;

	/* A page number that does not fit the column is listed nowhere. */
	if (page_no > INT64_MAX)
		return query_one(r, "SELECT " CKPT_COLS " FROM checkpoints WHERE id=?", id, &ci, -ENOENT);
	/* The primary key (checkpoint, page_no) makes this one index probe. */
	rc = sqlite3_prepare_v2(trace_reader_db(r),
		"SELECT (SELECT count(*) FROM checkpoints WHERE id=?1),"
		" EXISTS(SELECT 1 FROM checkpoint_pages WHERE checkpoint=?1 AND page_no=?2)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return trace_reader_fail(r, -EBADMSG, "checkpoint pages unreadable: %s",
					 sqlite3_errmsg(trace_reader_db(r)));
	sqlite3_bind_int64(st, 1, (int64_t)id);
	sqlite3_bind_int64(st, 2, (int64_t)page_no);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = sqlite3_column_int64(st, 0) == 0 ? -ENOENT : sqlite3_column_int(st, 1) != 0;
	else
		rc = trace_reader_fail(r, trace_sql_errno(rc), "checkpoint %" PRIu64 " pages unreadable", id);
	sqlite3_finalize(st);
	return rc;
}

int trace_ckpt_page_changed(struct trace_reader *r, uint64_t id, uint64_t page_no)
{
	sqlite3_stmt *st;
	int rc = trace_ckpt_has_page(r, id, page_no);

	if (rc <= 0)
		return rc;
	/* The page as id lists it (depth 0) and as the nearest ancestor
	 * lists it: content keys, the page row's hash or NULL for zero.
	 * Pages are stored once per content (pages_by_hash), hashed with
	 * 64 bits: equal hashes are taken as equal contents. */
	rc = sqlite3_prepare_v2(trace_reader_db(r),
		"WITH RECURSIVE chain(cid, depth) AS ("
		"  SELECT ?1, 0"
		"  UNION ALL SELECT c.parent, chain.depth + 1 FROM checkpoints c JOIN chain ON c.id = chain.cid"
		"  WHERE c.parent IS NOT NULL AND c.parent <> 0 AND chain.depth < 1000000)"
		" SELECT chain.depth, p.hash FROM chain"
		" JOIN checkpoint_pages cp ON cp.checkpoint = chain.cid AND cp.page_no = ?2"
		" LEFT JOIN pages p ON p.id = cp.page ORDER BY chain.depth LIMIT 2", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return trace_reader_fail(r, -EBADMSG, "checkpoint pages unreadable: %s",
					 sqlite3_errmsg(trace_reader_db(r)));
	sqlite3_bind_int64(st, 1, (int64_t)id);
	sqlite3_bind_int64(st, 2, (int64_t)page_no);
	int n = 0;
	bool null_[2] = { true, true };
	int64_t hash[2] = { 0, 0 };
	while (n < 2 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		null_[n] = sqlite3_column_type(st, 1) == SQLITE_NULL;
		hash[n] = null_[n] ? 0 : sqlite3_column_int64(st, 1);
		n++;
	}
	if (n == 2 || rc == SQLITE_DONE)
		rc = n == 0 ? 0 : null_[0] != null_[1] || hash[0] != hash[1];
	else
		rc = trace_reader_fail(r, trace_sql_errno(rc), "checkpoint %" PRIu64 " pages unreadable", id);
	sqlite3_finalize(st);
	return rc;
}

/* Apply checkpoint id's own pages onto mem, telling written() about each. */
static int apply_pages(struct trace_reader *r, uint64_t id, uint8_t *mem, uint64_t mem_size,
		       void (*written)(void *ctx, uint64_t page_no), void *ctx)
{
	sqlite3_stmt *st;
	uint64_t n_total = mem_size / TRACE_CKPT_PAGE;
	int rc = sqlite3_prepare_v2(trace_reader_db(r),
		"SELECT cp.page_no, cp.page, p.hash, p.data FROM checkpoint_pages cp"
		" LEFT JOIN pages p ON p.id = cp.page WHERE cp.checkpoint=?", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return trace_reader_fail(r, -EBADMSG, "checkpoint pages unreadable: %s",
					 sqlite3_errmsg(trace_reader_db(r)));
	sqlite3_bind_int64(st, 1, (int64_t)id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t page_no = sqlite3_column_int64(st, 0);
		if (page_no < 0 || (uint64_t)page_no >= n_total) {
			rc = trace_reader_fail(r, -EBADMSG, "checkpoint %" PRIu64 ": page %" PRId64
					       " is outside its memory", id, page_no);
			goto out;
		}
		uint8_t *dst = mem + (uint64_t)page_no * TRACE_CKPT_PAGE;
		if (written)
			written(ctx, (uint64_t)page_no);
		if (sqlite3_column_type(st, 1) == SQLITE_NULL) {
			memset(dst, 0, TRACE_CKPT_PAGE);
			continue;
		}
		const char *z = sqlite3_column_blob(st, 3);
		int zl = sqlite3_column_bytes(st, 3);
		if (!z || LZ4_decompress_safe(z, (char *)dst, zl, TRACE_CKPT_PAGE) != TRACE_CKPT_PAGE ||
		    hash64(dst, TRACE_CKPT_PAGE) != (uint64_t)sqlite3_column_int64(st, 2)) {
			rc = trace_reader_fail(r, -EBADMSG, "checkpoint %" PRIu64 ": page %" PRId64
					       " (page row %" PRId64 ") is damaged", id, page_no,
					       (int64_t)sqlite3_column_int64(st, 1));
			goto out;
		}
	}
	rc = rc == SQLITE_DONE ? 0
		: trace_reader_fail(r, trace_sql_errno(rc), "checkpoint %" PRIu64 " pages unreadable",
				    id);
out:
	sqlite3_finalize(st);
	return rc;
}

/* Decompress checkpoint ci's vCPU blob into vcpu (ci->vcpu_size bytes). */
static int read_vcpu(struct trace_reader *r, const struct trace_ckpt_info *ci, void *vcpu)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(trace_reader_db(r), "SELECT vcpu FROM checkpoints WHERE id=?", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return trace_reader_fail(r, -EBADMSG, "checkpoint %" PRIu64 " unreadable", ci->id);
	sqlite3_bind_int64(st, 1, (int64_t)ci->id);
	rc = 0;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = trace_reader_fail(r, -EBADMSG, "checkpoint %" PRIu64 " vanished", ci->id);
	} else if (ci->vcpu_size) {
		const char *z = sqlite3_column_blob(st, 0);
		int zl = sqlite3_column_bytes(st, 0);
		if (!z || ci->vcpu_size > INT32_MAX ||
		    LZ4_decompress_safe(z, vcpu, zl, (int)ci->vcpu_size) != (int)ci->vcpu_size)
			rc = trace_reader_fail(r, -EBADMSG, "checkpoint %" PRIu64 ": vCPU state is damaged", ci->id);
	}
	sqlite3_finalize(st);
	return rc;
}

int trace_ckpt_vcpu(struct trace_reader *r, uint64_t id, void *vcpu, size_t vcpu_cap, size_t *len)
{
	struct trace_ckpt_info ci;
	int rc;

	if ((rc = query_one(r, "SELECT " CKPT_COLS " FROM checkpoints WHERE id=?", id, &ci, -ENOENT)))
		return rc;
	if (ci.vcpu_size > vcpu_cap)
		return -EINVAL;
	if ((rc = read_vcpu(r, &ci, vcpu)))
		return rc;
	*len = (size_t)ci.vcpu_size;
	return 0;
}

static int load(struct trace_reader *r, uint64_t id, void *vcpu, size_t vcpu_cap, uint8_t *mem,
		uint64_t mem_size, int clear, void (*written)(void *ctx, uint64_t page_no), void *ctx)
{
	struct trace_ckpt_info ci, target;
	struct trace_info ti;
	uint64_t *chain = NULL, n = 0;
	int rc;

	trace_reader_info(r, &ti);
	if ((rc = query_one(r, "SELECT " CKPT_COLS " FROM checkpoints WHERE id=?", id, &target, -ENOENT)))
		return rc;
	if (target.mem_size != mem_size || target.vcpu_size > vcpu_cap)
		return -EINVAL;
	chain = malloc((ti.n_checkpoints + 1) * sizeof(*chain));
	if (!chain)
		return -ENOMEM;
	/* parents are older rows (smaller ids), so the walk ends; the bound on
	 * its length guards against a damaged table all the same */
	ci = target;
	for (;;) {
		if (n > ti.n_checkpoints || ci.mem_size != mem_size || (!ci.full && ci.parent >= ci.id) ||
		    (ci.full && ci.parent)) {
			rc = trace_reader_fail(r, -EBADMSG, "checkpoint %" PRIu64 ": broken parent chain at"
					       " checkpoint %" PRIu64, id, ci.id);
			goto out;
		}
		chain[n++] = ci.id;
		if (ci.full)
			break;
		uint64_t parent = ci.parent;
		if ((rc = query_one(r, "SELECT " CKPT_COLS " FROM checkpoints WHERE id=?", parent, &ci,
				    -EBADMSG))) {
			if (rc == -EBADMSG)
				trace_reader_fail(r, rc, "checkpoint %" PRIu64 ": parent %" PRIu64
						  " is missing", id, parent);
			goto out;
		}
	}
	if (clear)
		memset(mem, 0, mem_size);
	while (n--)
		if ((rc = apply_pages(r, chain[n], mem, mem_size, written, ctx)))
			goto out;
	rc = read_vcpu(r, &target, vcpu);
out:
	free(chain);
	return rc;
}

int trace_ckpt_load(struct trace_reader *r, uint64_t id, void *vcpu, size_t vcpu_cap,
		    uint8_t *mem, uint64_t mem_size)
{
	return load(r, id, vcpu, vcpu_cap, mem, mem_size, 1, NULL, NULL);
}

int trace_ckpt_apply(struct trace_reader *r, uint64_t id, void *vcpu, size_t vcpu_cap,
		     uint8_t *mem, uint64_t mem_size, void (*written)(void *ctx, uint64_t page_no), void *ctx)
{
	return load(r, id, vcpu, vcpu_cap, mem, mem_size, 0, written, ctx);
}

/* Run sql with up to two integer arguments; SQLITE_OK or the error.  *changes
 * (may be NULL) gets the rows it changed. */
static int exec2(sqlite3 *db, const char *sql, int64_t a, int64_t b, uint64_t *changes)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return rc;
	if (changes)
		*changes = (uint64_t)sqlite3_changes(db);
	return SQLITE_OK;
}

static int set_meta_u64(sqlite3 *db, const char *key, uint64_t v)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?,?)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)v);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static uint64_t meta_u64(sqlite3 *db, const char *key)
{
	sqlite3_stmt *st;
	uint64_t v = 0;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key=?", -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

int trace_drop_before(struct trace_writer *w, uint64_t id, struct trace_drop_stats *ds)
{
	sqlite3 *db = trace_writer_db(w);
	sqlite3_stmt *st = NULL;
	struct trace_drop_stats local;
	uint64_t event_no, exit_no, t0 = mono_us(), n;
	int64_t parent;
	int rc, err = trace_writer_status(w), full;

	if (!ds)
		ds = &local;
	memset(ds, 0, sizeof(*ds));
	if (err)
		return err;
	if (!trace_writer_is_flight(w))
		return -EINVAL;
	rc = sqlite3_prepare_v2(db, "SELECT event_no, exit_no, full, ifnull(parent, 0) FROM checkpoints WHERE id=?",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		goto sqlfail;
	sqlite3_bind_int64(st, 1, (int64_t)id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(st);
		return -ENOENT;
	}
	if (rc != SQLITE_ROW)
		goto sqlfail;
	event_no = (uint64_t)sqlite3_column_int64(st, 0);
	exit_no = (uint64_t)sqlite3_column_int64(st, 1);
	full = sqlite3_column_int(st, 2);
	parent = sqlite3_column_int64(st, 3);
	sqlite3_finalize(st);
	st = NULL;
	/* The checkpoint's event starts a chunk: it must be in the table
	 * before the ones before it go. */
	if ((err = trace_writer_cut(w)))
		return err;

	/* Re-base: the checkpoint becomes full.  Its own rows win, then each
	 * ancestor's, nearest first, for the pages it does not list yet;
	 * pages listed as zero go (a full image starts zeroed). */
	while (!full) {
		if ((rc = exec2(db, "INSERT OR IGNORE INTO checkpoint_pages(checkpoint, page_no, page)"
				" SELECT ?1, page_no, page FROM checkpoint_pages WHERE checkpoint=?2",
				(int64_t)id, parent, NULL)) != SQLITE_OK)
			goto sqlfail;
		rc = sqlite3_prepare_v2(db, "SELECT full, ifnull(parent, 0) FROM checkpoints WHERE id=?", -1, &st, NULL);
		if (rc != SQLITE_OK)
			goto sqlfail;
		sqlite3_bind_int64(st, 1, parent);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW) {
			rc = rc == SQLITE_DONE ? SQLITE_CORRUPT : rc;
			goto sqlfail;
		}
		full = sqlite3_column_int(st, 0);
		parent = sqlite3_column_int64(st, 1);
		sqlite3_finalize(st);
		st = NULL;
	}
	if ((rc = exec2(db, "DELETE FROM checkpoint_pages WHERE checkpoint=? AND page IS NULL", (int64_t)id, 0,
			NULL)) != SQLITE_OK ||
	    (rc = exec2(db, "UPDATE checkpoints SET full=1, parent=NULL, n_pages=(SELECT count(*) FROM"
			" checkpoint_pages WHERE checkpoint=?1) WHERE id=?1", (int64_t)id, 0, NULL)) != SQLITE_OK)
		goto sqlfail;

	/* The older checkpoints, their page lists, and the pages no kept
	 * checkpoint lists.  Candidates are the dropped lists' pages; the
	 * check against the kept lists is one scan of them (no index on
	 * checkpoint_pages.page: it would cost every checkpoint a second
	 * index entry per page, for the sake of one scan per drop). */
	if ((rc = sqlite3_exec(db, "CREATE TEMP TABLE IF NOT EXISTS drop_pages(id INTEGER PRIMARY KEY);"
			       "DELETE FROM temp.drop_pages;", NULL, NULL, NULL)) != SQLITE_OK ||
	    (rc = exec2(db, "INSERT OR IGNORE INTO temp.drop_pages SELECT page FROM checkpoint_pages"
			" WHERE page IS NOT NULL AND checkpoint IN (SELECT id FROM checkpoints WHERE event_no < ?)",
			(int64_t)event_no, 0, NULL)) != SQLITE_OK ||
	    (rc = exec2(db, "DELETE FROM checkpoint_pages WHERE checkpoint IN"
			" (SELECT id FROM checkpoints WHERE event_no < ?)", (int64_t)event_no, 0, NULL)) != SQLITE_OK ||
	    (rc = exec2(db, "DELETE FROM checkpoints WHERE event_no < ?", (int64_t)event_no, 0,
			&ds->checkpoints)) != SQLITE_OK ||
	    (rc = exec2(db, "DELETE FROM temp.drop_pages WHERE id IN (SELECT page FROM checkpoint_pages"
			" WHERE page IS NOT NULL)", 0, 0, NULL)) != SQLITE_OK ||
	    (rc = exec2(db, "DELETE FROM pages WHERE id IN (SELECT id FROM temp.drop_pages)", 0, 0,
			&ds->pages)) != SQLITE_OK ||
	    (rc = sqlite3_exec(db, "DELETE FROM temp.drop_pages", NULL, NULL, NULL)) != SQLITE_OK ||
	    (rc = exec2(db, "DELETE FROM chunks WHERE first_event < ?", (int64_t)event_no, 0,
			&ds->chunks)) != SQLITE_OK)
		goto sqlfail;
	/* Where the kept part begins, and what went before it. */
	n = meta_u64(db, "kept_from_event");
	ds->events = event_no - n;
	if ((rc = set_meta_u64(db, "kept_from_event", event_no)) != SQLITE_OK ||
	    (rc = set_meta_u64(db, "kept_from_exit", exit_no)) != SQLITE_OK ||
	    (rc = set_meta_u64(db, "kept_from_checkpoint", id)) != SQLITE_OK ||
	    (rc = set_meta_u64(db, "dropped_checkpoints",
			       meta_u64(db, "dropped_checkpoints") + ds->checkpoints)) != SQLITE_OK ||
	    (rc = set_meta_u64(db, "drops", meta_u64(db, "drops") + 1)) != SQLITE_OK)
		goto sqlfail;
	/* One transaction with the events before it: a crash leaves the trace
	 * as it was before the drop or after it. */
	if ((err = trace_writer_flush(w)))
		return err;
	ds->us = mono_us() - t0;
	return 0;
sqlfail:
	sqlite3_finalize(st);
	return trace_writer_sqlfail(w, rc, "dropping the oldest part of a flight recording");
}
