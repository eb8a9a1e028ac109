/* Watching writes by pages on hosts without data breakpoints: which pages
 * a write watch depends on, skipping restore-point intervals whose page
 * lists miss them, finding the stretches between exits that wrote one
 * (for reverse-continue), and forward continue by pages. */
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

/* ---- write watches by pages (hosts without data breakpoints) ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

unsigned tl_sort_unique(uint64_t *v, unsigned n)
{
	unsigned k = 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	for (unsigned i = 0; i < n; i++)
		if (!k || v[k - 1] != v[i])
			v[k++] = v[i];
	return k;
}

/* Index of the first element above x in sorted v (n when none). */
uint64_t tl_first_above(const uint64_t *v, uint64_t n, uint64_t x)
{
	uint64_t lo = 0, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (v[mid] <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool tl_sorted_has(const uint64_t *v, uint64_t n, uint64_t x)
{
	uint64_t lo = 0, hi = n;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (v[mid] == x)
			return true;
		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* RAM page index of guest-physical gpa, or -ERANGE (not RAM). */
static int ram_page(struct vm *vm, uint64_t gpa, uint64_t *idx)
{
	const uint8_t *p = vm_gpa_ptr(vm, gpa & ~(uint64_t)(PAGE - 1), PAGE);
	if (!p)
		return -ERANGE;
	*idx = (uint64_t)(p - vm->ram) / PAGE;
	return 0;
}

/* The watch set of the active write traps where the guest is.  0, -ENOENT
 * (no write trap), -EFAULT (an address is unmapped), -ERANGE (not RAM) or
 * the ioctl's -errno. */
int tl_watchset_here(struct timeline *tl, struct tl_watchset *ws)
{
	struct engine *eng = &tl->eng;
	struct kvm_sregs sregs;
	int r;

	ws->ndata = ws->ntab = 0;
	if ((r = vcpu_get_sregs(tl->vm, &sregs)))
		return r;
	tl_paging_of(&sregs, &ws->ctl);
	for (int i = 0; i < ENG_MAX_TRAPS; i++) {
		if (!eng->trap_used[i] || eng->traps[i].type != ENG_WRITE)
			continue;
		/* Both ends: a watch may cross a page (not one gdb can set
		 * today, its watches are aligned, but the check costs nothing). */
		uint64_t ends[2] = { eng->traps[i].addr, eng->traps[i].addr + eng->traps[i].len - 1 };
		for (int j = 0; j < 2; j++) {
			uint64_t gpa, tab[VM_WALK_MAX], idx;
			unsigned nt;
			if ((r = vm_gva_walk(tl->vm, &sregs, ends[j], &gpa, tab, &nt)))
				return r;
			if ((r = ram_page(tl->vm, gpa, &idx)))
				return r;
			ws->data[ws->ndata++] = idx;
			for (unsigned t = 0; t < nt; t++) {
				if ((r = ram_page(tl->vm, tab[t], &idx)))
					return r;
				ws->tab[ws->ntab++] = idx;
			}
		}
	}
	ws->ndata = tl_sort_unique(ws->data, ws->ndata);
	ws->ntab = tl_sort_unique(ws->tab, ws->ntab);
	return ws->ndata ? 0 : -ENOENT;
}

bool tl_watchset_same(const struct tl_watchset *a, const struct tl_watchset *b)
{
	return tl_paging_same(&a->ctl, &b->ctl) && a->ndata == b->ndata && a->ntab == b->ntab &&
	       !memcmp(a->data, b->data, a->ndata * sizeof(a->data[0])) &&
	       !memcmp(a->tab, b->tab, a->ntab * sizeof(a->tab[0]));
}

/* Does a sorted page list name any page of ws? */
static bool list_touches(const uint64_t *v, uint64_t n, const struct tl_watchset *ws)
{
	for (unsigned i = 0; i < ws->ndata; i++)
		if (tl_sorted_has(v, n, ws->data[i]))
			return true;
	for (unsigned i = 0; i < ws->ntab; i++)
		if (tl_sorted_has(v, n, ws->tab[i]))
			return true;
	return false;
}

/* Paging controls at trace checkpoint id (from its vCPU blob).  0 or -errno. */
static int ckpt_paging(struct timeline *tl, uint64_t id, struct tl_paging *p)
{
	const void *blob, *state;
	size_t len, slen;
	struct rr_ckpt_header h;
	struct kvm_sregs sregs;
	char err[256];
	int r;

	if ((r = rr_ckpt_read(tl->vm, id, &blob, &len, err, sizeof(err))))
		return r;
	if (rr_ckpt_parse(blob, len, &h, &state, &slen) || vm_state_sregs(state, slen, &sregs, err, sizeof(err)))
		return -EBADMSG;
	tl_paging_of(&sregs, p);
	return 0;
}

/* upto (canonical, where ws holds) is a restore point whose interval back
 * to the one before has a known list of written pages (a snapshot chain
 * link, or an incremental trace checkpoint and its parent): when the list
 * names no page of ws (for a checkpoint: no watched page, and no page of
 * the translation whose contents changed) and the paging controls at the
 * interval's start are ws's, no write changed a watched value in that
 * interval (and the translation there is ws's too).  Then move upto back to that start: 1;
 * else 0.  A checkpoint that cannot be read is not skipped. */
int tl_skip_clean(struct timeline *tl, struct eng_pos *upto, const struct tl_watchset *ws)
{
	for (size_t i = 0; i < tl->nsnaps; i++) {
		const struct tl_snap *s = tl->snaps[i];
		if (eng_pos_cmp(&s->pos, upto) || !s->has_prev || eng_pos_cmp(&s->prev, upto) >= 0)
			continue;
		if (tl_paging_same(&s->prev_ctl, &ws->ctl) && !list_touches(s->written, s->nwritten, ws)) {
			*upto = s->prev;
			return 1;
		}
	}
	if (upto->k != 0)
		return 0;
	for (size_t i = 0; i < tl->nckpt; i++) {
		if (tl->ckpt_exit[i] != upto->e || !tl->ckpt_parent[i])
			continue;
		size_t p = 0;
		while (p < tl->nckpt && tl->ckpt_id[p] != tl->ckpt_parent[i])
			p++;
		if (p == tl->nckpt || tl->ckpt_exit[p] >= upto->e)
			continue;
		struct tl_paging ctl;
		int r = ckpt_paging(tl, tl->ckpt_id[p], &ctl);
		if (r) {
			log_debug("reverse-continue: checkpoint %" PRIu64 " unreadable (%s): not skipped", tl->ckpt_id[p],
				  strerror(-r));
			continue;
		}
		if (!tl_paging_same(&ctl, &ws->ctl))
			continue;
		/* A watched page counts when written at all (A->B->A is a
		 * write); a page of its translation only when its contents
		 * changed: hosts list page tables that the guest never wrote
		 * (nested SVM under QEMU's TCG, every interval) and the CPU
		 * sets accessed/dirty bits. */
		bool hit = false;
		for (unsigned j = 0; j < ws->ndata + ws->ntab && !hit; j++) {
			struct trace_reader *tr = rr_of(tl->vm)->r;
			r = j < ws->ndata ? trace_ckpt_has_page(tr, tl->ckpt_id[i], ws->data[j])
					  : trace_ckpt_page_changed(tr, tl->ckpt_id[i], ws->tab[j - ws->ndata]);
			hit = r != 0; /* an error counts as written */
		}
		if (!hit) {
			*upto = (struct eng_pos){ .e = tl->ckpt_exit[p], .k = 0 };
			return 1;
		}
	}
	return 0;
}

void tl_cand_add(struct tl_dirty_pass *dp, uint64_t stretch)
{
	if (dp->n && dp->cand[dp->n - 1] == stretch)
		return;
	if (!dp->err)
		dp->err = tl_u64_push(&dp->cand, &dp->n, &dp->cap, stretch);
}

/* The stretch that just ended: did it write a watched page? */
void tl_dp_look(struct tl_dirty_pass *dp, uint64_t stretch)
{
	struct vm *vm = dp->tl->vm;
	int r;

	if (dp->err)
		return;
	if ((r = vm_dirty_sync(vm))) {
		dp->err = r;
		return;
	}
	for (unsigned i = 0; i < dp->ws->ndata; i++)
		if (vm->page_gen[dp->ws->data[i]] > dp->gen) {
			tl_cand_add(dp, stretch);
			break;
		}
	for (unsigned i = 0; i < dp->ws->ntab; i++) {
		if (vm->page_gen[dp->ws->tab[i]] <= dp->gen)
			continue;
		/* A page of the translation was marked written: does the
		 * translation still lead where it led?  Hosts mark page tables
		 * written that the guest never wrote (nested SVM under QEMU's
		 * TCG: the three levels of the watchrc guest's tables in every
		 * checkpoint interval, measured with record -vvvv), and the CPU
		 * sets accessed/dirty bits: a write that leaves the watched
		 * translations, their tables and the paging controls as they
		 * were is no change. */
		struct tl_watchset here;
		if (tl_watchset_here(dp->tl, &here) || !tl_watchset_same(&here, dp->ws))
			dp->tables_written = true;
		break;
	}
	dp->gen = vm->dirty_gen;
}

static int dp_boundary(void *ctx)
{
	struct tl_dirty_pass *dp = ctx;
	tl_dp_look(dp, dp->tl->vm->guest_exits - 1);
	return 0;
}

/* From where the guest is to boundary (to_e, 0) at full speed, write
 * watches by pages, other traps' fires into f, snapshots on the way (they
 * make the later stepping of a stretch start near it).  may_end: the
 * replay may end there. */
int tl_dirty_pass(struct timeline *tl, struct tl_dirty_pass *dp, struct tl_fires *f, uint64_t to_e, bool may_end)
{
	struct vm *vm = tl->vm;
	int r;

	if ((r = vm_dirty_sync(vm))) {
		snprintf(tl->msg, sizeof(tl->msg), "dirty log: %s", strerror(-r));
		return TL_ERROR;
	}
	dp->gen = vm->dirty_gen;
	while (vm->guest_exits < to_e) {
		struct eng_goal g = { .to_e = to_e - vm->guest_exits > 256 ? vm->guest_exits + 256 : to_e,
				      .on_fire = tl_on_fire, .fire_ctx = f, .watch_by_pages = true,
				      .on_boundary = dp_boundary, .boundary_ctx = dp };
		r = tl_run_goal(tl, &g);
		if (r == TL_END && may_end) {
			tl_dp_look(dp, vm->guest_exits - 1); /* the guest's last exit is no boundary the run reached */
			break;
		}
		if (r != TL_OK)
			return r;
		if (dp->err)
			break;
		if (host_mono_ns() / 1000000 - tl->last_snap_ms >= TL_SNAP_MS)
			tl_snapshot(tl);
	}
	if (dp->err) {
		snprintf(tl->msg, sizeof(tl->msg), "dirty log: %s", strerror(-dp->err));
		return TL_ERROR;
	}
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
