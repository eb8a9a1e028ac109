/* Unit tests of the register layouts: sizes and offsets as in gdb's feature
 * files, known values at known places of the 'g' block, x87 tag words,
 * round trips, and the target descriptions. */
#include <errno.h>
#include <stdlib.h>

#include "replay/gdbproto.h"
#include "replay/gdbregs.h"
#include "testlib.h"

static struct kvm_regs regs;
static struct kvm_sregs sregs;
static struct kvm_fpu fpu;

static void known_state(void)
{
	memset(&regs, 0, sizeof(regs));
	memset(&sregs, 0, sizeof(sregs));
	memset(&fpu, 0, sizeof(fpu));
	regs.rax = 0x1122334455667788ull;
	regs.rbx = 0xb;
	regs.rsp = 0x7000;
	regs.r15 = 0xf15;
	regs.rip = 0xffffffff81000010ull;
	regs.rflags = 0x246;
	sregs.cs.selector = 0x10;
	sregs.ss.selector = 0x18;
	sregs.gs.selector = 0x2b;
	sregs.fs.base = 0x7f0000001000ull;
	sregs.gs.base = 0xffff888000000000ull;
	sregs.cr0 = 0x80050033;
	sregs.cr2 = 0xdead000;
	sregs.cr3 = 0x1234000;
	sregs.cr4 = 0x3606f0;
	sregs.cr8 = 0xf;
	sregs.efer = 0xd01;
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	fpu.xmm[1][0] = 0xaa;
	fpu.xmm[1][15] = 0xbb;
}

/* The hex of register 'name' in the 'g' block. */
static const char *reg_hex(enum gdb_arch arch, const uint8_t *g, const char *name)
{
	static char hex[2 * GDBREGS_MAX_SIZE + 1];
	int n = gdbregs_find(arch, name);
	const struct gdbreg *r = n >= 0 ? gdbregs_reg(arch, (unsigned)n) : NULL;

	if (!r)
		return "?";
	gdb_hex_encode(hex, g + r->offset, r->size);
	return hex;
}

static void test_layout64(void)
{
	static const struct {
		const char *name;
		unsigned n, size, offset;
	} want[] = {
		{ "rax", 0, 8, 0 },       { "rsp", 7, 8, 56 },      { "r15", 15, 8, 120 },
		{ "rip", 16, 8, 128 },    { "eflags", 17, 4, 136 }, { "cs", 18, 4, 140 },
		{ "gs", 23, 4, 160 },     { "st0", 24, 10, 164 },   { "st7", 31, 10, 234 },
		{ "fctrl", 32, 4, 244 },  { "fop", 39, 4, 272 },    { "xmm0", 40, 16, 276 },
		{ "xmm15", 55, 16, 516 }, { "mxcsr", 56, 4, 532 },  { "fs_base", 57, 8, 536 },
		{ "gs_base", 58, 8, 544 }, { "cr0", 59, 8, 552 },   { "cr3", 61, 8, 568 },
		{ "efer", 64, 8, 592 },
	};

	CHECK_EQ(gdbregs_count(GDB_ARCH_X86_64), 65);
	CHECK_EQ(gdbregs_g_size(GDB_ARCH_X86_64), 600);
	CHECK_EQ(gdbregs_g_size(GDB_ARCH_X86_64), GDBREGS_G_MAX);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct gdbreg *r = gdbregs_reg(GDB_ARCH_X86_64, want[i].n);

		CHECK_EQ(gdbregs_find(GDB_ARCH_X86_64, want[i].name), want[i].n);
		CHECK(r && strcmp(r->name, want[i].name) == 0);
		CHECK(r && r->size == want[i].size);
		CHECK(r && r->offset == want[i].offset);
	}
	CHECK(gdbregs_reg(GDB_ARCH_X86_64, 65) == NULL);
	CHECK_EQ(gdbregs_find(GDB_ARCH_X86_64, "eax"), -ENOENT);
	CHECK(gdbregs_reg((enum gdb_arch)5, 0) == NULL);
	CHECK_EQ(gdbregs_count((enum gdb_arch)5), 0);
}

static void test_layout32(void)
{
	static const struct {
		const char *name;
		unsigned n, size, offset;
	} want[] = {
		{ "eax", 0, 4, 0 },      { "ecx", 1, 4, 4 },      { "esp", 4, 4, 16 },
		{ "edi", 7, 4, 28 },     { "eip", 8, 4, 32 },     { "eflags", 9, 4, 36 },
		{ "cs", 10, 4, 40 },     { "st0", 16, 10, 64 },   { "fctrl", 24, 4, 144 },
		{ "xmm0", 32, 16, 176 }, { "xmm7", 39, 16, 288 }, { "mxcsr", 40, 4, 304 },
		{ "fs_base", 41, 4, 308 }, { "cr0", 43, 4, 316 }, { "efer", 48, 4, 336 },
	};

	CHECK_EQ(gdbregs_count(GDB_ARCH_I386), 49);
	CHECK_EQ(gdbregs_g_size(GDB_ARCH_I386), 340);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct gdbreg *r = gdbregs_reg(GDB_ARCH_I386, want[i].n);

		CHECK_EQ(gdbregs_find(GDB_ARCH_I386, want[i].name), want[i].n);
		CHECK(r && r->size == want[i].size && r->offset == want[i].offset);
	}
	CHECK_EQ(gdbregs_find(GDB_ARCH_I386, "xmm8"), -ENOENT);
}

static void test_encode_known(void)
{
	uint8_t g[GDBREGS_G_MAX];
	uint8_t one[GDBREGS_MAX_SIZE];

	known_state();
	gdbregs_encode(GDB_ARCH_X86_64, &regs, &sregs, &fpu, g);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "rax"), "8877665544332211") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "rip"), "10000081ffffffff") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "eflags"), "46020000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "cs"), "10000000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "gs"), "2b000000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "fs_base"), "00100000007f0000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "gs_base"), "000000008088ffff") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "cr3"), "0040230100000000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "efer"), "010d000000000000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "cr8"), "0f00000000000000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "fctrl"), "7f030000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "mxcsr"), "801f0000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "xmm1"), "aa0000000000000000000000000000bb") == 0);

	/* 32-bit: low halves */
	gdbregs_encode(GDB_ARCH_I386, &regs, &sregs, &fpu, g);
	CHECK(strcmp(reg_hex(GDB_ARCH_I386, g, "eax"), "88776655") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_I386, g, "eip"), "10000081") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_I386, g, "esp"), "00700000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_I386, g, "ebx"), "0b000000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_I386, g, "cr3"), "00402301") == 0);

	/* one register = its slice of 'g' */
	for (enum gdb_arch a = GDB_ARCH_X86_64; a <= GDB_ARCH_I386; a++) {
		gdbregs_encode(a, &regs, &sregs, &fpu, g);
		for (unsigned n = 0; n < gdbregs_count(a); n++) {
			const struct gdbreg *r = gdbregs_reg(a, n);
			int len = gdbregs_read_one(a, n, &regs, &sregs, &fpu, one);

			CHECK_EQ(len, r->size);
			CHECK(memcmp(one, g + r->offset, r->size) == 0);
		}
		CHECK_EQ(gdbregs_read_one(a, gdbregs_count(a), &regs, &sregs, &fpu, one), -EINVAL);
	}
}

/* st(i) = 80-bit value; exp 0x3fff and the integer bit set is 1.0 */
static void set_st(unsigned i, uint64_t mant, uint16_t se)
{
	memcpy(fpu.fpr[i], &mant, 8);
	memcpy(fpu.fpr[i] + 8, &se, 2);
}

static void test_x87(void)
{
	uint8_t g[GDBREGS_G_MAX], val[GDBREGS_MAX_SIZE];
	uint32_t ftag;

	known_state();
	/* two values pushed: TOP = 6, so ST(0) = physical 6, ST(1) = physical 7 */
	fpu.fsw = 6 << 11;
	fpu.ftwx = 0xc0;
	set_st(0, 0x8000000000000000ull, 0x3fff); /* 1.0: valid */
	set_st(1, 0, 0);                          /* +0: zero */
	set_st(2, 0x8000000000000000ull, 0x3fff); /* stale, tagged empty */
	fpu.last_ip = 0x0000002300401234ull;      /* FCS 0x23 : FIP 0x401234 */
	fpu.last_dp = 0x0000002b00605000ull;
	fpu.last_opcode = 0x1d9;
	gdbregs_encode(GDB_ARCH_X86_64, &regs, &sregs, &fpu, g);
	CHECK_EQ(gdbregs_read_one(GDB_ARCH_X86_64, 34, &regs, &sregs, &fpu, val), 4);
	memcpy(&ftag, val, 4);
	CHECK_EQ(ftag, 0x4fff); /* phys 7: zero (01), phys 6: valid (00), rest empty */
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "st0"), "0000000000000080ff3f") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "st1"), "00000000000000000000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "fstat"), "00300000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "fiseg"), "23000000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "fioff"), "34124000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "foseg"), "2b000000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "fooff"), "00506000") == 0);
	CHECK(strcmp(reg_hex(GDB_ARCH_X86_64, g, "fop"), "d9010000") == 0);

	/* special values: NaN/inf (exp all ones), denormal, unnormal */
	fpu.fsw = 0;
	fpu.ftwx = 0x0f;
	set_st(0, 0xc000000000000000ull, 0x7fff); /* NaN */
	set_st(1, 1, 0);                          /* denormal */
	set_st(2, 0x4000000000000000ull, 0x3fff); /* unnormal */
	set_st(3, 0x8000000000000000ull, 0xbfff); /* -1.0 */
	gdbregs_read_one(GDB_ARCH_X86_64, 34, &regs, &sregs, &fpu, val);
	memcpy(&ftag, val, 4);
	CHECK_EQ(ftag, 0xff2a); /* 2,2,2,0 for phys 0..3, empty above */

	/* writing ftag sets the abridged tag */
	ftag = 0xfff0 | 0x3; /* phys 0 empty, phys 1 valid */
	CHECK_EQ(gdbregs_write_one(GDB_ARCH_X86_64, 34, (uint8_t *)&ftag, 4, &regs, &sregs, &fpu), 0);
	CHECK_EQ(fpu.ftwx, 0x02);
}

static void test_round_trip(void)
{
	uint8_t g[GDBREGS_G_MAX], g2[GDBREGS_G_MAX];
	struct kvm_regs r2;
	struct kvm_sregs s2;
	struct kvm_fpu f2;

	srand(7);
	for (int round = 0; round < 200; round++) {
		enum gdb_arch a = round % 2 ? GDB_ARCH_I386 : GDB_ARCH_X86_64;
		size_t gs = gdbregs_g_size(a);

		/* random bytes in every field: the tag and FPU halves included */
		for (size_t i = 0; i < sizeof(regs); i++)
			((uint8_t *)&regs)[i] = (uint8_t)rand();
		for (size_t i = 0; i < sizeof(sregs); i++)
			((uint8_t *)&sregs)[i] = (uint8_t)rand();
		for (size_t i = 0; i < sizeof(fpu); i++)
			((uint8_t *)&fpu)[i] = (uint8_t)rand();
		gdbregs_encode(a, &regs, &sregs, &fpu, g);

		/* decode into a different state, encode again: same bytes */
		memset(&r2, 0x5a, sizeof(r2));
		memset(&s2, 0x5a, sizeof(s2));
		memset(&f2, 0x5a, sizeof(f2));
		CHECK_EQ(gdbregs_decode(a, g, gs, &r2, &s2, &f2), 0);
		gdbregs_encode(a, &r2, &s2, &f2, g2);
		CHECK(memcmp(g, g2, gs) == 0);

		/* decode into the same state changes nothing gdb cannot see */
		r2 = regs;
		s2 = sregs;
		f2 = fpu;
		CHECK_EQ(gdbregs_decode(a, g, gs, &r2, &s2, &f2), 0);
		CHECK(memcmp(&r2, &regs, sizeof(regs)) == 0);
		CHECK(memcmp(&s2, &sregs, sizeof(sregs)) == 0);
		/* the stale (empty) x87 registers keep their bytes too */
		CHECK(memcmp(&f2, &fpu, sizeof(fpu)) == 0);

		/* per register: write one, read it back */
		for (unsigned n = 0; n < gdbregs_count(a); n++) {
			const struct gdbreg *r = gdbregs_reg(a, n);
			uint8_t v[GDBREGS_MAX_SIZE], back[GDBREGS_MAX_SIZE];

			for (unsigned i = 0; i < r->size; i++)
				v[i] = (uint8_t)rand();
			if (strcmp(r->name, "ftag") == 0)
				continue; /* derived: only empty/non-empty survives */
			/* 16-bit in the machine, 32-bit for gdb */
			if (strchr("cdefgs", r->name[0]) && r->name[1] == 's' && !r->name[2])
				v[2] = v[3] = 0;
			if (!strcmp(r->name, "fctrl") || !strcmp(r->name, "fstat") ||
			    !strcmp(r->name, "fop"))
				v[2] = v[3] = 0;
			CHECK_EQ(gdbregs_write_one(a, n, v, r->size, &r2, &s2, &f2), 0);
			CHECK_EQ(gdbregs_read_one(a, n, &r2, &s2, &f2, back), r->size);
			if (memcmp(v, back, r->size) != 0) {
				fprintf(stderr, "register %s does not read back\n", r->name);
				test_failures++;
			}
		}
	}
	CHECK_EQ(gdbregs_decode(GDB_ARCH_X86_64, g, 599, &r2, &s2, &f2), -EINVAL);
	CHECK_EQ(gdbregs_decode(GDB_ARCH_I386, g, 600, &r2, &s2, &f2), -EINVAL);
	CHECK_EQ(gdbregs_write_one(GDB_ARCH_X86_64, 0, g, 4, &r2, &s2, &f2), -EINVAL);
	CHECK_EQ(gdbregs_write_one(GDB_ARCH_X86_64, 65, g, 8, &r2, &s2, &f2), -EINVAL);

	/* i386 writes keep the upper halves */
	memset(&r2, 0, sizeof(r2));
	r2.rax = 0xaaaaaaaa00000000ull;
	CHECK_EQ(gdbregs_write_one(GDB_ARCH_I386, 0, (const uint8_t *)"\x01\x02\x03\x04", 4, &r2,
				   &s2, &f2), 0);
	CHECK_EQ(r2.rax, 0xaaaaaaaa04030201ull);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_xml(void)
{
	size_t len;
	const char *x = gdbregs_xml(GDB_ARCH_X86_64, "target.xml", &len);

	CHECK(x != NULL);
	if (!x)
		return;
	CHECK_EQ(strlen(x), len);
	CHECK(strstr(x, "<architecture>i386:x86-64</architecture>"));
	CHECK(strstr(x, "<feature name=\"org.gnu.gdb.i386.core\">"));
	CHECK(strstr(x, "<feature name=\"org.gnu.gdb.i386.sse\">"));
	CHECK(strstr(x, "<feature name=\"org.gnu.gdb.i386.segments\">"));
	CHECK(strstr(x, "<feature name=\"org.ttvm.gdb.x86.sys\">"));
	CHECK(strstr(x, "<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\" regnum=\"16\"/>"));
	CHECK(strstr(x, "<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\" regnum=\"24\"/>"));
	CHECK(strstr(x, "<reg name=\"eflags\" bitsize=\"32\""));
	CHECK(strstr(x, "<reg name=\"cr3\" bitsize=\"64\""));
	CHECK(strstr(x, "<reg name=\"fs_base\" bitsize=\"64\" type=\"int\" regnum=\"57\"/>"));
	CHECK_EQ(count(x, "<reg "), gdbregs_count(GDB_ARCH_X86_64));
	CHECK_EQ(count(x, "<feature "), 4);
	CHECK_EQ(count(x, "</feature>"), 4);

	x = gdbregs_xml(GDB_ARCH_I386, "target.xml", &len);
	CHECK(x && strstr(x, "<architecture>i386</architecture>"));
	CHECK(x && strstr(x, "<reg name=\"eip\" bitsize=\"32\" type=\"code_ptr\" regnum=\"8\"/>"));
	CHECK(x && count(x, "<reg ") == gdbregs_count(GDB_ARCH_I386));
	/* gdb 13 asserts on i386.segments for a bare i386 target */
	CHECK(x && count(x, "<feature ") == 3);
	CHECK(x && !strstr(x, "org.gnu.gdb.i386.segments"));
	CHECK(x && strstr(x, "<reg name=\"fs_base\" bitsize=\"32\" type=\"int\" regnum=\"41\"/>"));
	CHECK(gdbregs_xml(GDB_ARCH_X86_64, "64bit-core.xml", &len) == NULL);
	CHECK(gdbregs_xml(GDB_ARCH_X86_64, "", &len) == NULL);
}

int main(void)
{
	RUN_TEST(test_layout64);
	RUN_TEST(test_layout32);
	RUN_TEST(test_encode_known);
	RUN_TEST(test_x87);
	RUN_TEST(test_round_trip);
	RUN_TEST(test_xml);
	return TEST_EXIT();
}
