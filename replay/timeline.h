/* Moving through a recording in both directions: the replay engine plus
 * restore points.
 *
 * Restore points are the trace's checkpoints (taken while recording) and
 * snapshots the timeline takes itself while the debugging session runs the
 * guest forward: at exit boundaries every TL_SNAP_MS of work, at every stop
 * shown to gdb, and every TL_SNAP_STEPS single steps.  A snapshot holds the
 * machine state (core/snapshot.h), the engine's plain-data state and the RAM
 * pages that differ from the base copy of RAM taken at the start, found
 * through the dirty generations; restoring one rewrites only the pages
 * written since the base.  Going to a point = restoring the latest restore
 * point at or before it and replaying forward, so the cost of a reverse step
 * depends on the distance to the nearest snapshot, not on the length of the
 * recording.
 *
 * Files: timeline.c (moving: goto, continue, stepi, reverse-stepi),
 * tl_points.c (restore points), tl_reverse.c (reverse-continue), tl_pages.c
 * (watching writes by pages); tl_internal.h is theirs alone. */
#ifndef TTVM_REPLAY_TIMELINE_H
#define TTVM_REPLAY_TIMELINE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "replay/engine.h"

struct vm;
struct tl_snap;

#define TL_SNAP_MS 25
#define TL_SNAP_STEPS 2000

/* What a guest-linear translation depends on besides the paging-structure
 * entries: CR0.PE/PG, CR3, CR4.PSE/PAE/LA57, EFER.LMA. */
struct tl_paging {
	uint64_t cr0, cr3, cr4, efer;
};

enum tl_result {
	TL_OK = 0,        /* arrived / stopped where asked */
	TL_TRAP,          /* stopped at a trap (tl->eng.hit, hit_addr) */
	TL_BEGIN,         /* reverse: reached the start of the recording */
	TL_END,           /* forward: reached the end of the recording */
	TL_INTERRUPTED,   /* Ctrl-C */
	TL_ERROR,         /* divergence or host error: tl->msg */
};

struct timeline {
	struct vm *vm;
	struct engine eng;
	struct tl_snap **snaps;
	size_t nsnaps, cap;
	uint64_t snap_bytes;
	uint8_t *base;        /* RAM at the start */
	uint64_t base_gen;
	uint64_t *ckpt_exit;  /* the trace's checkpoints: exit numbers and ids */
	uint64_t *ckpt_id;
	uint64_t *ckpt_parent; /* 0: a full one */
	size_t nckpt;
	/* Snapshots the guest reached going forward since the last restore
	 * form a chain: each lists the RAM pages written since the one before
	 * (reverse-continue skips the stretches that wrote no watched page).
	 * The latest link: its point, dirty generation and paging controls. */
	bool chain;
	struct eng_pos chain_pos;
	uint64_t chain_gen;
	struct tl_paging chain_ctl;
	uint64_t begin_e;     /* the first point is (begin_e, 0): exit 0, or where a
			       * flight recording's kept part begins */
	bool at_end;          /* the VM stopped at the end of the recording */
	int end_status;
	char end_msg[512];
	int (*poll)(void *ctx);
	void *poll_ctx;
	uint64_t last_snap_ms;
	char msg[600];
	/* statistics for `monitor info` */
	uint64_t restores, snaps_taken;
	/* reverse-continue with write watches on a host without data
	 * breakpoints: intervals skipped by their page lists, replayed by
	 * pages, stretches stepped */
	uint64_t rc_skipped, rc_paged, rc_stepped;
	/* ... and forward continue: stretches gone through again by steps */
	uint64_t fw_stepped;
};

/* Set up over a VM booted for replay (rr_of(vm) reading the trace, memory
 * digest on).  serial: where the guest's output goes the first time it is
 * produced.  0 or -errno (message printed). */
int tl_init(struct timeline *tl, struct vm *vm, FILE *serial);
void tl_free(struct timeline *tl);
/* The current point (canonical when its k is known). */
void tl_where(struct timeline *tl, struct eng_pos *pos);
/* Forward until a trap, the end, or Ctrl-C. */
int tl_continue(struct timeline *tl);
/* Forward one instruction. */
int tl_stepi(struct timeline *tl);
/* Back one instruction (TL_BEGIN at the start). */
int tl_reverse_stepi(struct timeline *tl);
/* Back to the last trap fire before the current point, or the start.
 * Write watches checked by value (no data breakpoints: PVM) cost no single
 * steps where the dirty log shows that no watched page (or a page table
 * translating it) was written: restore-point intervals whose page lists
 * (trace checkpoints, snapshot chain) miss them are skipped, and the rest
 * is replayed at full speed, stepping only the stretches between exits
 * that wrote a watched page, latest first.  Assumes the watched addresses
 * keep their translation (an address-space switch that is undone between
 * two exits without a page-table write goes unseen). */
int tl_reverse_continue(struct timeline *tl);
/* Go to exit boundary e (UINT64_MAX: the end of the recording). */
int tl_goto_exit(struct timeline *tl, uint64_t e);
/* Go to a point (canonical or pending). */
int tl_goto(struct timeline *tl, const struct eng_pos *p);
/* Go to the exit boundary of event ev_no (as `ttvm inspect --events`
 * numbers them): a tl_result, -ENOENT when the trace has no such event, or
 * -ESRCH when a flight recording dropped it (tl_msg says which it keeps). */
int tl_goto_event(struct timeline *tl, uint64_t ev_no);
/* Take a snapshot here (when the point is canonical).  0 or -errno. */
int tl_snapshot(struct timeline *tl);
/* Print the restore points to f, and how reverse-continue used them. */
void tl_list_points(struct timeline *tl, FILE *f);
/* The trace, the session's statistics and how traps are checked, as text. */
void tl_info(struct timeline *tl, char *buf, size_t len);

/* Finish a pending PIO/MMIO access so that the vCPU state is the one after
 * the instruction (before reading registers).  0 or -errno. */
int tl_settle(struct timeline *tl);
/* Add a trap (index >= 0) or remove one, as eng_trap_add/eng_trap_del. */
int tl_trap_add(struct timeline *tl, const struct eng_trap *t);
int tl_trap_del(struct timeline *tl, const struct eng_trap *t);
/* After TL_TRAP (or a step that fired one): the trap's index, *t and the
 * data address *addr it fired at; -1 when the last run hit no trap. */
int tl_hit(const struct timeline *tl, struct eng_trap *t, uint64_t *addr);
/* The number of the next event the replay has to meet. */
uint64_t tl_next_event(const struct timeline *tl);
/* Is the guest at the end of the recording? */
bool tl_at_end(const struct timeline *tl);
/* Why the last call failed (TL_ERROR; may be empty: then the VM's stop
 * message says it), and how the recording ended (TL_END). */
const char *tl_msg(const struct timeline *tl);
const char *tl_end_msg(const struct timeline *tl);
/* Forget tl_msg(). */
void tl_clear_msg(struct timeline *tl);

#endif
