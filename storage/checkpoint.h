/* Checkpoints in a trace: full and incremental snapshots of one vCPU's state
 * (an opaque blob) and guest memory, keyed by the event number and guest-exit
 * number at which they were taken, so that replay can start from the nearest
 * one.  Memory is stored as 4 KiB pages, each lz4-compressed and
 * deduplicated by content across the whole trace (zero pages cost no page
 * row).  An incremental checkpoint lists only the pages that changed since
 * its parent. */
#ifndef TTVM_STORAGE_CHECKPOINT_H
#define TTVM_STORAGE_CHECKPOINT_H
#include <stddef.h>
#include <stdint.h>

#include "storage/trace.h"

#define TRACE_CKPT_PAGE 4096u

struct trace_ckpt_info {
	uint64_t id;        /* > 0 */
	uint64_t event_no;  /* seq of its TRACE_EV_CHECKPOINT event */
	uint64_t exit_no;
	uint64_t parent;    /* 0 for a full checkpoint */
	int full;
	uint64_t mem_size;
	uint64_t n_pages;   /* pages listed in this checkpoint itself */
	uint64_t vcpu_size; /* bytes of the vCPU blob */
};

/* Store a checkpoint and append its TRACE_EV_CHECKPOINT event at exit_no.
 * dirty == NULL: full snapshot of mem (mem_size bytes, a multiple of 4 KiB).
 * dirty != NULL, parent 0: full snapshot in which only the n_dirty listed
 * pages can be non-zero (the caller knows the others are zero).
 * Otherwise incremental over checkpoint parent: only the n_dirty listed page
 * numbers of mem are stored.  *id_out gets the new id.  0, -EINVAL (bad
 * arguments), -ENOENT (no such parent) or the writer's -errno. */
int trace_ckpt_store(struct trace_writer *w, uint64_t exit_no,
		     const void *vcpu, size_t vcpu_len,
		     const uint8_t *mem, uint64_t mem_size,
		     const uint64_t *dirty, size_t n_dirty, uint64_t parent,
		     uint64_t *id_out);
/* Checkpoint number idx in event order.  0, -ERANGE, or -errno. */
int trace_ckpt_get(struct trace_reader *r, uint64_t idx, struct trace_ckpt_info *ci);
/* The checkpoint with the largest event_no <= event_no.  0, -ENOENT, -errno. */
int trace_ckpt_find(struct trace_reader *r, uint64_t event_no, struct trace_ckpt_info *ci);
/* Only the vCPU blob of checkpoint id (no memory): into vcpu (vcpu_cap
 * bytes), its size in *len.  0, -ENOENT, -EINVAL (too small), -EBADMSG. */
int trace_ckpt_vcpu(struct trace_reader *r, uint64_t id, void *vcpu, size_t vcpu_cap, size_t *len);
/* Does checkpoint id itself list page page_no (an incremental one: the page
 * was written since its parent; a full one: the page may be non-zero)?
 * 1, 0, -ENOENT (no such checkpoint) or -EBADMSG. */
int trace_ckpt_has_page(struct trace_reader *r, uint64_t id, uint64_t page_no);
/* Did checkpoint id change page page_no: does it list the page with other
 * contents than its parent chain holds (the nearest ancestor that lists it,
 * else zero)?  A page listed with the same contents (written back, or
 * marked written by the host without a change) is not changed.  1, 0 (not
 * listed, or the same), -ENOENT (no such checkpoint) or -EBADMSG. */
int trace_ckpt_page_changed(struct trace_reader *r, uint64_t id, uint64_t page_no);
/* Rebuild the state at checkpoint id: the vCPU blob into vcpu (vcpu_cap bytes,
 * at least ci.vcpu_size) and the full memory image into mem (mem_size bytes,
 * equal to the checkpoint's), following parents back to the full one.
 * 0, -ENOENT, -EINVAL (sizes), -EBADMSG (damaged; see trace_reader_errmsg). */
int trace_ckpt_load(struct trace_reader *r, uint64_t id, void *vcpu, size_t vcpu_cap,
		    uint8_t *mem, uint64_t mem_size);
/* The same without clearing mem first: only the pages the chain lists are
 * written (parents first), each reported to written (may be NULL).  For a
 * large, mostly untouched mem whose pages the caller has already zeroed
 * wherever they may be non-zero.  Same results as trace_ckpt_load. */
int trace_ckpt_apply(struct trace_reader *r, uint64_t id, void *vcpu, size_t vcpu_cap,
		     uint8_t *mem, uint64_t mem_size, void (*written)(void *ctx, uint64_t page_no), void *ctx);

/* What one trace_drop_before() dropped, and how long it took. */
struct trace_drop_stats {
	uint64_t events;      /* events before the new kept start (since the last drop) */
	uint64_t checkpoints; /* checkpoint rows */
	uint64_t chunks;      /* chunk rows */
	uint64_t pages;       /* page rows no kept checkpoint lists */
	uint64_t us;          /* wall time of the drop, its commit included */
};

/* Flight recording (a writer opened with trace_writer_opts.flight): make
 * checkpoint id the trace's start.  It becomes full (the pages its parents
 * held for it are listed in it), the checkpoints, chunks and events before
 * its event are dropped with the pages no kept checkpoint lists, and the
 * metadata says where the kept part begins (kept_from_event,
 * kept_from_exit, kept_from_checkpoint) and what went (dropped_checkpoints,
 * drops).  Commits, in one transaction with the events before it: a crash
 * leaves the trace from before or after the drop, both readable.  0,
 * -ENOENT (no such checkpoint), -EINVAL (not a flight writer) or the
 * writer's -errno (stopped, as on a full disk). */
int trace_drop_before(struct trace_writer *w, uint64_t id, struct trace_drop_stats *st);

#endif
