/* reverse-continue: back to the last trap fire before the current point
 * (timeline.h), from restore point to restore point. */
#include "replay/timeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "devices/clock.h"
#include "core/log.h"
#include "core/snapshot.h"
#include "core/vm.h"
#include "record/ckpt.h"
#include "record/rr.h"
#include "replay/seek.h"
#include "replay/tl_internal.h"
#include "storage/checkpoint.h"

void tl_on_fire(void *ctx, const struct eng_pos *p, int trap)
{
	struct tl_fires *f = ctx;
	if (f->n == f->cap) {
		size_t nc = f->cap ? f->cap * 2 : 64;
		struct eng_pos *np = realloc(f->pos, nc * sizeof(*np));
		int *nt = realloc(f->trap, nc * sizeof(*nt));
		uint64_t *nx = realloc(f->exitno, nc * sizeof(*nx));
		if (np)
			f->pos = np;
		if (nt)
			f->trap = nt;
		if (nx)
			f->exitno = nx;
		if (!np || !nt || !nx) {
			f->nomem = true;
			return;
		}
		f->cap = nc;
	}
	f->pos[f->n] = *p;
	f->trap[f->n] = trap;
	f->exitno[f->n] = f->vm->exits;
	f->n++;
}

static void fires_free(struct tl_fires *f)
{
	free(f->pos);
	free(f->trap);
	free(f->exitno);
}

/* Fires at the last stop happened at upto itself: an execution trap there
 * is where we are (not before it), a data trap there was the instruction
 * just before it (still to be shown).  *mark (may be NULL) counts the
 * fires before an index and follows the removals. */
static void drop_fires_at_stop(struct timeline *tl, struct tl_fires *f, size_t *mark)
{
	size_t keep = 0, below = 0;
	for (size_t i = 0; i < f->n; i++) {
		if (f->exitno[i] != tl->vm->exits || tl->eng.traps[f->trap[i]].type != ENG_EXEC) {
			f->pos[keep] = f->pos[i];
			f->trap[keep] = f->trap[i];
			f->exitno[keep] = f->exitno[i];
			keep++;
			if (mark && i < *mark)
				below++;
		}
	}
	f->n = keep;
	if (mark)
		*mark = below;
}

/* The stretch (between two exit boundaries) a fire happened in: a fire
 * at a boundary itself came on arrival there, from the stretch before. */
static uint64_t fire_stretch(const struct eng_pos *p)
{
	return p->k == 0 && p->e > 0 ? p->e - 1 : p->e;
}

/* From the restore point just restored, forward to upto, collecting every
 * fire into f.  dp: at full speed up to upto's boundary with write watches
 * by pages (*mark = the fires of that part), then single steps as without.
 * A boundary's translation that differs from dp's watch set stops the run
 * with *invalid. */
static int rc_forward(struct timeline *tl, const struct eng_pos *upto, bool upto_is_end, bool upto_is_cur,
		      struct tl_fires *f, struct tl_dirty_pass *dp, size_t *mark, bool *invalid)
{
	struct vm *vm = tl->vm;
	struct eng_goal g = { .to_e = UINT64_MAX, .on_fire = tl_on_fire, .fire_ctx = f };
	uint64_t to_e = upto->e; /* the boundary at or before upto (and its base) */
	int r;

	f->n = 0;
	*invalid = false;
	if (dp && vm->guest_exits < to_e) {
		r = tl_dirty_pass(tl, dp, f, to_e, upto_is_end && tl_canonical(upto) && upto->k == 0);
		if (r != TL_OK)
			return r;
		struct tl_watchset here;
		if (dp->tables_written || tl_watchset_here(tl, &here) || !tl_watchset_same(&here, dp->ws)) {
			*invalid = true;
			return TL_OK;
		}
	}
	*mark = f->n;
	if (tl_canonical(upto)) {
		/* Full speed to upto's boundary, then steps. */
		if (vm->guest_exits < upto->e) {
			g.to_e = upto->e;
			g.to_k = 0;
			r = tl_run_goal(tl, &g);
			if (r == TL_END && upto_is_end)
				r = TL_OK;
			if (r != TL_OK)
				return r;
		}
		if (upto->k > 0 && !tl->at_end) {
			g.to_e = upto->e;
			g.to_k = upto->k;
			r = tl_run_goal(tl, &g);
			if (r == TL_END && upto_is_end)
				r = TL_OK;
			if (r != TL_OK)
				return r;
		}
	} else {
		struct eng_pos base = { .e = upto->e, .k = upto->kbase }, here;
		eng_where(&tl->eng, &here);
		if (eng_pos_cmp(&here, &base) < 0) {
			g.to_e = base.e;
			g.to_k = base.k;
			r = tl_run_goal(tl, &g);
			if (r != TL_OK)
				return r;
		}
		/* upto is named by a fire of its trap: count them even if gdb
		 * removed that trap since (as run_to_fire does), but then its
		 * fires are no hits. */
		int added = eng_trap_find(&tl->eng, &upto->trap) < 0 ? eng_trap_add(&tl->eng, &upto->trap) : -1;
		size_t first = f->n;
		struct eng_goal g2 = { .to_e = UINT64_MAX, .pending = upto, .on_fire = tl_on_fire, .fire_ctx = f };
		r = tl_run_goal(tl, &g2);
		if (added >= 0) {
			eng_trap_del(&tl->eng, &upto->trap);
			size_t keep = first;
			for (size_t i = first; i < f->n; i++)
				if (f->trap[i] != added) {
					f->pos[keep] = f->pos[i];
					f->trap[keep] = f->trap[i];
					f->exitno[keep] = f->exitno[i];
					keep++;
				}
			f->n = keep;
		}
		if (r != TL_OK)
			return r;
	}
	if (f->nomem) {
		snprintf(tl->msg, sizeof(tl->msg), "out of memory for trap fires");
		return TL_ERROR;
	}
	if (upto_is_cur)
		drop_fires_at_stop(tl, f, mark);
	return TL_OK;
}

/* The last fire before upto when the fast pass found none after its end:
 * only the candidate stretches (ascending) can hold one (a watched page
 * written, or another trap fired there).  Latest first: restore the point
 * before a candidate, replay to the end of it stepping the candidates on
 * the way (the others at full speed), take the last fire; else go on
 * before that restore point.  f empty: none. */
static int rc_candidates(struct timeline *tl, const struct eng_pos *upto, bool upto_is_end, bool upto_is_cur,
			 const uint64_t *cand, size_t n, struct tl_fires *f)
{
	struct vm *vm = tl->vm;
	size_t left = n; /* candidates [0, left) still to look at */

	while (left) {
		uint64_t last = cand[left - 1];
		int r = tl_restore_before(tl, &(struct eng_pos){ .e = last, .k = 0 });
		if (r) {
			snprintf(tl->msg, sizeof(tl->msg), "no restore point before exit %" PRIu64 ": %s", last, strerror(-r));
			return TL_ERROR;
		}
		struct eng_pos from;
		eng_where(&tl->eng, &from);
		/* Ends at upto itself when the last candidate is the stretch just before it. */
		bool at_upto = tl_canonical(upto) && upto->k == 0 && last + 1 == upto->e;
		f->n = 0;
		while (vm->guest_exits <= last) {
			uint64_t s = vm->guest_exits;
			struct eng_goal g = { .to_e = s + 1, .on_fire = tl_on_fire, .fire_ctx = f };
			if (tl_sorted_has(cand, n, s)) {
				g.single = true;
				tl->rc_stepped++;
			} else {
				/* last > s is a candidate: there is one above s */
				g.to_e = cand[tl_first_above(cand, n, s)];
				g.watch_by_pages = true;
			}
			r = tl_run_goal(tl, &g);
			if (r == TL_END && upto_is_end && at_upto)
				break;
			if (r != TL_OK)
				return r;
		}
		if (f->nomem) {
			snprintf(tl->msg, sizeof(tl->msg), "out of memory for trap fires");
			return TL_ERROR;
		}
		if (at_upto && upto_is_cur)
			drop_fires_at_stop(tl, f, NULL);
		/* Fires in other stretches are before the interval (from a
		 * restore point before it) or were seen by the pass already. */
		size_t keep = 0;
		for (size_t i = 0; i < f->n; i++)
			if (tl_sorted_has(cand, n, fire_stretch(&f->pos[i]))) {
				f->pos[keep] = f->pos[i];
				f->trap[keep] = f->trap[i];
				f->exitno[keep] = f->exitno[i];
				keep++;
			}
		f->n = keep;
		if (f->n)
			return TL_OK;
		/* Nothing from `from` on: the candidates before it remain (and
		 * the one `from` lies inside, from its start). */
		while (left && cand[left - 1] > from.e)
			left--;
		if (left && cand[left - 1] == from.e && from.k == 0)
			left--;
	}
	f->n = 0;
	return TL_OK;
}

/* reverse-continue's state from one restore-point interval to the one
 * before it. */
struct rc {
	struct timeline *tl;
	struct tl_fires f;
	struct eng_pos upto;   /* the interval ends here */
	bool upto_is_end;      /* running to upto ends the replay there */
	/* An execution trap that fires at upto is where gdb stands when upto
	 * is the current point, and a hit before it when upto is where a later
	 * interval began (a restore point at a breakpoint: a pass from there
	 * by single steps does not see the arrival it starts at). */
	bool upto_is_cur;
	bool skip;             /* whole intervals may be skipped by their page lists */
	struct tl_watchset *ws; /* by pages: ws[0] at upto, ws[1] at the interval's start */
	bool ws_known;
};

/* The point just before upto (a restore point at or before it ends the
 * interval).  false at the start of the recording. */
static bool point_before(const struct timeline *tl, const struct eng_pos *upto, struct eng_pos *before)
{
	*before = *upto;
	if (!tl_canonical(before)) {
		before->k = before->kbase;
		return true;
	}
	if (before->k > 0) {
		before->k--;
	} else if (before->e > tl->begin_e) {
		before->e--;
		before->k = UINT64_MAX - 1;
	} else {
		return false;
	}
	return true;
}

/* The stretches to step again after a pass by pages: those that wrote a
 * watched page and those where another trap fired (the first mark fires).
 * TL_OK or TL_ERROR. */
static int rc_stretches(struct rc *rc, struct tl_dirty_pass *dp, size_t mark)
{
	struct timeline *tl = rc->tl;

	for (size_t i = 0; i < mark && !dp->err; i++)
		tl_cand_add(dp, fire_stretch(&rc->f.pos[i]));
	if (dp->err) {
		snprintf(tl->msg, sizeof(tl->msg), "out of memory for candidate stretches");
		return TL_ERROR;
	}
	dp->n = tl_sort_unique(dp->cand, (unsigned)dp->n);
	return rc_candidates(tl, &rc->upto, rc->upto_is_end, rc->upto_is_cur, dp->cand, dp->n, &rc->f);
}

/* One interval: restore the point before (just before upto) and go forward to upto,
 * collecting the fires in rc->f (by pages where the watch set is known at
 * its start).  *start: where the interval began, *start_known: ws[1] holds
 * its watch set.  TL_OK or another tl_result. */
static int rc_interval(struct rc *rc, const struct eng_pos *before, struct eng_pos *start, bool *start_known)
{
	struct timeline *tl = rc->tl;
	int r;

	if ((r = tl_restore_before(tl, before))) {
		snprintf(tl->msg, sizeof(tl->msg), "no restore point: %s", strerror(-r));
		return TL_ERROR;
	}
	eng_where(&tl->eng, start);
	*start_known = rc->ws && tl_watchset_here(tl, &rc->ws[1]) == 0;
	struct tl_dirty_pass dp = { .tl = tl, .ws = rc->ws ? &rc->ws[1] : NULL };
	size_t mark = 0;
	bool invalid = false;
	r = rc_forward(tl, &rc->upto, rc->upto_is_end, rc->upto_is_cur, &rc->f, *start_known ? &dp : NULL, &mark,
		       &invalid);
	bool paged = *start_known && !invalid;
	if (r == TL_OK && invalid) {
		/* The translation moved: this interval the old way, from
		 * its start (the pass took snapshots after it; if the
		 * start's own was dropped meanwhile, from before it). */
		log_debug("reverse-continue: the watched translation changed before exit %" PRIu64 ": single steps",
			  rc->upto.e);
		if ((r = tl_restore_before(tl, start))) {
			snprintf(tl->msg, sizeof(tl->msg), "no restore point: %s", strerror(-r));
			free(dp.cand);
			return TL_ERROR;
		}
		eng_where(&tl->eng, start);
		*start_known = rc->ws && tl_watchset_here(tl, &rc->ws[1]) == 0;
		r = rc_forward(tl, &rc->upto, rc->upto_is_end, rc->upto_is_cur, &rc->f, NULL, &mark, &invalid);
	} else if (r == TL_OK && paged) {
		tl->rc_paged++;
	}
	/* Nothing in the stepped part: step the candidate stretches. */
	if (r == TL_OK && paged && rc->f.n == mark && (dp.n || mark))
		r = rc_stretches(rc, &dp, mark);
	free(dp.cand);
	return r;
}

/* The latest fire found: go there (before the access for a data trap). */
static int rc_found(struct rc *rc)
{
	struct timeline *tl = rc->tl;
	struct eng_pos hit = rc->f.pos[rc->f.n - 1];
	int trap = rc->f.trap[rc->f.n - 1];

	log_debug("reverse-continue: %" PRIu64 " intervals skipped, %" PRIu64 " replayed by pages, %" PRIu64
		  " stretches stepped", tl->rc_skipped, tl->rc_paged, tl->rc_stepped);
	int r = tl_goto(tl, &hit);
	/* A data trap fires after the access: going backwards, stop
	 * before the instruction that made it, as gdb expects. */
	if (r == TL_OK && tl->eng.traps[trap].type != ENG_EXEC)
		r = tl_reverse_stepi(tl);
	if (r != TL_OK)
		return r;
	tl->eng.hit = trap;
	tl->eng.hit_addr = tl->eng.traps[trap].addr;
	return TL_TRAP;
}

int tl_reverse_continue(struct timeline *tl)
{
	struct eng_pos cur, start, before;
	struct rc rc = { .tl = tl, .f = { .vm = tl->vm } };
	bool by_pages, start_known;
	int r;

	eng_where(&tl->eng, &cur);
	if (tl->at_end) {
		if ((r = tl_canonicalize(tl)) != TL_OK)
			return r;
		eng_where(&tl->eng, &cur);
	}
	rc.upto = cur;
	rc.upto_is_end = tl->at_end;
	rc.upto_is_cur = true;
	tl_watch_mode(tl, &by_pages, &rc.skip);
	rc.ws = by_pages ? malloc(2 * sizeof(*rc.ws)) : NULL;
	rc.ws_known = rc.ws && tl_canonical(&cur) && tl_watchset_here(tl, &rc.ws[0]) == 0;
	for (;;) {
		if (rc.skip && rc.ws_known && tl_canonical(&rc.upto)) {
			while (tl_skip_clean(tl, &rc.upto, &rc.ws[0]) == 1) {
				rc.upto_is_end = false;
				rc.upto_is_cur = false;
				tl->rc_skipped++;
			}
		}
		if (!point_before(tl, &rc.upto, &before)) {
			r = tl_goto_canonical(tl, &(struct eng_pos){ .e = tl->begin_e });
			r = r == TL_OK ? TL_BEGIN : r;
			break;
		}
		if ((r = rc_interval(&rc, &before, &start, &start_known)) != TL_OK)
			break;
		if (rc.f.n) {
			r = rc_found(&rc);
			break;
		}
		rc.upto_is_end = false;
		rc.upto_is_cur = false;
		if (start.e <= tl->begin_e && start.k == 0) {
			r = tl_goto_canonical(tl, &start);
			r = r == TL_OK ? TL_BEGIN : r;
			break;
		}
		rc.upto = start;
		if (start_known)
			rc.ws[0] = rc.ws[1];
		rc.ws_known = start_known;
	}
	fires_free(&rc.f);
	free(rc.ws);
	return r;
}
