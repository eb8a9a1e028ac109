/* Whole-machine state (all but RAM) as one versioned TLV blob.
 *
 * Layout (little-endian, as the host):
 *   "TTVMSTAT"  u32 version  u32 0
 *   records:    u32 tag  u32 length  payload[length]   (any order, each tag once)
 *   END record: tag VM_STATE_END, length 8, hash64 of every byte before its tag
 * Payloads are the KVM structures themselves (they are the kernel's ABI, so
 * stable) and the device models' *_state structs (core of this format: a
 * change of any of them bumps VM_STATE_VERSION).  Unknown tags are refused
 * rather than skipped: a blob from a newer ttvm must not half-load.
 *
 * The debug-exit device has no state, fw_cfg's items and the multiboot
 * image are configuration that vm_create() and the loader make again. */
#include "core/snapshot.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "devices/clock.h"
#include "core/log.h"
#include "core/ptrap.h"
#include "core/vm.h"
#include "devices/cmos.h"
#include "devices/fwcfg.h"
#include "devices/i8042.h"
#include "devices/apic.h"
#include "devices/ioapic.h"
#include "devices/pci.h"
#include "devices/pic.h"
#include "devices/pit.h"
#include "devices/uart.h"
#include "storage/hash.h"


#define HEADER_SIZE 16u
#define REC_HEAD 8u
/* Bounds on variable records: far above what KVM uses (256 CPUID entries,
 * a few hundred MSRs, an XSAVE area of a few pages with AMX). */
#define MAX_CPUID_ENTRIES 256u
#define MAX_MSRS 4096u
#define MAX_XSAVE (1u << 20)

_Static_assert(sizeof(struct vm_state_run) == 40, "st_run layout is part of the state format");
_Static_assert(sizeof(struct pic_state) == 40, "pic_state layout is part of the state format");
_Static_assert(sizeof(struct pit_state) == 136, "pit_state layout is part of the state format");
_Static_assert(sizeof(struct uart_state) == 32, "uart_state layout is part of the state format");
_Static_assert(sizeof(struct cmos_state) == 184, "cmos_state layout is part of the state format");
_Static_assert(sizeof(struct i8042_state) == 48, "i8042_state layout is part of the state format");
_Static_assert(sizeof(struct pci_state) == 8, "pci_state layout is part of the state format");
_Static_assert(sizeof(struct fwcfg_state) == 8, "fwcfg_state layout is part of the state format");
_Static_assert(sizeof(struct apic_state) == 192, "apic_state layout is part of the state format");
_Static_assert(sizeof(struct ioapic_state) == 208, "ioapic_state layout is part of the state format");
_Static_assert(sizeof(struct vm_state_probes) == 16 + 8 * VM_STATE_MAX_PROBES, "vm_state_probes layout is part of the state format");

static const struct {
	uint32_t size; /* 0 = variable, checked by its decoder */
	bool required;
	const char *name;
} tag_info[VM_STATE_TAG_MAX + 1] = {
	[VM_STATE_CPUID] = { 0, false, "cpuid" },
	[VM_STATE_REGS] = { sizeof(struct kvm_regs), true, "regs" },
	[VM_STATE_SREGS] = { sizeof(struct kvm_sregs), false, "sregs" },
	[VM_STATE_SREGS2] = { sizeof(struct kvm_sregs2), false, "sregs2" },
	[VM_STATE_XCRS] = { sizeof(struct kvm_xcrs), false, "xcrs" },
	[VM_STATE_XSAVE] = { 0, false, "xsave" },
	[VM_STATE_FPU] = { sizeof(struct kvm_fpu), false, "fpu" },
	[VM_STATE_MSRS] = { 0, false, "msrs" },
	[VM_STATE_EVENTS] = { sizeof(struct kvm_vcpu_events), false, "vcpu_events" },
	[VM_STATE_DEBUGREGS] = { sizeof(struct kvm_debugregs), false, "debugregs" },
	[VM_STATE_MPSTATE] = { sizeof(struct kvm_mp_state), false, "mp_state" },
	[VM_STATE_RUN] = { sizeof(struct vm_state_run), true, "run" },
	[VM_STATE_PIC] = { sizeof(struct pic_state), true, "pic" },
	[VM_STATE_PIT] = { sizeof(struct pit_state), true, "pit" },
	[VM_STATE_UART] = { sizeof(struct uart_state), true, "uart" },
	[VM_STATE_CMOS] = { sizeof(struct cmos_state), true, "cmos" },
	[VM_STATE_I8042] = { sizeof(struct i8042_state), true, "i8042" },
	[VM_STATE_PCI] = { sizeof(struct pci_state), true, "pci" },
	[VM_STATE_FWCFG] = { sizeof(struct fwcfg_state), true, "fw_cfg" },
	[VM_STATE_PROBES] = { sizeof(struct vm_state_probes), false, "probes" },
	[VM_STATE_APIC] = { sizeof(struct apic_state), false, "apic" },
	[VM_STATE_IOAPIC] = { sizeof(struct ioapic_state), false, "ioapic" },
};

/* ---- writing ---- */

struct sbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void put(struct sbuf *b, const void *data, size_t n)
{
	if (b->err)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void put_rec(struct sbuf *b, uint32_t tag, const void *data, size_t n)
{
	uint32_t h[2] = { tag, (uint32_t)n };
	put(b, h, sizeof(h));
	put(b, data, n);
}

/* ---- reading ---- */

struct decoded {
	const uint8_t *rec[VM_STATE_TAG_MAX + 1];
	uint32_t len[VM_STATE_TAG_MAX + 1];
};

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Copy a fixed-size record into a (suitably aligned) struct. */
#define GET(d, tag, dst) memcpy((dst), (d)->rec[tag], sizeof(*(dst)))

/* Framing, checksum, sizes, presence (err, may be NULL: emptied first). */
static int decode(const void *blob, size_t len, struct decoded *d, char *err, size_t errlen)
{
	const uint8_t *b = blob;
	size_t off = HEADER_SIZE;
	bool ended = false;

	if (err && errlen)
		err[0] = 0;
	memset(d, 0, sizeof(*d));
	if (!blob || len < HEADER_SIZE || memcmp(b, VM_STATE_MAGIC, 8))
		return fail(err, errlen, -EINVAL, "not a ttvm machine state (no %s header)", VM_STATE_MAGIC);
	if (rd32(b + 8) > VM_STATE_VERSION || rd32(b + 8) < VM_STATE_VERSION_MIN)
		return fail(err, errlen, -EINVAL, "machine state version %" PRIu32 ", this ttvm reads versions %d to %d",
			    rd32(b + 8), VM_STATE_VERSION_MIN, VM_STATE_VERSION);
	if (rd32(b + 12) != 0)
		return fail(err, errlen, -EBADMSG, "machine state: reserved header field is %#" PRIx32, rd32(b + 12));
	while (off < len) {
		if (len - off < REC_HEAD)
			return fail(err, errlen, -EBADMSG, "machine state truncated in a record header at byte %zu", off);
		uint32_t tag = rd32(b + off), n = rd32(b + off + 4);
		if (n > len - off - REC_HEAD)
			return fail(err, errlen, -EBADMSG, "machine state truncated: record %" PRIu32 " at byte %zu "
				    "wants %" PRIu32 " bytes, %zu left", tag, off, n, len - off - REC_HEAD);
		if (tag == VM_STATE_END) {
			uint64_t want;
			if (n != 8 || off + REC_HEAD + n != len)
				return fail(err, errlen, -EBADMSG, "machine state: malformed end record at byte %zu", off);
			memcpy(&want, b + off + REC_HEAD, 8);
			if (hash64(b, off) != want)
				return fail(err, errlen, -EBADMSG, "machine state damaged: checksum mismatch");
			ended = true;
			break;
		}
		if (tag == 0 || tag > VM_STATE_TAG_MAX)
			return fail(err, errlen, -EBADMSG, "machine state: unknown record %" PRIu32 " at byte %zu", tag, off);
		if (d->rec[tag])
			return fail(err, errlen, -EBADMSG, "machine state: record %s appears twice", tag_info[tag].name);
		if (tag_info[tag].size && n != tag_info[tag].size)
			return fail(err, errlen, -EBADMSG, "machine state: record %s has %" PRIu32 " bytes, want %" PRIu32,
				    tag_info[tag].name, n, tag_info[tag].size);
		d->rec[tag] = b + off + REC_HEAD;
		d->len[tag] = n;
		off += REC_HEAD + n;
	}
	if (!ended)
		return fail(err, errlen, -EBADMSG, "machine state truncated: no end record");
	for (uint32_t t = 1; t <= VM_STATE_TAG_MAX; t++)
		if (tag_info[t].required && !d->rec[t])
			return fail(err, errlen, -EBADMSG, "machine state: record %s is missing", tag_info[t].name);
	if (!d->rec[VM_STATE_SREGS] == !d->rec[VM_STATE_SREGS2])
		return fail(err, errlen, -EBADMSG, "machine state: wants exactly one of sregs and sregs2");
	if (d->rec[VM_STATE_XSAVE] && d->rec[VM_STATE_FPU])
		return fail(err, errlen, -EBADMSG, "machine state: both xsave and fpu records");
	if (!d->rec[VM_STATE_APIC] != !d->rec[VM_STATE_IOAPIC])
		return fail(err, errlen, -EBADMSG, "machine state: an apic record without an ioapic record, or the reverse");
	if (d->rec[VM_STATE_PROBES]) {
		struct vm_state_probes pr;
		GET(d, VM_STATE_PROBES, &pr);
		if (pr.n > VM_STATE_MAX_PROBES || pr.skip > 1)
			return fail(err, errlen, -EBADMSG, "machine state: malformed probes record");
	}
	if (d->rec[VM_STATE_CPUID]) {
		uint32_t nent = d->len[VM_STATE_CPUID] >= 8 ? rd32(d->rec[VM_STATE_CPUID]) : UINT32_MAX;
		if (nent > MAX_CPUID_ENTRIES || d->len[VM_STATE_CPUID] != 8 + nent * sizeof(struct kvm_cpuid_entry2))
			return fail(err, errlen, -EBADMSG, "machine state: malformed cpuid record");
	}
	if (d->rec[VM_STATE_MSRS] && (d->len[VM_STATE_MSRS] % sizeof(struct kvm_msr_entry) ||
				d->len[VM_STATE_MSRS] / sizeof(struct kvm_msr_entry) > MAX_MSRS))
		return fail(err, errlen, -EBADMSG, "machine state: malformed msrs record");
	if (d->rec[VM_STATE_XSAVE] && (d->len[VM_STATE_XSAVE] < sizeof(struct kvm_xsave) || d->len[VM_STATE_XSAVE] > MAX_XSAVE ||
				 d->len[VM_STATE_XSAVE] % 4))
		return fail(err, errlen, -EBADMSG, "machine state: malformed xsave record (%" PRIu32 " bytes)",
			    d->len[VM_STATE_XSAVE]);
	return 0;
}

/* Devices made only to try the blob's device states on; they never run. */
struct scratch {
	struct ttvm_clock *clk;
	struct pic *pic;
	struct pit *pit;
	struct uart *uart;
	struct cmos *cmos;
	struct i8042 *kbd;
	struct pci *pci;
	struct fwcfg *fwcfg;
	struct apic *apic;
	struct ioapic *ioapic;
};

static void scratch_free(struct scratch *s)
{
	apic_free(s->apic);
	ioapic_free(s->ioapic);
	fwcfg_free(s->fwcfg);
	pci_free(s->pci);
	i8042_free(s->kbd);
	cmos_free(s->cmos);
	uart_free(s->uart);
	pit_free(s->pit);
	pic_free(s->pic);
	if (s->clk)
		clock_free(s->clk);
}

/* The device states, each loaded into the given devices (the VM's own, or
 * scratch ones when only checking).  Every model checks its state before
 * it changes anything. */
static int load_devices(const struct decoded *d, struct pic *pic, struct pit *pit, struct uart *uart,
			struct cmos *cmos, struct i8042 *kbd, struct pci *pci, struct fwcfg *fwcfg,
			struct apic *apic, struct ioapic *ioapic, char *err, size_t errlen)
{
	struct apic_state as;
	struct ioapic_state ios;
	struct pic_state pics;
	struct pit_state pits;
	struct uart_state us;
	struct cmos_state cs;
	struct i8042_state ks;
	struct pci_state ps;
	struct fwcfg_state fs;
	const char *bad = NULL;

	GET(d, VM_STATE_PIC, &pics);
	GET(d, VM_STATE_PIT, &pits);
	GET(d, VM_STATE_UART, &us);
	GET(d, VM_STATE_CMOS, &cs);
	GET(d, VM_STATE_I8042, &ks);
	GET(d, VM_STATE_PCI, &ps);
	GET(d, VM_STATE_FWCFG, &fs);
	if (pic_load(pic, &pics))
		bad = "pic";
	else if (pit_load(pit, &pits))
		bad = "pit";
	else if (uart_load(uart, &us))
		bad = "uart";
	else if (cmos_load(cmos, &cs))
		bad = "cmos";
	else if (i8042_load(kbd, &ks))
		bad = "i8042";
	else if (pci_load(pci, &ps))
		bad = "pci";
	else if (fwcfg_load(fwcfg, &fs))
		bad = "fw_cfg";
	if (!bad && !d->rec[VM_STATE_APIC] != !apic)
		return fail(err, errlen, -EINVAL, "machine state: saved %s the APIC (--apic), this machine is %s it",
			    d->rec[VM_STATE_APIC] ? "with" : "without", apic ? "with" : "without");
	if (!bad && apic) {
		GET(d, VM_STATE_APIC, &as);
		GET(d, VM_STATE_IOAPIC, &ios);
		if (apic_load(apic, &as))
			bad = "apic";
		else if (ioapic_load(ioapic, &ios))
			bad = "ioapic";
	}
	if (bad)
		return fail(err, errlen, -EBADMSG, "machine state: the %s state is inconsistent", bad);
	return 0;
}

static int check_decoded(const struct decoded *d, char *err, size_t errlen)
{
	struct scratch s;
	struct dev_stop nostop = { NULL, NULL };
	struct irq_line noirq = { NULL, NULL, 0 };
	struct vm_state_run run;
	int r;

	GET(d, VM_STATE_RUN, &run);
	if (run.if_flag > 1 || run.ready_for_injection > 1 || run.irq_in_flight > 1 || run.pad ||
	    run.guest_exits > run.exits)
		return fail(err, errlen, -EBADMSG, "machine state: the run state is inconsistent");
	memset(&s, 0, sizeof(s));
	s.clk = clock_new_manual(0);
	s.pic = pic_new();
	s.pit = s.clk ? pit_new(s.clk, noirq) : NULL;
	s.uart = uart_new(noirq, NULL, NULL);
	s.cmos = s.clk ? cmos_new(s.clk, 0) : NULL;
	s.kbd = i8042_new(nostop);
	s.pci = pci_new(nostop);
	s.fwcfg = fwcfg_new(0);
	if (d->rec[VM_STATE_APIC]) {
		s.apic = s.clk ? apic_new(s.clk) : NULL;
		s.ioapic = ioapic_new(NULL, NULL);
	}
	if (!s.clk || !s.pic || !s.pit || !s.uart || !s.cmos || !s.kbd || !s.pci || !s.fwcfg ||
	    (d->rec[VM_STATE_APIC] && (!s.apic || !s.ioapic)))
		r = fail(err, errlen, -ENOMEM, "machine state: out of memory");
	else
		r = load_devices(d, s.pic, s.pit, s.uart, s.cmos, s.kbd, s.pci, s.fwcfg, s.apic, s.ioapic, err, errlen);
	scratch_free(&s);
	return r;
}

int vm_state_check(const void *blob, size_t len, char *err, size_t errlen)
{
	struct decoded d;
	int r;

	if ((r = decode(blob, len, &d, err, errlen)))
		return r;
	return check_decoded(&d, err, errlen);
}

int vm_state_sregs(const void *blob, size_t len, struct kvm_sregs *sregs, char *err, size_t errlen)
{
	struct decoded d;
	int r;

	if ((r = decode(blob, len, &d, err, errlen)))
		return r;
	memset(sregs, 0, sizeof(*sregs));
	if (d.rec[VM_STATE_SREGS]) {
		GET(&d, VM_STATE_SREGS, sregs);
		return 0;
	}
	struct kvm_sregs2 s2;
	GET(&d, VM_STATE_SREGS2, &s2);
	sregs->cs = s2.cs, sregs->ds = s2.ds, sregs->es = s2.es, sregs->fs = s2.fs;
	sregs->gs = s2.gs, sregs->ss = s2.ss, sregs->tr = s2.tr, sregs->ldt = s2.ldt;
	sregs->gdt = s2.gdt, sregs->idt = s2.idt;
	sregs->cr0 = s2.cr0, sregs->cr2 = s2.cr2, sregs->cr3 = s2.cr3, sregs->cr4 = s2.cr4;
	sregs->cr8 = s2.cr8, sregs->efer = s2.efer, sregs->apic_base = s2.apic_base;
	return 0;
}

int vm_state_clock_ns(const void *blob, size_t len, uint64_t *ns, char *err, size_t errlen)
{
	struct vm_state_run run;
	struct decoded d;
	int r;

	if ((r = decode(blob, len, &d, err, errlen)))
		return r;
	GET(&d, VM_STATE_RUN, &run);
	*ns = run.clock_ns;
	return 0;
}

/* ---- KVM ---- */

static bool has_cap(struct vm *vm, long cap)
{
	return ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, cap) > 0;
}

/* Bytes of the XSAVE area KVM_GET_XSAVE2 / KVM_SET_XSAVE use on this host
 * (at least struct kvm_xsave), or 0 without XSAVE. */
static size_t xsave_size(struct vm *vm)
{
	if (!has_cap(vm, KVM_CAP_XSAVE))
		return 0;
	int n = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	return n > (int)sizeof(struct kvm_xsave) ? (size_t)n : sizeof(struct kvm_xsave);
}

static struct kvm_msr_list *msr_index_list(struct vm *vm)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };

	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return NULL;
	struct kvm_msr_list *l = malloc(sizeof(*l) + (probe.nmsrs + 1) * sizeof(uint32_t));
	if (!l)
		return NULL;
	l->nmsrs = probe.nmsrs;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		free(l);
		return NULL;
	}
	return l;
}

/* Read every MSR KVM lists.  KVM_GET_MSRS stops at the first MSR it cannot
 * read (some listed ones need features this VM lacks, e.g. a local APIC):
 * skip that one and ask again for the rest.  0 or -errno. */
static int get_msrs(struct vm *vm, struct kvm_msr_entry **out, uint32_t *count)
{
	struct kvm_msr_list *l = msr_index_list(vm);
	struct kvm_msrs *m = NULL;
	struct kvm_msr_entry *e = NULL;
	uint32_t n = 0;
	int r = 0;

	*out = NULL;
	*count = 0;
	if (!l)
		return errno ? -errno : -ENOMEM;
	m = malloc(sizeof(*m) + (l->nmsrs + 1) * sizeof(struct kvm_msr_entry));
	e = malloc((l->nmsrs + 1) * sizeof(struct kvm_msr_entry));
	if (!m || !e) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < l->nmsrs;) {
		m->nmsrs = l->nmsrs - i;
		m->pad = 0;
		for (uint32_t j = 0; j < m->nmsrs; j++)
			m->entries[j] = (struct kvm_msr_entry){ .index = l->indices[i + j] };
		int got = ioctl(vm->vcpu_fd, KVM_GET_MSRS, m);
		if (got < 0) {
			r = -errno;
			goto out;
		}
		memcpy(e + n, m->entries, (size_t)got * sizeof(*e));
		n += (uint32_t)got;
		if ((uint32_t)got < m->nmsrs)
			log_debug("state: KVM cannot read MSR %#x", m->entries[got].index);
		i += (uint32_t)got + 1;
	}
	*out = e;
	*count = n;
	e = NULL;
out:
	free(e);
	free(m);
	free(l);
	return r;
}

/* KVM_SET_MSRS stops at the first MSR it rejects: retry the rest, one
 * rejected MSR at a time.  Rejected ones are reported with -vv only: the
 * same host refuses the same MSRs for every VM. */
static int set_msrs(struct vm *vm, const uint8_t *rec, uint32_t n)
{
	struct kvm_msrs *m = malloc(sizeof(*m) + (n + 1) * sizeof(struct kvm_msr_entry));

	if (!m)
		return -ENOMEM;
	for (uint32_t i = 0; i < n;) {
		m->nmsrs = n - i;
		m->pad = 0;
		memcpy(m->entries, rec + (size_t)i * sizeof(struct kvm_msr_entry),
		       (size_t)(n - i) * sizeof(struct kvm_msr_entry));
		int done = ioctl(vm->vcpu_fd, KVM_SET_MSRS, m);
		if (done < 0) {
			int r = -errno;
			free(m);
			return r;
		}
		if ((uint32_t)done < n - i)
			log_debug("state: KVM refused MSR %#x", m->entries[done].index);
		i += (uint32_t)done + 1;
	}
	free(m);
	return 0;
}

/* A pending PIO/MMIO/MSR access completed and dirty sync registers
 * applied (vcpu_settle), so that taking a snapshot never changes what the
 * run loop does next. */
static int complete_pending(struct vm *vm)
{
	int r = vcpu_settle(vm, true);
	return r < 0 ? r : 0;
}

#define IOCTL_OR_FAIL(fd, req, arg, what)                                     \
	do {                                                                      \
		if (ioctl((fd), (req), (arg)) < 0) {                                  \
			r = -errno;                                                       \
			log_error("state: %s: %s", (what), strerror(errno));              \
			goto out;                                                         \
		}                                                                     \
	} while (0)

/* The device models' records. */
static void put_devices(struct sbuf *b, struct vm *vm)
{
	struct pic_state pics;
	struct pit_state pits;
	struct uart_state us;
	struct cmos_state cs;
	struct i8042_state ks;
	struct pci_state ps;
	struct fwcfg_state fs;
	pic_save(vm->pic, &pics);
	pit_save(vm->pit, &pits);
	uart_save(vm->uart, &us);
	cmos_save(vm->cmos, &cs);
	i8042_save(vm->kbd, &ks);
	pci_save(vm->pci, &ps);
	fwcfg_save(vm->fwcfg, &fs);
	put_rec(b, VM_STATE_PIC, &pics, sizeof(pics));
	put_rec(b, VM_STATE_PIT, &pits, sizeof(pits));
	put_rec(b, VM_STATE_UART, &us, sizeof(us));
	put_rec(b, VM_STATE_CMOS, &cs, sizeof(cs));
	put_rec(b, VM_STATE_I8042, &ks, sizeof(ks));
	put_rec(b, VM_STATE_PCI, &ps, sizeof(ps));
	put_rec(b, VM_STATE_FWCFG, &fs, sizeof(fs));
	if (vm->apic) {
		struct apic_state as;
		struct ioapic_state ios;
		apic_save(vm->apic, &as);
		ioapic_save(vm->ioapic, &ios);
		put_rec(b, VM_STATE_APIC, &as, sizeof(as));
		put_rec(b, VM_STATE_IOAPIC, &ios, sizeof(ios));
	}
}

static void put_probes(struct sbuf *b, struct vm *vm)
{
	struct vm_state_probes pr;

	memset(&pr, 0, sizeof(pr));
	for (unsigned i = 0; i < PTRAP_MAX && pr.n < VM_STATE_MAX_PROBES; i++)
		if (vm->ptraps.t[i].owners & PTRAP_PROBE)
			pr.addr[pr.n++] = vm->ptraps.t[i].addr;
	pr.skip = vm->ptraps.skip;
	pr.skip_addr = vm->ptraps.skip_addr;
	put_rec(b, VM_STATE_PROBES, &pr, sizeof(pr));
}

int vm_state_save(struct vm *vm, void **blob, size_t *len)
{
	struct sbuf b = { 0 };
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_sregs2 sregs2;
	struct kvm_xcrs xcrs;
	struct kvm_fpu fpu;
	struct kvm_vcpu_events events;
	struct kvm_debugregs dbg;
	struct kvm_mp_state mp;
	struct kvm_msr_entry *msrs = NULL;
	uint32_t nmsrs = 0;
	void *xsave = NULL;
	struct vm_state_run run;
	int r;

	*blob = NULL;
	*len = 0;
	/* Before anything is read: the kvm_run fields as the loop saw them. */
	memset(&run, 0, sizeof(run));
	run.guest_exits = vm->guest_exits;
	run.exits = vm->exits;
	run.clock_ns = clock_now_ns(vm->clock);
	run.epoch_s = clock_epoch_s(vm->clock);
	run.exit_reason = vm->run->exit_reason;
	run.if_flag = vm->run->if_flag;
	run.ready_for_injection = vm->run->ready_for_interrupt_injection;
	run.irq_in_flight = vm->irq_in_flight;
	if ((r = complete_pending(vm)))
		goto out;

	uint32_t hdr[2] = { VM_STATE_VERSION, 0 };
	put(&b, VM_STATE_MAGIC, 8);
	put(&b, hdr, sizeof(hdr));
	if (vm->cpuid)
		put_rec(&b, VM_STATE_CPUID, vm->cpuid, sizeof(*vm->cpuid) + vm->cpuid->nent * sizeof(vm->cpuid->entries[0]));

	if ((r = vcpu_flush_regs(vm))) {
		log_error("machine state: KVM_SET_REGS: %s", strerror(-r));
		goto out;
	}
	IOCTL_OR_FAIL(vm->vcpu_fd, KVM_GET_REGS, &regs, "KVM_GET_REGS");
	if (vm->sync_regs)
		vm->run->s.regs.regs = regs;
	put_rec(&b, VM_STATE_REGS, &regs, sizeof(regs));
	if (has_cap(vm, KVM_CAP_SREGS2)) {
		memset(&sregs2, 0, sizeof(sregs2));
		IOCTL_OR_FAIL(vm->vcpu_fd, KVM_GET_SREGS2, &sregs2, "KVM_GET_SREGS2");
		put_rec(&b, VM_STATE_SREGS2, &sregs2, sizeof(sregs2));
	} else {
		IOCTL_OR_FAIL(vm->vcpu_fd, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
		put_rec(&b, VM_STATE_SREGS, &sregs, sizeof(sregs));
	}
	if (has_cap(vm, KVM_CAP_XCRS)) {
		memset(&xcrs, 0, sizeof(xcrs));
		IOCTL_OR_FAIL(vm->vcpu_fd, KVM_GET_XCRS, &xcrs, "KVM_GET_XCRS");
		put_rec(&b, VM_STATE_XCRS, &xcrs, sizeof(xcrs));
	}
	size_t xs = xsave_size(vm);
	if (xs) {
		xsave = calloc(1, xs);
		if (!xsave) {
			r = -ENOMEM;
			goto out;
		}
		if (xs > sizeof(struct kvm_xsave))
			IOCTL_OR_FAIL(vm->vcpu_fd, KVM_GET_XSAVE2, xsave, "KVM_GET_XSAVE2");
		else
			IOCTL_OR_FAIL(vm->vcpu_fd, KVM_GET_XSAVE, xsave, "KVM_GET_XSAVE");
		put_rec(&b, VM_STATE_XSAVE, xsave, xs);
	} else {
		IOCTL_OR_FAIL(vm->vcpu_fd, KVM_GET_FPU, &fpu, "KVM_GET_FPU");
		put_rec(&b, VM_STATE_FPU, &fpu, sizeof(fpu));
	}
	if ((r = get_msrs(vm, &msrs, &nmsrs))) {
		log_error("state: KVM_GET_MSRS: %s", strerror(-r));
		goto out;
	}
	put_rec(&b, VM_STATE_MSRS, msrs, nmsrs * sizeof(*msrs));
	memset(&events, 0, sizeof(events));
	IOCTL_OR_FAIL(vm->vcpu_fd, KVM_GET_VCPU_EVENTS, &events, "KVM_GET_VCPU_EVENTS");
	put_rec(&b, VM_STATE_EVENTS, &events, sizeof(events));
	if (has_cap(vm, KVM_CAP_DEBUGREGS)) {
		memset(&dbg, 0, sizeof(dbg));
		IOCTL_OR_FAIL(vm->vcpu_fd, KVM_GET_DEBUGREGS, &dbg, "KVM_GET_DEBUGREGS");
		put_rec(&b, VM_STATE_DEBUGREGS, &dbg, sizeof(dbg));
	}
	IOCTL_OR_FAIL(vm->vcpu_fd, KVM_GET_MP_STATE, &mp, "KVM_GET_MP_STATE");
	put_rec(&b, VM_STATE_MPSTATE, &mp, sizeof(mp));
	put_rec(&b, VM_STATE_RUN, &run, sizeof(run));
	put_probes(&b, vm);

	put_devices(&b, vm);

	if (!b.err) {
		uint64_t h = hash64(b.p, b.len);
		put_rec(&b, VM_STATE_END, &h, sizeof(h));
	}
	if ((r = b.err)) {
		log_error("state: out of memory");
		goto out;
	}
	*blob = b.p;
	*len = b.len;
	b.p = NULL;
out:
	free(b.p);
	free(msrs);
	free(xsave);
	return r;
}

/* The blob's CPUID table: nothing to do when the vCPU already has it; else
 * it must be set before the vCPU first runs (KVM refuses a different table
 * after that). */
static int load_cpuid(struct vm *vm, const struct decoded *d)
{
	uint32_t len = d->len[VM_STATE_CPUID];
	size_t have = vm->cpuid ? sizeof(*vm->cpuid) + vm->cpuid->nent * sizeof(vm->cpuid->entries[0]) : 0;

	if (have == len && !memcmp(vm->cpuid, d->rec[VM_STATE_CPUID], len))
		return 0;
	struct kvm_cpuid2 *c = malloc(len);
	if (!c)
		return -ENOMEM;
	memcpy(c, d->rec[VM_STATE_CPUID], len);
	c->padding = 0;
	if (ioctl(vm->vcpu_fd, KVM_SET_CPUID2, c) < 0) {
		int r = -errno;
		log_error("state: the saved CPUID differs from this vCPU's and KVM_SET_CPUID2 refused it: %s",
			  strerror(errno));
		free(c);
		return r;
	}
	free(vm->cpuid);
	vm->cpuid = c;
	return 0;
}

int vm_state_load(struct vm *vm, const void *blob, size_t len)
{
	struct decoded d;
	char err[256];
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_sregs2 sregs2;
	struct kvm_xcrs xcrs;
	struct kvm_fpu fpu;
	struct kvm_vcpu_events events;
	struct kvm_debugregs dbg;
	struct kvm_mp_state mp;
	struct vm_state_run run;
	void *xsave = NULL;
	uint64_t run_cr8 = 0, run_apic_base = 0;
	int r;

	if ((r = decode(blob, len, &d, err, sizeof(err))) || (r = check_decoded(&d, err, sizeof(err)))) {
		log_error("%s", err);
		return r;
	}
	if (!d.rec[VM_STATE_APIC] != !vm->apic) {
		log_error("machine state: saved %s the APIC (--apic), this machine is %s it",
			  d.rec[VM_STATE_APIC] ? "with" : "without", vm->apic ? "with" : "without");
		return -EINVAL;
	}
	if (d.rec[VM_STATE_SREGS2] && !has_cap(vm, KVM_CAP_SREGS2)) {
		log_error("machine state: saved with SREGS2, which this host's KVM lacks");
		return -EINVAL;
	}
	size_t xs = xsave_size(vm);
	if ((d.rec[VM_STATE_XSAVE] && d.len[VM_STATE_XSAVE] != xs) || (d.rec[VM_STATE_FPU] && xs)) {
		log_error("machine state: its FPU/XSAVE area (%" PRIu32 " bytes) does not fit this host's (%zu)",
			  d.rec[VM_STATE_XSAVE] ? d.len[VM_STATE_XSAVE] : 0, xs);
		return -EINVAL;
	}
	if (d.rec[VM_STATE_CPUID] && (r = load_cpuid(vm, &d)))
		return r;
	/* A PIO/MMIO exit still pending would be completed by the next KVM_RUN
	 * on top of the state loaded here: complete it now, into the state that
	 * is being replaced. */
	if ((r = complete_pending(vm)))
		return r;

	vcpu_state_changed(vm);
	if (d.rec[VM_STATE_SREGS2]) {
		GET(&d, VM_STATE_SREGS2, &sregs2);
		IOCTL_OR_FAIL(vm->vcpu_fd, KVM_SET_SREGS2, &sregs2, "KVM_SET_SREGS2");
		run_cr8 = sregs2.cr8;
		run_apic_base = sregs2.apic_base;
	} else {
		GET(&d, VM_STATE_SREGS, &sregs);
		IOCTL_OR_FAIL(vm->vcpu_fd, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
		run_cr8 = sregs.cr8;
		run_apic_base = sregs.apic_base;
	}
	if (d.rec[VM_STATE_MSRS] && (r = set_msrs(vm, d.rec[VM_STATE_MSRS], d.len[VM_STATE_MSRS] / sizeof(struct kvm_msr_entry)))) {
		log_error("state: KVM_SET_MSRS: %s", strerror(-r));
		goto out;
	}
	if (d.rec[VM_STATE_XCRS]) {
		GET(&d, VM_STATE_XCRS, &xcrs);
		IOCTL_OR_FAIL(vm->vcpu_fd, KVM_SET_XCRS, &xcrs, "KVM_SET_XCRS");
	}
	if (d.rec[VM_STATE_XSAVE]) {
		xsave = malloc(d.len[VM_STATE_XSAVE]);
		if (!xsave) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(xsave, d.rec[VM_STATE_XSAVE], d.len[VM_STATE_XSAVE]);
		IOCTL_OR_FAIL(vm->vcpu_fd, KVM_SET_XSAVE, xsave, "KVM_SET_XSAVE");
	} else if (d.rec[VM_STATE_FPU]) {
		GET(&d, VM_STATE_FPU, &fpu);
		IOCTL_OR_FAIL(vm->vcpu_fd, KVM_SET_FPU, &fpu, "KVM_SET_FPU");
	}
	/* Registers after SREGS: KVM_SET_SREGS may reset parts of RFLAGS/RIP
	 * handling for the new mode; the saved values win. */
	GET(&d, VM_STATE_REGS, &regs);
	IOCTL_OR_FAIL(vm->vcpu_fd, KVM_SET_REGS, &regs, "KVM_SET_REGS");
	if (vm->sync_regs)
		vm->run->s.regs.regs = regs;
	if (d.rec[VM_STATE_EVENTS]) {
		GET(&d, VM_STATE_EVENTS, &events);
		IOCTL_OR_FAIL(vm->vcpu_fd, KVM_SET_VCPU_EVENTS, &events, "KVM_SET_VCPU_EVENTS");
	}
	if (d.rec[VM_STATE_DEBUGREGS]) {
		GET(&d, VM_STATE_DEBUGREGS, &dbg);
		dbg.flags = 0;
		IOCTL_OR_FAIL(vm->vcpu_fd, KVM_SET_DEBUGREGS, &dbg, "KVM_SET_DEBUGREGS");
	}
	if (d.rec[VM_STATE_MPSTATE]) {
		GET(&d, VM_STATE_MPSTATE, &mp);
		IOCTL_OR_FAIL(vm->vcpu_fd, KVM_SET_MP_STATE, &mp, "KVM_SET_MP_STATE");
	}

	/* Checked above: these loads cannot fail now. */
	if ((r = load_devices(&d, vm->pic, vm->pit, vm->uart, vm->cmos, vm->kbd, vm->pci, vm->fwcfg, vm->apic,
			      vm->ioapic, err, sizeof(err)))) {
		log_error("%s", err);
		goto out;
	}
	ptrap_clear(&vm->ptraps, PTRAP_PROBE);
	vm->ptraps.skip = false;
	if (d.rec[VM_STATE_PROBES]) {
		struct vm_state_probes pr;
		GET(&d, VM_STATE_PROBES, &pr);
		for (uint32_t i = 0; i < pr.n; i++)
			ptrap_add(&vm->ptraps, pr.addr[i], PTRAP_PROBE);
		vm->ptraps.skip = pr.skip;
		vm->ptraps.skip_addr = pr.skip_addr;
	}
	GET(&d, VM_STATE_RUN, &run);
	vm->guest_exits = run.guest_exits;
	vm->exits = run.exits;
	vm->irq_in_flight = run.irq_in_flight;
	vm->irq_in_flight_vector = -1; /* not in the snapshot: no frame fix-up for it */
	clock_restore(vm->clock, run.clock_ns, run.epoch_s);
	vm->run->exit_reason = run.exit_reason;
	vm->run->if_flag = run.if_flag;
	vm->run->ready_for_interrupt_injection = run.ready_for_injection;
	vm->run->request_interrupt_window = 0;
	/* KVM_RUN loads CR8 from kvm_run without an in-kernel irqchip: the
	 * restored one, not the one of the last exit (core/irq.h). */
	vm->run->cr8 = run_cr8;
	vm->run->apic_base = run_apic_base;
	vm->stop = false;
	vm->status = 0;
	vm->stop_msg[0] = 0;
	r = 0;
out:
	free(xsave);
	return r;
}
