/* The record/replay engine's shared part: the
 * fingerprints, appending and reading events, divergence reports, and the
 * memory digest.  The event sources are in ev_*.c and ckpt.c. */
#include "record/rr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/exit.h"
#include "core/log.h"
#include "core/vm.h"
#include "storage/hash.h"

uint64_t rr_regs_hash(const struct kvm_regs *regs)
{
	struct kvm_regs r = *regs;
	uint64_t w[sizeof(r) / 8];
	uint64_t h = 0x9e3779b97f4a7c15ull;

	r.rflags &= ~RR_RFLAGS_DEBUG_BITS;
	/* memcpy, not a cast: kvm_regs' __u64 and uint64_t are different types
	 * to the aliasing rules, and -O2 reads stale words through a cast. */
	memcpy(w, &r, sizeof(w));
	for (size_t i = 0; i < sizeof(r) / 8; i++) {
		h ^= w[i] + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
		h *= 0xff51afd7ed558ccdull;
	}
	h ^= h >> 33;
	return h ? h : 1; /* 0 means "no kick point" in IRQ events */
}

void rr_fingerprint(struct vm *vm, struct trace_fp *fp)
{
	struct kvm_regs regs;

	fp->exit_reason = vm->run->exit_reason;
	if (vcpu_get_regs(vm, &regs) == 0) {
		fp->rip = regs.rip;
		fp->regs_hash = rr_regs_hash(&regs);
	} else {
		fp->rip = 0;
		fp->regs_hash = 0;
	}
}

void rr_append(struct vm *vm, struct trace_event *ev)
{
	struct rr *rr = rr_of(vm);

	if (rr->failed)
		return;
	ev->exit_no = vm->guest_exits;
	if (trace_writer_append(rr->w, ev)) {
		rr->failed = true;
		vm_request_stop(vm, ST_HOST, "recording stopped: cannot write %s (see above); "
				"what was committed stays readable", rr->path);
	}
}

/* A check (format 6) against the chain of the register hashes replay met:
 * true when they agree (the chain starts again after it); else
 * rr->fp_note says which events it covered. */
static bool chain_check(struct rr *rr, const struct trace_event *e, uint64_t chain)
{
	if (!trace_hash_eq(e->flags, e->check, chain)) {
		snprintf(rr->fp_note, sizeof(rr->fp_note),
			 "the register hashes of events %" PRIu64 "..%" PRIu64 " (checked together, at most %d "
			 "events after the first) differ: recorded chain %016" PRIx64 ", replayed %016" PRIx64,
			 rr->fp_since, e->seq, TRACE_FP_CHECK_EVERY - 1, e->check, chain);
		return false;
	}
	rr->fp_chain = 0;
	rr->fp_since = e->seq + 1;
	return true;
}

bool rr_fp_matches(struct vm *vm, const struct trace_event *e, const struct trace_fp *fp)
{
	struct rr *rr = rr_of(vm);

	rr->fp_note[0] = 0;
	if (!(e->flags & TRACE_EVF_FP))
		return true;
	if (e->fp.exit_reason != fp->exit_reason || e->fp.rip != fp->rip)
		return false;
	if (!(e->flags & TRACE_EVF_FP_CHAINED))
		return e->fp.regs_hash == fp->regs_hash;
	uint64_t chain = trace_fp_chain(rr->fp_chain, fp->regs_hash);
	if (e->flags & TRACE_EVF_CHECK)
		return chain_check(rr, e, chain);
	rr->fp_chain = chain;
	return true;
}

void rr_fp_point(struct vm *vm, const struct trace_event *e, uint64_t regs_hash, uint64_t mem_digest)
{
	struct rr *rr = rr_of(vm);

	if (e->flags & TRACE_EVF_SHORT)
		rr->fp_chain = trace_fp_chain(rr->fp_chain, trace_point_hash(regs_hash, mem_digest));
}

/* rr_peek() read checkpoint event e: keep it for replay_after_exit(), which
 * checks it when the guest gets there. */
static void ckpt_seen(struct vm *vm, const struct trace_event *e)
{
	struct rr *rr = rr_of(vm);
	const unsigned cap = sizeof(rr->ckpt_wait) / sizeof(rr->ckpt_wait[0]);

	/* Many checkpoints in a row without an event that positions the guest
	 * (a long stretch of output-only exits): the oldest go unchecked. */
	if (rr->ckpt_nwait == cap) {
		log_debug("replay: checkpoint %" PRIu64 " not checked (too many ahead)", rr->ckpt_wait[0].id);
		memmove(rr->ckpt_wait, rr->ckpt_wait + 1, (cap - 1) * sizeof(rr->ckpt_wait[0]));
		rr->ckpt_nwait--;
	}
	rr->ckpt_wait[rr->ckpt_nwait++] = (struct rr_ckpt_wait){ e->seq, e->exit_no, e->u.ckpt.id };
}

/* Replay has met (or read past) event seq: replay --from shows the serial
 * output from here on. */
static void passed(struct vm *vm, uint64_t seq)
{
	struct rr *rr = rr_of(vm);

	if (rr->held_out && seq >= rr->from_event) {
		fclose(vm->serial_out);
		vm->serial_out = rr->held_out;
		rr->held_out = NULL;
	}
}

const struct trace_event *rr_peek(struct vm *vm)
{
	struct rr *rr = rr_of(vm);

	while (rr->have_next != 0) {
		if (rr->have_next == 1) {
			uint32_t k = rr->next.kind;
			/* Informational kinds do not position the guest; a
			 * checkpoint is checked when the guest gets there. */
			if (k != TRACE_EV_SERIAL_IN && k != TRACE_EV_CPUID && k != TRACE_EV_CHECKPOINT)
				return &rr->next;
			if (k == TRACE_EV_CHECKPOINT)
				ckpt_seen(vm, &rr->next);
			passed(vm, rr->next.seq);
		}
		int r = trace_reader_next(rr->r, &rr->next);
		if (r < 0) {
			rr->have_next = 0;
			vm_request_stop(vm, ST_BADTRACE, "%s", trace_reader_errmsg(rr->r));
			return NULL;
		}
		rr->have_next = r;
		/* A check on an event without a chained hash of its own (a
		 * checkpoint, the end): every event before it was met. */
		if (r == 1 && (rr->next.flags & (TRACE_EVF_CHECK | TRACE_EVF_FP_CHAINED)) == TRACE_EVF_CHECK &&
		    !chain_check(rr, &rr->next, rr->fp_chain)) {
			rr_diverged(vm, "the guest's registers differ from the recording's", &rr->next);
			rr->have_next = 0;
			return NULL;
		}
	}
	return NULL;
}

void rr_consume(struct vm *vm)
{
	rr_of(vm)->last_good = rr_of(vm)->next.seq;
	rr_of(vm)->have_next = -1;
	passed(vm, rr_of(vm)->next.seq);
}

static void describe_event(const struct trace_event *e, char *buf, size_t len)
{
	const char *k = trace_kind_name(e->kind);
	int w = snprintf(buf, len, "event %" PRIu64 " (%s after guest exit %" PRIu64 ")", e->seq,
			 k ? k : "?", e->exit_no);
	if (w < 0 || (size_t)w >= len)
		return;
	switch (e->kind) {
	case TRACE_EV_PIO_READ:
		snprintf(buf + w, len - (size_t)w, ": port %#x, %u byte(s), value %#x", e->u.pio.port,
			 e->u.pio.size, e->u.pio.value);
		break;
	case TRACE_EV_MMIO_READ:
		snprintf(buf + w, len - (size_t)w, ": address %#" PRIx64 ", %u byte(s), value %#" PRIx64,
			 e->u.mmio.addr, e->u.mmio.size, e->u.mmio.value);
		break;
	case TRACE_EV_IRQ:
		snprintf(buf + w, len - (size_t)w, ": vector %#x%s", e->u.irq.vector,
			 e->u.irq.regs_hash ? " at a kick point" : "");
		break;
	case TRACE_EV_RDTSC:
	case TRACE_EV_RDTSCP:
		snprintf(buf + w, len - (size_t)w, ": value %#" PRIx64 ", aux %#x", e->u.tsc.value, e->u.tsc.aux);
		break;
	case TRACE_EV_RDRAND:
		snprintf(buf + w, len - (size_t)w, ": %s, value %#" PRIx64 ", CF %u",
			 e->u.tsc.rand_insn == TRACE_RAND_RDSEED ? "RDSEED" : "RDRAND", e->u.tsc.value,
			 e->u.tsc.rand_cf);
		break;
	case TRACE_EV_PROBE:
		snprintf(buf + w, len - (size_t)w, ": loop probe at %#" PRIx64 " %s", e->u.probe.addr,
			 e->u.probe.on == TRACE_PROBE_AT_KICK ? "on, at a kick point"
			 : e->u.probe.on ? "on" : "off");
		break;
	case TRACE_EV_END:
		snprintf(buf + w, len - (size_t)w, ": %s, status %d", trace_end_reason_name(e->u.end.reason),
			 e->u.end.status);
		break;
	default:
		break;
	}
	if (e->flags & TRACE_EVF_FP) {
		size_t l = strlen(buf);
		if (e->flags & TRACE_EVF_FP_CHAINED)
			snprintf(buf + l, len - l, "; exit %s at RIP %#" PRIx64 ", registers hash chained",
				 exit_reason_name(e->fp.exit_reason), e->fp.rip);
		else
			snprintf(buf + l, len - l, "; exit %s at RIP %#" PRIx64 ", registers hash %016" PRIx64,
				 exit_reason_name(e->fp.exit_reason), e->fp.rip, e->fp.regs_hash);
	}
	if (e->flags & TRACE_EVF_CHECK) {
		size_t l = strlen(buf);
		snprintf(buf + l, len - l, "; register check %016" PRIx64, e->check);
	}
}

void rr_diverged(struct vm *vm, const char *what, const struct trace_event *expected)
{
	char exp[512], insn[256];
	struct kvm_regs regs;

	if (expected)
		describe_event(expected, exp, sizeof(exp));
	else
		snprintf(exp, sizeof(exp), "the end of the trace");
	vm_describe_insn(vm, insn, sizeof(insn));
	char good[32] = "none";
	if (rr_of(vm)->last_good != UINT64_MAX)
		snprintf(good, sizeof(good), "event %" PRIu64, rr_of(vm)->last_good);
	memset(&regs, 0, sizeof(regs));
	vcpu_get_regs(vm, &regs);
	struct rr *rr = rr_of(vm);
	char note[sizeof(rr->fp_note) + 16] = "";
	if (rr->fp_note[0])
		snprintf(note, sizeof(note), "\n  %s", rr->fp_note);
	rr->fp_note[0] = 0;
	vm_request_stop(vm, ST_DIVERGED,
			"replay diverged at guest exit %" PRIu64 ": %s%s\n"
			"  expected: %s\n"
			"  found:    exit %s at %s, registers hash %016" PRIx64 "\n"
			"  found registers: rax=%llx rbx=%llx rcx=%llx rdx=%llx rsi=%llx rdi=%llx rsp=%llx rbp=%llx rflags=%llx\n"
			"  last event that matched: %s",
			vm->guest_exits, what, note, exp, exit_reason_name(vm->run->exit_reason), insn,
			rr_regs_hash(&regs), regs.rax, regs.rbx, regs.rcx, regs.rdx, regs.rsi, regs.rdi,
			regs.rsp, regs.rbp, regs.rflags, good);
}

/* A page's share of the memory digest: its contents' hash mixed with its index. */
static uint64_t page_mix(uint64_t content_hash, uint64_t i)
{
	uint64_t h = content_hash ^ (i * 0x9e3779b97f4a7c15ull);
	h ^= h >> 29;
	return h * 0xbf58476d1ce4e5b9ull;
}

static uint64_t page_digest(struct vm *vm, uint64_t i)
{
	return page_mix(hash64(vm->ram + i * 4096, 4096), i);
}

static void page_changed(void *ctx, uint64_t i)
{
	struct vm *vm = ctx;
	struct rr *rr = rr_of(vm);
	uint64_t h = page_digest(vm, i);

	rr->mem_digest += h - rr->page_hash[i];
	rr->page_hash[i] = h;
	if (ttvm_verbosity >= 4)
		log_debug("digest: exit %" PRIu64 " page %#" PRIx64 " %016" PRIx64, vm->guest_exits, i, h);
}

int rr_mem_digest_init(struct vm *vm)
{
	struct rr *rr = rr_of(vm);
	uint64_t pages = vm->ram_size / 4096;
	int r;

	if ((r = vm_dirty_log_enable(vm)))
		return r;
	rr->page_hash = calloc(pages ? pages : 1, sizeof(uint64_t));
	if (!rr->page_hash)
		return -ENOMEM;
	rr->mem_digest = 0;
	rr->digest_gen = vm->dirty_gen;
	/* Pages the guest never touched are not resident: their contents are
	 * zero, so their hash is known without reading 256 MiB of zeros. */
	static const uint8_t zero[4096];
	uint64_t zh = hash64(zero, sizeof(zero));
	unsigned char *res = malloc(pages ? pages : 1);
	if (res && mincore(vm->ram, vm->ram_size, res) != 0) {
		free(res);
		res = NULL;
	}
	for (uint64_t i = 0; i < pages; i++) {
		if (res && !(res[i] & 1)) {
			uint64_t h = page_mix(zh, i);
			rr->page_hash[i] = h;
			rr->mem_digest += h;
		} else {
			page_changed(vm, i);
		}
	}
	free(res);
	return 0;
}

uint64_t rr_mem_nonzero_pages(struct vm *vm, uint64_t *list)
{
	static const uint8_t zero[4096];
	uint64_t zh = hash64(zero, sizeof(zero)), n = 0;

	for (uint64_t i = 0; i < vm->ram_size / 4096; i++)
		if (rr_of(vm)->page_hash[i] != page_mix(zh, i))
			list[n++] = i;
	return n;
}

uint64_t rr_mem_digest(struct vm *vm)
{
	int r = vm_dirty_sync(vm);
	if (r)
		vm_request_stop(vm, ST_HOST, "KVM_GET_DIRTY_LOG: %s", strerror(-r));
	vm_pages_changed_since(vm, rr_of(vm)->digest_gen, page_changed, vm);
	rr_of(vm)->digest_gen = vm->dirty_gen;
	if (ttvm_verbosity >= 3) {
		for (uint64_t i = 0; i < vm->ram_size / 4096; i++)
			if (page_digest(vm, i) != rr_of(vm)->page_hash[i])
				log_debug("memory digest: page %#" PRIx64 " changed without a dirty-log entry", i);
	}
	return rr_of(vm)->mem_digest;
}

void rr_state_digest(struct vm *vm, char *buf, size_t len)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint64_t mem = 0;

	memset(&regs, 0, sizeof(regs));
	memset(&sregs, 0, sizeof(sregs));
	vcpu_get_regs(vm, &regs);
	vcpu_get_sregs(vm, &sregs);
	/* The incremental digest that the dirty log keeps current. */
	if (rr_of(vm) && rr_of(vm)->page_hash)
		mem = rr_mem_digest(vm);
	/* Only the architectural parts of sregs: KVM's interrupt bitmap is not guest state. */
	memset(sregs.interrupt_bitmap, 0, sizeof(sregs.interrupt_bitmap));
	snprintf(buf, len, "regs=%016" PRIx64 " sregs=%016" PRIx64 " mem=%016" PRIx64, rr_regs_hash(&regs),
		 hash64(&sregs, sizeof(sregs)), mem);
}


char *rr_join_args(int argc, char **argv, char sep)
{
	size_t len = 1;
	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	char *s = malloc(len), *p = s;
	if (!s)
		return NULL;
	for (int i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]);
		memcpy(p, argv[i], l);
		p += l;
		if (i + 1 < argc)
			*p++ = sep;
	}
	*p = 0;
	return s;
}

void rr_trace_meta(const struct vm *vm, const char *cmdline, struct trace_meta *meta)
{
	const struct kvm_cpuid2 *cpuid = vm->cpuid;

	memset(meta, 0, sizeof(*meta));
	meta->kvm_flavour = kvm_flavour_name(vm->flavour);
	meta->cmdline = cmdline;
	meta->mem_size = vm->ram_size;
	meta->cpuid_policy = cpuid;
	meta->cpuid_policy_len = cpuid ? sizeof(*cpuid) + cpuid->nent * sizeof(cpuid->entries[0]) : 0;
}
