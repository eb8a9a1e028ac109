#include "storage/trace.h"

#include <errno.h>
#include <inttypes.h>
#include <lz4.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/codec.h"
#include "storage/hash.h"
#include "storage/trace_internal.h"

/* A chunk holds at most one blob event beyond its target size; anything
 * larger in the table is a lie, refused before any allocation. */
#define CHUNK_RAW_MAX (TRACE_MAX_BLOB + 16u * 1024 * 1024)

struct rchunk {
	uint64_t first_event, n_events, first_exit, last_exit, raw_offset;
	uint64_t checksum;
	uint32_t raw_size, stored_size;
};

struct trace_reader {
	sqlite3 *db;
	char *name;
	char err[512];
	struct rchunk *chunks;
	uint64_t n_chunks, n_events, raw_bytes, stored_bytes;
	uint64_t first_event;   /* a flight recording's kept start (meta kept_from_event) */
	uint64_t n_ckpt, n_images;
	uint32_t format_version;
	int complete;
	sqlite3_stmt *get_chunk, *get_meta;
	char *meta_buf;
	size_t meta_cap;
	/* current position: chunk cur (n_chunks: none), decoded up to pos */
	uint64_t cur;
	uint8_t *raw;
	size_t raw_cap, pos, aend; /* aend: end of stream A (codec_begin) */
	uint64_t next_seq;
	struct codec_state cs;
};

sqlite3 *trace_reader_db(struct trace_reader *r)
{
	return r->db;
}

const char *trace_reader_errmsg(const struct trace_reader *r)
{
	return r->err;
}

int trace_reader_fail(struct trace_reader *r, int rc, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->err, sizeof(r->err), "trace %s: ", r->name);
	if (n < 0 || (size_t)n >= sizeof(r->err))
		return rc;
	va_start(ap, fmt);
	vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return rc;
}

/* Run a one-integer query; 0 or -errno with the message set. */
static int query_int(struct trace_reader *r, const char *sql, int64_t *v, const char *what)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*v = sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return trace_reader_fail(r, trace_sql_errno(rc), "cannot read %s: %s", what,
					 sqlite3_errstr(rc));
	return 0;
}

const char *trace_reader_meta(struct trace_reader *r, const char *key)
{
	const char *res = NULL;
	sqlite3_bind_text(r->get_meta, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(r->get_meta) == SQLITE_ROW &&
	    sqlite3_column_type(r->get_meta, 0) != SQLITE_NULL) {
		const unsigned char *t = sqlite3_column_text(r->get_meta, 0);
		size_t n = (size_t)sqlite3_column_bytes(r->get_meta, 0);
		if (t && n + 1 > r->meta_cap) {
			char *nb = realloc(r->meta_buf, n + 1);
			if (nb) {
				r->meta_buf = nb;
				r->meta_cap = n + 1;
			}
		}
		if (t && n + 1 <= r->meta_cap) {
			memcpy(r->meta_buf, t, n);
			r->meta_buf[n] = 0;
			res = r->meta_buf;
		}
	}
	sqlite3_reset(r->get_meta);
	return res;
}

const void *trace_reader_meta_blob(struct trace_reader *r, const char *key, size_t *len)
{
	const void *res = NULL;
	*len = 0;
	sqlite3_bind_text(r->get_meta, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(r->get_meta) == SQLITE_ROW &&
	    sqlite3_column_type(r->get_meta, 0) == SQLITE_BLOB) {
		const void *b = sqlite3_column_blob(r->get_meta, 0);
		size_t n = (size_t)sqlite3_column_bytes(r->get_meta, 0);
		if (b && n > r->meta_cap) {
			char *nb = realloc(r->meta_buf, n);
			if (nb) {
				r->meta_buf = nb;
				r->meta_cap = n;
			}
		}
		if (b && n <= r->meta_cap) {
			memcpy(r->meta_buf, b, n);
			*len = n;
			res = r->meta_buf;
		}
	}
	sqlite3_reset(r->get_meta);
	return res;
}

static int load_chunk_table(struct trace_reader *r)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	uint64_t expect_event = r->first_event, prev_exit = 0, offset = 0;
	int rc = sqlite3_prepare_v2(r->db,
		"SELECT first_event, n_events, first_exit, last_exit, raw_offset, raw_size,"
		" checksum, length(data) FROM chunks ORDER BY first_event", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return trace_reader_fail(r, trace_sql_errno(rc), "cannot read the chunk table: %s",
					 sqlite3_errmsg(r->db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct rchunk c;
		int64_t v[8];
		for (int i = 0; i < 8; i++) {
			if (sqlite3_column_type(st, i) != SQLITE_INTEGER) {
				rc = trace_reader_fail(r, -EBADMSG, "chunk %" PRIu64 " (after event %" PRIu64
						       "): column %d is not an integer", r->n_chunks,
						       expect_event, i);
				goto out;
			}
			v[i] = sqlite3_column_int64(st, i);
		}
		c.first_event = (uint64_t)v[0];
		c.n_events = (uint64_t)v[1];
		c.first_exit = (uint64_t)v[2];
		c.last_exit = (uint64_t)v[3];
		c.raw_offset = (uint64_t)v[4];
		c.checksum = (uint64_t)v[6];
		/* A flight recording dropped the stream's beginning. */
		if (!r->n_chunks)
			offset = c.raw_offset;
		const char *bad = NULL;
		if (c.first_event != expect_event)
			bad = "does not start where the previous chunk ended";
		else if (v[1] <= 0 || c.n_events > (uint64_t)v[5])
			bad = "has an impossible event count";
		else if (v[5] <= 0 || v[5] > CHUNK_RAW_MAX)
			bad = "has an impossible raw size";
		else if (v[7] <= 0 || v[7] > LZ4_compressBound((int)v[5]))
			bad = "has an impossible stored size";
		else if (c.first_exit < prev_exit || c.last_exit < c.first_exit)
			bad = "has exit numbers out of order";
		else if (c.raw_offset != offset)
			bad = "has a wrong byte offset";
		else if (c.first_event + c.n_events < c.first_event)
			bad = "overflows the event numbers";
		if (bad) {
			rc = trace_reader_fail(r, -EBADMSG, "chunk %" PRIu64 " (first event %" PRIu64
					       ", expected %" PRIu64 ") %s", r->n_chunks,
					       c.first_event, expect_event, bad);
			goto out;
		}
		c.raw_size = (uint32_t)v[5];
		c.stored_size = (uint32_t)v[7];
		if (r->n_chunks == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct rchunk *nc = realloc(r->chunks, ncap * sizeof(*nc));
			if (!nc) {
				rc = trace_reader_fail(r, -ENOMEM, "out of memory reading the chunk table");
				goto out;
			}
			r->chunks = nc;
			cap = ncap;
		}
		r->chunks[r->n_chunks++] = c;
		expect_event += c.n_events;
		prev_exit = c.last_exit;
		offset += c.raw_size;
		r->stored_bytes += c.stored_size;
	}
	if (rc != SQLITE_DONE) {
		rc = trace_reader_fail(r, trace_sql_errno(rc), "chunk table unreadable after chunk %"
				       PRIu64 " (event %" PRIu64 "): %s", r->n_chunks, expect_event,
				       sqlite3_errmsg(r->db));
		goto out;
	}
	r->n_events = expect_event;
	r->raw_bytes = offset;
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

/* Checks in the order the format promises: identity, version, metadata, chunks. */
static int reader_check(struct trace_reader *r)
{
	int64_t v;
	int rc;
	const char *s;

	rc = sqlite3_exec(r->db, "SELECT 1 FROM sqlite_schema LIMIT 1", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return trace_reader_fail(r, -EBADMSG, "not a ttvm trace (not a readable SQLite file: %s)",
					 sqlite3_errmsg(r->db));
	if ((rc = query_int(r, "PRAGMA application_id", &v, "the file header")))
		return rc;
	if (v != TRACE_APPLICATION_ID)
		return trace_reader_fail(r, -EBADMSG, "not a ttvm trace (SQLite application id 0x%"
					 PRIx64 ")", (uint64_t)v);
	if ((rc = query_int(r, "PRAGMA user_version", &v, "the format version")))
		return rc;
	if (v > TRACE_FORMAT_VERSION)
		return trace_reader_fail(r, -ENOTSUP, "format version %" PRId64 " is newer than this "
					 "ttvm supports (%d); use a newer ttvm", v, TRACE_FORMAT_VERSION);
	if (v < 1)
		return trace_reader_fail(r, -EBADMSG, "invalid format version %" PRId64, v);
	r->format_version = (uint32_t)v;
	r->cs.legacy = v < 6; /* the fingerprints of formats 2-5 */
	r->cs.split = v >= 8; /* two streams in a chunk */
	r->cs.mix = v >= 9;   /* kick points as a filter and a point hash */

	rc = sqlite3_prepare_v2(r->db, "SELECT value FROM meta WHERE key=?", -1, &r->get_meta, NULL);
	if (rc != SQLITE_OK)
		return trace_reader_fail(r, -EBADMSG, "metadata table missing: %s", sqlite3_errmsg(r->db));
	s = trace_reader_meta(r, "format_version");
	if (!s || strtoll(s, NULL, 10) != (long long)r->format_version)
		return trace_reader_fail(r, -EBADMSG, "metadata format_version (%s) disagrees with the "
					 "file header (%u)", s ? s : "missing", r->format_version);
	s = trace_reader_meta(r, "state");
	if (!s || (strcmp(s, "complete") && strcmp(s, "incomplete")))
		return trace_reader_fail(r, -EBADMSG, "metadata state is %s", s ? s : "missing");
	r->complete = !strcmp(s, "complete");

	/* A flight recording that dropped its beginning starts at a full
	 * checkpoint's event (format 7 on). */
	s = trace_reader_meta(r, "kept_from_event");
	if (s) {
		char *end;
		long long k = strtoll(s, &end, 10);
		if (r->format_version < 7 || end == s || *end || k < 0)
			return trace_reader_fail(r, -EBADMSG, "metadata kept_from_event (%s) is not an event number", s);
		r->first_event = (uint64_t)k;
		/* 0: a live run's recording (replay --go-live -o), which starts
		 * with a full checkpoint too. */
		{
			if ((rc = query_int(r, "SELECT count(*) FROM checkpoints WHERE full=1 AND event_no=(SELECT"
					    " kept_from_event FROM (SELECT CAST(value AS INTEGER) AS kept_from_event"
					    " FROM meta WHERE key='kept_from_event'))", &v, "the checkpoint table")))
				return rc;
			if (v != 1)
				return trace_reader_fail(r, -EBADMSG, "the kept part begins at event %lld, where there "
							 "is no full checkpoint", k);
			if ((rc = query_int(r, "SELECT count(*) FROM checkpoints WHERE event_no < (SELECT"
					    " CAST(value AS INTEGER) FROM meta WHERE key='kept_from_event')", &v,
					    "the checkpoint table")))
				return rc;
			if (v != 0)
				return trace_reader_fail(r, -EBADMSG, "the kept part begins at event %lld, but %" PRId64
							 " checkpoint(s) lie before it", k, v);
		}
	}
	rc = sqlite3_prepare_v2(r->db, "SELECT data FROM chunks WHERE first_event=?", -1,
				&r->get_chunk, NULL);
	if (rc != SQLITE_OK)
		return trace_reader_fail(r, -EBADMSG, "chunk table missing: %s", sqlite3_errmsg(r->db));
	if ((rc = load_chunk_table(r)))
		return rc;
	if (r->complete) {
		s = trace_reader_meta(r, "events");
		if (!s || strtoull(s, NULL, 10) != r->n_events)
			return trace_reader_fail(r, -EBADMSG, "marked complete with %s events but holds %"
						 PRIu64, s ? s : "?", r->n_events);
	}
	if ((rc = query_int(r, "SELECT count(*) FROM checkpoints", &v, "the checkpoint table")))
		return rc;
	r->n_ckpt = (uint64_t)v;
	if ((rc = query_int(r, "SELECT count(*) FROM images", &v, "the image table")))
		return rc;
	r->n_images = (uint64_t)v;
	r->err[0] = 0;
	return 0;
}

static int reader_new(const char *name, struct trace_reader **out)
{
	struct trace_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->name = strdup(name);
	if (!r->name) {
		free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

static int reader_finish_open(struct trace_reader *r, struct trace_reader **out,
			      char *err, size_t errlen)
{
	int rc;
	/* A damaged file must not make SQLite write or trust its own schema. */
	sqlite3_db_config(r->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(r->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	rc = reader_check(r);
	if (rc) {
		if (err && errlen)
			snprintf(err, errlen, "%s", r->err);
		trace_reader_close(r);
		return rc;
	}
	r->cur = r->n_chunks;
	r->next_seq = r->first_event;
	*out = r;
	return 0;
}

int trace_reader_open(const char *path, struct trace_reader **out, char *err, size_t errlen)
{
	struct trace_reader *r;
	int rc = reader_new(path, &r);
	if (rc) {
		snprintf(err, errlen, "trace %s: out of memory", path);
		return rc;
	}
	rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "trace %s: cannot open: %s", path,
			 r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
		trace_reader_close(r);
		return trace_sql_errno(rc);
	}
	return reader_finish_open(r, out, err, errlen);
}

int trace_reader_open_mem(const void *buf, size_t len, const char *name,
			  struct trace_reader **out, char *err, size_t errlen)
{
	struct trace_reader *r;
	unsigned char *copy;
	int rc = reader_new(name, &r);
	if (rc) {
		snprintf(err, errlen, "trace %s: out of memory", name);
		return rc;
	}
	rc = sqlite3_open_v2(":memory:", &r->db, SQLITE_OPEN_READWRITE, NULL);
	copy = rc == SQLITE_OK ? sqlite3_malloc64(len ? len : 1) : NULL;
	if (!copy) {
		snprintf(err, errlen, "trace %s: cannot open in memory", name);
		trace_reader_close(r);
		return -ENOMEM;
	}
	memcpy(copy, buf, len);
	/* An in-memory database cannot be in WAL mode: present a WAL-mode file
	 * header (bytes 18-19 = 2) as rollback mode. */
	if (len >= 20 && copy[18] == 2 && copy[19] == 2)
		copy[18] = copy[19] = 1;
	rc = sqlite3_deserialize(r->db, "main", copy, (sqlite3_int64)len, (sqlite3_int64)len,
				 SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "trace %s: cannot open in memory: %s", name, sqlite3_errstr(rc));
		trace_reader_close(r);
		return trace_sql_errno(rc);
	}
	return reader_finish_open(r, out, err, errlen);
}

void trace_reader_close(struct trace_reader *r)
{
	if (!r)
		return;
	sqlite3_finalize(r->get_chunk);
	sqlite3_finalize(r->get_meta);
	sqlite3_close(r->db);
	free(r->chunks);
	free(r->raw);
	free(r->meta_buf);
	free(r->name);
	free(r);
}

void trace_reader_info(const struct trace_reader *r, struct trace_info *info)
{
	memset(info, 0, sizeof(*info));
	info->format_version = r->format_version;
	info->complete = r->complete;
	info->n_events = r->n_events;
	info->first_event = r->first_event;
	info->n_chunks = r->n_chunks;
	info->raw_bytes = r->raw_bytes;
	info->stored_bytes = r->stored_bytes;
	if (r->n_chunks) {
		info->first_exit = r->chunks[0].first_exit;
		info->last_exit = r->chunks[r->n_chunks - 1].last_exit;
	}
	info->n_checkpoints = r->n_ckpt;
	info->n_images = r->n_images;
}

int trace_reader_chunk(const struct trace_reader *r, uint64_t idx, struct trace_chunk_info *ci)
{
	if (idx >= r->n_chunks)
		return -ERANGE;
	const struct rchunk *c = &r->chunks[idx];
	ci->first_event = c->first_event;
	ci->n_events = c->n_events;
	ci->first_exit = c->first_exit;
	ci->last_exit = c->last_exit;
	ci->raw_offset = c->raw_offset;
	ci->raw_size = c->raw_size;
	ci->stored_size = c->stored_size;
	return 0;
}

/* Decompress chunk idx and position at its first event. */
static int load_chunk(struct trace_reader *r, uint64_t idx)
{
	const struct rchunk *c = &r->chunks[idx];
	int rc, n;

	r->cur = r->n_chunks;
	if (r->raw_cap < c->raw_size) {
		uint8_t *nb = realloc(r->raw, c->raw_size);
		if (!nb)
			return trace_reader_fail(r, -ENOMEM, "out of memory for chunk %" PRIu64, idx);
		r->raw = nb;
		r->raw_cap = c->raw_size;
	}
	sqlite3_bind_int64(r->get_chunk, 1, (int64_t)c->first_event);
	rc = sqlite3_step(r->get_chunk);
	if (rc != SQLITE_ROW) {
		rc = trace_reader_fail(r, rc == SQLITE_DONE ? -EBADMSG : trace_sql_errno(rc),
				       "chunk %" PRIu64 " (events %" PRIu64 "..%" PRIu64 ") unreadable: %s",
				       idx, c->first_event, c->first_event + c->n_events - 1,
				       rc == SQLITE_DONE ? "vanished" : sqlite3_errmsg(r->db));
		goto out;
	}
	const char *src = sqlite3_column_blob(r->get_chunk, 0);
	int slen = sqlite3_column_bytes(r->get_chunk, 0);
	if (!src || slen != (int)c->stored_size) {
		rc = trace_reader_fail(r, -EBADMSG, "chunk %" PRIu64 " (events %" PRIu64 "..%" PRIu64
				       "): blob is %d bytes, the table said %u", idx, c->first_event,
				       c->first_event + c->n_events - 1, slen, c->stored_size);
		goto out;
	}
	n = LZ4_decompress_safe(src, (char *)r->raw, slen, (int)c->raw_size);
	if (n != (int)c->raw_size) {
		rc = trace_reader_fail(r, -EBADMSG, "chunk %" PRIu64 " (events %" PRIu64 "..%" PRIu64
				       ", bytes %" PRIu64 "..%" PRIu64 "): %s", idx, c->first_event,
				       c->first_event + c->n_events - 1, c->raw_offset,
				       c->raw_offset + c->raw_size, n < 0 ? "lz4 decompression failed"
				       : "decompressed size differs from the recorded size");
		goto out;
	}
	if (hash64(r->raw, c->raw_size) != c->checksum) {
		rc = trace_reader_fail(r, -EBADMSG, "chunk %" PRIu64 " (events %" PRIu64 "..%" PRIu64
				       "): checksum mismatch", idx, c->first_event,
				       c->first_event + c->n_events - 1);
		goto out;
	}
	codec_reset(&r->cs, c->first_exit);
	const char *why = NULL;
	if (codec_begin(&r->cs, r->raw, c->raw_size, &r->pos, &r->aend, &why)) {
		rc = trace_reader_fail(r, -EBADMSG, "chunk %" PRIu64 " (events %" PRIu64 "..%" PRIu64 "): %s",
				       idx, c->first_event, c->first_event + c->n_events - 1, why);
		goto out;
	}
	r->cur = idx;
	r->next_seq = c->first_event;
	rc = 0;
out:
	sqlite3_reset(r->get_chunk);
	return rc;
}

/* Decode the next event of the current chunk. */
static int decode_one(struct trace_reader *r, struct trace_event *ev)
{
	const struct rchunk *c = &r->chunks[r->cur];
	const char *why = NULL;
	size_t at = r->pos;
	int rc = codec_decode(&r->cs, r->raw, r->aend, &r->pos, ev, &why);
	if (rc == 0) {
		int last = r->next_seq + 1 == c->first_event + c->n_events;
		if (ev->exit_no > c->last_exit)
			why = "exit number beyond the chunk's last exit";
		else if (last && (r->pos != r->aend || r->cs.vpos != r->cs.vlen))
			why = "bytes left after the chunk's last event";
		else if (last && ev->exit_no != c->last_exit)
			why = "last exit number disagrees with the chunk table";
		else if (ev->kind == TRACE_EV_END && !last)
			why = "end record before the last event";
		else if (ev->kind == TRACE_EV_RDRAND && r->format_version < 3)
			why = "rdrand event in a trace of format version 2 or older";
		else if (ev->kind == TRACE_EV_PROBE && r->format_version < 4)
			why = "probe event in a trace of format version 3 or older";
		else if (ev->kind == TRACE_EV_MSR && r->format_version < 5)
			why = "msr event in a trace of format version 4 or older";
		if (why)
			rc = -EBADMSG;
	}
	if (rc) {
		r->cur = r->n_chunks; /* force a reload: the chunk state is unknown now */
		return trace_reader_fail(r, rc, "event %" PRIu64 " (chunk %" PRIu64 ", byte %zu of %u,"
					 " stream offset %" PRIu64 "): %s%s", r->next_seq,
					 (uint64_t)(c - r->chunks), at, c->raw_size, c->raw_offset + at, why,
					 rc == -EPROTO ? " (written by a newer ttvm?)" : "");
	}
	ev->seq = r->next_seq++;
	return 0;
}

static uint64_t find_chunk(const struct trace_reader *r, uint64_t seq)
{
	uint64_t lo = 0, hi = r->n_chunks; /* first chunk with first_event > seq */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (r->chunks[mid].first_event <= seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

int trace_reader_seek(struct trace_reader *r, uint64_t seq)
{
	struct trace_event ev;
	int rc;
	if (seq >= r->n_events) {
		if (seq == r->n_events) {
			r->cur = r->n_chunks;
			r->next_seq = seq;
			return 0;
		}
		return trace_reader_fail(r, -ERANGE, "event %" PRIu64 " is past the end (%" PRIu64
					 " events)", seq, r->n_events);
	}
	if (seq < r->first_event)
		return trace_reader_fail(r, -ERANGE, "event %" PRIu64 " was dropped: this flight recording keeps"
					 " events %" PRIu64 " to %" PRIu64, seq, r->first_event, r->n_events - 1);
	uint64_t idx = find_chunk(r, seq);
	if (r->cur != idx || r->next_seq > seq) {
		if ((rc = load_chunk(r, idx)))
			return rc;
	}
	while (r->next_seq < seq)
		if ((rc = decode_one(r, &ev)))
			return rc;
	return 0;
}

int trace_reader_seek_exit(struct trace_reader *r, uint64_t exit_no)
{
	struct trace_event ev;
	uint64_t lo = 0, hi = r->n_chunks;
	int rc;
	while (lo < hi) { /* first chunk whose last exit reaches exit_no */
		uint64_t mid = lo + (hi - lo) / 2;
		if (r->chunks[mid].last_exit < exit_no)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == r->n_chunks)
		return trace_reader_fail(r, -ERANGE, "exit %" PRIu64 " is past the end (last exit %"
					 PRIu64 ")", exit_no,
					 r->n_chunks ? r->chunks[r->n_chunks - 1].last_exit : 0);
	if ((rc = load_chunk(r, lo)))
		return rc;
	for (;;) {
		size_t pos = r->pos;
		struct codec_state cs = r->cs;
		if ((rc = decode_one(r, &ev)))
			return rc;
		if (ev.exit_no >= exit_no) {
			/* step back: the next read returns this event */
			r->pos = pos;
			r->cs = cs;
			r->next_seq--;
			return 0;
		}
	}
}

int trace_reader_next(struct trace_reader *r, struct trace_event *ev)
{
	int rc;
	if (r->next_seq >= r->n_events)
		return 0;
	if (r->cur == r->n_chunks ||
	    r->next_seq >= r->chunks[r->cur].first_event + r->chunks[r->cur].n_events) {
		if ((rc = trace_reader_seek(r, r->next_seq)))
			return rc;
	}
	if ((rc = decode_one(r, ev)))
		return rc;
	return 1;
}

int trace_reader_get(struct trace_reader *r, uint64_t seq, struct trace_event *ev)
{
	int rc;
	if (seq >= r->n_events)
		return 0;
	if ((rc = trace_reader_seek(r, seq)))
		return rc;
	return trace_reader_next(r, ev);
}

int trace_reader_image(struct trace_reader *r, uint64_t idx, struct trace_image_info *ii)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(r->db, "SELECT name, size, sha256, stored FROM images ORDER BY id"
				    " LIMIT 1 OFFSET ?", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return trace_reader_fail(r, -EBADMSG, "image table unreadable: %s", sqlite3_errmsg(r->db));
	sqlite3_bind_int64(st, 1, (int64_t)idx);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = rc == SQLITE_DONE ? -ERANGE
			: trace_reader_fail(r, trace_sql_errno(rc), "image %" PRIu64 " unreadable", idx);
		goto out;
	}
	const unsigned char *name = sqlite3_column_text(st, 0);
	const void *sha = sqlite3_column_blob(st, 2);
	if (!name || !sha || sqlite3_column_bytes(st, 2) != 32 || sqlite3_column_int64(st, 1) < 0) {
		rc = trace_reader_fail(r, -EBADMSG, "image %" PRIu64 " has a malformed row", idx);
		goto out;
	}
	snprintf(ii->name, sizeof(ii->name), "%s", name);
	ii->size = (uint64_t)sqlite3_column_int64(st, 1);
	memcpy(ii->sha256, sha, 32);
	ii->stored = sqlite3_column_int(st, 3) != 0;
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

int trace_reader_image_data(struct trace_reader *r, uint64_t idx, void *buf, size_t size)
{
	struct trace_image_info ii;
	sqlite3_stmt *st = NULL;
	uint8_t digest[32];
	size_t off = 0;
	int rc = trace_reader_image(r, idx, &ii);
	if (rc)
		return rc;
	if (!ii.stored)
		return -ENOENT;
	if (size != ii.size)
		return -EINVAL;
	rc = sqlite3_prepare_v2(r->db, "SELECT raw_size, data FROM image_parts WHERE image=("
				"SELECT id FROM images ORDER BY id LIMIT 1 OFFSET ?) ORDER BY part",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return trace_reader_fail(r, -EBADMSG, "image parts unreadable: %s", sqlite3_errmsg(r->db));
	sqlite3_bind_int64(st, 1, (int64_t)idx);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t raw = sqlite3_column_int64(st, 0);
		const char *src = sqlite3_column_blob(st, 1);
		int slen = sqlite3_column_bytes(st, 1);
		if (raw <= 0 || (uint64_t)raw > size - off || !src ||
		    LZ4_decompress_safe(src, (char *)buf + off, slen, (int)raw) != raw) {
			rc = trace_reader_fail(r, -EBADMSG, "image %s: part at byte %zu is damaged",
					       ii.name, off);
			goto out;
		}
		off += (size_t)raw;
	}
	if (rc != SQLITE_DONE) {
		rc = trace_reader_fail(r, trace_sql_errno(rc), "image %s unreadable at byte %zu",
				       ii.name, off);
		goto out;
	}
	sha256(buf, size, digest);
	if (off != size || memcmp(digest, ii.sha256, 32)) {
		rc = trace_reader_fail(r, -EBADMSG, "image %s: stored bytes do not match its SHA-256",
				       ii.name);
		goto out;
	}
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}
