/* `ttvm replay --from`: restore a recorded checkpoint and go on from it. */
#include "replay/seek.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/clock.h"
#include "core/log.h"
#include "core/snapshot.h"
#include "core/vm.h"
#include "record/ckpt.h"
#include "record/rr.h"
#include "storage/checkpoint.h"

static void page_written(void *ctx, uint64_t page)
{
	vm_mark_pages_written(ctx, page, 1);
}

int replay_restore_checkpoint(struct vm *vm, const struct trace_ckpt_info *ci)
{
	struct rr *rr = rr_of(vm);
	struct rr_ckpt_header h;
	struct kvm_regs regs;
	const void *state;
	size_t slen;
	int r;

	if (ci->mem_size != vm->ram_size) {
		log_error("checkpoint %" PRIu64 ": its memory (%" PRIu64 " bytes) is not the recording's (%" PRIu64 ")",
			  ci->id, ci->mem_size, vm->ram_size);
		return -EBADMSG;
	}
	/* A vCPU blob is ~10 KiB; a size far beyond is a damaged row. */
	if (ci->vcpu_size < sizeof(h) || ci->vcpu_size > (64u << 20)) {
		log_error("checkpoint %" PRIu64 ": implausible vCPU state size %" PRIu64, ci->id, ci->vcpu_size);
		return -EBADMSG;
	}
	uint8_t *blob = malloc((size_t)ci->vcpu_size);
	uint64_t *boot = malloc((vm->ram_size / 4096 + 1) * sizeof(uint64_t));
	if (!blob || !boot) {
		free(blob);
		free(boot);
		return -ENOMEM;
	}
	/* Straight into guest RAM, touching only what must change (most of it
	 * was never used): the pages the boot wrote become zero, then the
	 * checkpoint's pages go on top.  Both are marked written, so the
	 * memory digest rehashes just those. */
	uint64_t n = rr_mem_nonzero_pages(vm, boot);
	for (uint64_t i = 0; i < n; i++) {
		memset(vm->ram + boot[i] * 4096, 0, 4096);
		vm_mark_pages_written(vm, boot[i], 1);
	}
	free(boot);
	r = trace_ckpt_apply(rr->r, ci->id, blob, (size_t)ci->vcpu_size, vm->ram, vm->ram_size, page_written, vm);
	if (r) {
		log_error("%s", *trace_reader_errmsg(rr->r) ? trace_reader_errmsg(rr->r) : strerror(-r));
		r = r == -ENOMEM ? r : -EBADMSG;
		goto out;
	}
	if (rr_ckpt_parse(blob, (size_t)ci->vcpu_size, &h, &state, &slen)) {
		log_error("checkpoint %" PRIu64 ": not a ttvm checkpoint of this version", ci->id);
		r = -EBADMSG;
		goto out;
	}
	if ((r = vm_state_load(vm, state, slen))) {
		log_error("checkpoint %" PRIu64 ": its machine state cannot be loaded", ci->id);
		goto out;
	}
	if (vm->guest_exits != ci->exit_no) {
		log_error("checkpoint %" PRIu64 ": its state is at guest exit %" PRIu64 ", its event at %" PRIu64,
			  ci->id, vm->guest_exits, ci->exit_no);
		r = -EBADMSG;
		goto out;
	}
	/* The digest of the restored RAM must be the one recorded with it: a
	 * page that was altered consistently (contents and its hash in the
	 * trace) shows here. */
	rr_mem_digest(vm);
	if (vm->stop) {
		r = -EIO;
		goto out;
	}
	memset(&regs, 0, sizeof(regs));
	vcpu_get_regs(vm, &regs);
	if (rr->mem_digest != h.saved_mem || rr_regs_hash(&regs) != h.saved_regs) {
		log_error("checkpoint %" PRIu64 " is damaged: the restored %s digest is %016" PRIx64
			  ", the recorded one %016" PRIx64, ci->id,
			  rr->mem_digest != h.saved_mem ? "memory" : "register",
			  rr->mem_digest != h.saved_mem ? rr->mem_digest : rr_regs_hash(&regs),
			  rr->mem_digest != h.saved_mem ? h.saved_mem : h.saved_regs);
		r = -EBADMSG;
		goto out;
	}
	r = trace_reader_seek(rr->r, ci->event_no + 1);
	if (r == -ERANGE) {
		rr->have_next = 0; /* the checkpoint is the last event of an incomplete trace */
	} else if (r) {
		log_error("%s", trace_reader_errmsg(rr->r));
		r = -EBADMSG;
		goto out;
	} else {
		rr->have_next = -1;
	}
	rr->last_good = ci->event_no;
	/* The writer starts its chain of register hashes after a checkpoint. */
	rr->fp_chain = 0;
	rr->fp_since = ci->event_no + 1;
	rr->ckpt_nwait = 0;
	r = 0;
out:
	free(blob);
	return r;
}

int replay_from(struct vm *vm, uint64_t event)
{
	struct rr *rr = rr_of(vm);
	struct trace_info info;
	struct trace_ckpt_info ci;
	bool restored = false;

	trace_reader_info(rr->r, &info);
	if (event < info.first_event) {
		log_error("replay --from %" PRIu64 ": that event was dropped: this flight recording keeps events %"
			  PRIu64 " to %" PRIu64, event, info.first_event, info.n_events - 1);
		return ST_USAGE;
	}
	if (event >= info.n_events) {
		log_error("replay --from %" PRIu64 ": the trace has events 0 to %" PRIu64, event,
			  info.n_events ? info.n_events - 1 : 0);
		return ST_USAGE;
	}
	int r = trace_ckpt_find(rr->r, event, &ci);
	if (r == -ENOENT) {
		log_info("replay: no checkpoint at or before event %" PRIu64 ": from the beginning", event);
	} else if (r) {
		log_error("%s", trace_reader_errmsg(rr->r));
		return ST_BADTRACE;
	} else {
		double t0 = (host_mono_ns() / 1e6);
		if ((r = replay_restore_checkpoint(vm, &ci)))
			return r == -ENOMEM ? ST_HOST : ST_BADTRACE;
		restored = true;
		log_info("replay: from checkpoint %" PRIu64 " (%s, event %" PRIu64 ", guest exit %" PRIu64
			 "), restored in %.1f ms", ci.id, ci.full ? "full" : "incremental", ci.event_no, ci.exit_no,
			 (host_mono_ns() / 1e6) - t0);
	}
	if (!restored || event > ci.event_no) {
		FILE *null = fopen("/dev/null", "w");
		if (!null) {
			log_error("cannot open /dev/null: %s", strerror(errno));
			return ST_HOST;
		}
		fflush(vm->serial_out);
		rr->held_out = vm->serial_out;
		rr->from_event = event;
		vm->serial_out = null;
	}
	return 0;
}

void replay_from_finish(struct vm *vm)
{
	struct rr *rr = rr_of(vm);

	if (!rr)
		return;
	if (rr->held_out) {
		fclose(vm->serial_out);
		vm->serial_out = rr->held_out;
		rr->held_out = NULL;
	}
	free(rr->ckpt_buf);
	rr->ckpt_buf = NULL;
	rr->ckpt_buf_cap = 0;
}
