/* ckpt_tamper TRACE MODE ID: alter checkpoint ID of a trace in place, the
 * way a damaged or forged file would, keeping the storage layer's own
 * checks happy so that what catches it is record/replay's.
 *   page     one of its pages gets other contents, with a matching hash
 *   rawpage  one of its pages gets other contents, the hash left as is
 *   exitmem  the memory digest recorded for the exit is changed
 *   state    one byte of the machine state is changed
 * (storage/README.md has the schema.) */
#include <inttypes.h>
#include <lz4.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record/ckpt.h"
#include "storage/hash.h"

static int die(const char *what, sqlite3 *db)
{
	fprintf(stderr, "ckpt_tamper: %s%s%s\n", what, db ? ": " : "", db ? sqlite3_errmsg(db) : "");
	return 1;
}

static int tamper_page(sqlite3 *db, int64_t ckpt, int keep_hash)
{
	sqlite3_stmt *st;
	uint8_t page[4096], z[LZ4_COMPRESSBOUND(4096)];

	/* The page of this checkpoint with the highest number: the guest's
	 * own data rather than its code. */
	if (sqlite3_prepare_v2(db, "SELECT p.id, p.data FROM checkpoint_pages cp JOIN pages p ON p.id = cp.page"
			       " WHERE cp.checkpoint = ? ORDER BY cp.page_no DESC LIMIT 1", -1, &st, NULL))
		return die("prepare", db);
	sqlite3_bind_int64(st, 1, ckpt);
	if (sqlite3_step(st) != SQLITE_ROW)
		return die("the checkpoint has no stored page", NULL);
	int64_t id = sqlite3_column_int64(st, 0);
	const char *data = sqlite3_column_blob(st, 1);
	if (LZ4_decompress_safe(data, (char *)page, sqlite3_column_bytes(st, 1), 4096) != 4096)
		return die("page row does not decompress", NULL);
	sqlite3_finalize(st);
	page[4000] ^= 0x5a;
	int zl = LZ4_compress_default((const char *)page, (char *)z, 4096, sizeof(z));
	const char *sql = keep_hash ? "UPDATE pages SET data = ?1 WHERE id = ?3"
				    : "UPDATE pages SET data = ?1, hash = ?2 WHERE id = ?3";
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL))
		return die("prepare", db);
	sqlite3_bind_blob(st, 1, z, zl, SQLITE_STATIC);
	if (!keep_hash)
		sqlite3_bind_int64(st, 2, (int64_t)hash64(page, 4096));
	sqlite3_bind_int64(st, 3, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return die("update", db);
	sqlite3_finalize(st);
	return 0;
}

static int tamper_vcpu(sqlite3 *db, int64_t ckpt, int state)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, "SELECT vcpu_raw_size, vcpu FROM checkpoints WHERE id = ?", -1, &st, NULL))
		return die("prepare", db);
	sqlite3_bind_int64(st, 1, ckpt);
	if (sqlite3_step(st) != SQLITE_ROW)
		return die("no such checkpoint", NULL);
	int raw = sqlite3_column_int(st, 0);
	if (raw < (int)sizeof(struct rr_ckpt_header) || raw > (1 << 24))
		return die("implausible vCPU blob", NULL);
	char *b = malloc((size_t)raw), *z = malloc((size_t)LZ4_compressBound(raw));
	if (!b || !z || LZ4_decompress_safe(sqlite3_column_blob(st, 1), b, sqlite3_column_bytes(st, 1), raw) != raw)
		return die("vCPU blob does not decompress", NULL);
	sqlite3_finalize(st);
	struct rr_ckpt_header h;
	memcpy(&h, b, sizeof(h));
	if (state) {
		b[sizeof(h) + h.state_len / 2] ^= 1;
	} else {
		h.exit_mem ^= 0x100;
		memcpy(b, &h, sizeof(h));
	}
	int zl = LZ4_compress_default(b, z, raw, LZ4_compressBound(raw));
	if (sqlite3_prepare_v2(db, "UPDATE checkpoints SET vcpu = ? WHERE id = ?", -1, &st, NULL))
		return die("prepare", db);
	sqlite3_bind_blob(st, 1, z, zl, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, ckpt);
	if (sqlite3_step(st) != SQLITE_DONE)
		return die("update", db);
	sqlite3_finalize(st);
	free(b);
	free(z);
	return 0;
}

int main(int argc, char **argv)
{
	sqlite3 *db;

	if (argc != 4)
		return die("usage: ckpt_tamper TRACE page|rawpage|exitmem|state ID", NULL);
	int64_t id = strtoll(argv[3], NULL, 0);
	if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, NULL))
		return die("open", db);
	int r;
	if (!strcmp(argv[2], "page"))
		r = tamper_page(db, id, 0);
	else if (!strcmp(argv[2], "rawpage"))
		r = tamper_page(db, id, 1);
	else if (!strcmp(argv[2], "exitmem"))
		r = tamper_vcpu(db, id, 0);
	else if (!strcmp(argv[2], "state"))
		r = tamper_vcpu(db, id, 1);
	else
		r = die("unknown mode", NULL);
	sqlite3_close(db);
	return r;
}
