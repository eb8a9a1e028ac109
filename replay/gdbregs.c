/* Register layouts and target descriptions for gdb.  One table per
 * architecture drives everything: the XML is generated from it, so the
 * description, the 'g' layout and the converters cannot disagree. */
#include "replay/gdbregs.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Where a register's value lives. */
enum src {
	S_REG,      /* u64 field of kvm_regs (low bytes for 32-bit registers) */
	S_SREG,     /* u64 field of kvm_sregs */
	S_SEL,      /* u16 selector of a kvm_sregs segment */
	S_FPU16,    /* u16 field of kvm_fpu */
	S_FPU32,    /* u32 field of kvm_fpu */
	S_FPUBYTES, /* raw bytes of kvm_fpu (st registers, xmm) */
	S_FTAG,     /* full tag word, computed from the abridged one */
	S_FISEG, S_FIOFF, S_FOSEG, S_FOOFF, /* halves of last_ip / last_dp */
};

enum feature { F_CORE, F_SSE, F_SEGMENTS, F_SYS, F_COUNT };

struct regdef {
	const char *name;
	unsigned size;
	enum feature feature;
	enum src src;
	size_t off;
	const char *type;
	const char *group; /* NULL: gdb's default */
};

#define SEG(s, f) (offsetof(struct kvm_sregs, s) + offsetof(struct kvm_segment, f))
#define REG(n, sz, field, type) { n, sz, F_CORE, S_REG, offsetof(struct kvm_regs, field), type, NULL }
#define SEL(n, s) { n, 4, F_CORE, S_SEL, SEG(s, selector), "int32", NULL }
#define ST(i) { "st" #i, 10, F_CORE, S_FPUBYTES, offsetof(struct kvm_fpu, fpr) + 16 * (i), "i387_ext", NULL }
#define FPCTL(n, src, off) { n, 4, F_CORE, src, off, "int", "float" }
#define XMM(i) { "xmm" #i, 16, F_SSE, S_FPUBYTES, offsetof(struct kvm_fpu, xmm) + 16 * (i), "vec128", NULL }
#define SYS(n, sz, field, type) { n, sz, F_SYS, S_SREG, offsetof(struct kvm_sregs, field), type, NULL }

#define X87_CONTROL                                                                          \
	FPCTL("fctrl", S_FPU16, offsetof(struct kvm_fpu, fcw)),                              \
	FPCTL("fstat", S_FPU16, offsetof(struct kvm_fpu, fsw)),                              \
	FPCTL("ftag", S_FTAG, 0), FPCTL("fiseg", S_FISEG, 0), FPCTL("fioff", S_FIOFF, 0),    \
	FPCTL("foseg", S_FOSEG, 0), FPCTL("fooff", S_FOOFF, 0),                              \
	FPCTL("fop", S_FPU16, offsetof(struct kvm_fpu, last_opcode))

static const struct regdef regs64[] = {
	REG("rax", 8, rax, "int64"), REG("rbx", 8, rbx, "int64"), REG("rcx", 8, rcx, "int64"),
	REG("rdx", 8, rdx, "int64"), REG("rsi", 8, rsi, "int64"), REG("rdi", 8, rdi, "int64"),
	REG("rbp", 8, rbp, "data_ptr"), REG("rsp", 8, rsp, "data_ptr"),
	REG("r8", 8, r8, "int64"), REG("r9", 8, r9, "int64"), REG("r10", 8, r10, "int64"),
	REG("r11", 8, r11, "int64"), REG("r12", 8, r12, "int64"), REG("r13", 8, r13, "int64"),
	REG("r14", 8, r14, "int64"), REG("r15", 8, r15, "int64"),
	REG("rip", 8, rip, "code_ptr"), REG("eflags", 4, rflags, "i386_eflags"),
	SEL("cs", cs), SEL("ss", ss), SEL("ds", ds), SEL("es", es), SEL("fs", fs), SEL("gs", gs),
	ST(0), ST(1), ST(2), ST(3), ST(4), ST(5), ST(6), ST(7),
	X87_CONTROL,
	XMM(0), XMM(1), XMM(2), XMM(3), XMM(4), XMM(5), XMM(6), XMM(7),
	XMM(8), XMM(9), XMM(10), XMM(11), XMM(12), XMM(13), XMM(14), XMM(15),
	{ "mxcsr", 4, F_SSE, S_FPU32, offsetof(struct kvm_fpu, mxcsr), "i386_mxcsr", "vector" },
	{ "fs_base", 8, F_SEGMENTS, S_SREG, SEG(fs, base), "int", NULL },
	{ "gs_base", 8, F_SEGMENTS, S_SREG, SEG(gs, base), "int", NULL },
	SYS("cr0", 8, cr0, "ttvm_cr0"), SYS("cr2", 8, cr2, "data_ptr"), SYS("cr3", 8, cr3, "uint64"),
	SYS("cr4", 8, cr4, "ttvm_cr4"), SYS("cr8", 8, cr8, "uint64"), SYS("efer", 8, efer, "ttvm_efer"),
};

static const struct regdef regs32[] = {
	REG("eax", 4, rax, "int32"), REG("ecx", 4, rcx, "int32"), REG("edx", 4, rdx, "int32"),
	REG("ebx", 4, rbx, "int32"), REG("esp", 4, rsp, "data_ptr"), REG("ebp", 4, rbp, "data_ptr"),
	REG("esi", 4, rsi, "int32"), REG("edi", 4, rdi, "int32"),
	REG("eip", 4, rip, "code_ptr"), REG("eflags", 4, rflags, "i386_eflags"),
	SEL("cs", cs), SEL("ss", ss), SEL("ds", ds), SEL("es", es), SEL("fs", fs), SEL("gs", gs),
	ST(0), ST(1), ST(2), ST(3), ST(4), ST(5), ST(6), ST(7),
	X87_CONTROL,
	XMM(0), XMM(1), XMM(2), XMM(3), XMM(4), XMM(5), XMM(6), XMM(7),
	{ "mxcsr", 4, F_SSE, S_FPU32, offsetof(struct kvm_fpu, mxcsr), "i386_mxcsr", "vector" },
	/* not in org.gnu.gdb.i386.segments: gdb 13's i386 code numbers that
	 * feature's registers past the ones it allocates for a bare i386
	 * target and dies (tdesc_use_registers assertion); found with
	 * tests/gdb/gdbproto-client-test --i386 */
	{ "fs_base", 4, F_SYS, S_SREG, SEG(fs, base), "int", NULL },
	{ "gs_base", 4, F_SYS, S_SREG, SEG(gs, base), "int", NULL },
	SYS("cr0", 4, cr0, "ttvm_cr0"), SYS("cr2", 4, cr2, "data_ptr"), SYS("cr3", 4, cr3, "uint32"),
	SYS("cr4", 4, cr4, "ttvm_cr4"), SYS("cr8", 4, cr8, "uint32"), SYS("efer", 4, efer, "ttvm_efer"),
};

#define NREGS64 (sizeof(regs64) / sizeof(regs64[0]))
#define NREGS32 (sizeof(regs32) / sizeof(regs32[0]))

/* Feature names.  org.gnu.gdb.i386.* are the ones gdb's i386/amd64 code
 * looks for.  The control registers have no standard feature: QEMU puts
 * them into its org.gnu.gdb.i386.core; we keep gdb's standard numbering for
 * the rest and add them in a feature of our own, which gdb shows like any
 * other (`info registers`, `p $cr3`). */
static const char *const feature_name[F_COUNT] = {
	[F_CORE] = "org.gnu.gdb.i386.core",
	[F_SSE] = "org.gnu.gdb.i386.sse",
	[F_SEGMENTS] = "org.gnu.gdb.i386.segments",
	[F_SYS] = "org.ttvm.gdb.x86.sys",
};

/* Bit fields for gdb to show register contents by name. */
struct field {
	const char *name;
	unsigned bit;
};

static const struct field eflags_fields[] = {
	{ "CF", 0 }, { "", 1 }, { "PF", 2 }, { "AF", 4 }, { "ZF", 6 }, { "SF", 7 },
	{ "TF", 8 }, { "IF", 9 }, { "DF", 10 }, { "OF", 11 }, { "NT", 14 }, { "RF", 16 },
	{ "VM", 17 }, { "AC", 18 }, { "VIF", 19 }, { "VIP", 20 }, { "ID", 21 }, { NULL, 0 },
};
static const struct field mxcsr_fields[] = {
	{ "IE", 0 }, { "DE", 1 }, { "ZE", 2 }, { "OE", 3 }, { "UE", 4 }, { "PE", 5 }, { "DAZ", 6 },
	{ "IM", 7 }, { "DM", 8 }, { "ZM", 9 }, { "OM", 10 }, { "UM", 11 }, { "PM", 12 }, { "FZ", 15 },
	{ NULL, 0 },
};
static const struct field cr0_fields[] = {
	{ "PE", 0 }, { "MP", 1 }, { "EM", 2 }, { "TS", 3 }, { "ET", 4 }, { "NE", 5 },
	{ "WP", 16 }, { "AM", 18 }, { "NW", 29 }, { "CD", 30 }, { "PG", 31 }, { NULL, 0 },
};
static const struct field cr4_fields[] = {
	{ "VME", 0 }, { "PVI", 1 }, { "TSD", 2 }, { "DE", 3 }, { "PSE", 4 }, { "PAE", 5 },
	{ "MCE", 6 }, { "PGE", 7 }, { "PCE", 8 }, { "OSFXSR", 9 }, { "OSXMMEXCPT", 10 },
	{ "UMIP", 11 }, { "LA57", 12 }, { "VMXE", 13 }, { "SMXE", 14 }, { "FSGSBASE", 16 },
	{ "PCIDE", 17 }, { "OSXSAVE", 18 }, { "SMEP", 20 }, { "SMAP", 21 }, { "PKE", 22 },
	{ NULL, 0 },
};
static const struct field efer_fields[] = {
	{ "SCE", 0 }, { "LME", 8 }, { "LMA", 10 }, { "NXE", 11 }, { "SVME", 12 },
	{ "LMSLE", 13 }, { "FFXSR", 14 }, { "TCE", 15 }, { NULL, 0 },
};

struct layout {
	const struct regdef *defs;
	unsigned n;
	const char *arch_name;
	struct gdbreg regs[NREGS64];
	size_t g_size;
	char xml[16384];
	size_t xml_len;
};

static struct layout layouts[2] = {
	[GDB_ARCH_X86_64] = { regs64, NREGS64, "i386:x86-64", { { 0 } }, 0, { 0 }, 0 },
	[GDB_ARCH_I386] = { regs32, NREGS32, "i386", { { 0 } }, 0, { 0 }, 0 },
};
static pthread_once_t layouts_once = PTHREAD_ONCE_INIT;

struct xbuf {
	char *p;
	size_t len, cap;
};

static void xput(struct xbuf *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void xput(struct xbuf *x, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(x->p + x->len, x->cap - x->len, fmt, ap);
	va_end(ap);
	/* the buffer is sized for the tables above; a growing table that
	 * overflows it must be noticed by the tests, not truncated silently */
	if (n < 0 || (size_t)n >= x->cap - x->len)
		x->len = x->cap; /* marks overflow: gdbregs_xml returns NULL */
	else
		x->len += (size_t)n;
}

static void xflags(struct xbuf *x, const char *id, unsigned size, const struct field *f)
{
	xput(x, "<flags id=\"%s\" size=\"%u\">\n", id, size);
	for (; f->name; f++)
		xput(x, " <field name=\"%s\" start=\"%u\" end=\"%u\"/>\n", f->name, f->bit, f->bit);
	xput(x, "</flags>\n");
}

static void feature_types(struct xbuf *x, enum feature f, unsigned word)
{
	switch (f) {
	case F_CORE:
		xflags(x, "i386_eflags", 4, eflags_fields);
		break;
	case F_SSE:
		xput(x, "<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>\n"
			"<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>\n"
			"<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>\n"
			"<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>\n"
			"<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>\n"
			"<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>\n"
			"<union id=\"vec128\">\n"
			" <field name=\"v4_float\" type=\"v4f\"/>\n"
			" <field name=\"v2_double\" type=\"v2d\"/>\n"
			" <field name=\"v16_int8\" type=\"v16i8\"/>\n"
			" <field name=\"v8_int16\" type=\"v8i16\"/>\n"
			" <field name=\"v4_int32\" type=\"v4i32\"/>\n"
			" <field name=\"v2_int64\" type=\"v2i64\"/>\n"
			" <field name=\"uint128\" type=\"uint128\"/>\n"
			"</union>\n");
		xflags(x, "i386_mxcsr", 4, mxcsr_fields);
		break;
	case F_SYS:
		xflags(x, "ttvm_cr0", word, cr0_fields);
		xflags(x, "ttvm_cr4", word, cr4_fields);
		xflags(x, "ttvm_efer", word, efer_fields);
		break;
	default:
		break;
	}
}

static void build(struct layout *l)
{
	struct xbuf x = { l->xml, 0, sizeof(l->xml) };
	unsigned word = l->defs[0].size; /* rax/eax: the machine word */
	size_t off = 0;

	for (unsigned i = 0; i < l->n; i++) {
		l->regs[i].name = l->defs[i].name;
		l->regs[i].size = l->defs[i].size;
		l->regs[i].offset = (unsigned)off;
		off += l->defs[i].size;
	}
	l->g_size = off;

	xput(&x, "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
		 "<target version=\"1.0\">\n<architecture>%s</architecture>\n", l->arch_name);
	for (unsigned f = 0; f < F_COUNT; f++) {
		bool used = false;

		for (unsigned i = 0; i < l->n; i++)
			used |= l->defs[i].feature == f;
		if (!used)
			continue;
		xput(&x, "<feature name=\"%s\">\n", feature_name[f]);
		feature_types(&x, (enum feature)f, word);
		for (unsigned i = 0; i < l->n; i++) {
			const struct regdef *d = &l->defs[i];

			if (d->feature != f)
				continue;
			/* regnum is explicit: the order in 'g' is the order here */
			xput(&x, "<reg name=\"%s\" bitsize=\"%u\" type=\"%s\" regnum=\"%u\"", d->name,
			     d->size * 8, d->type, i);
			if (d->group)
				xput(&x, " group=\"%s\"", d->group);
			xput(&x, "/>\n");
		}
		xput(&x, "</feature>\n");
	}
	xput(&x, "</target>\n");
	l->xml_len = x.len;
}

static void build_all(void)
{
	build(&layouts[GDB_ARCH_X86_64]);
	build(&layouts[GDB_ARCH_I386]);
}

static const struct layout *layout(enum gdb_arch arch)
{
	pthread_once(&layouts_once, build_all);
	if ((unsigned)arch > GDB_ARCH_I386)
		return NULL;
	return &layouts[arch];
}

unsigned gdbregs_count(enum gdb_arch arch)
{
	const struct layout *l = layout(arch);

	return l ? l->n : 0;
}

size_t gdbregs_g_size(enum gdb_arch arch)
{
	const struct layout *l = layout(arch);

	return l ? l->g_size : 0;
}

const struct gdbreg *gdbregs_reg(enum gdb_arch arch, unsigned n)
{
	const struct layout *l = layout(arch);

	if (!l || n >= l->n)
		return NULL;
	return &l->regs[n];
}

int gdbregs_find(enum gdb_arch arch, const char *name)
{
	const struct layout *l = layout(arch);

	for (unsigned i = 0; l && i < l->n; i++)
		if (strcmp(l->regs[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

const char *gdbregs_xml(enum gdb_arch arch, const char *annex, size_t *len)
{
	const struct layout *l = layout(arch);

	if (!l || strcmp(annex, "target.xml") != 0 || l->xml_len >= sizeof(l->xml))
		return NULL;
	*len = l->xml_len;
	return l->xml;
}

/* ---- values ---- */

static uint64_t ld(const void *base, size_t off, unsigned size)
{
	uint64_t v = 0;

	memcpy(&v, (const char *)base + off, size); /* x86: little-endian */
	return v;
}

static void st(void *base, size_t off, unsigned size, uint64_t v)
{
	memcpy((char *)base + off, &v, size);
}

/* The x87 tag of one register, from its contents (tag word encoding:
 * 0 valid, 1 zero, 2 special, 3 empty), as FSTENV would report it. */
static unsigned x87_tag(const uint8_t *r)
{
	uint64_t mant;
	uint16_t se;
	unsigned exp;

	memcpy(&mant, r, 8);
	memcpy(&se, r + 8, 2);
	exp = se & 0x7fff;
	if (exp == 0x7fff)
		return 2;
	if (exp == 0)
		return mant == 0 ? 1 : 2;
	return (mant >> 63) ? 0 : 2; /* no integer bit: unnormal */
}

/* KVM (FXSAVE) keeps one "not empty" bit per physical register; fpr[] is in
 * stack order, ST(i) = physical (TOP + i) & 7. */
static uint64_t full_tag(const struct kvm_fpu *f)
{
	unsigned top = (f->fsw >> 11) & 7;
	uint64_t tag = 0;

	for (unsigned phys = 0; phys < 8; phys++) {
		unsigned t = 3;

		if (f->ftwx & (1u << phys))
			t = x87_tag(f->fpr[(phys - top) & 7]);
		tag |= (uint64_t)t << (2 * phys);
	}
	return tag;
}

static uint8_t abridged_tag(uint64_t full)
{
	uint8_t t = 0;

	for (unsigned phys = 0; phys < 8; phys++)
		if (((full >> (2 * phys)) & 3) != 3)
			t |= (uint8_t)(1u << phys);
	return t;
}

static uint64_t get(const struct regdef *d, const struct kvm_regs *regs,
		    const struct kvm_sregs *sregs, const struct kvm_fpu *fpu)
{
	switch (d->src) {
	case S_REG:   return ld(regs, d->off, 8);
	case S_SREG:  return ld(sregs, d->off, 8);
	case S_SEL:   return ld(sregs, d->off, 2);
	case S_FPU16: return ld(fpu, d->off, 2);
	case S_FPU32: return ld(fpu, d->off, 4);
	case S_FTAG:  return full_tag(fpu);
	/* 64-bit FXSAVE has a 64-bit FIP/FDP; in the 32-bit format the
	 * upper half holds FCS/FDS.  gdb's fiseg/foseg are that upper half
	 * (amd64-tdep supplies them from bytes 12 and 20 of the area) */
	case S_FISEG: return fpu->last_ip >> 32;
	case S_FIOFF: return (uint32_t)fpu->last_ip;
	case S_FOSEG: return fpu->last_dp >> 32;
	case S_FOOFF: return (uint32_t)fpu->last_dp;
	case S_FPUBYTES: break;
	}
	return 0;
}

static void read_reg(const struct regdef *d, const struct kvm_regs *regs,
		     const struct kvm_sregs *sregs, const struct kvm_fpu *fpu, uint8_t *out)
{
	uint64_t v;

	if (d->src == S_FPUBYTES) {
		memcpy(out, (const char *)fpu + d->off, d->size);
		return;
	}
	v = get(d, regs, sregs, fpu);
	memcpy(out, &v, d->size);
}

/* Replace the low 'size' bytes of a u64 field, keeping the rest. */
static void merge(void *base, size_t off, unsigned size, const uint8_t *val)
{
	uint64_t v = ld(base, off, 8);

	memcpy(&v, val, size);
	st(base, off, 8, v);
}

static void write_reg(const struct regdef *d, const uint8_t *val, struct kvm_regs *regs,
		      struct kvm_sregs *sregs, struct kvm_fpu *fpu)
{
	uint32_t v32;

	memcpy(&v32, val, 4 < d->size ? 4 : d->size);
	switch (d->src) {
	case S_REG:   merge(regs, d->off, d->size, val); break;
	case S_SREG:  merge(sregs, d->off, d->size, val); break;
	case S_SEL:   st(sregs, d->off, 2, v32); break;
	case S_FPU16: st(fpu, d->off, 2, v32); break;
	case S_FPU32: st(fpu, d->off, 4, v32); break;
	case S_FPUBYTES: memcpy((char *)fpu + d->off, val, d->size); break;
	case S_FTAG:  fpu->ftwx = abridged_tag(v32); break;
	case S_FISEG: fpu->last_ip = (fpu->last_ip & 0xffffffffull) | (uint64_t)v32 << 32; break;
	case S_FIOFF: fpu->last_ip = (fpu->last_ip & ~0xffffffffull) | v32; break;
	case S_FOSEG: fpu->last_dp = (fpu->last_dp & 0xffffffffull) | (uint64_t)v32 << 32; break;
	case S_FOOFF: fpu->last_dp = (fpu->last_dp & ~0xffffffffull) | v32; break;
	}
}

void gdbregs_encode(enum gdb_arch arch, const struct kvm_regs *regs,
		    const struct kvm_sregs *sregs, const struct kvm_fpu *fpu, uint8_t *buf)
{
	const struct layout *l = layout(arch);

	for (unsigned i = 0; l && i < l->n; i++)
		read_reg(&l->defs[i], regs, sregs, fpu, buf + l->regs[i].offset);
}

int gdbregs_decode(enum gdb_arch arch, const uint8_t *buf, size_t len, struct kvm_regs *regs,
		   struct kvm_sregs *sregs, struct kvm_fpu *fpu)
{
	const struct layout *l = layout(arch);

	if (!l || len != l->g_size)
		return -EINVAL;
	for (unsigned i = 0; i < l->n; i++)
		write_reg(&l->defs[i], buf + l->regs[i].offset, regs, sregs, fpu);
	return 0;
}

int gdbregs_read_one(enum gdb_arch arch, unsigned n, const struct kvm_regs *regs,
		     const struct kvm_sregs *sregs, const struct kvm_fpu *fpu, uint8_t *out)
{
	const struct layout *l = layout(arch);

	if (!l || n >= l->n)
		return -EINVAL;
	read_reg(&l->defs[n], regs, sregs, fpu, out);
	return (int)l->defs[n].size;
}

int gdbregs_write_one(enum gdb_arch arch, unsigned n, const uint8_t *val, size_t len,
		      struct kvm_regs *regs, struct kvm_sregs *sregs, struct kvm_fpu *fpu)
{
	const struct layout *l = layout(arch);

	if (!l || n >= l->n || len != l->defs[n].size)
		return -EINVAL;
	write_reg(&l->defs[n], val, regs, sregs, fpu);
	return 0;
}
