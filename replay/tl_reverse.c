/* reverse-continue: back to the last trap fire before the current point
 * (timeline.h), from restore point to restore point. */
#include "replay/timeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/snapshot.h"
#include "core/vm.h"
#include "record/ckpt.h"
#include "record/rr.h"
#include "replay/seek.h"
#include "storage/checkpoint.h"
#include "replay/tl_internal.h"

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

/* Which traps are set: write traps checked by value can be watched by
 * pages when no other trap needs single steps; with no trap but them,
 * whole restore-point intervals can be skipped. */
void tl_watch_mode(struct timeline *tl, bool *by_pages, bool *skip)
{
	const struct engine *eng = &tl->eng;
	unsigned n_exec = 0, n_write = 0, n_other = 0;

	for (int i = 0; i < ENG_MAX_TRAPS; i++) {
		if (!eng->trap_used[i])
			continue;
		if (eng->traps[i].type == ENG_EXEC)
			n_exec++;
		else if (eng->traps[i].type == ENG_WRITE)
			n_write++;
		else
			n_other++;
	}
	/* Three execution traps always fit the debug registers next to the
	 * kick-point breakpoint; more may need steps anyway. */
	*by_pages = !eng->hw_data && n_write && !n_other && (!n_exec || (eng->hw_exec && n_exec <= 3));
	*skip = *by_pages && !n_exec;
}

int tl_reverse_continue(struct timeline *tl)
{
	struct eng_pos cur;
	int r;

	eng_where(&tl->eng, &cur);
	if (tl->at_end) {
		if ((r = tl_canonicalize(tl)) != TL_OK)
			return r;
		eng_where(&tl->eng, &cur);
	}
	struct tl_fires f = { .vm = tl->vm };
	struct eng_pos upto = cur;
	bool upto_is_end = tl->at_end; /* running to upto ends the replay there */
	/* An execution trap that fires at upto is where gdb stands when upto
	 * is the current point, and a hit before it when upto is where a later
	 * interval began (a restore point at a breakpoint: a pass from there
	 * by single steps does not see the arrival it starts at). */
	bool upto_is_cur = true;
	bool by_pages, skip;
	tl_watch_mode(tl, &by_pages, &skip);
	/* ws[0]: the watch set at upto; ws[1] at the interval's start. */
	struct tl_watchset *ws = by_pages ? malloc(2 * sizeof(*ws)) : NULL;
	bool ws_known = ws && tl_canonical(&cur) && tl_watchset_here(tl, &ws[0]) == 0;
	for (;;) {
		if (skip && ws_known && tl_canonical(&upto)) {
			while (tl_skip_clean(tl, &upto, &ws[0]) == 1) {
				upto_is_end = false;
				upto_is_cur = false;
				tl->rc_skipped++;
			}
		}
		/* The restore point before upto, then forward to upto collecting fires. */
		struct eng_pos before = upto;
		if (tl_canonical(&before)) {
			if (before.k > 0)
				before.k--;
			else if (before.e > 0) {
				before.e--;
				before.k = UINT64_MAX - 1;
			} else {
				r = tl_goto_canonical(tl, &(struct eng_pos){ 0 });
				fires_free(&f);
				free(ws);
				return r == TL_OK ? TL_BEGIN : r;
			}
		} else {
			before.k = before.kbase;
		}
		if ((r = tl_restore_before(tl, &before))) {
			snprintf(tl->msg, sizeof(tl->msg), "no restore point: %s", strerror(-r));
			r = TL_ERROR;
			break;
		}
		struct eng_pos start;
		eng_where(&tl->eng, &start);
		bool start_known = ws && tl_watchset_here(tl, &ws[1]) == 0;
		struct tl_dirty_pass dp = { .tl = tl, .ws = ws ? &ws[1] : NULL };
		size_t mark = 0;
		bool invalid = false;
		r = rc_forward(tl, &upto, upto_is_end, upto_is_cur, &f, start_known ? &dp : NULL, &mark, &invalid);
		bool paged = start_known && !invalid;
		if (r == TL_OK && invalid) {
			/* The translation moved: this interval the old way, from
			 * its start (the pass took snapshots after it; if the
			 * start's own was dropped meanwhile, from before it). */
			log_debug("reverse-continue: the watched translation changed before exit %" PRIu64
				  ": single steps", upto.e);
			if ((r = tl_restore_before(tl, &start))) {
				snprintf(tl->msg, sizeof(tl->msg), "no restore point: %s", strerror(-r));
				r = TL_ERROR;
				break;
			}
			eng_where(&tl->eng, &start);
			start_known = ws && tl_watchset_here(tl, &ws[1]) == 0;
			r = rc_forward(tl, &upto, upto_is_end, upto_is_cur, &f, NULL, &mark, &invalid);
		} else if (r == TL_OK && paged) {
			tl->rc_paged++;
		}
		if (r != TL_OK) {
			free(dp.cand);
			break;
		}
		if (paged && f.n == mark && (dp.n || mark)) {
			/* Nothing in the stepped part: the stretches that wrote a
			 * watched page, and those where another trap fired. */
			for (size_t i = 0; i < mark && !dp.err; i++)
				tl_cand_add(&dp, fire_stretch(&f.pos[i]));
			if (dp.err) {
				snprintf(tl->msg, sizeof(tl->msg), "out of memory for candidate stretches");
				free(dp.cand);
				r = TL_ERROR;
				break;
			}
			dp.n = tl_sort_unique(dp.cand, (unsigned)dp.n);
			r = rc_candidates(tl, &upto, upto_is_end, upto_is_cur, dp.cand, dp.n, &f);
			if (r != TL_OK) {
				free(dp.cand);
				break;
			}
		}
		free(dp.cand);
		if (f.n) {
			struct eng_pos hit = f.pos[f.n - 1];
			int trap = f.trap[f.n - 1];
			fires_free(&f);
			free(ws);
			log_debug("reverse-continue: %" PRIu64 " intervals skipped, %" PRIu64 " replayed by pages, %" PRIu64
				  " stretches stepped", tl->rc_skipped, tl->rc_paged, tl->rc_stepped);
			r = tl_goto(tl, &hit);
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
		upto_is_end = false;
		upto_is_cur = false;
		if (start.e == 0 && start.k == 0) {
			r = tl_goto_canonical(tl, &start);
			fires_free(&f);
			free(ws);
			return r == TL_OK ? TL_BEGIN : r;
		}
		upto = start;
		if (start_known)
			ws[0] = ws[1];
		ws_known = start_known;
	}
	fires_free(&f);
	free(ws);
	return r;
}
