/* Private to the timeline's files (timeline.c, tl_points.c, tl_reverse.c,
 * tl_pages.c): the restore points' layout and what the files call of each
 * other. */
#ifndef TTVM_REPLAY_TL_INTERNAL_H
#define TTVM_REPLAY_TL_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "replay/timeline.h"
#include "storage/trace.h"

#define PAGE 4096u
/* Snapshots are dropped (oldest first, never the start) above this. */
#define TL_SNAP_BUDGET (768ull << 20)

struct tl_snap {
	struct eng_pos pos;     /* canonical */
	void *state;
	size_t state_len;
	uint64_t npages;
	uint64_t *pages;        /* sorted page indexes that differ from the base */
	uint8_t *data;          /* their contents */
	/* plain-data replay state */
	struct trace_event next;
	int have_next;
	uint64_t last_good;
	uint64_t fp_chain, fp_since; /* rr's chain of register hashes (format 6) */
	int bp;
	uint64_t bp_addr;
	uint64_t bytes;
	struct tl_paging ctl;   /* at pos */
	/* A link of the chain (timeline.h): the snapshot before it, that one's
	 * paging controls, and the RAM pages written in between (sorted). */
	bool has_prev;
	struct eng_pos prev;
	struct tl_paging prev_ctl;
	uint64_t *written;
	uint64_t nwritten;
};

/* Is p canonical (its k known)? */
bool tl_canonical(const struct eng_pos *p);

/* The paging controls of sr. */
void tl_paging_of(const struct kvm_sregs *sr, struct tl_paging *p);

/* Do a and b translate alike (same controls)? */
bool tl_paging_same(const struct tl_paging *a, const struct tl_paging *b);

/* Append x to the growable array *v (*n used, *cap allocated).  0 or -ENOMEM. */
int tl_u64_push(uint64_t **v, uint64_t *n, uint64_t *cap, uint64_t x);

/* Put the VM back to snapshot s (only the pages written since the base are
 * rewritten).  0 or -errno (tl->msg). */
int tl_restore(struct timeline *tl, const struct tl_snap *s);

/* eng_goal.poll for every run of the timeline: asks tl->poll. */
int tl_poll_cb(void *ctx);

/* Run one engine goal; map its stop to a tl_result. */
int tl_run_goal(struct timeline *tl, struct eng_goal *g);

/* Restore the best point at or before p (a trace checkpoint when it is
 * nearer than every snapshot).  0 or -errno. */
int tl_restore_before(struct timeline *tl, const struct eng_pos *p);

/* Go to canonical point p: the restore point before it, then forward. */
int tl_goto_canonical(struct timeline *tl, const struct eng_pos *p);

/* Make the current point canonical (k known) by re-running it by single
 * steps from its base. */
int tl_canonicalize(struct timeline *tl);

struct tl_fires {
	struct eng_pos *pos;
	int *trap;
	uint64_t *exitno;
	size_t n, cap;
	struct vm *vm;
	bool nomem;
};

/* eng_goal.on_fire: note a fire in the struct tl_fires at ctx. */
void tl_on_fire(void *ctx, const struct eng_pos *p, int trap);

#define TL_WS_DATA (2 * ENG_MAX_TRAPS)
#define TL_WS_TABLES (2 * ENG_MAX_TRAPS * VM_WALK_MAX)

/* What the write watches depend on at one point: the RAM pages (indexes as
 * in vm->ram) holding the watched bytes (first and last byte of each), the
 * pages of the paging-structure entries translating them, and the paging
 * controls.  Sorted, without repeats. */
struct tl_watchset {
	struct tl_paging ctl;
	unsigned ndata, ntab;
	uint64_t data[TL_WS_DATA];
	uint64_t tab[TL_WS_TABLES];
};

/* Sort v[0..n) and drop repeats; returns the new n. */
unsigned tl_sort_unique(uint64_t *v, unsigned n);

/* Index of the first element above x in sorted v (n when none). */
uint64_t tl_first_above(const uint64_t *v, uint64_t n, uint64_t x);

/* Does sorted v[0..n) hold x? */
bool tl_sorted_has(const uint64_t *v, uint64_t n, uint64_t x);

/* The watch set of the active write traps where the guest is.  0, -ENOENT
 * (no write trap), -EFAULT (an address is unmapped), -ERANGE (not RAM) or
 * the ioctl's -errno. */
int tl_watchset_here(struct timeline *tl, struct tl_watchset *ws);

/* Do a and b watch the same pages with the same controls? */
bool tl_watchset_same(const struct tl_watchset *a, const struct tl_watchset *b);

/* upto (canonical, where ws holds) is a restore point whose interval back
 * to the one before has a known list of written pages (a snapshot chain
 * link, or an incremental trace checkpoint and its parent): when the list
 * names no page of ws and the paging controls at the interval's start are
 * ws's, no write changed a watched value in that interval (and the
 * translation there is ws's too).  Then move upto back to that start: 1;
 * else 0.  A checkpoint that cannot be read is not skipped. */
int tl_skip_clean(struct timeline *tl, struct eng_pos *upto, const struct tl_watchset *ws);

/* A replay pass noting which stretches wrote a watched page. */
struct tl_dirty_pass {
	struct timeline *tl;
	const struct tl_watchset *ws;
	uint64_t gen;         /* dirty generation of the last look */
	bool tables_written;  /* a page of the translation was written */
	uint64_t *cand;       /* stretches (exit numbers) that wrote a watched page, ascending */
	uint64_t n, cap;
	int err;
};

/* Note stretch (an exit number) as one that wrote a watched page. */
void tl_cand_add(struct tl_dirty_pass *dp, uint64_t stretch);

/* The stretch that just ended (exit number stretch): did it write a
 * watched page?  Then note it (tl_cand_add). */
void tl_dp_look(struct tl_dirty_pass *dp, uint64_t stretch);

/* From where the guest is to boundary (to_e, 0) at full speed, write
 * watches by pages, other traps' fires into f, snapshots on the way (they
 * make the later stepping of a stretch start near it).  may_end: the
 * replay may end there. */
int tl_dirty_pass(struct timeline *tl, struct tl_dirty_pass *dp, struct tl_fires *f, uint64_t to_e, bool may_end);

/* Which traps are set: write traps checked by value can be watched by
 * pages when no other trap needs single steps; with no trap but them,
 * whole restore-point intervals can be skipped. */
void tl_watch_mode(struct timeline *tl, bool *by_pages, bool *skip);

#endif
