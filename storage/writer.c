#include "storage/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lz4.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/codec.h"
#include "storage/hash.h"
#include "storage/trace_internal.h"
#include "version.h"

/* Image bytes are stored in parts so that no blob nears SQLite's 1 GB limit
 * and a reader never needs the whole image compressed in memory. */
#define IMAGE_PART (1u << 20)
/* Default commit interval: half the one-second loss budget, so that the
 * clock-check granularity below never pushes the gap past a second. */
#define DEFAULT_COMMIT_MS 500

static const char schema_sql[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value);"
	"CREATE TABLE chunks("
	" first_event INTEGER PRIMARY KEY,"
	" n_events INTEGER NOT NULL,"
	" first_exit INTEGER NOT NULL,"
	" last_exit INTEGER NOT NULL,"
	" raw_offset INTEGER NOT NULL,"
	" raw_size INTEGER NOT NULL,"
	" checksum INTEGER NOT NULL,"
	" data BLOB NOT NULL);"
	"CREATE INDEX chunks_by_exit ON chunks(first_exit);"
	"CREATE TABLE images("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL,"
	" size INTEGER NOT NULL,"
	" sha256 BLOB NOT NULL,"
	" stored INTEGER NOT NULL);"
	"CREATE TABLE image_parts("
	" image INTEGER NOT NULL,"
	" part INTEGER NOT NULL,"
	" raw_size INTEGER NOT NULL,"
	" data BLOB NOT NULL,"
	" PRIMARY KEY(image, part)) WITHOUT ROWID;"
	"CREATE TABLE checkpoints("
	" id INTEGER PRIMARY KEY,"
	" event_no INTEGER NOT NULL,"
	" exit_no INTEGER NOT NULL,"
	" parent INTEGER,"
	" full INTEGER NOT NULL,"
	" mem_size INTEGER NOT NULL,"
	" n_pages INTEGER NOT NULL,"
	" vcpu_raw_size INTEGER NOT NULL,"
	" vcpu BLOB NOT NULL);"
	"CREATE INDEX checkpoints_by_event ON checkpoints(event_no);"
	"CREATE TABLE pages("
	" id INTEGER PRIMARY KEY,"
	" hash INTEGER NOT NULL,"
	" data BLOB NOT NULL);"
	"CREATE INDEX pages_by_hash ON pages(hash);"
	"CREATE TABLE checkpoint_pages("
	" checkpoint INTEGER NOT NULL,"
	" page_no INTEGER NOT NULL,"
	" page INTEGER,"
	" PRIMARY KEY(checkpoint, page_no)) WITHOUT ROWID;";

struct trace_writer {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *ins_chunk, *set_meta, *begin, *commit;
	uint8_t *buf, *zbuf;     /* raw chunk being built; compression scratch */
	size_t len, cap, zcap;
	uint8_t *vbuf;           /* format 8: the chunk's stream B, appended to buf at the cut */
	size_t vlen, vcap;
	struct codec_state cs;
	uint64_t next_seq;
	uint64_t chunk_seq, chunk_exit, chunk_n; /* current chunk: first event, first exit, count */
	uint64_t last_exit;
	uint64_t raw_offset;     /* raw bytes in chunks already inserted */
	uint64_t committed;      /* events covered by the last commit */
	uint32_t chunk_target;
	uint64_t commit_ns, last_commit_ns;
	int flight;              /* cut a chunk before every checkpoint event */
	int failed;              /* -errno once stopped */
};

int trace_sql_errno(int sqlrc)
{
	switch (sqlrc & 0xff) {
	case SQLITE_OK: return 0;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_READONLY: return -EROFS;
	case SQLITE_PERM: case SQLITE_AUTH: return -EACCES;
	case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_CANTOPEN: return -ENOENT;
	case SQLITE_CORRUPT: case SQLITE_NOTADB: case SQLITE_FORMAT: case SQLITE_SCHEMA:
	case SQLITE_MISMATCH: case SQLITE_ERROR: case SQLITE_RANGE: case SQLITE_CONSTRAINT:
		return -EBADMSG;
	case SQLITE_TOOBIG: return -E2BIG;
	default: return -EIO;
	}
}

/* Read on every append: CLOCK_MONOTONIC_COARSE is a vDSO memory read,
 * measured at 5 ns a call (about 8% of an append).  Reading it only every N
 * events was tried first and dropped: after a burst followed by a pause, the
 * first events after the pause did not commit the burst. */
static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void (*trace_msg_hook)(void);

static void msg_begin(void)
{
	if (trace_msg_hook)
		trace_msg_hook();
}

sqlite3 *trace_writer_db(struct trace_writer *w)
{
	return w->db;
}

int trace_writer_status(const struct trace_writer *w)
{
	return w->failed;
}

uint64_t trace_writer_next_seq(const struct trace_writer *w)
{
	return w->next_seq;
}

/* A status line's figure, a few times a second: the statement is prepared
 * each time (about 10 us) rather than kept for the writer's life. */
uint64_t trace_writer_size(struct trace_writer *w)
{
	sqlite3_stmt *st;
	uint64_t bytes = 0;

	if (!w || w->failed)
		return 0;
	if (sqlite3_prepare_v2(w->db, "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
			       -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		bytes = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return bytes + w->len + w->vlen;
}

uint64_t trace_writer_used(struct trace_writer *w)
{
	sqlite3_stmt *st;
	uint64_t bytes = 0;

	if (!w || w->failed)
		return 0;
	if (sqlite3_prepare_v2(w->db, "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count(),"
			       " pragma_freelist_count(), pragma_page_size()", -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		bytes = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return bytes + w->len + w->vlen;
}

int trace_writer_sqlfail(struct trace_writer *w, int sqlrc, const char *what)
{
	if (w->failed)
		return w->failed;
	w->failed = trace_sql_errno(sqlrc);
	if (!w->failed)
		w->failed = -EIO;
	msg_begin();
	fprintf(stderr, "ttvm: trace %s: %s while %s (%s); recording stopped, ",
		w->path, (sqlrc & 0xff) == SQLITE_FULL ? "disk full" : "write failed", what,
		sqlite3_errstr(sqlrc));
	if (w->committed)
		fprintf(stderr, "the trace stays readable up to event %" PRIu64 " (%" PRIu64
			" events committed)\n", w->committed - 1, w->committed);
	else
		fprintf(stderr, "no events were committed\n");
	if (!sqlite3_get_autocommit(w->db))
		sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	return w->failed;
}

static int step_reset(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static int set_meta_text(struct trace_writer *w, const char *key, const char *value)
{
	sqlite3_bind_text(w->set_meta, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(w->set_meta, 2, value, -1, SQLITE_STATIC);
	return step_reset(w->set_meta);
}

static int set_meta_int(struct trace_writer *w, const char *key, int64_t value)
{
	sqlite3_bind_text(w->set_meta, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(w->set_meta, 2, value);
	return step_reset(w->set_meta);
}

/* Compress the buffered events into one chunk row (inside the open transaction). */
static int flush_chunk(struct trace_writer *w)
{
	int zlen, rc;
	if (!w->chunk_n)
		return 0;
	if (w->cs.split) {
		/* Format 8: varint(length of stream A), stream A, stream B. */
		uint8_t hdr[10];
		size_t hl = codec_header(w->len, hdr);
		if (w->cap < hl + w->len + w->vlen) {
			uint8_t *nb = realloc(w->buf, hl + w->len + w->vlen);
			if (!nb)
				return trace_writer_sqlfail(w, SQLITE_NOMEM, "building a chunk");
			w->buf = nb;
			w->cap = hl + w->len + w->vlen;
		}
		memmove(w->buf + hl, w->buf, w->len);
		memcpy(w->buf, hdr, hl);
		if (w->vlen)
			memcpy(w->buf + hl + w->len, w->vbuf, w->vlen);
		w->len += hl + w->vlen;
		w->vlen = 0;
	}
	if (w->zcap < (size_t)LZ4_compressBound((int)w->len)) {
		size_t ncap = (size_t)LZ4_compressBound((int)w->len);
		uint8_t *nz = realloc(w->zbuf, ncap);
		if (!nz)
			return trace_writer_sqlfail(w, SQLITE_NOMEM, "compressing a chunk");
		w->zbuf = nz;
		w->zcap = ncap;
	}
	zlen = LZ4_compress_default((const char *)w->buf, (char *)w->zbuf, (int)w->len, (int)w->zcap);
	if (zlen <= 0)
		return trace_writer_sqlfail(w, SQLITE_INTERNAL, "compressing a chunk");
	sqlite3_bind_int64(w->ins_chunk, 1, (int64_t)w->chunk_seq);
	sqlite3_bind_int64(w->ins_chunk, 2, (int64_t)w->chunk_n);
	sqlite3_bind_int64(w->ins_chunk, 3, (int64_t)w->chunk_exit);
	sqlite3_bind_int64(w->ins_chunk, 4, (int64_t)w->last_exit);
	sqlite3_bind_int64(w->ins_chunk, 5, (int64_t)w->raw_offset);
	sqlite3_bind_int64(w->ins_chunk, 6, (int64_t)w->len);
	sqlite3_bind_int64(w->ins_chunk, 7, (int64_t)hash64(w->buf, w->len));
	sqlite3_bind_blob(w->ins_chunk, 8, w->zbuf, zlen, SQLITE_STATIC);
	rc = step_reset(w->ins_chunk);
	if (rc != SQLITE_OK)
		return trace_writer_sqlfail(w, rc, "storing a chunk");
	w->raw_offset += w->len;
	w->len = 0;
	w->chunk_n = 0;
	return 0;
}

int trace_writer_cut(struct trace_writer *w)
{
	if (w->failed)
		return w->failed;
	return flush_chunk(w);
}

int trace_writer_is_flight(const struct trace_writer *w)
{
	return w->flight;
}

static int commit_now(struct trace_writer *w)
{
	int rc = flush_chunk(w);
	if (rc)
		return rc;
	rc = step_reset(w->commit);
	if (rc != SQLITE_OK)
		return trace_writer_sqlfail(w, rc, "committing");
	w->committed = w->next_seq;
	w->last_commit_ns = mono_ns();
	rc = step_reset(w->begin);
	if (rc != SQLITE_OK)
		return trace_writer_sqlfail(w, rc, "starting a transaction");
	return 0;
}

static int clock_check(struct trace_writer *w)
{
	if (mono_ns() - w->last_commit_ns >= w->commit_ns)
		return commit_now(w);
	return 0;
}

/* An event read from a format 8 trace whose kick point holds 32-bit hashes. */
static int is_short_point(const struct trace_event *ev)
{
	return trace_is_kick_point(ev) && (ev->flags & TRACE_EVF_SHORT) && !(ev->flags & TRACE_EVF_POINT_MIX);
}

int trace_writer_append(struct trace_writer *w, struct trace_event *ev)
{
	int rc;
	if (w->failed)
		return w->failed;
	/* A copy keeps its hashes as they were: only into the format that
	 * holds them so (format 8's 32-bit ones into format 8, format 9's
	 * point hashes into format 9). */
	if (codec_check(ev, w->last_exit) || ((ev->flags & TRACE_EVF_SHORT) && !w->cs.split) ||
	    (ev->flags & TRACE_EVF_POINT_MIX && !w->cs.mix) || (is_short_point(ev) && w->cs.mix))
		return -EINVAL;
	size_t need = codec_bound(ev);
	if (w->cs.split && w->vcap - w->vlen < need) {
		uint8_t *nb = realloc(w->vbuf, w->vlen + need);
		if (!nb)
			return -ENOMEM;
		w->vbuf = nb;
		w->vcap = w->vlen + need;
	}
	if (w->cap - w->len < need) {
		/* only a blob event can get here: len < chunk_target before each append */
		uint8_t *nb = realloc(w->buf, w->len + need);
		if (!nb)
			return -ENOMEM;
		w->buf = nb;
		w->cap = w->len + need;
	}
	if (!w->chunk_n) {
		codec_reset(&w->cs, ev->exit_no);
		w->chunk_seq = w->next_seq;
		w->chunk_exit = ev->exit_no;
	}
	w->len += codec_encode(&w->cs, ev, w->buf + w->len, w->vbuf + w->vlen, &w->vlen);
	ev->seq = w->next_seq++;
	w->chunk_n++;
	w->last_exit = ev->exit_no;
	if (w->len + w->vlen >= w->chunk_target && (rc = flush_chunk(w)))
		return rc;
	return clock_check(w);
}

int trace_writer_tick(struct trace_writer *w)
{
	if (w->failed)
		return w->failed;
	return clock_check(w);
}

int trace_writer_flush(struct trace_writer *w)
{
	if (w->failed)
		return w->failed;
	return commit_now(w);
}

int trace_writer_set_meta(struct trace_writer *w, const char *key, const char *value)
{
	int rc;
	if (w->failed)
		return w->failed;
	rc = set_meta_text(w, key, value);
	return rc == SQLITE_OK ? 0 : trace_writer_sqlfail(w, rc, "storing metadata");
}

int trace_writer_add_image(struct trace_writer *w, const char *name,
			   const void *data, size_t size, int store)
{
	sqlite3_stmt *st = NULL;
	uint8_t digest[32];
	uint8_t *z = NULL;
	int64_t id;
	int rc, err = 0;
	const char *what = "storing an image";

	if (w->failed)
		return w->failed;
	sha256(data, size, digest);
	rc = sqlite3_prepare_v2(w->db, "INSERT INTO images(name, size, sha256, stored) VALUES(?,?,?,?)",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		goto sqlfail;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)size);
	sqlite3_bind_blob(st, 3, digest, 32, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, !!store);
	if ((rc = step_reset(st)) != SQLITE_OK)
		goto sqlfail;
	id = sqlite3_last_insert_rowid(w->db);
	sqlite3_finalize(st);
	st = NULL;
	if (!store)
		return 0;

	z = malloc((size_t)LZ4_compressBound(IMAGE_PART));
	if (!z) {
		err = -ENOMEM;
		goto out;
	}
	rc = sqlite3_prepare_v2(w->db, "INSERT INTO image_parts(image, part, raw_size, data) VALUES(?,?,?,?)",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		goto sqlfail;
	for (size_t off = 0, part = 0; off < size; off += IMAGE_PART, part++) {
		int n = (int)(size - off < IMAGE_PART ? size - off : IMAGE_PART);
		int zl = LZ4_compress_default((const char *)data + off, (char *)z, n,
					      LZ4_compressBound(IMAGE_PART));
		if (zl <= 0) {
			rc = SQLITE_INTERNAL;
			goto sqlfail;
		}
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, (int64_t)part);
		sqlite3_bind_int(st, 3, n);
		sqlite3_bind_blob(st, 4, z, zl, SQLITE_STATIC);
		if ((rc = step_reset(st)) != SQLITE_OK)
			goto sqlfail;
	}
	goto out;
sqlfail:
	err = trace_writer_sqlfail(w, rc, what);
out:
	sqlite3_finalize(st);
	free(z);
	return err;
}

static int writer_prepare(struct trace_writer *w)
{
	int rc;
	if ((rc = sqlite3_prepare_v2(w->db,
			"INSERT INTO chunks(first_event, n_events, first_exit, last_exit, raw_offset,"
			" raw_size, checksum, data) VALUES(?,?,?,?,?,?,?,?)", -1, &w->ins_chunk, NULL)))
		return rc;
	if ((rc = sqlite3_prepare_v2(w->db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?,?)",
				     -1, &w->set_meta, NULL)))
		return rc;
	if ((rc = sqlite3_prepare_v2(w->db, "BEGIN", -1, &w->begin, NULL)))
		return rc;
	return sqlite3_prepare_v2(w->db, "COMMIT", -1, &w->commit, NULL);
}

static void writer_free(struct trace_writer *w)
{
	sqlite3_finalize(w->ins_chunk);
	sqlite3_finalize(w->set_meta);
	sqlite3_finalize(w->begin);
	sqlite3_finalize(w->commit);
	sqlite3_close(w->db);
	free(w->buf);
	free(w->vbuf);
	free(w->zbuf);
	free(w->path);
	free(w);
}

int trace_writer_open(const char *path, const struct trace_meta *meta,
		      const struct trace_writer_opts *opts, struct trace_writer **out)
{
	static const struct trace_writer_opts defaults;
	struct trace_writer *w;
	char sql[128];
	const char *what = "creating the trace";
	int rc, fd, err;

	if (!opts)
		opts = &defaults;
	uint32_t version = opts->format_version ? opts->format_version : TRACE_FORMAT_VERSION;
	if (version < 2 || version > TRACE_FORMAT_VERSION)
		return -EINVAL;
	/* O_EXCL: never overwrite an existing trace. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		msg_begin();
		fprintf(stderr, "ttvm: trace %s: cannot create: %s\n", path, strerror(errno));
		return err;
	}
	close(fd);

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->path = strdup(path);
	w->chunk_target = opts->chunk_target ? opts->chunk_target : TRACE_CHUNK_TARGET;
	w->cap = w->chunk_target + CODEC_MAX_FIXED;
	w->buf = malloc(w->cap);
	w->vcap = w->cap;
	w->vbuf = malloc(w->vcap);
	w->zcap = (size_t)LZ4_compressBound((int)w->cap);
	w->zbuf = malloc(w->zcap);
	if (!w->path || !w->buf || !w->vbuf || !w->zbuf) {
		writer_free(w);
		return -ENOMEM;
	}
	w->cs.legacy = version < 6;
	w->cs.split = version >= 8;
	w->cs.mix = version >= 9;
	w->commit_ns = (uint64_t)(opts->commit_ms ? opts->commit_ms : DEFAULT_COMMIT_MS) * 1000000ull;
	w->flight = opts->flight;

	rc = sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK)
		goto sqlfail;
	sqlite3_extended_result_codes(w->db, 1);
	/* WAL: appends never rewrite committed pages, and a reader may follow a
	 * trace while it is being written.  synchronous=NORMAL keeps every
	 * commit safe from a crash of ttvm (only a host power loss can drop the
	 * last commits), without an fsync per commit. */
	rc = sqlite3_exec(w->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			  "PRAGMA wal_autocheckpoint=16384;", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto sqlfail;
	/* A flight recording's file must stay bounded, the write-ahead log
	 * included: copied back at 256 pages (1 MiB) and truncated to 1 MiB
	 * after that when it grew past it (a drop is one large transaction).
	 * With the default 16384 pages the WAL alone reached 64 MiB; with
	 * 1024 pages it stayed at 4 MiB, twice the database of the flight
	 * guest's 2 s recording (measured, README "Flight recording"). */
	if (opts->flight &&
	    (rc = sqlite3_exec(w->db, "PRAGMA wal_autocheckpoint=256; PRAGMA journal_size_limit=1048576;",
			       NULL, NULL, NULL)) != SQLITE_OK)
		goto sqlfail;
	if (opts->max_bytes) {
		snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%" PRIu64,
			 opts->max_bytes / 4096 ? opts->max_bytes / 4096 : 1);
		if ((rc = sqlite3_exec(w->db, sql, NULL, NULL, NULL)) != SQLITE_OK)
			goto sqlfail;
	}
	/* Format identity and version first, in the file header. */
	snprintf(sql, sizeof(sql), "BEGIN; PRAGMA application_id=%d; PRAGMA user_version=%d;",
		 TRACE_APPLICATION_ID, (int)version);
	if ((rc = sqlite3_exec(w->db, sql, NULL, NULL, NULL)) != SQLITE_OK)
		goto sqlfail;
	if ((rc = sqlite3_exec(w->db, schema_sql, NULL, NULL, NULL)) != SQLITE_OK)
		goto sqlfail;
	if ((rc = writer_prepare(w)) != SQLITE_OK)
		goto sqlfail;
	if ((rc = set_meta_int(w, "format_version", version)) ||
	    (rc = set_meta_text(w, "ttvm_version", TTVM_VERSION)) ||
	    (rc = set_meta_text(w, "state", "incomplete")) ||
	    (rc = set_meta_text(w, "kvm_flavour", meta && meta->kvm_flavour ? meta->kvm_flavour : "unknown")) ||
	    (rc = set_meta_text(w, "cmdline", meta && meta->cmdline ? meta->cmdline : "")) ||
	    (rc = set_meta_int(w, "mem_size", meta ? (int64_t)meta->mem_size : 0)) ||
	    (rc = set_meta_int(w, "start_time", meta && meta->start_time ? meta->start_time : (int64_t)time(NULL))))
		goto sqlfail;
	if (meta && meta->cpuid_policy && meta->cpuid_policy_len) {
		sqlite3_bind_text(w->set_meta, 1, "cpuid_policy", -1, SQLITE_STATIC);
		sqlite3_bind_blob(w->set_meta, 2, meta->cpuid_policy, (int)meta->cpuid_policy_len, SQLITE_STATIC);
		if ((rc = step_reset(w->set_meta)) != SQLITE_OK)
			goto sqlfail;
	}
	if ((rc = step_reset(w->commit)) != SQLITE_OK || (rc = step_reset(w->begin)) != SQLITE_OK)
		goto sqlfail;
	w->last_commit_ns = mono_ns();
	*out = w;
	return 0;
sqlfail:
	err = trace_sql_errno(rc);
	msg_begin();
	fprintf(stderr, "ttvm: trace %s: %s: %s\n", path, what,
		w->db ? sqlite3_errmsg(w->db) : sqlite3_errstr(rc));
	writer_free(w);
	unlink(path);
	return err ? err : -EIO;
}

int trace_writer_close(struct trace_writer *w, const struct trace_event *end)
{
	int rc = w->failed, err;
	char num[32];

	struct trace_event ev;
	int bad_end = 0;

	if (rc)
		goto out;
	if (end) {
		ev = *end;
		ev.kind = TRACE_EV_END;
		/* A malformed end record must not cost the buffered events: keep
		 * them and leave the trace incomplete. */
		if (codec_check(&ev, w->last_exit)) {
			bad_end = -EINVAL;
			end = NULL;
		} else if ((rc = trace_writer_append(w, &ev))) {
			goto out;
		}
	}
	if ((rc = flush_chunk(w)))
		goto out;
	snprintf(num, sizeof(num), "%" PRIu64, w->next_seq);
	if ((err = set_meta_text(w, "events", num)) != SQLITE_OK) {
		rc = trace_writer_sqlfail(w, err, "storing metadata");
		goto out;
	}
	if (end) {
		if ((err = set_meta_text(w, "end_reason", trace_end_reason_name(end->u.end.reason))) ||
		    (err = set_meta_int(w, "end_status", end->u.end.status)) ||
		    (err = set_meta_int(w, "end_crash_kind", end->u.end.crash_kind)) ||
		    (err = set_meta_int(w, "end_rip", (int64_t)end->u.end.rip)) ||
		    (err = set_meta_text(w, "state", "complete"))) {
			rc = trace_writer_sqlfail(w, err, "storing metadata");
			goto out;
		}
	}
	if ((err = step_reset(w->commit)) != SQLITE_OK)
		rc = trace_writer_sqlfail(w, err, "committing");
	else
		rc = bad_end;
out:
	if (w->failed && !sqlite3_get_autocommit(w->db))
		sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	writer_free(w);
	return rc;
}
