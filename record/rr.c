/* The shared entry points of record and replay, and `ttvm record`. */
#include "record/rr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/cli.h"
#include "core/exit.h"
#include "core/log.h"
#include "core/run.h"
#include "core/vm.h"
#include "record/ckpt.h"
#include "record/tsc.h"
#include "storage/hash.h"
#include "version.h"

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

static void fingerprint(struct vm *vm, struct trace_fp *fp)
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

static void append(struct vm *vm, struct trace_event *ev)
{
	struct rr *rr = vm->rr;

	if (rr->failed)
		return;
	ev->exit_no = vm->guest_exits;
	if (trace_writer_append(rr->w, ev)) {
		rr->failed = true;
		vm_request_stop(vm, ST_HOST, "recording stopped: cannot write %s (see above); "
				"what was committed stays readable", rr->path);
	}
}

/* Replay: does e's fingerprint (when it has one) match where the guest is? */
static bool fp_matches(const struct trace_event *e, const struct trace_fp *fp)
{
	return !(e->flags & TRACE_EVF_FP) ||
	       (e->fp.exit_reason == fp->exit_reason && e->fp.rip == fp->rip && e->fp.regs_hash == fp->regs_hash);
}

/* Replay has met (or read past) event seq: replay --from shows the serial
 * output from here on. */
static void passed(struct vm *vm, uint64_t seq)
{
	struct rr *rr = vm->rr;

	if (rr->held_out && seq >= rr->from_event) {
		fclose(vm->serial_out);
		vm->serial_out = rr->held_out;
		rr->held_out = NULL;
	}
}

const struct trace_event *rr_peek(struct vm *vm)
{
	struct rr *rr = vm->rr;

	while (rr->have_next != 0) {
		if (rr->have_next == 1) {
			uint32_t k = rr->next.kind;
			/* Informational kinds do not position the guest; a
			 * checkpoint is checked when the guest gets there. */
			if (k != TRACE_EV_SERIAL_IN && k != TRACE_EV_CPUID && k != TRACE_EV_CHECKPOINT)
				return &rr->next;
			if (k == TRACE_EV_CHECKPOINT)
				rr_ckpt_seen(vm, &rr->next);
			passed(vm, rr->next.seq);
		}
		int r = trace_reader_next(rr->r, &rr->next);
		if (r < 0) {
			rr->have_next = 0;
			vm_request_stop(vm, ST_BADTRACE, "%s", trace_reader_errmsg(rr->r));
			return NULL;
		}
		rr->have_next = r;
	}
	return NULL;
}

void rr_consume(struct vm *vm)
{
	vm->rr->last_good = vm->rr->next.seq;
	vm->rr->have_next = -1;
	passed(vm, vm->rr->next.seq);
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
	case TRACE_EV_END:
		snprintf(buf + w, len - (size_t)w, ": %s, status %d", trace_end_reason_name(e->u.end.reason),
			 e->u.end.status);
		break;
	default:
		break;
	}
	if (e->flags & TRACE_EVF_FP) {
		size_t l = strlen(buf);
		snprintf(buf + l, len - l, "; exit %s at RIP %#" PRIx64 ", registers hash %016" PRIx64,
			 exit_reason_name(e->fp.exit_reason), e->fp.rip, e->fp.regs_hash);
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
	if (vm->rr->last_good != UINT64_MAX)
		snprintf(good, sizeof(good), "event %" PRIu64, vm->rr->last_good);
	memset(&regs, 0, sizeof(regs));
	vcpu_get_regs(vm, &regs);
	vm_request_stop(vm, ST_DIVERGED,
			"replay diverged at guest exit %" PRIu64 ": %s\n"
			"  expected: %s\n"
			"  found:    exit %s at %s, registers hash %016" PRIx64 "\n"
			"  found registers: rax=%llx rbx=%llx rcx=%llx rdx=%llx rsi=%llx rdi=%llx rsp=%llx rbp=%llx rflags=%llx\n"
			"  last event that matched: %s",
			vm->guest_exits, what, exp, exit_reason_name(vm->run->exit_reason), insn,
			rr_regs_hash(&regs), regs.rax, regs.rbx, regs.rcx, regs.rdx, regs.rsi, regs.rdi,
			regs.rsp, regs.rbp, regs.rflags, good);
}

static uint64_t load_le(const uint8_t *d, uint32_t len)
{
	uint64_t v = 0;
	memcpy(&v, d, len > 8 ? 8 : len);
	return v;
}

void rr_io_read(struct vm *vm, enum bus_space space, uint64_t addr, uint8_t *data, uint32_t len)
{
	struct rr *rr = vm->rr;
	struct trace_event ev;

	if (rr->mode == RR_RECORD) {
		memset(&ev, 0, sizeof(ev));
		if (space == BUS_PIO) {
			ev.kind = TRACE_EV_PIO_READ;
			ev.u.pio.port = (uint16_t)addr;
			ev.u.pio.size = (uint8_t)len;
			ev.u.pio.value = (uint32_t)load_le(data, len);
		} else {
			ev.kind = TRACE_EV_MMIO_READ;
			ev.u.mmio.addr = addr;
			ev.u.mmio.size = (uint8_t)len;
			ev.u.mmio.value = load_le(data, len);
		}
		ev.flags = TRACE_EVF_FP;
		fingerprint(vm, &ev.fp);
		append(vm, &ev);
		return;
	}

	const struct trace_event *e = rr_peek(vm);
	if (!e) {
		if (!vm->stop)
			rr_diverged(vm, "the guest reads a device after the end of the trace", NULL);
		return;
	}
	struct trace_fp fp;
	fingerprint(vm, &fp);
	bool ok = e->exit_no == vm->guest_exits;
	if (space == BUS_PIO)
		ok = ok && e->kind == TRACE_EV_PIO_READ && e->u.pio.port == addr && e->u.pio.size == len;
	else
		ok = ok && e->kind == TRACE_EV_MMIO_READ && e->u.mmio.addr == addr && e->u.mmio.size == len;
	if (!ok || !fp_matches(e, &fp)) {
		char what[128];
		snprintf(what, sizeof(what), "the guest reads %s %#" PRIx64 " (%u byte%s)",
			 space == BUS_PIO ? "port" : "MMIO address", addr, len, len == 1 ? "" : "s");
		rr_diverged(vm, what, e);
		return;
	}
	uint64_t v = space == BUS_PIO ? e->u.pio.value : e->u.mmio.value;
	memcpy(data, &v, len > 8 ? 8 : len);
	rr_consume(vm);
}

static const char *const tsc_names[] = { "?", "RDTSC", "RDTSCP", "RDRAND", "RDSEED" };

/* The event of a trapped instruction (kind in ev): when recording, append ev
 * and return NULL; when replaying, return the trace's event if it is of the
 * same kind (and instruction), at the same exit number and fingerprint, else
 * report a divergence and return NULL.  The fingerprint's exit reason is
 * always KVM_EXIT_IO: it names a trap, whichever way the host trapped. */
static const struct trace_event *trapped_event(struct vm *vm, struct trace_event *ev, enum tsc_kind kind,
					       const struct kvm_regs *at)
{
	ev->flags = TRACE_EVF_FP;
	ev->fp.exit_reason = KVM_EXIT_IO;
	ev->fp.rip = at->rip;
	ev->fp.regs_hash = rr_regs_hash(at);
	if (vm->rr->mode == RR_RECORD) {
		append(vm, ev);
		return NULL;
	}

	const struct trace_event *e = rr_peek(vm);
	if (!e && vm->stop)
		return NULL; /* the trace is unreadable: already reported */
	bool ok = e && e->exit_no == vm->guest_exits && e->kind == ev->kind && fp_matches(e, &ev->fp) &&
		  (ev->kind != TRACE_EV_RDRAND || e->u.tsc.rand_insn == ev->u.tsc.rand_insn);
	if (!ok) {
		char what[96];
		snprintf(what, sizeof(what), "the guest executes %s at %#" PRIx64,
			 tsc_names[kind <= TSC_RDSEED ? kind : 0], (uint64_t)at->rip);
		rr_diverged(vm, what, e);
		return NULL;
	}
	return e;
}

void rr_tsc(struct vm *vm, enum tsc_kind kind, const struct kvm_regs *at, uint64_t *value, uint32_t *aux)
{
	struct trace_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind == TSC_RDTSC ? TRACE_EV_RDTSC : TRACE_EV_RDTSCP;
	ev.u.tsc.value = *value;
	ev.u.tsc.aux = kind == TSC_RDTSC ? 0 : *aux;
	const struct trace_event *e = trapped_event(vm, &ev, kind, at);
	if (!e)
		return;
	*value = e->u.tsc.value;
	*aux = e->u.tsc.aux;
	rr_consume(vm);
}

void rr_rand(struct vm *vm, enum tsc_kind kind, const struct kvm_regs *at, uint64_t *value, bool *cf)
{
	struct trace_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = TRACE_EV_RDRAND;
	ev.u.tsc.value = *value;
	ev.u.tsc.rand_insn = kind == TSC_RDSEED ? TRACE_RAND_RDSEED : TRACE_RAND_RDRAND;
	ev.u.tsc.rand_cf = *cf;
	const struct trace_event *e = trapped_event(vm, &ev, kind, at);
	if (!e)
		return;
	*value = e->u.tsc.value;
	*cf = e->u.tsc.rand_cf;
	rr_consume(vm);
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
	struct rr *rr = vm->rr;
	uint64_t h = page_digest(vm, i);

	rr->mem_digest += h - rr->page_hash[i];
	rr->page_hash[i] = h;
	if (ttvm_verbosity >= 4)
		log_debug("digest: exit %" PRIu64 " page %#" PRIx64 " %016" PRIx64, vm->guest_exits, i, h);
}

int rr_mem_digest_init(struct vm *vm)
{
	struct rr *rr = vm->rr;
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
		if (vm->rr->page_hash[i] != page_mix(zh, i))
			list[n++] = i;
	return n;
}

uint64_t rr_mem_digest(struct vm *vm)
{
	int r = vm_dirty_sync(vm);
	if (r)
		vm_request_stop(vm, ST_HOST, "KVM_GET_DIRTY_LOG: %s", strerror(-r));
	vm_pages_changed_since(vm, vm->rr->digest_gen, page_changed, vm);
	vm->rr->digest_gen = vm->dirty_gen;
	if (ttvm_verbosity >= 3) {
		for (uint64_t i = 0; i < vm->ram_size / 4096; i++)
			if (page_digest(vm, i) != vm->rr->page_hash[i])
				log_debug("memory digest: page %#" PRIx64 " changed without a dirty-log entry", i);
	}
	return vm->rr->mem_digest;
}

void rr_irq(struct vm *vm, uint8_t vector, uint64_t kick_rip, uint64_t kick_hash, uint64_t kick_mem)
{
	struct trace_event ev;

	if (vm->rr->mode != RR_RECORD)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = TRACE_EV_IRQ;
	ev.u.irq.vector = vector;
	ev.u.irq.rip = kick_rip;
	ev.u.irq.regs_hash = kick_hash;
	ev.u.irq.mem_hash = kick_mem;
	if (kick_hash) {
		/* Which kind of point: an interrupt window (a few instructions
		 * after the exit: replay single-steps to it) or a kick (anywhere:
		 * replay uses a breakpoint). */
		ev.flags = TRACE_EVF_FP;
		ev.fp.exit_reason = vm->run->exit_reason;
		ev.fp.rip = kick_rip;
		ev.fp.regs_hash = kick_hash;
	}
	append(vm, &ev);
}

void rr_serial_in(struct vm *vm, const uint8_t *buf, size_t n)
{
	struct trace_event ev;

	if (vm->rr->mode != RR_RECORD || n == 0)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.kind = TRACE_EV_SERIAL_IN;
	ev.u.blob.data = buf;
	ev.u.blob.len = (uint32_t)n;
	append(vm, &ev);
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
	if (vm->rr && vm->rr->page_hash)
		mem = rr_mem_digest(vm);
	/* Only the architectural parts of sregs: KVM's interrupt bitmap is not guest state. */
	memset(sregs.interrupt_bitmap, 0, sizeof(sregs.interrupt_bitmap));
	snprintf(buf, len, "regs=%016" PRIx64 " sregs=%016" PRIx64 " mem=%016" PRIx64, rr_regs_hash(&regs),
		 hash64(&sregs, sizeof(sregs)), mem);
}

void rr_end_event(const struct vm *vm, struct trace_event *ev)
{
	struct kvm_regs regs;

	memset(ev, 0, sizeof(*ev));
	ev->kind = TRACE_EV_END;
	ev->exit_no = vm->guest_exits;
	ev->u.end.status = vm->status;
	if (vm->status & 1) {
		ev->u.end.reason = TRACE_END_GUEST_EXIT;
	} else {
		switch (vm->status) {
		case ST_RESET: ev->u.end.reason = TRACE_END_RESET; break;
		case ST_TIMEOUT: ev->u.end.reason = TRACE_END_LIMIT; break;
		case ST_SIGNAL: ev->u.end.reason = TRACE_END_USER; break;
		case ST_HOST: ev->u.end.reason = TRACE_END_HOST_ERROR; break;
		default:
			ev->u.end.reason = TRACE_END_CRASH;
			ev->u.end.crash_kind = (uint32_t)vm->status;
			break;
		}
	}
	if (vcpu_get_regs((struct vm *)vm, &regs) == 0)
		ev->u.end.rip = regs.rip;
}

/* ---- ttvm record ---- */


static char *join_args(int argc, char **argv, char sep)
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

static int store_image(struct trace_writer *w, const char *path)
{
	uint8_t *data;
	size_t size;
	int r = loader_read_file(path, &data, &size);
	if (r)
		return r;
	r = trace_writer_add_image(w, path, data, size, 1);
	free(data);
	return r;
}

/* The RDTSC-family sites ttvm patched, for `ttvm inspect`. */
static int store_sites(struct vm *vm, struct trace_writer *w)
{
	static const char *const names[] = { "?", "rdtsc", "rdtscp", "rdrand", "rdseed" };
	char buf[4096];
	size_t n = vm->tsc ? tsc_count(vm->tsc) : 0, used;

	used = (size_t)snprintf(buf, sizeof(buf), "%zu RDTSC-family site(s) trapped", n);
	for (size_t i = 0; i < n && used < sizeof(buf) - 64; i++) {
		const struct tsc_site *s = tsc_site_at(vm->tsc, i);
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%#" PRIx64 " %s", i ? ", " : ": ",
					 s->addr, names[s->kind <= 4 ? s->kind : 0]);
	}
	return trace_writer_set_meta(w, "tsc_sites", buf);
}

int record_main(int argc, char **argv)
{
	const char *out = NULL;
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	int nrest = 0, status;
	struct run_config cfg;
	struct vm vm;
	struct rr rr;

	double interval = RR_CKPT_DEFAULT_INTERVAL;

	memset(&vm, 0, sizeof(vm));
	memset(&cfg, 0, sizeof(cfg));
	memset(&rr, 0, sizeof(rr));
	vm.kvm_fd = vm.vm_fd = vm.vcpu_fd = vm.serial_in_fd = -1;
	if (!rest)
		return ST_HOST;
	rest[nrest++] = argv[0];
	status = 0;
	for (int i = 1; i < argc; i++) {
		const char *ci = NULL;
		if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--checkpoint-interval") && i + 1 < argc)
			ci = argv[++i];
		else if (!strncmp(argv[i], "--checkpoint-interval=", 22))
			ci = argv[i] + 22;
		else
			rest[nrest++] = argv[i];
		if (ci) {
			/* Not a run option: it stays out of the trace's run_args. */
			char *end;
			interval = strtod(ci, &end);
			if (end == ci || *end || !(interval >= 0) || interval > 1e6) {
				log_error("--checkpoint-interval %s: not a number of seconds (0 = no checkpoints)", ci);
				status = ST_USAGE;
			}
		}
	}
	if (status)
		goto out;
	status = cli_parse_run(nrest, rest, &cfg);
	if (status == -1) {
		printf("usage: ttvm record -o TRACE [--checkpoint-interval SEC] [run options] KERNEL\n"
		       "  -o, --output TRACE    the trace to write (must not exist)\n"
		       "      --checkpoint-interval SEC  a checkpoint every SEC seconds of recording\n"
		       "                        (default %g; 0 = none), for `ttvm replay --from`\n",
		       RR_CKPT_DEFAULT_INTERVAL);
		cli_run_usage(stdout);
		status = 0;
		goto out;
	}
	if (status)
		goto out;
	if (!out) {
		log_error("record: -o TRACE is required");
		status = ST_USAGE;
		goto out;
	}
	if ((status = cli_boot(&cfg, &vm, NULL, NULL)))
		goto out;

	rr.mode = RR_RECORD;
	rr.path = out;
	rr.ckpt_interval = interval;
	char *cmdline = join_args(argc, argv, ' ');
	char *args = join_args(nrest - 1, rest + 1, RR_ARG_SEP[0]);
	/* The table the vCPU really got, so that a replay can pin it. */
	const struct kvm_cpuid2 *cpuid = vm.cpuid;
	struct trace_meta meta = {
		.kvm_flavour = kvm_flavour_name(vm.flavour),
		.cmdline = cmdline,
		.mem_size = vm.ram_size,
		.cpuid_policy = cpuid,
		.cpuid_policy_len = cpuid ? sizeof(*cpuid) + cpuid->nent * sizeof(cpuid->entries[0]) : 0,
	};
	int r = trace_writer_open(out, &meta, NULL, &rr.w);
	free(cmdline);
	if (r) {
		free(args);
		status = r == -EEXIST ? ST_USAGE : ST_HOST;
		goto out;
	}
	r = trace_writer_set_meta(rr.w, "run_args", args ? args : "");
	free(args);
	if (!r)
		r = store_sites(&vm, rr.w);
	if (!r)
		r = store_image(rr.w, cfg.kernel);
	for (size_t i = 0; !r && i < cfg.nmodules; i++)
		r = store_image(rr.w, cfg.modules[i]);
	if (!r)
		r = trace_writer_flush(rr.w);
	if (r) {
		log_error("cannot write the trace header to %s", out);
		trace_writer_close(rr.w, NULL);
		status = ST_HOST;
		goto out;
	}
	vm.rr = &rr;
	if ((r = rr_mem_digest_init(&vm))) {
		log_error("cannot track guest memory: %s", strerror(-r));
		trace_writer_close(rr.w, NULL);
		status = ST_HOST;
		goto out;
	}
	status = vm_run(&vm);
	char digest[128];
	rr_state_digest(&vm, digest, sizeof(digest));
	log_info("final state: %s", digest);
	if (!rr.failed && trace_writer_set_meta(rr.w, "final_state", digest))
		rr.failed = true;
	struct trace_event end;
	rr_end_event(&vm, &end);
	if (rr.failed) {
		trace_writer_close(rr.w, NULL);
	} else if (trace_writer_close(rr.w, &end)) {
		log_error("cannot complete the trace %s", out);
		status = ST_HOST;
	}
	if (rr.kicks_skipped)
		log_info("record: %" PRIu64 " interrupt(s) delayed to the next exit: the host cannot position "
			 "an injection at CPL3", rr.kicks_skipped);
	if (rr.ckpt_count)
		log_info("record: %" PRIu64 " checkpoint(s), %.1f ms taking them", rr.ckpt_count, rr.ckpt_ns / 1e6);
	log_info("record: %" PRIu64 " guest exits recorded to %s", vm.guest_exits, out);
out:
	if (vm.kvm_fd >= 0)
		vm_destroy(&vm);
	free(rr.page_hash);
	cli_free_run(&cfg);
	free(rest);
	return status;
}
