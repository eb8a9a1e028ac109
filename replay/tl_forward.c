/* Forward continue (timeline.h: tl_continue): with every trap checked as
 * the host allows, or, for write watches on a host without data
 * breakpoints, at full speed with the dirty log looked at every boundary. */
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

/* Forward until a trap fires, every trap checked as the host allows
 * (software write watches by single steps). */
static int continue_plain(struct timeline *tl)
{
	struct eng_goal g = { .to_e = UINT64_MAX, .traps = true, .poll = tl_poll_cb, .poll_ctx = tl };
	int r;
	for (;;) {
		/* Full speed, with a snapshot at a boundary now and then. */
		g.to_e = tl->eng.k != ENG_K_UNKNOWN ? tl->vm->guest_exits + 512 : UINT64_MAX;
		g.to_k = 0;
		r = tl_run_goal(tl, &g);
		if (r != TL_OK)
			break;
		if (host_mono_ns() / 1000000 - tl->last_snap_ms >= TL_SNAP_MS)
			tl_snapshot(tl);
	}
	if (r == TL_OK || r == TL_TRAP || r == TL_INTERRUPTED)
		tl_snapshot(tl);
	return r;
}

/* Forward `continue` with write watches on a host without data
 * breakpoints, without single-stepping everything: full speed, the dirty
 * log looked at every boundary; a stretch that wrote a watched page (or a
 * page of its translation) is gone through again from its start by single
 * steps, which compare the watched bytes.  Where that keeps happening
 * without a fire (the guest writes the watched page all the time), plain
 * single steps are cheaper (a stretch again costs a restore and up to
 * TL_SNAP_MS of replay): after FW_MAX_MISSES such stretches, if they were
 * more than one in FW_MISS_RATIO, the rest of this continue goes that way. */
#define FW_MAX_MISSES 16
#define FW_MISS_RATIO 32 /* ... when more than one stretch in this many is such */
#define FW_CHUNK 512 /* boundaries between looks at the snapshot clock and the translation */

struct fw_pass {
	struct tl_dirty_pass dp;
	unsigned boundaries;
	uint64_t total;   /* boundaries passed at full speed in this continue */
	uint64_t stretch; /* the stretch looked at last */
};

/* Did stretch s write a watched page or a page of its translation? */
static bool fw_look(struct fw_pass *fw, uint64_t s)
{
	uint64_t before = fw->dp.n;

	fw->stretch = s;
	tl_dp_look(&fw->dp, s);
	return fw->dp.err || fw->dp.n != before || fw->dp.tables_written;
}

static int fw_boundary(void *ctx)
{
	struct fw_pass *fw = ctx;

	fw->total++;
	return fw_look(fw, fw->dp.tl->vm->guest_exits - 1) || ++fw->boundaries >= FW_CHUNK;
}

/* Single steps from `from` (or the start of stretch s, whichever is later)
 * to boundary s + 1 (to_end: until a fire or the end).  TL_OK: no fire. */
static int fw_redo(struct timeline *tl, const struct eng_pos *from, uint64_t s, bool to_end)
{
	struct eng_pos a = { .e = s, .k = 0 };
	int r;

	if (from->e >= s)
		a = *from;
	if ((r = tl_goto(tl, &a)) != TL_OK)
		return r;
	tl->fw_stepped++;
	struct eng_goal g = { .to_e = to_end ? UINT64_MAX : s + 1, .to_k = 0, .traps = true, .poll = tl_poll_cb,
			      .poll_ctx = tl };
	return tl_run_goal(tl, &g);
}

static int continue_by_pages(struct timeline *tl)
{
	struct vm *vm = tl->vm;
	struct tl_watchset *ws = malloc(2 * sizeof(*ws)); /* [0] in use, [1] scratch */
	struct fw_pass fw = { .dp = { .tl = tl } };
	unsigned misses = 0;
	int r;

	if (!ws || tl_watchset_here(tl, &ws[0])) {
		free(ws);
		return continue_plain(tl); /* no translation for a watch: the watch by steps sees it */
	}
	fw.dp.ws = &ws[0];
	for (;;) {
		struct eng_pos from;
		eng_where(&tl->eng, &from);
		if ((r = vm_dirty_sync(vm))) {
			snprintf(tl->msg, sizeof(tl->msg), "dirty log: %s", strerror(-r));
			r = TL_ERROR;
			break;
		}
		fw.dp.gen = vm->dirty_gen;
		fw.dp.n = 0;
		fw.dp.tables_written = false;
		fw.boundaries = 0;
		struct eng_goal g = { .to_e = UINT64_MAX, .traps = true, .poll = tl_poll_cb, .poll_ctx = tl,
				      .watch_by_pages = true, .on_boundary = fw_boundary, .boundary_ctx = &fw };
		r = tl_run_goal(tl, &g);
		if (r == TL_TRAP || r == TL_END)
			fw_look(&fw, tl->eng.end_at_boundary ? vm->guest_exits - 1 : vm->guest_exits);
		if (fw.dp.err) {
			snprintf(tl->msg, sizeof(tl->msg), "dirty log: %s", strerror(-fw.dp.err));
			r = TL_ERROR;
			break;
		}
		bool dirty = fw.dp.n || fw.dp.tables_written;
		if (r != TL_OK && r != TL_TRAP && r != TL_END)
			break; /* interrupted (at a boundary, whose stretch was looked at) or an error */
		if (!dirty && r != TL_OK)
			break; /* a breakpoint or the end, no watched write before it */
		if (!dirty) {
			/* A chunk without writes to the watched pages: unless the
			 * translation moved meanwhile (other paging controls, no
			 * page-table write seen), then the chunk again by steps. */
			if (tl_watchset_here(tl, &ws[1]) == 0 && tl_watchset_same(&ws[0], &ws[1])) {
				if (host_mono_ns() / 1000000 - tl->last_snap_ms >= TL_SNAP_MS)
					tl_snapshot(tl);
				continue;
			}
			log_debug("continue: the watched translation changed before exit %" PRIu64 ": single steps",
				  vm->guest_exits);
			uint64_t here = vm->guest_exits;
			if ((r = tl_goto(tl, &from)) != TL_OK)
				break;
			struct eng_goal gs = { .to_e = here, .to_k = 0, .traps = true, .poll = tl_poll_cb, .poll_ctx = tl };
			if ((r = tl_run_goal(tl, &gs)) != TL_OK)
				break;
		} else {
			/* The stretch with the write once more, by steps: to its
			 * end, or (a breakpoint fired in it, or it is the last)
			 * to the first fire, which comes no later than that. */
			if ((r = fw_redo(tl, &from, fw.stretch, r != TL_OK)) != TL_OK)
				break;
			if (++misses >= FW_MAX_MISSES && misses * FW_MISS_RATIO > fw.total) {
				log_debug("continue: %u stretches wrote a watched page without a change: single steps", misses);
				r = continue_plain(tl);
				free(fw.dp.cand);
				free(ws);
				return r;
			}
		}
		if (tl_watchset_here(tl, &ws[1]) == 0)
			ws[0] = ws[1];
	}
	free(fw.dp.cand);
	free(ws);
	if (r == TL_OK || r == TL_TRAP || r == TL_INTERRUPTED)
		tl_snapshot(tl);
	return r;
}

int tl_continue(struct timeline *tl)
{
	bool by_pages, skip;

	if (tl->at_end)
		return TL_END;
	tl_watch_mode(tl, &by_pages, &skip);
	return by_pages ? continue_by_pages(tl) : continue_plain(tl);
}
