/* Unit tests of the bzImage loader (core/loader_bzimage.c) and the kernel
 * hand-over (core/bzimage_kernel.c) on a synthetic bzImage built here: a
 * setup header, a "decompressor" holding the call/pop/jmp pattern, and an
 * xz payload with a small vmlinux ELF and a relocation table. */
#include <elf.h>
#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bzimage_kernel.h"
#include "core/exit.h"
#include "core/loader.h"
#include "core/tsc.h"
#include "core/vm.h"
#include "fake_vm.h"
#include "testlib.h"

#define MIB (1ull << 20)
#define PREF 0x1000000ull
#define INIT_SIZE 0x400000u
#define KVIRT 0xffffffff81000000ull
#define TEXT_OFF 0x100        /* .text inside the kernel's segment */
#define RDTSC_OFF 0x10        /* the rdtsc in .text */
#define REL_OFF (TEXT_OFF + 0x21) /* imm32s (kernel addresses) the build relocates, 5 apart */
#define NREL 3
#define LOCK_OFF 0x3a         /* a LOCK prefix in .text, in .smp_locks */
#define KSEG 0x1000           /* the kernel's one segment */
#define JUMP_OFF 0x20         /* ff e0 in the protected-mode code */
#define PAYLOAD_OFF 0x100     /* the payload in the protected-mode code */
#define ZP 0x7000u
#define CMDLINE 0x20000u

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* The vmlinux: ELF header, one PT_LOAD (R E) at PREF/KVIRT holding .text
 * (with an rdtsc) and a relocated word, section headers, then the
 * relocation table as arch/x86/tools/relocs appends it. */
static uint8_t *make_vmlinux(size_t *len)
{
	static const char names[] = "\0.smp_locks\0.shstrtab";
	size_t seg_at = 0x200, sh_at = seg_at + KSEG, str_at = sh_at + 5 * sizeof(Elf64_Shdr);
	size_t rel_at = str_at + sizeof(names) + 3;
	size_t total = rel_at + 4 * (3 + NREL);
	uint8_t *img = calloc(1, total);
	Elf64_Ehdr eh = { 0 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_entry = PREF; /* physical, as in a vmlinux */
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 1;
	eh.e_shoff = sh_at;
	eh.e_shentsize = sizeof(Elf64_Shdr);
	eh.e_shnum = 5;
	eh.e_shstrndx = 4;
	memcpy(img, &eh, sizeof(eh));
	Elf64_Phdr ph = { .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = seg_at, .p_vaddr = KVIRT,
			  .p_paddr = PREF, .p_filesz = KSEG, .p_memsz = KSEG + 0x1000 };
	memcpy(img + eh.e_phoff, &ph, sizeof(ph));
	uint8_t *seg = img + seg_at;
	memcpy(seg, "\x48\x8d\x05\x00\x00\x00\x00\x90\x90\x90\x90\x90\x90\x90\x90\xf4", 16); /* entry */
	memset(seg + TEXT_OFF, 0x90, 0x40);
	seg[TEXT_OFF + RDTSC_OFF] = 0x0f, seg[TEXT_OFF + RDTSC_OFF + 1] = 0x31;
	seg[TEXT_OFF + 0x30] = 0xc3;
	/* Data (not a section with code): bytes of an rdtsc that must stay. */
	seg[0x600] = 0x0f, seg[0x601] = 0x31;
	for (int i = 0; i < NREL; i++) { /* mov $addr,%eax */
		seg[REL_OFF - 1 + 5 * i] = 0xb8;
		wr32(seg + REL_OFF + 5 * i, (uint32_t)(KVIRT + 0x123 + i));
	}
	/* .smp_locks: one LOCK prefix in .text, at LOCK_OFF */
	seg[TEXT_OFF + LOCK_OFF] = 0xf0;
	wr32(seg + 0xa00, (uint32_t)(TEXT_OFF + LOCK_OFF - 0xa00));
	Elf64_Shdr sh[5] = { { 0 } };
	sh[1] = (Elf64_Shdr){ .sh_type = SHT_PROGBITS, .sh_flags = SHF_ALLOC | SHF_EXECINSTR,
			      .sh_addr = KVIRT + TEXT_OFF, .sh_offset = seg_at + TEXT_OFF, .sh_size = 0x40 };
	sh[2] = (Elf64_Shdr){ .sh_type = SHT_PROGBITS, .sh_flags = SHF_ALLOC, .sh_addr = KVIRT + 0x600,
			      .sh_offset = seg_at + 0x600, .sh_size = 0x400 };
	sh[3] = (Elf64_Shdr){ .sh_name = 1, .sh_type = SHT_PROGBITS, .sh_flags = SHF_ALLOC, .sh_addr = KVIRT + 0xa00,
			      .sh_offset = seg_at + 0xa00, .sh_size = 4 };
	sh[4] = (Elf64_Shdr){ .sh_name = 12, .sh_type = SHT_STRTAB, .sh_offset = str_at, .sh_size = sizeof(names) };
	memcpy(img + sh_at, sh, sizeof(sh));
	memcpy(img + str_at, names, sizeof(names));
	/* ...0 | 64-bit relocs | 0 | inverse 32-bit | 0 | 32-bit relocs (read from the end). */
	for (int i = 0; i < NREL; i++)
		wr32(img + rel_at + 12 + 4 * i, (uint32_t)(KVIRT + REL_OFF + 5 * i));
	*len = total;
	return img;
}

struct bz_opts {
	uint16_t version, xloadflags;
	uint8_t setup_sects, loadflags;
	uint32_t initrd_addr_max, init_size;
	bool two_jumps, no_jump;
};

static const struct bz_opts defaults = { 0x020f, 0x3, 1, 0x1, 0x7fffffff, INIT_SIZE, false, false };

/* A bzImage: setup sectors with the header, then the protected-mode code:
 * the "decompressor" (call rel32; pop %rsi; jmp *%rax) and the xz payload
 * (with the unpacked size appended, as the kernel's build does). */
static uint8_t *make_bzimage(const struct bz_opts *o, size_t *size)
{
	size_t klen;
	uint8_t *k = make_vmlinux(&klen);
	size_t zcap = klen + 4096, zlen = 0;
	uint8_t *z = malloc(zcap);
	lzma_filter f[3];
	lzma_options_lzma lo;
	lzma_lzma_preset(&lo, 6);
	f[0] = (lzma_filter){ LZMA_FILTER_X86, NULL };
	f[1] = (lzma_filter){ LZMA_FILTER_LZMA2, &lo };
	f[2] = (lzma_filter){ LZMA_VLI_UNKNOWN, NULL };
	CHECK_EQ(lzma_stream_buffer_encode(f, LZMA_CHECK_CRC32, NULL, k, klen, z, &zlen, zcap), LZMA_OK);
	wr32(z + zlen, (uint32_t)klen);
	zlen += 4;
	free(k);

	unsigned sects = o->setup_sects ? o->setup_sects : 4;
	size_t setup = (sects + 1u) * 512u, pm = PAYLOAD_OFF + zlen + 0x40;
	uint8_t *img = calloc(1, setup + pm);
	img[0x1f1] = o->setup_sects;
	wr32(img + 0x1f4, (uint32_t)(pm / 16));
	wr16(img + 0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = 0x268 - 0x202;
	memcpy(img + 0x202, "HdrS", 4);
	wr16(img + 0x206, o->version);
	img[0x211] = o->loadflags;
	wr32(img + 0x22c, o->initrd_addr_max);
	wr32(img + 0x230, 0x200000);
	img[0x234] = 1;
	wr16(img + 0x236, o->xloadflags);
	wr32(img + 0x238, 255);
	wr32(img + 0x248, PAYLOAD_OFF);
	wr32(img + 0x24c, (uint32_t)zlen);
	wr32(img + 0x258, (uint32_t)PREF);
	wr32(img + 0x260, o->init_size);
	uint8_t *p = img + setup;
	memset(p, 0x90, PAYLOAD_OFF);
	/* call +0x10 (inside the code); pop %rsi; jmp *%rax */
	static const uint8_t jump[] = { 0xe8, 0x10, 0, 0, 0, 0x5e, 0xff, 0xe0 };
	if (!o->no_jump)
		memcpy(p + JUMP_OFF - 6, jump, sizeof(jump));
	if (o->two_jumps)
		memcpy(p + JUMP_OFF + 0x30, jump, sizeof(jump));
	memcpy(p + PAYLOAD_OFF, z, zlen);
	free(z);
	*size = setup + pm;
	return img;
}

/* fake_vm_free() and the bzImage state the loader attached. */
static void free_vm(struct vm *vm)
{
	bzk_free(vm->bzk);
	vm->bzk = NULL;
	free(vm->copies);
	free(vm->text_sites);
	fake_vm_free(vm);
}

static char *temp_file(const char *data, size_t len)
{
	char *path = strdup("/tmp/ttvm-test-bzXXXXXX");
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, data, len), (long)len);
	close(fd);
	return path;
}

static void test_load(void)
{
	struct vm *vm = fake_vm_new(128 * MIB, true);
	size_t size;
	uint8_t *img = make_bzimage(&defaults, &size);
	char *initrd = temp_file("0707010000initrd", 16);
	const char *mods[] = { initrd };
	struct boot_args a = { .kernel_path = "bz", .cmdline = "console=ttyS0 x=1", .modules = mods, .nmodules = 1 };
	struct boot_state st;

	CHECK(bzimage_probe(img, size));
	CHECK_EQ(bzimage_load(vm, img, size, &a, &st), 0);
	CHECK_EQ(st.mode, BOOT_LONG64);
	CHECK_EQ(st.rip, PREF + 0x200);
	CHECK_EQ(st.rsi, ZP);
	CHECK_EQ(st.cr3, 0x9000);
	CHECK_EQ(st.gdt, 0x1000);
	/* The protected-mode code at pref_address, its jump patched to out %al,$0xf1. */
	uint8_t *pm = img + 1024;
	CHECK(!memcmp(vm->ram + PREF, pm, JUMP_OFF));
	CHECK_EQ(vm->ram[PREF + JUMP_OFF], 0xe6);
	CHECK_EQ(vm->ram[PREF + JUMP_OFF + 1], BZK_PORT);
	CHECK(!memcmp(vm->ram + PREF + PAYLOAD_OFF, pm + PAYLOAD_OFF, 64));
	/* boot_params: the header copied, the loader's fields filled in. */
	uint8_t *bp = vm->ram + ZP;
	CHECK(!memcmp(bp + 0x202, "HdrS", 4));
	CHECK_EQ(rd32(bp + 0x206) & 0xffff, 0x020f);
	CHECK_EQ(rd32(bp + 0x260), INIT_SIZE);
	CHECK_EQ(bp[0x210], 0xff);
	CHECK_EQ(bp[0x211] & 1, 1);
	CHECK_EQ(rd32(bp + 0x228), CMDLINE);
	CHECK(!strcmp((char *)vm->ram + CMDLINE, "console=ttyS0 x=1"));
	uint32_t rd_at = rd32(bp + 0x218), rd_size = rd32(bp + 0x21c);
	CHECK_EQ(rd_size, 16);
	CHECK_EQ(rd_at & 0xfff, 0);
	CHECK(rd_at >= PREF + INIT_SIZE);
	CHECK(rd_at + rd_size <= 128 * MIB);
	CHECK(!memcmp(vm->ram + rd_at, "0707010000initrd", 16));
	CHECK_EQ(rd32(bp + 0xc0), 0);
	CHECK_EQ(rd32(bp + 0xc4), 0);
	/* e820: low RAM, the BIOS area, RAM from 1 MiB. */
	CHECK_EQ(bp[0x1e8], 3);
	uint8_t *e = bp + 0x2d0;
	CHECK_EQ(rd64(e), 0);
	CHECK_EQ(rd64(e + 8), 0x9fc00);
	CHECK_EQ(rd32(e + 16), 1);
	CHECK_EQ(rd64(e + 20), 0xf0000);
	CHECK_EQ(rd32(e + 36), 2);
	CHECK_EQ(rd64(e + 40), MIB);
	CHECK_EQ(rd64(e + 48), 127 * MIB);
	CHECK_EQ(rd32(e + 56), 1);
	/* GDT 0x10 64-bit code, 0x18 data; identity map of 2 MiB pages. */
	CHECK_EQ(rd64(vm->ram + 0x1000 + 0x10), 0x00af9a000000ffffull);
	CHECK_EQ(rd64(vm->ram + 0x1000 + 0x18), 0x00cf92000000ffffull);
	CHECK_EQ(rd64(vm->ram + 0x9000), 0xa003);
	CHECK_EQ(rd64(vm->ram + 0xa000 + 3 * 8), 0xe003);
	CHECK_EQ(rd64(vm->ram + 0xb000 + 8 * 8), (8ull << 21) | 0x83); /* PREF */
	CHECK_EQ(rd64(vm->ram + 0xe000 + 511 * 8), (2047ull << 21) | 0x83);
	unlink(initrd);
	free(initrd);
	free(img);
	free_vm(vm);
}

/* setup_sects 0 means 4; an initrd lands below initrd_addr_max. */
static void test_setup_sects_and_initrd_max(void)
{
	struct vm *vm = fake_vm_new(128 * MIB, true);
	struct bz_opts o = defaults;
	o.setup_sects = 0;
	o.initrd_addr_max = 0x37fffff; /* 56 MiB - 1 */
	size_t size;
	uint8_t *img = make_bzimage(&o, &size);
	char *initrd = temp_file("abcdefgh", 8);
	const char *mods[] = { initrd };
	struct boot_args a = { .kernel_path = "bz", .modules = mods, .nmodules = 1 };
	struct boot_state st;

	CHECK_EQ(bzimage_load(vm, img, size, &a, &st), 0);
	CHECK(!memcmp(vm->ram + PREF, img + 5 * 512, JUMP_OFF));
	uint32_t rd_at = rd32(vm->ram + ZP + 0x218);
	CHECK(rd_at + 8 <= 0x3800000);
	CHECK(rd_at >= 0x3800000 - 0x2000);
	CHECK(!memcmp(vm->ram + rd_at, "abcdefgh", 8));
	CHECK_EQ(vm->ram[CMDLINE], 0); /* no --append: an empty command line */
	unlink(initrd);
	free(initrd);
	free(img);
	free_vm(vm);
}

/* pref_address + init_size past RAM: the lowest aligned address instead. */
static void test_fallback_address(void)
{
	struct vm *vm = fake_vm_new(18 * MIB, true);
	size_t size;
	uint8_t *img = make_bzimage(&defaults, &size);
	struct boot_args a = { .kernel_path = "bz" };
	struct boot_state st;

	CHECK_EQ(bzimage_load(vm, img, size, &a, &st), 0);
	CHECK_EQ(st.rip, 0x200000 + 0x200);
	CHECK_EQ(vm->ram[0x200000 + JUMP_OFF], 0xe6);
	free(img);
	free_vm(vm);
}

static int load_with(const struct bz_opts *o, uint64_t ram, size_t cut, const char *initrd)
{
	struct vm *vm = fake_vm_new(ram, true);
	size_t size;
	uint8_t *img = make_bzimage(o, &size);
	const char *mods[] = { initrd };
	struct boot_args a = { .kernel_path = "bz", .modules = mods, .nmodules = initrd ? 1 : 0 };
	struct boot_state st;
	int r = bzimage_load(vm, img, cut ? cut : size, &a, &st);
	free(img);
	free_vm(vm);
	return r;
}

static void test_refusals(void)
{
	struct bz_opts o = defaults;
	o.version = 0x020b; /* 2.11: no xloadflags */
	CHECK_EQ(load_with(&o, 128 * MIB, 0, NULL), -ENOEXEC);
	o = defaults;
	o.xloadflags = 0x2; /* no XLF_KERNEL_64 */
	CHECK_EQ(load_with(&o, 128 * MIB, 0, NULL), -ENOEXEC);
	o = defaults;
	o.loadflags = 0; /* a zImage */
	CHECK_EQ(load_with(&o, 128 * MIB, 0, NULL), -ENOEXEC);
	CHECK_EQ(load_with(&defaults, 128 * MIB, 1024, NULL), -ENOEXEC); /* setup only */
	CHECK_EQ(load_with(&defaults, 128 * MIB, 1024 + PAYLOAD_OFF + 8, NULL), -ENOEXEC); /* payload cut */
	CHECK_EQ(load_with(&defaults, 128 * MIB, 0x300, NULL), -ENOEXEC); /* header cut */
	o = defaults;
	o.no_jump = true;
	CHECK_EQ(load_with(&o, 128 * MIB, 0, NULL), -ENOEXEC);
	o = defaults;
	o.two_jumps = true;
	CHECK_EQ(load_with(&o, 128 * MIB, 0, NULL), -ENOEXEC);
	o = defaults;
	o.init_size = 0x2000000; /* needs RAM up to 0x1000000 + 32 MiB at the lowest */
	CHECK_EQ(load_with(&o, 24 * MIB, 0, NULL), -ENOMEM);
	/* An initrd that fits neither between the kernel and RAM's end. */
	size_t big = 3 * MIB;
	char *data = calloc(1, big);
	char *initrd = temp_file(data, big);
	CHECK_EQ(load_with(&defaults, 22 * MIB, 0, initrd), -ENOMEM);
	CHECK_EQ(load_with(&defaults, 24 * MIB, 0, initrd), 0);
	unlink(initrd);
	free(initrd);
	free(data);
}

static void test_find_jump(void)
{
	uint8_t code[64];
	static const uint8_t pop[] = { 0xe8, 0x00, 0, 0, 0, 0x5e, 0xff, 0xe0 };
	static const uint8_t mov[] = { 0xe8, 0xf0, 0xff, 0xff, 0xff, 0x4c, 0x89, 0xfe, 0xff, 0xe0 };
	memset(code, 0x90, sizeof(code));
	CHECK_EQ(bzk_find_jump(code, sizeof(code), 0, 0), -1);
	code[40] = 0xff, code[41] = 0xe0; /* a jmp *%rax alone */
	CHECK_EQ(bzk_find_jump(code, sizeof(code), 0, 0), -1);
	memcpy(code + 10, pop, sizeof(pop));
	CHECK_EQ(bzk_find_jump(code, sizeof(code), 0, 0), 16);
	CHECK_EQ(bzk_find_jump(code, sizeof(code), 8, 12), -1); /* in the payload */
	memcpy(code + 30, mov, sizeof(mov));
	CHECK_EQ(bzk_find_jump(code, sizeof(code), 0, 0), -2);
	CHECK_EQ(bzk_find_jump(code, sizeof(code), 0, 20), 38);
	code[31] = 0x00, code[32] = 0x10; /* the call lands past the code */
	CHECK_EQ(bzk_find_jump(code, sizeof(code), 0, 0), 16);
}

/* The decompressor's work, done by hand: the kernel's segment at base,
 * relocated by delta, as extract_kernel leaves it. */
static void unpack_kernel(struct vm *vm, uint64_t base, uint32_t delta)
{
	size_t klen;
	uint8_t *k = make_vmlinux(&klen);
	memcpy(vm->ram + base, k + 0x200, KSEG);
	for (int i = 0; i < NREL; i++)
		wr32(vm->ram + base + REL_OFF + 5 * i, rd32(k + 0x200 + REL_OFF + 5 * i) + delta);
	free(k);
}

static void out_exit(struct vm *vm, uint16_t port, uint64_t rip, uint64_t rax)
{
	struct kvm_run *run = vm->run;
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = KVM_EXIT_IO_OUT;
	run->io.size = 1;
	run->io.port = port;
	run->io.count = 1;
	run->io.data_offset = 1024;
	memset(&run->s.regs.regs, 0, sizeof(run->s.regs.regs));
	run->s.regs.regs.rip = rip;
	run->s.regs.regs.rax = rax;
}

static void test_handover(void)
{
	struct vm *vm = fake_vm_new(128 * MIB, true);
	size_t size;
	uint8_t *img = make_bzimage(&defaults, &size);
	struct boot_args a = { .kernel_path = "bz" };
	struct boot_state st;
	const uint64_t base = 0x3000000, delta = 0x2a00000, jump = PREF + JUMP_OFF;

	CHECK_EQ(bzimage_load(vm, img, size, &a, &st), 0);
	CHECK(vm->bzk != NULL);
	unpack_kernel(vm, base, (uint32_t)delta);
	/* An OUT to the port that is not the jump goes to the bus. */
	out_exit(vm, BZK_PORT, PREF + 0x40, base);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(vm->run->s.regs.regs.rip, PREF + 0x40);
	CHECK(vm->tsc == NULL);
	/* The jump (RIP after the OUT, as KVM's emulator leaves it). */
	out_exit(vm, BZK_PORT, jump + 2, base);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK(!vm->stop);
	CHECK_EQ(vm->run->s.regs.regs.rip, base);
	CHECK_EQ(bzk_handovers(vm->bzk), 1);
	/* The .text's rdtsc, patched and keyed at its KASLR address and its
	 * physical one; the same bytes in data left alone. */
	uint64_t site = base + TEXT_OFF + RDTSC_OFF;
	CHECK_EQ(vm->ram[site], 0xe6);
	CHECK_EQ(vm->ram[site + 1], 0xf0);
	CHECK_EQ(vm->ram[base + 0x600], 0x0f);
	CHECK_EQ(tsc_count(vm->tsc), 1);
	const struct tsc_site *s = tsc_lookup(vm->tsc, KVIRT + delta + TEXT_OFF + RDTSC_OFF);
	CHECK(s != NULL);
	CHECK(s && s->gpa == site && s->kind == TSC_RDTSC);
	CHECK(tsc_lookup(vm->tsc, site) != NULL);
	/* The LOCK prefix the kernel may rewrite, where the kernel lies. */
	CHECK_EQ(vm->ntext_sites, 1);
	CHECK(vm_text_site(vm, base + TEXT_OFF + LOCK_OFF));
	CHECK(!vm_text_site(vm, base + TEXT_OFF + LOCK_OFF + 1));
	CHECK(!vm_text_site(vm, PREF + TEXT_OFF + LOCK_OFF));
	/* Going back to before it (a checkpoint): unpacked again, patched again. */
	unpack_kernel(vm, base, (uint32_t)delta);
	out_exit(vm, BZK_PORT, jump, base);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(vm->ram[site], 0xe6);
	CHECK_EQ(bzk_handovers(vm->bzk), 2);
	CHECK_EQ(tsc_count(vm->tsc), 1);
	/* A jump to where the kernel is not stops the run. */
	out_exit(vm, BZK_PORT, jump, base + 0x200000);
	CHECK_EQ(exit_dispatch(vm), EXIT_STOP);
	CHECK_EQ(vm->status, ST_INTERNAL);
	free(img);
	free_vm(vm);
}

/* A checkpoint past the hand-over restored into a VM that never saw it:
 * the first trap finds the kernel in RAM and traps the same sites. */
static void test_recover(void)
{
	struct vm *vm = fake_vm_new(128 * MIB, true);
	size_t size;
	uint8_t *img = make_bzimage(&defaults, &size);
	struct boot_args a = { .kernel_path = "bz" };
	struct boot_state st;
	const uint64_t base = 0x5200000, delta = 0x1c00000;
	const uint64_t site = base + TEXT_OFF + RDTSC_OFF, lin = KVIRT + delta + TEXT_OFF + RDTSC_OFF;

	CHECK_EQ(bzimage_load(vm, img, size, &a, &st), 0);
	unpack_kernel(vm, base, (uint32_t)delta);
	vm->ram[site] = 0xe6, vm->ram[site + 1] = 0xf0; /* as the recording patched it */
	wr32(vm->ram + base + REL_OFF, 0x12345678);     /* one word rewritten since: outvoted */
	/* Code changed since (freed init code reused): an rdtsc where the
	 * kernel had none must not be taken for a site, nor patched. */
	vm->ram[base + TEXT_OFF + 0x38] = 0x0f, vm->ram[base + TEXT_OFF + 0x39] = 0x31;
	uint8_t *before = malloc(KSEG);
	memcpy(before, vm->ram + base, KSEG);
	out_exit(vm, 0xf0, lin, 0);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK(!vm->stop);
	CHECK(vm->tsc != NULL);
	const struct tsc_site *s = tsc_lookup(vm->tsc, lin);
	CHECK(s && s->gpa == site && s->kind == TSC_RDTSC);
	CHECK_EQ(vm->run->s.regs.regs.rip, lin + 2); /* emulated */
	CHECK_EQ(vm->ram[site], 0xe6);
	CHECK_EQ(vm->ram[site + 1], 0xf0);
	CHECK_EQ(bzk_handovers(vm->bzk), 0);
	CHECK(!memcmp(before, vm->ram + base, KSEG)); /* RAM as restored, to the byte */
	CHECK(tsc_lookup(vm->tsc, base + TEXT_OFF + 0x38) == NULL);
	free(before);
	/* Nothing to find: the trap is the guest's own OUT, nothing is set up. */
	free_vm(vm);
	vm = fake_vm_new(128 * MIB, true);
	CHECK_EQ(bzimage_load(vm, img, size, &a, &st), 0);
	out_exit(vm, 0xf0, lin, 0);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK(vm->tsc == NULL);
	CHECK_EQ(vm->run->s.regs.regs.rip, lin);
	free(img);
	free_vm(vm);
}

int main(void)
{
	RUN_TEST(test_load);
	RUN_TEST(test_setup_sects_and_initrd_max);
	RUN_TEST(test_fallback_address);
	RUN_TEST(test_refusals);
	RUN_TEST(test_find_jump);
	RUN_TEST(test_handover);
	RUN_TEST(test_recover);
	return TEST_EXIT();
}
