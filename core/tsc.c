/* Finding, patching and emulating RDTSC/RDTSCP/RDRAND/RDSEED/RDPMC sites. */
#include "core/tsc.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/hooks.h"
#include "core/log.h"
#include "core/probe.h"
#include "core/vm.h"

#include "core/msr.h"
/* RFLAGS bits RDRAND/RDSEED write: CF=1 on success, OF SF ZF AF PF cleared. */
#define FLAGS_ARITH 0x8d5ull
#define FLAG_CF 0x1ull
#define OUT_IMM8 0xe6
#define INT3 0xcc
#define NOP 0x90
#define BP_VECTOR 3

struct tsc_table {
	struct tsc_site *s; /* sorted by addr, addresses unique */
	size_t n, cap;
	size_t n_primary;   /* sites without the physical aliases and copies */
	size_t n_copies;
	enum tsc_method method;
	bool by_gpa;        /* tsc_lookup_by_gpa */
};

struct tsc_table *tsc_table_new(void)
{
	return calloc(1, sizeof(struct tsc_table));
}

void tsc_table_free(struct tsc_table *t)
{
	if (!t)
		return;
	free(t->s);
	free(t);
}

size_t tsc_count(const struct tsc_table *t)
{
	return t ? t->n_primary : 0;
}

const struct tsc_site *tsc_site_at(const struct tsc_table *t, size_t i)
{
	return t && i < t->n ? &t->s[i] : NULL;
}

/* Index of the first site with addr >= a. */
static size_t lower_bound(const struct tsc_table *t, uint64_t a)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->s[mid].addr < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct tsc_site *tsc_lookup(const struct tsc_table *t, uint64_t addr)
{
	if (!t)
		return NULL;
	size_t i = lower_bound(t, addr);
	return i < t->n && t->s[i].addr == addr ? &t->s[i] : NULL;
}

bool tsc_original_byte(const struct tsc_table *t, uint64_t addr, uint8_t *byte)
{
	if (!t)
		return false;
	size_t i = lower_bound(t, addr + 1); /* first site starting after addr */
	if (i == 0)
		return false;
	const struct tsc_site *s = &t->s[i - 1];
	if (addr - s->addr >= s->len)
		return false;
	*byte = s->orig[addr - s->addr];
	return true;
}

/* Insert keeping the order; a site already known at that address is kept. */
static int add_site(struct tsc_table *t, const struct tsc_site *site)
{
	size_t i = lower_bound(t, site->addr);

	if (i < t->n && t->s[i].addr == site->addr)
		return 0;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct tsc_site *s = realloc(t->s, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		t->s = s;
		t->cap = cap;
	}
	memmove(&t->s[i + 1], &t->s[i], (t->n - i) * sizeof(*t->s));
	t->s[i] = *site;
	t->n++;
	return 1;
}

/* Is the decoded instruction b[0..len) one of ours?  Judged from the bytes
 * (capstone's id is checked by the caller as well): prefixes, then the
 * opcode.  Fills kind, reg and opsize. */
static bool classify(const uint8_t *b, size_t len, struct tsc_site *site)
{
	size_t i = 0;
	bool opsize16 = false, rep = false;
	uint8_t rex = 0;

	for (; i < len; i++) {
		uint8_t c = b[i];
		if (c == 0x66)
			opsize16 = true;
		else if (c == 0xf2 || c == 0xf3)
			rep = true;
		else if (c == 0x67 || c == 0xf0 || c == 0x2e || c == 0x36 || c == 0x3e || c == 0x26 ||
			 c == 0x64 || c == 0x65)
			;
		else
			break;
	}
	/* In 64-bit mode REX is only a prefix right before the opcode. */
	if (i < len && (b[i] & 0xf0) == 0x40) {
		rex = b[i];
		i++;
	}
	if (rep || i + 2 > len || b[i] != 0x0f)
		return false;
	if (b[i + 1] == 0x31 && i + 2 == len) {
		site->kind = TSC_RDTSC;
	} else if (b[i + 1] == 0x33 && i + 2 == len) {
		site->kind = TSC_RDPMC;
	} else if (b[i + 1] == 0x01 && i + 3 == len && b[i + 2] == 0xf9) {
		site->kind = TSC_RDTSCP;
	} else if (b[i + 1] == 0xc7 && i + 3 == len && (b[i + 2] >> 6) == 3 &&
		   ((b[i + 2] >> 3) & 7) >= 6) {
		site->kind = ((b[i + 2] >> 3) & 7) == 6 ? TSC_RDRAND : TSC_RDSEED;
		site->reg = (uint8_t)((b[i + 2] & 7) | ((rex & 1) << 3));
		site->opsize = (rex & 8) ? 8 : opsize16 ? 2 : 4;
		return true;
	} else {
		return false;
	}
	/* A REX byte before RDTSC(P) changes nothing in 64-bit code, but in
	 * 32-bit code it is an INC/DEC of its own that the patch would eat. */
	return rex == 0;
}

static bool capstone_agrees(unsigned id, enum tsc_kind kind)
{
	switch (kind) {
	case TSC_RDTSC: return id == X86_INS_RDTSC;
	case TSC_RDTSCP: return id == X86_INS_RDTSCP;
	case TSC_RDRAND: return id == X86_INS_RDRAND;
	case TSC_RDSEED: return id == X86_INS_RDSEED;
	case TSC_RDPMC: return id == X86_INS_RDPMC;
	}
	return false;
}

int tsc_scan(struct tsc_table *t, const uint8_t *code, size_t len, uint64_t lin, uint64_t gpa)
{
	csh h;
	cs_insn *insn;
	size_t off = 0;
	int r = 0;

	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -EIO;
	insn = cs_malloc(h);
	if (!insn) {
		cs_close(&h);
		return -ENOMEM;
	}
	while (off < len) {
		const uint8_t *p = code + off;
		size_t n = len - off;
		uint64_t a = lin + off;
		if (!cs_disasm_iter(h, &p, &n, &a, insn)) {
			off++; /* not an instruction: resynchronise on the next byte */
			continue;
		}
		struct tsc_site site;
		memset(&site, 0, sizeof(site));
		if (insn->size >= 2 && insn->size <= TSC_MAX_LEN && classify(code + off, insn->size, &site) &&
		    capstone_agrees(insn->id, site.kind)) {
			site.addr = lin + off;
			site.gpa = gpa + off;
			site.len = (uint8_t)insn->size;
			memcpy(site.orig, code + off, insn->size);
			int added = add_site(t, &site);
			if (added < 0) {
				r = added;
				break;
			}
			t->n_primary += (size_t)added;
		}
		off += insn->size;
	}
	cs_free(insn, 1);
	cs_close(&h);
	return r;
}

int tsc_add_copies(struct tsc_table *t, const struct vm_code_copy *c, size_t n)
{
	int r = 0;

	for (size_t k = 0; k < n && r >= 0; k++) {
		/* Sites of the source, collected first: adding moves the array. */
		struct tsc_site add[8];
		size_t m = 0;
		for (size_t i = lower_bound(t, c[k].src); i < t->n && t->s[i].addr - c[k].src < c[k].len && m < 8; i++) {
			const struct tsc_site *s = &t->s[i];
			if (s->copy || s->len > c[k].len - (s->addr - c[k].src))
				continue;
			add[m] = *s;
			add[m].addr = c[k].dst + (s->addr - c[k].src);
			add[m].gpa = c[k].dst_gpa + (s->addr - c[k].src);
			add[m].copy = true;
			/* Its neighbours are unknown until the copy: ask KVM. */
			add[m++].ambiguous = true;
		}
		for (size_t i = 0; i < m && r >= 0; i++) {
			r = add_site(t, &add[i]);
			if (r > 0)
				t->n_copies++;
		}
	}
	return r < 0 ? r : 0;
}

void tsc_lookup_by_gpa(struct tsc_table *t, bool on)
{
	if (t)
		t->by_gpa = on;
}

int tsc_add_phys_aliases(struct tsc_table *t, uint64_t gpa, uint64_t len)
{
	/* Collect first: inserting moves the array under the loop. */
	size_t n = 0;
	struct tsc_site *add = malloc((t->n ? t->n : 1) * sizeof(*add));
	int r = 0;

	if (!add)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++)
		if (t->s[i].gpa - gpa < len && t->s[i].addr != t->s[i].gpa && !t->s[i].copy) {
			add[n] = t->s[i];
			add[n++].addr = t->s[i].gpa;
		}
	for (size_t i = 0; i < n && r >= 0; i++)
		r = add_site(t, &add[i]);
	free(add);
	return r < 0 ? r : 0;
}

static bool out_at(const uint8_t *code, size_t len, uint64_t off)
{
	return off < len && len - off >= 2 && code[off] == OUT_IMM8 && code[off + 1] == TSC_PORT;
}

void tsc_patch(struct tsc_table *t, uint8_t *code, size_t len, uint64_t gpa, enum tsc_method method)
{
	t->method = method;
	for (size_t i = 0; i < t->n; i++) {
		struct tsc_site *s = &t->s[i];
		uint64_t off = s->gpa - gpa;
		if (off >= len || len - off < s->len || s->copy)
			continue;
		if (method == TSC_TRAP_INT3) {
			code[off] = INT3;
			memset(code + off + 1, NOP, s->len - 1u);
		} else {
			code[off] = OUT_IMM8;
			code[off + 1] = TSC_PORT;
			memset(code + off + 2, NOP, s->len - 2u);
		}
	}
	/* A #BP exit's RIP is exactly the INT3: nothing to tell apart. */
	if (method == TSC_TRAP_INT3)
		return;
	/* An exit's RIP is the OUT itself (KVM's fast path: it skips the OUT
	 * when the exit completes) or the byte after it (the emulator's path:
	 * RIP already moved).  Where other e6 f0 bytes lie next to a site,
	 * the two readings collide and the handler has to ask KVM. */
	for (size_t i = 0; i < t->n; i++) {
		struct tsc_site *s = &t->s[i];
		uint64_t off = s->gpa - gpa;
		if (off >= len || len - off < s->len || s->copy)
			continue;
		s->ambiguous = (off >= 2 && out_at(code, len, off - 2)) || out_at(code, len, off + 2);
	}
}

/* ---- at run time ---- */

static uint64_t host_rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* The guest's TSC runs at the host's rate from another origin: keep the
 * values trapped sites return in line with the TSC the guest reads where
 * nothing was patched. */
static int64_t read_tsc_offset(struct vm *vm)
{
	uint64_t before = host_rdtsc(), guest;

	if (vcpu_get_msr(vm, MSR_IA32_TSC, &guest))
		return 0;
	return (int64_t)(guest - before);
}

uint64_t tsc_guest_now(struct vm *vm)
{
	if (!vm->tsc_offset_known) {
		vm->tsc_offset = read_tsc_offset(vm);
		vm->tsc_offset_known = true;
	}
	return host_rdtsc() + (uint64_t)vm->tsc_offset + (uint64_t)vm->tsc_delta;
}

const char *tsc_method_name(enum tsc_method m)
{
	switch (m) {
	case TSC_TRAP_PIO: return "out %al,$0xf0 (I/O exit)";
	case TSC_TRAP_INT3: return "int3 (KVM_GUESTDBG_USE_SW_BP)";
	}
	return "?";
}

enum tsc_method tsc_method_of(const struct tsc_table *t)
{
	return t && t->method ? t->method : TSC_TRAP_PIO;
}

/* Run `int3; hlt` in a probe VM (core/probe.h) with USE_SW_BP: true when
 * KVM reports a #BP debug exit at the INT3.  Any failure (no VM, an
 * emulation error, another exit) means "do not use INT3". */
static bool int3_works(int kvm_fd)
{
	static const uint8_t code[] = { INT3, 0xf4 };
	struct kvm_probe p;
	struct kvm_guest_debug dbg;
	bool ok = false;

	if (kvm_probe_open(&p, kvm_fd, code, sizeof(code)))
		return false;
	memset(&dbg, 0, sizeof(dbg));
	dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
	if (kvm_probe_run(&p, &dbg) == 0) {
		struct kvm_run *run = p.run;
		ok = run->exit_reason == KVM_EXIT_DEBUG && run->debug.arch.exception == BP_VECTOR &&
		     run->debug.arch.pc == PROBE_RIP;
		log_debug("tsc: INT3 probe: exit %u, exception %u, pc %#llx", run->exit_reason,
			  run->debug.arch.exception, (unsigned long long)run->debug.arch.pc);
	}
	kvm_probe_close(&p);
	return ok;
}

enum tsc_method tsc_choose_method(int kvm_fd, enum kvm_flavour flavour, const char **why)
{
	const char *dummy, *force = getenv("TTVM_TSC_TRAP");

	if (!why)
		why = &dummy;
	if (force && !strcmp(force, "pio")) {
		*why = "forced by TTVM_TSC_TRAP=pio";
		return TSC_TRAP_PIO;
	}
	if (force && !strcmp(force, "int3")) {
		*why = "forced by TTVM_TSC_TRAP=int3";
		return TSC_TRAP_INT3;
	}
	if (flavour == KVM_FLAVOUR_PVM) {
		/* Not probed: INT3 would work at CPL3 and in the probe's real
		 * mode, but fails at CPL0 in long mode. */
		*why = "PVM: software breakpoints fail at CPL0";
		return TSC_TRAP_PIO;
	}
	if (int3_works(kvm_fd)) {
		*why = "probed: INT3 gives a #BP exit";
		return TSC_TRAP_INT3;
	}
	*why = "probed: INT3 gives no #BP exit on this host; CPL3 sites raise #GP";
	return TSC_TRAP_PIO;
}

int tsc_setup(struct vm *vm)
{
	struct tsc_table *t;
	enum tsc_method method = TSC_TRAP_PIO;
	const char *why = "no site to trap";
	int r = 0;

	if (vm->nexec == 0)
		return 0;
	if (!(t = tsc_table_new()))
		return -ENOMEM;
	for (unsigned i = 0; i < vm->nexec && !r; i++) {
		const struct vm_exec_range *x = &vm->exec[i];
		uint8_t *code = vm_gpa_ptr(vm, x->gpa, x->size);
		if (code)
			r = tsc_scan(t, code, x->size, x->vaddr, x->gpa);
	}
	for (unsigned i = 0; i < vm->nexec && !r; i++)
		if (vm->exec[i].vaddr != vm->exec[i].gpa)
			r = tsc_add_phys_aliases(t, vm->exec[i].gpa, vm->exec[i].size);
	if (!r && vm->ncopies)
		r = tsc_add_copies(t, vm->copies, vm->ncopies);
	if (r) {
		log_error("cannot scan the guest's code for RDTSC: %s", strerror(-r));
		tsc_table_free(t);
		return r;
	}
	/* Probing costs a VM: only when there is something to trap. */
	if (t->n)
		method = tsc_choose_method(vm->kvm_fd, vm->flavour, &why);
	if (method == TSC_TRAP_INT3) {
		vm->guest_debug_keep = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
		if ((r = vcpu_set_guest_debug(vm, 0, NULL))) {
			log_info("tsc: KVM_SET_GUEST_DEBUG for INT3 traps: %s: using I/O exits", strerror(-r));
			vm->guest_debug_keep = 0;
			method = TSC_TRAP_PIO;
			why = "KVM_SET_GUEST_DEBUG failed";
		}
	}
	for (unsigned i = 0; i < vm->nexec; i++) {
		const struct vm_exec_range *x = &vm->exec[i];
		uint8_t *code = vm_gpa_ptr(vm, x->gpa, x->size);
		if (code)
			tsc_patch(t, code, x->size, x->gpa, method);
	}
	size_t amb = 0;
	for (size_t i = 0; i < t->n; i++)
		amb += t->s[i].ambiguous;
	log_info("tsc: %zu RDTSC/RDTSCP/RDRAND/RDSEED/RDPMC site(s) patched in %u executable range(s)%s, "
		 "trap: %s on %s (%s)%s", t->n_primary, vm->nexec,
		 t->n_copies ? " (and where the guest copies them: alternatives)" : "",
		 t->n ? tsc_method_name(method) : "none",
		 kvm_flavour_name(vm->flavour), why,
		 method == TSC_TRAP_PIO && t->n && vm->flavour != KVM_FLAVOUR_PVM
			 ? ": traps at CPL0 only, or where IOPL/the I/O bitmap allow" : "");
	if (amb)
		log_debug("tsc: %zu site(s) next to other e6 f0 bytes: their exits cost one more KVM_RUN", amb);
	if (t->n == 0) {
		tsc_table_free(t);
		return 0;
	}
	(void)tsc_guest_now(vm); /* reads the offset now, before the guest runs */
	vm->tsc = t;
	return 0;
}

/* The site whose first byte is at linear address lin: by that address,
 * else (tsc_lookup_by_gpa) by the guest-physical address it maps to. */
static const struct tsc_site *site_at(struct vm *vm, uint64_t lin)
{
	const struct tsc_site *s = tsc_lookup(vm->tsc, lin);
	struct kvm_sregs sr;
	uint64_t gpa;

	if (s || !vm->tsc->by_gpa || vcpu_get_sregs(vm, &sr) || vm_gva_to_gpa(vm, &sr, lin, &gpa))
		return s;
	s = tsc_lookup(vm->tsc, gpa);
	return s && s->gpa == gpa ? s : NULL;
}

/* Which site does this OUT come from?  NULL: the guest's own OUT.  *lin:
 * the linear address the site's instruction starts at. */
static const struct tsc_site *find_site(struct vm *vm, struct kvm_regs *regs, uint64_t *lin)
{
	const struct tsc_site *at = site_at(vm, regs->rip);        /* fast path */
	const struct tsc_site *after = site_at(vm, regs->rip - 2); /* emulated */

	if (!at && !after)
		return NULL;
	if (at && !at->ambiguous && !after) {
		*lin = regs->rip;
		return at;
	}
	if (after && !after->ambiguous && !at) {
		*lin = regs->rip - 2;
		return after;
	}
	/* Both readings possible: complete the OUT (vcpu_settle: the guest
	 * does not run, a pending kick stays) and see whether KVM still had
	 * to skip it. */
	uint64_t rip = regs->rip;
	int rc = vcpu_settle(vm, true);
	if (rc < 0 || vcpu_get_regs(vm, regs)) {
		vm_request_stop(vm, ST_HOST, "KVM_RUN to complete an OUT at RIP %#" PRIx64 ": %s", rip,
				strerror(rc < 0 ? -rc : errno));
		return NULL;
	}
	vm->run->exit_reason = KVM_EXIT_INTR; /* complete: nothing is to be settled again */
	/* Still at the OUT: the exit came from it (fast path), else RIP had
	 * already moved past it. */
	*lin = regs->rip != rip ? rip : rip - 2;
	return regs->rip != rip ? at : after;
}

/* __u64, not uint64_t: the two are different types to the aliasing rules. */
static __u64 *gpr(struct kvm_regs *r, unsigned n)
{
	switch (n) {
	case 0: return &r->rax;
	case 1: return &r->rcx;
	case 2: return &r->rdx;
	case 3: return &r->rbx;
	case 4: return &r->rsp;
	case 5: return &r->rbp;
	case 6: return &r->rsi;
	case 7: return &r->rdi;
	case 8: return &r->r8;
	case 9: return &r->r9;
	case 10: return &r->r10;
	case 11: return &r->r11;
	case 12: return &r->r12;
	case 13: return &r->r13;
	case 14: return &r->r14;
	default: return &r->r15;
	}
}

/* A trapped RDPMC: #GP(0) with RIP on the instruction, as on a CPU
 * without that counter (core/tsc.h).  Deterministic: nothing is logged. */
static void raise_gp(struct vm *vm, uint64_t lin)
{
	struct kvm_regs regs;
	const char *what = NULL;

	/* A patched OUT is still to be completed: KVM would skip it after RIP
	 * is put back on it.  Complete it first (vcpu_settle; while replay
	 * single-steps, the OUT's skip ends in a debug exit: complete too). */
	if (vm->tsc->method == TSC_TRAP_PIO) {
		if (vcpu_settle(vm, true) < 0)
			what = "KVM_RUN to complete the trap";
		vm->run->exit_reason = KVM_EXIT_INTR; /* complete: nothing is to be settled again */
	}
	if (!what && vcpu_get_regs(vm, &regs))
		what = "KVM_GET_REGS";
	regs.rip = lin;
	if (!what && vcpu_set_regs(vm, &regs))
		what = "KVM_SET_REGS";
	if (!what && vcpu_inject_exception(vm, 13, true, 0))
		what = "KVM_GET/SET_VCPU_EVENTS";
	vm->exception_queued = true;
	if (what)
		vm_request_stop(vm, ST_HOST, "%s for the #GP of a trapped RDPMC at %#" PRIx64 ": %s", what, lin,
				strerror(errno));
}

/* Produce the value of site s's instruction (live, logged or replayed), write
 * the registers it writes and continue after it.  regs: the guest's. */
static void emulate(struct vm *vm, const struct tsc_site *s, uint64_t lin, const struct kvm_regs *guest)
{
	struct kvm_regs regs = *guest;

	if (s->kind == TSC_RDPMC) {
		raise_gp(vm, lin);
		return;
	}
	uint64_t value = 0;
	uint32_t aux = 0;
	bool cf = true; /* RDRAND/RDSEED succeed: ttvm's source never runs dry */
	bool rand = s->kind == TSC_RDRAND || s->kind == TSC_RDSEED;
	if (!rand) {
		value = tsc_guest_now(vm);
	} else if (getrandom(&value, sizeof(value), 0) != (ssize_t)sizeof(value)) {
		vm_request_stop(vm, ST_HOST, "getrandom for the guest's RDRAND: %s", strerror(errno));
		return;
	} else if (s->opsize < 8) {
		/* Log only the bits the guest receives. */
		value &= s->opsize == 2 ? 0xffffull : 0xffffffffull;
	}
	/* The fingerprint sees the guest at the original instruction,
	 * whichever path KVM took to exit. */
	regs.rip = lin;
	const struct vm_hooks *h = vm->hooks;
	if (h && (rand ? h->rdrand != NULL : h->rdtsc != NULL)) {
		if (rand)
			h->rdrand(vm, (enum tsc_kind)s->kind, &regs, &value, &cf);
		else
			h->rdtsc(vm, (enum tsc_kind)s->kind, &regs, &value, &aux);
		if (vm->stop)
			return;
	}
	switch (s->kind) {
	case TSC_RDTSCP:
		regs.rcx = aux;
		/* fall through */
	case TSC_RDTSC:
		regs.rax = (uint32_t)value;
		regs.rdx = value >> 32;
		break;
	default: {
		__u64 *d = gpr(&regs, s->reg);
		if (!cf)
			value = 0; /* a failed RDRAND clears its destination */
		if (s->opsize == 2)
			*d = (*d & ~0xffffull) | (value & 0xffff);
		else
			*d = s->opsize == 4 ? (uint32_t)value : value;
		regs.rflags = (regs.rflags & ~FLAGS_ARITH) | (cf ? FLAG_CF : 0);
		break;
	}
	}
	/* A RIP other than the OUT's also cancels KVM's pending skip of it
	 * (PIO); for INT3 nothing is pending. */
	regs.rip = lin + s->len;
	int r = vcpu_set_regs(vm, &regs); /* with sync regs: at the next KVM_RUN */
	if (r)
		vm_request_stop(vm, ST_HOST, "KVM_SET_REGS after a trapped %s: %s",
				s->kind == TSC_RDTSC ? "RDTSC" : "instruction", strerror(-r));
}

bool tsc_handle_io(struct vm *vm)
{
	struct kvm_run *run = vm->run;
	struct kvm_regs regs;

	if (!vm->tsc || vm->tsc->method != TSC_TRAP_PIO || run->io.port != TSC_PORT ||
	    run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1 || run->io.count != 1 ||
	    vcpu_get_regs(vm, &regs))
		return false;
	uint64_t lin = 0;
	const struct tsc_site *s = find_site(vm, &regs, &lin);
	if (!s)
		return vm->stop; /* a host error stops here; else the guest's own OUT */
	emulate(vm, s, lin, &regs);
	return true;
}

bool tsc_is_bp_trap(const struct vm *vm)
{
	const struct kvm_run *run = vm->run;

	return vm->tsc && vm->tsc->method == TSC_TRAP_INT3 && run->exit_reason == KVM_EXIT_DEBUG &&
	       run->debug.arch.exception == BP_VECTOR && site_at((struct vm *)vm, run->debug.arch.pc);
}

bool tsc_handle_bp(struct vm *vm)
{
	struct kvm_regs regs;

	if (!tsc_is_bp_trap(vm))
		return false;
	if (vcpu_get_regs(vm, &regs)) {
		vm_request_stop(vm, ST_HOST, "KVM_GET_REGS at an INT3 trap: %s", strerror(errno));
		return true;
	}
	/* debug.arch.pc is linear, the table's addresses too (flat CS). */
	emulate(vm, site_at(vm, vm->run->debug.arch.pc), vm->run->debug.arch.pc, &regs);
	return true;
}
