/* Event source checkpoint: storing checkpoints while recording, checking
 * them in replay. */
#include "record/ckpt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "devices/clock.h"
#include "core/log.h"
#include "core/snapshot.h"
#include "core/vm.h"
#include "record/flight.h"
#include "record/probe.h"
#include "record/rr.h"
#include "storage/checkpoint.h"

/* The largest vCPU blob replay accepts from a trace: the machine state is
 * ~9 KiB, more with a large XSAVE area. */
#define CKPT_MAX_BLOB (4u << 20)

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	/* COARSE: a few ns per call, and this runs after every guest exit;
	 * its tick (a few ms) is far below any useful interval. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int rr_ckpt_parse(const void *blob, size_t len, struct rr_ckpt_header *h, const void **state,
		  size_t *state_len)
{
	if (len < sizeof(*h))
		return -EBADMSG;
	memcpy(h, blob, sizeof(*h));
	if (memcmp(h->magic, RR_CKPT_MAGIC, 8) || h->version != RR_CKPT_VERSION ||
	    h->state_len != len - sizeof(*h))
		return -EBADMSG;
	*state = (const uint8_t *)blob + sizeof(*h);
	*state_len = h->state_len;
	return 0;
}

int rr_ckpt_guest_ns(const void *blob, size_t len, uint64_t *ns)
{
	struct rr_ckpt_header h;
	const void *state;
	size_t slen;
	int r = rr_ckpt_parse(blob, len, &h, &state, &slen);

	return r ? r : vm_state_clock_ns(state, slen, ns, NULL, 0);
}

/* Record: KVM holds no half-delivered event, so that the state is one
 * replay also passes through at this exit. */
static bool quiet(struct vm *vm)
{
	struct kvm_vcpu_events ev;

	if (vm->irq_in_flight)
		return false;
	if (ioctl(vm->vcpu_fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return false;
	return !ev.interrupt.injected && !ev.exception.injected && !ev.exception.pending &&
	       !ev.nmi.injected && !ev.nmi.pending;
}

struct page_list {
	uint64_t *p;
	uint64_t n;
};

static void add_page(void *ctx, uint64_t i)
{
	struct page_list *l = ctx;
	l->p[l->n++] = i;
}

static void take(struct vm *vm)
{
	struct rr *rr = rr_of(vm);
	struct rr_ckpt_header h;
	struct kvm_regs regs;
	struct page_list pages = { NULL, 0 };
	void *state = NULL;
	uint8_t *blob = NULL;
	size_t slen = 0;
	uint64_t id, t0 = host_mono_ns();
	int r;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, RR_CKPT_MAGIC, 8);
	h.version = RR_CKPT_VERSION;
	if (vcpu_get_regs(vm, &regs))
		return;
	h.exit_regs = rr_regs_hash(&regs);
	h.exit_mem = rr_mem_digest(vm);
	if (vm->stop || vm_state_save(vm, &state, &slen)) {
		vm_request_stop(vm, ST_HOST, "recording stopped: cannot save the machine state for a checkpoint");
		return;
	}
	/* The save completed a pending access: registers and maybe RAM moved. */
	if (vcpu_get_regs(vm, &regs)) {
		vm_request_stop(vm, ST_HOST, "recording stopped: KVM_GET_REGS: %s", strerror(errno));
		goto out;
	}
	h.saved_regs = rr_regs_hash(&regs);
	h.saved_mem = rr_mem_digest(vm);
	h.state_len = (uint32_t)slen;
	blob = malloc(sizeof(h) + slen);
	pages.p = malloc((vm->ram_size / 4096 + 1) * sizeof(uint64_t));
	if (!blob || !pages.p) {
		vm_request_stop(vm, ST_HOST, "recording stopped: out of memory for a checkpoint");
		goto out;
	}
	memcpy(blob, &h, sizeof(h));
	memcpy(blob + sizeof(h), state, slen);
	/* The first is full but lists only pages that may be non-zero: most of
	 * a guest's RAM was never touched.  Then the pages the dirty
	 * generations say changed since the last one (the digest just synced). */
	if (!rr->ckpt_last)
		pages.n = rr_mem_nonzero_pages(vm, pages.p);
	else
		vm_pages_changed_since(vm, rr->ckpt_gen, add_page, &pages);
	r = trace_ckpt_store(rr->w, vm->guest_exits, blob, sizeof(h) + slen, vm->ram, vm->ram_size, pages.p,
			     (size_t)pages.n, rr->ckpt_last, &id);
	if (r) {
		rr->failed = true;
		vm_request_stop(vm, ST_HOST, "recording stopped: cannot store a checkpoint in %s (%s); "
				"what was committed stays readable", rr->path, strerror(-r));
		goto out;
	}
	log_debug("checkpoint %" PRIu64 " at guest exit %" PRIu64 ": %s, %" PRIu64 " pages, %.1f ms", id,
		  vm->guest_exits, rr->ckpt_last ? "incremental" : "full", pages.n, (host_mono_ns() - t0) / 1e6);
	if (ttvm_verbosity >= 4 && rr->ckpt_last) {
		/* The page list, for finding out what writes a guest's
		 * checkpoints carry (replay skips intervals by them). */
		char list[512];
		size_t at = 0;
		for (uint64_t i = 0; i < pages.n && at + 24 < sizeof(list); i++)
			at += (size_t)snprintf(list + at, sizeof(list) - at, " %#" PRIx64, pages.p[i] * 4096);
		log_debug("checkpoint %" PRIu64 " pages (guest-physical):%s%s", id, list,
			  at + 24 >= sizeof(list) ? " ..." : "");
	}
	rr->ckpt_last = id;
	rr->ckpt_gen = vm->dirty_gen;
	rr->ckpt_count++;
	record_flight_after_ckpt(vm, id);
out:
	rr->ckpt_ns += host_mono_ns() - t0;
	free(pages.p);
	free(blob);
	free(state);
}

int rr_ckpt_read(struct vm *vm, uint64_t id, const void **blob, size_t *len, char *err, size_t errlen)
{
	struct rr *rr = rr_of(vm);
	int r;

	if (!rr->ckpt_buf) {
		rr->ckpt_buf_cap = 64 * 1024;
		rr->ckpt_buf = malloc(rr->ckpt_buf_cap);
		if (!rr->ckpt_buf)
			return -ENOMEM;
	}
	while ((r = trace_ckpt_vcpu(rr->r, id, rr->ckpt_buf, rr->ckpt_buf_cap, len)) == -EINVAL &&
	       rr->ckpt_buf_cap < CKPT_MAX_BLOB) {
		void *p = realloc(rr->ckpt_buf, rr->ckpt_buf_cap * 2);
		if (!p)
			return -ENOMEM;
		rr->ckpt_buf = p;
		rr->ckpt_buf_cap *= 2;
	}
	if (r) {
		snprintf(err, errlen, "checkpoint %" PRIu64 ": %s", id,
			 r == -EINVAL ? "its vCPU state is implausibly large"
			 : *trace_reader_errmsg(rr->r) ? trace_reader_errmsg(rr->r) : strerror(-r));
		return r == -EINVAL ? -EBADMSG : r;
	}
	*blob = rr->ckpt_buf;
	return 0;
}

static void check(struct vm *vm, const struct rr_ckpt_wait *w)
{
	struct trace_event ev;
	struct rr_ckpt_header h;
	struct kvm_regs regs;
	const void *blob, *state;
	size_t len, slen;
	char err[512];
	int r;

	memset(&ev, 0, sizeof(ev));
	ev.seq = w->seq;
	ev.exit_no = w->exit_no;
	ev.kind = TRACE_EV_CHECKPOINT;
	ev.u.ckpt.id = w->id;
	if ((r = rr_ckpt_read(vm, w->id, &blob, &len, err, sizeof(err)))) {
		vm_request_stop(vm, r == -ENOMEM ? ST_HOST : ST_BADTRACE, "%s", err);
		return;
	}
	if (rr_ckpt_parse(blob, len, &h, &state, &slen)) {
		vm_request_stop(vm, ST_BADTRACE, "checkpoint %" PRIu64 " (event %" PRIu64 "): not a ttvm "
				"checkpoint of this version", w->id, w->seq);
		return;
	}
	uint64_t mem = rr_mem_digest(vm);
	if (vm->stop)
		return;
	memset(&regs, 0, sizeof(regs));
	vcpu_get_regs(vm, &regs);
	uint64_t rh = rr_regs_hash(&regs);
	if (mem != h.exit_mem || rh != h.exit_regs) {
		char what[256];
		snprintf(what, sizeof(what), "at checkpoint %" PRIu64 " the %s digest is %016" PRIx64
			 ", the recording's %016" PRIx64, w->id, mem != h.exit_mem ? "memory" : "register",
			 mem != h.exit_mem ? mem : rh, mem != h.exit_mem ? h.exit_mem : h.exit_regs);
		rr_diverged(vm, what, &ev);
		return;
	}
	rr_of(vm)->ckpt_count++;
	rr_of(vm)->last_good = w->seq;
	log_debug("replay: checkpoint %" PRIu64 " at guest exit %" PRIu64 " matches", w->id, w->exit_no);
}

void record_after_exit(struct vm *vm)
{
	struct rr *rr = rr_of(vm);

	/* Probe changes first: the checkpoint then holds the new set. */
	record_probe_after_exit(vm);
	if (rr->ckpt_interval <= 0 || rr->failed || coarse_ns() < rr->ckpt_due_ns || !quiet(vm))
		return;
	take(vm);
	rr->ckpt_due_ns = coarse_ns() + (uint64_t)(rr->ckpt_interval * 1e9);
}

int record_checkpoint_now(struct vm *vm)
{
	struct rr *rr = rr_of(vm);

	if (rr->failed || vm->stop)
		return -EIO;
	if (!quiet(vm))
		return -EAGAIN;
	take(vm);
	if (rr->failed || !rr->ckpt_last)
		return -EIO;
	rr->ckpt_due_ns = coarse_ns() + (uint64_t)(rr->ckpt_interval * 1e9);
	return 0;
}

void replay_after_exit(struct vm *vm)
{
	struct rr *rr = rr_of(vm);

	if (vm->stop)
		return;
	/* Read ahead so that this exit's checkpoints are known. */
	rr_peek(vm);
	while (!vm->stop && rr->ckpt_nwait && rr->ckpt_wait[0].exit_no <= vm->guest_exits) {
		struct rr_ckpt_wait w = rr->ckpt_wait[0];
		memmove(rr->ckpt_wait, rr->ckpt_wait + 1, (rr->ckpt_nwait - 1) * sizeof(rr->ckpt_wait[0]));
		rr->ckpt_nwait--;
		if (w.exit_no == vm->guest_exits)
			check(vm, &w);
		else
			log_debug("replay: checkpoint %" PRIu64 " at guest exit %" PRIu64 " passed unchecked", w.id,
				  w.exit_no);
	}
}
