/* Shared between the storage/ files only (writer, reader, checkpoints,
 * inspect): access to the SQLite handle behind a writer or reader and the
 * common error paths.  Not for use outside storage/. */
#ifndef TTVM_STORAGE_TRACE_INTERNAL_H
#define TTVM_STORAGE_TRACE_INTERNAL_H
#include <sqlite3.h>

#include "storage/trace.h"

/* The checkpoint tables use this page size; it is fixed by the format. */
#define TRACE_PAGE_SIZE 4096u

/* Map an SQLite result code to -errno (SQLITE_FULL -> -ENOSPC, ...). */
int trace_sql_errno(int sqlrc);
/* The writer's database, inside its open transaction. */
sqlite3 *trace_writer_db(struct trace_writer *w);
/* 0 while the writer works, or the -errno it stopped with. */
int trace_writer_status(const struct trace_writer *w);
/* Stop the writer after SQLite failed with sqlrc while doing what: print one
 * message naming the trace and the last committed event, roll back, return
 * -errno.  Later calls return the same -errno. */
int trace_writer_sqlfail(struct trace_writer *w, int sqlrc, const char *what);
/* Insert the buffered events as a chunk now (no commit), so that the next
 * event starts a chunk.  0 or the writer's -errno. */
int trace_writer_cut(struct trace_writer *w);
/* Was w opened with trace_writer_opts.flight? */
int trace_writer_is_flight(const struct trace_writer *w);
/* The reader's database. */
sqlite3 *trace_reader_db(struct trace_reader *r);
/* Record an error for trace_reader_errmsg() ("trace NAME: " + message); returns rc. */
int trace_reader_fail(struct trace_reader *r, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
