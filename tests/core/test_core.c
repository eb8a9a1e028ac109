/* Unit tests for core/: CPUID policy, loaders, guest-memory checks, the
 * page walker and the exit dispatcher driven with made-up exits. */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cpuid.h"
#include "core/exit.h"
#include "core/hooks.h"
#include "core/loader.h"
#include "core/msr.h"
#include "core/vm.h"
#include "devices/bus.h"
#include "fake_vm.h"
#include "testlib.h"

#define RAM (8u << 20)

static struct vm *fake_vm(void)
{
	return fake_vm_new(RAM, false);
}

static void test_cpuid_policy(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 8 * sizeof(c->entries[0]));
	c->nent = 8;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 1, .ebx = 0x12345678, .ecx = 0xffffffff, .edx = 0xffffffff };
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 7, .index = 0, .ebx = 0xffffffff, .ecx = 0xffffffff };
	c->entries[2] = (struct kvm_cpuid_entry2){ .function = 0x40000000, .eax = 0x40000001 };
	c->entries[3] = (struct kvm_cpuid_entry2){ .function = 0xa, .eax = 0x07300805 };
	c->entries[4] = (struct kvm_cpuid_entry2){ .function = 0x80000001, .ecx = 0xffffffff, .edx = 0xffffffff };
	c->entries[5] = (struct kvm_cpuid_entry2){ .function = 0x40000001, .eax = 0xff };
	c->entries[6] = (struct kvm_cpuid_entry2){ .function = 0x6, .ecx = 0xffffffff };
	c->entries[7] = (struct kvm_cpuid_entry2){ .function = 0x80000007, .edx = 0xffffffff };
	struct kvm_cpuid_entry2 leaf1 = c->entries[0];
	cpuid_apply_policy(c, false);
	CHECK_EQ(c->nent, 6); /* both KVM leaves dropped */
	CHECK_EQ(c->entries[0].function, 1);
	CHECK(!(c->entries[0].ecx & (1u << 21)));  /* x2APIC */
	CHECK(!(c->entries[0].ecx & (1u << 30)));  /* RDRAND */
	CHECK(!(c->entries[0].edx & (1u << 9)));   /* APIC */
	CHECK(!(c->entries[0].edx & (1u << 4)));   /* TSC */
	CHECK(c->entries[0].edx & 1);              /* FPU kept */
	CHECK_EQ(c->entries[0].ebx >> 24, 0);      /* APIC ID 0 */
	CHECK_EQ(c->entries[0].ebx & 0xffff, 0x5678);
	CHECK(!(c->entries[1].ebx & (1u << 18)));  /* RDSEED */
	CHECK(!(c->entries[1].ebx & (1u << 1)));   /* TSC_ADJUST */
	CHECK(!(c->entries[1].ecx & (1u << 5)));   /* WAITPKG */
	CHECK(c->entries[1].ecx & 1);              /* PREFETCHWT1 kept */
	CHECK_EQ(c->entries[2].function, 0xa);
	CHECK_EQ(c->entries[2].eax, 0);            /* no PMU */
	CHECK(!(c->entries[3].edx & (1u << 27)));  /* RDTSCP */
	CHECK(!(c->entries[3].ecx & (1u << 29)));  /* MWAITX */
	CHECK(!(c->entries[4].ecx & 1));           /* APERF/MPERF */
	CHECK(c->entries[4].ecx & 2);
	CHECK(!(c->entries[5].edx & (1u << 8)));   /* invariant TSC */
	/* With ttvm's APIC: the APIC bit, still no x2APIC or TSC-deadline. */
	c->nent = 1;
	c->entries[0] = leaf1;
	cpuid_apply_policy(c, true);
	CHECK(c->entries[0].edx & (1u << 9));
	CHECK(!(c->entries[0].ecx & (1u << 21)));
	CHECK(!(c->entries[0].ecx & (1u << 24)));
	CHECK(!(c->entries[0].edx & (1u << 4)));
	free(c);
}

/* A small ELF32 multiboot kernel: one PT_LOAD at 1 MiB with the header in it. */
static uint8_t *make_elf32(size_t *size, uint32_t paddr, uint32_t memsz_extra)
{
	size_t code = 256;
	size_t total = sizeof(Elf32_Ehdr) + sizeof(Elf32_Phdr) + code;
	uint8_t *img = calloc(1, total);
	Elf32_Ehdr *eh = (Elf32_Ehdr *)img;
	Elf32_Phdr *ph = (Elf32_Phdr *)(img + sizeof(*eh));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS32;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_386;
	eh->e_entry = paddr + 12;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 1;
	ph->p_type = PT_LOAD;
	ph->p_offset = sizeof(*eh) + sizeof(*ph);
	ph->p_paddr = ph->p_vaddr = paddr;
	ph->p_filesz = (uint32_t)code;
	ph->p_memsz = (uint32_t)code + memsz_extra;
	uint32_t *mb = (uint32_t *)(img + ph->p_offset);
	mb[0] = 0x1BADB002u;
	mb[1] = 3; /* align modules, want memory info */
	mb[2] = (uint32_t)-(0x1BADB002u + 3);
	img[ph->p_offset + 12] = 0xf4; /* hlt */
	*size = total;
	return img;
}

static void test_multiboot_elf32(void)
{
	struct vm *vm = fake_vm();
	size_t size;
	uint8_t *img = make_elf32(&size, 0x100000, 4096);
	char modpath[] = "/tmp/ttvm-test-modXXXXXX";
	int fd = mkstemp(modpath);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "module-data", 11), 11);
	close(fd);
	const char *mods[] = { modpath };
	struct boot_args a = { .kernel_path = "k.elf", .cmdline = "console=ttyS0 x=1", .modules = mods, .nmodules = 1 };
	struct boot_state st;
	CHECK(multiboot_probe(img, size));
	CHECK_EQ(multiboot_load(vm, img, size, &a, &st), 0);
	CHECK_EQ(st.mode, BOOT_PROT32);
	CHECK_EQ(st.eax, 0x2BADB002u);
	CHECK_EQ(st.rip, 0x10000c);
	CHECK_EQ(st.rsp, 0x7ff00); /* GRUB's stack, in usable low memory */
	CHECK_EQ(vm->ram[0x10000c], 0xf4);
	CHECK_EQ(vm->ram[0x100000 + 256 + 100], 0); /* bss zeroed */
	uint32_t *info = (uint32_t *)(vm->ram + st.ebx);
	CHECK(info[0] & (1u << 0));
	CHECK(info[0] & (1u << 2));
	CHECK(info[0] & (1u << 3));
	CHECK(info[0] & (1u << 6));
	CHECK_EQ(info[1], 639);
	CHECK_EQ(info[2], (RAM - 0x100000) >> 10);
	CHECK(!strcmp((char *)vm->ram + info[4], "k.elf console=ttyS0 x=1"));
	CHECK_EQ(info[5], 1);
	uint32_t *mod = (uint32_t *)(vm->ram + info[6]);
	CHECK_EQ(mod[0] & 4095, 0);
	CHECK_EQ(mod[1] - mod[0], 11);
	CHECK(!memcmp(vm->ram + mod[0], "module-data", 11));
	CHECK(!strcmp((char *)vm->ram + mod[2], modpath));
	CHECK(mod[0] >= 0x100000 + 256 + 4096); /* after the kernel's bss */
	/* memory map: three entries for 8 MiB */
	CHECK_EQ(info[11], 3 * 24);
	uint8_t *mm = vm->ram + info[12];
	uint64_t base, len;
	memcpy(&base, mm + 2 * 24 + 4, 8);
	memcpy(&len, mm + 2 * 24 + 12, 8);
	CHECK_EQ(base, 0x100000);
	CHECK_EQ(len, RAM - 0x100000);
	unlink(modpath);
	free(img);
	fake_vm_free(vm);
}

/* A higher-half kernel: linked at 0xc0100000, loaded at 1 MiB (AT()).  The
 * entry point is translated through its segment, as GRUB does. */
static void test_multiboot_virtual_entry(void)
{
	struct vm *vm = fake_vm();
	size_t size;
	struct boot_state st;
	struct boot_args a = { .kernel_path = "high.elf" };
	uint8_t *img = make_elf32(&size, 0x100000, 4096);
	Elf32_Ehdr *eh = (Elf32_Ehdr *)img;
	Elf32_Phdr *ph = (Elf32_Phdr *)(img + sizeof(*eh));

	ph->p_vaddr = 0xc0100000u;
	eh->e_entry = 0xc010000cu;
	CHECK_EQ(multiboot_load(vm, img, size, &a, &st), 0);
	CHECK_EQ(st.rip, 0x10000c);
	CHECK_EQ(vm->ram[st.rip], 0xf4);
	/* The last byte of the segment's memory (bss) still counts... */
	eh->e_entry = 0xc0100000u + ph->p_memsz - 1;
	CHECK_EQ(multiboot_load(vm, img, size, &a, &st), 0);
	CHECK_EQ(st.rip, 0x100000u + ph->p_memsz - 1);
	/* ...the byte after it, or a physical entry under a virtual link, not. */
	eh->e_entry = 0xc0100000u + ph->p_memsz;
	CHECK_EQ(multiboot_load(vm, img, size, &a, &st), -ENOEXEC);
	eh->e_entry = 0x10000c;
	CHECK_EQ(multiboot_load(vm, img, size, &a, &st), -ENOEXEC);
	free(img);
	fake_vm_free(vm);
}

static void test_multiboot_errors(void)
{
	struct vm *vm = fake_vm();
	size_t size;
	struct boot_state st;
	struct boot_args a = { .kernel_path = "bad.elf" };
	uint8_t *img = make_elf32(&size, 0x100000, 0);

	/* Not multiboot: break the checksum. */
	uint8_t *copy = malloc(size);
	memcpy(copy, img, size);
	copy[sizeof(Elf32_Ehdr) + sizeof(Elf32_Phdr) + 8] ^= 1;
	CHECK(!multiboot_probe(copy, size));
	CHECK_EQ(multiboot_load(vm, copy, size, &a, &st), -ENOEXEC);
	/* Segment beyond RAM. */
	free(img);
	img = make_elf32(&size, RAM - 16, 0);
	CHECK_EQ(multiboot_load(vm, img, size, &a, &st), -ENOMEM);
	/* Segment wrapping the 32-bit space via memsz. */
	free(img);
	img = make_elf32(&size, 0x100000, 0xfff00000u);
	CHECK(multiboot_load(vm, img, size, &a, &st) < 0);
	/* Truncated program headers. */
	free(img);
	img = make_elf32(&size, 0x100000, 0);
	((Elf32_Ehdr *)img)->e_phnum = 1000;
	CHECK_EQ(multiboot_load(vm, img, size, &a, &st), -ENOEXEC);
	/* Missing module file. */
	free(img);
	img = make_elf32(&size, 0x100000, 0);
	const char *mods[] = { "/nonexistent/ttvm-module" };
	a.modules = mods;
	a.nmodules = 1;
	CHECK(multiboot_load(vm, img, size, &a, &st) < 0);
	free(copy);
	free(img);
	fake_vm_free(vm);
}

static void test_flat(void)
{
	struct vm *vm = fake_vm();
	struct boot_state st;
	uint8_t code[] = { 0xb0, 0x41, 0xe6, 0xf4 };
	CHECK_EQ(flat_load(vm, code, sizeof(code), 0x7c00, &st), 0);
	CHECK_EQ(st.mode, BOOT_REAL16);
	CHECK_EQ(st.cs, 0);
	CHECK_EQ(st.rip, 0x7c00);
	CHECK(!memcmp(vm->ram + 0x7c00, code, sizeof(code)));
	CHECK_EQ(flat_load(vm, code, sizeof(code), 0x12345, &st), 0);
	CHECK_EQ(((uint64_t)st.cs << 4) + st.rip, 0x12345);
	CHECK(flat_load(vm, code, sizeof(code), 0xffffe, &st) < 0); /* crosses 1 MiB */
	fake_vm_free(vm);
}

static void test_gpa_checks(void)
{
	struct vm *vm = fake_vm();
	CHECK(vm_gpa_ptr(vm, 0, RAM) == vm->ram);
	CHECK(vm_gpa_ptr(vm, RAM - 1, 1) != NULL);
	CHECK(vm_gpa_ptr(vm, RAM - 1, 2) == NULL);
	CHECK(vm_gpa_ptr(vm, UINT64_MAX, 2) == NULL);
	CHECK(vm_gpa_ptr(vm, 16, UINT64_MAX) == NULL);
	fake_vm_free(vm);
}

/* vm_load_quiet(): a load by hand only where the CPU's own would fault on
 * nothing and change nothing (replay's quick steps, core/quickstep.h). */
static void test_load_quiet(void)
{
	struct vm *vm = fake_vm();
	struct kvm_sregs s;
	uint64_t *pml4 = (uint64_t *)(vm->ram + 0x1000), *pdpt = (uint64_t *)(vm->ram + 0x2000);
	uint64_t *pd = (uint64_t *)(vm->ram + 0x3000), *pt = (uint64_t *)(vm->ram + 0x4000);
	uint64_t v = 0;
	const uint64_t A = 0x20, U = 0x4;

	memset(&s, 0, sizeof(s));
	s.cr0 = 0x80000011;
	s.cr4 = 0x20;
	s.efer = 0x500;
	s.cr3 = 0x1000;
	s.cs.selector = 0x10;
	pml4[0] = 0x2000 | 3 | A | U; /* a user bit above does not make the page a user page */
	pdpt[0] = 0x3000 | 3 | A;
	pd[0] = 0x4000 | 3 | A;
	pd[1] = 0x400000 | 0x83 | A; /* 2 MiB page */
	pt[5] = 0x7000 | 3 | A;
	memcpy(vm->ram + 0x7120, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	CHECK_EQ(vm_load_quiet(vm, &s, 0x5120, &v, 8), 0);
	CHECK_EQ(v, 0x8877665544332211ull);
	CHECK_EQ(vm_load_quiet(vm, &s, 0x5120, &v, 8), 0);
	memcpy(vm->ram + 0x401234, "\xab", 1);
	v = 0;
	CHECK_EQ(vm_load_quiet(vm, &s, 0x201234, &v, 1), 0);
	CHECK_EQ(v, 0xab);
	/* Refused: a page crossing, an accessed bit the CPU would set, a
	 * user page (SMAP), CPL3, not present, paging off, outside RAM. */
	CHECK_EQ(vm_load_quiet(vm, &s, 0x5ffc, &v, 8), -1);
	pt[5] &= ~A;
	CHECK_EQ(vm_load_quiet(vm, &s, 0x5120, &v, 8), -1);
	pt[5] |= A;
	pdpt[0] &= ~A;
	CHECK_EQ(vm_load_quiet(vm, &s, 0x5120, &v, 8), -1);
	pdpt[0] |= A | U;
	pd[0] |= U;
	pt[5] |= U;
	CHECK_EQ(vm_load_quiet(vm, &s, 0x5120, &v, 8), -1);
	pt[5] &= ~U;
	CHECK_EQ(vm_load_quiet(vm, &s, 0x5120, &v, 8), 0);
	s.cs.selector = 0x33;
	CHECK_EQ(vm_load_quiet(vm, &s, 0x5120, &v, 8), -1);
	s.cs.selector = 0x10;
	CHECK_EQ(vm_load_quiet(vm, &s, 0x6000, &v, 8), -1);
	pd[2] = 0x7fff0000000ull | 0x83 | A;
	CHECK_EQ(vm_load_quiet(vm, &s, 0x400000, &v, 8), -1);
	s.cr0 = 0x11;
	CHECK_EQ(vm_load_quiet(vm, &s, 0x5120, &v, 8), -1);
	fake_vm_free(vm);
}

/* Stores and fetches by hand (vm_store_quiet, vm_fetch_quiet): a store
 * needs every entry writable and the leaf's dirty bit already set, and
 * marks the page written; a fetch refuses an XD bit (with EFER.NXE) and
 * stops at the first page that does not qualify. */
static void test_store_fetch_quiet(void)
{
	struct vm *vm = fake_vm();
	struct kvm_sregs s;
	uint64_t *pml4 = (uint64_t *)(vm->ram + 0x1000), *pdpt = (uint64_t *)(vm->ram + 0x2000);
	uint64_t *pd = (uint64_t *)(vm->ram + 0x3000), *pt = (uint64_t *)(vm->ram + 0x4000);
	const uint64_t A = 0x20, D = 0x40, W = 0x2, XD = 1ull << 63;
	uint64_t v = 0x8877665544332211ull;
	uint8_t code[16];

	memset(&s, 0, sizeof(s));
	s.cr0 = 0x80000011;
	s.cr4 = 0x20;
	s.efer = 0xd00; /* LME LMA NXE */
	s.cr3 = 0x1000;
	s.cs.selector = 0x10;
	pml4[0] = 0x2000 | 3 | A;
	pdpt[0] = 0x3000 | 3 | A;
	pd[0] = 0x4000 | 3 | A;
	pd[1] = 0x400000 | 0x83 | A | D; /* 2 MiB page, dirty */
	pt[5] = 0x7000 | 3 | A | D;
	pt[6] = 0x8000 | 3 | A; /* clean */
	/* Page generations as vm_dirty_log_enable() makes them (no KVM here). */
	vm->page_gen = calloc(vm->ram_size / 4096 + 1, sizeof(uint64_t));
	vm->group_gen = calloc(vm->ram_size / 4096 / 64 + 2, sizeof(uint64_t));
	uint64_t gen = vm->dirty_gen;
	CHECK_EQ(vm_store_quiet(vm, &s, 0x5120, &v, 8), 0);
	CHECK(!memcmp(vm->ram + 0x7120, "\x11\x22\x33\x44\x55\x66\x77\x88", 8));
	CHECK(vm->page_gen[7] > gen); /* seen as written */
	CHECK_EQ(vm_store_quiet(vm, &s, 0x201000, &v, 2), 0);
	CHECK(!memcmp(vm->ram + 0x401000, "\x11\x22\x00", 3));
	/* Refused: the CPU would set D; read-only at any level; a crossing. */
	memset(vm->ram + 0x8000, 0, 16);
	CHECK_EQ(vm_store_quiet(vm, &s, 0x6000, &v, 8), -1);
	CHECK_EQ(vm->ram[0x8000], 0);
	CHECK_EQ(vm_load_quiet(vm, &s, 0x6000, &v, 8), 0); /* a load needs no D */
	pt[5] &= ~W;
	CHECK_EQ(vm_store_quiet(vm, &s, 0x5120, &v, 8), -1);
	pt[5] |= W;
	pdpt[0] &= ~W;
	CHECK_EQ(vm_store_quiet(vm, &s, 0x5120, &v, 8), -1);
	pdpt[0] |= W;
	CHECK_EQ(vm_store_quiet(vm, &s, 0x5ffc, &v, 8), -1);

	/* Fetch: within a page, across into a page that qualifies, not
	 * into one that does not; XD at any level. */
	memcpy(vm->ram + 0x7ff8, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	memcpy(vm->ram + 0x8000, "\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 8);
	CHECK_EQ(vm_fetch_quiet(vm, &s, 0x5ff8, code, 15), 15);
	CHECK_EQ(code[8], 0x09);
	pt[6] &= ~A;
	CHECK_EQ(vm_fetch_quiet(vm, &s, 0x5ff8, code, 15), 8);
	pt[6] |= A | XD;
	CHECK_EQ(vm_fetch_quiet(vm, &s, 0x5ff8, code, 15), 8);
	CHECK_EQ(vm_fetch_quiet(vm, &s, 0x6000, code, 15), 0);
	pt[6] &= ~XD;
	pd[0] |= XD;
	CHECK_EQ(vm_fetch_quiet(vm, &s, 0x5ff8, code, 15), 0);
	CHECK_EQ(vm_load_quiet(vm, &s, 0x5ff8, &v, 8), 0); /* XD is no matter to a load */
	s.efer = 0x500; /* no NXE: the bit is not looked at (reserved: a real walk would fault, the CPU too) */
	pd[0] &= ~XD;
	CHECK_EQ(vm_fetch_quiet(vm, &s, 0x5ff8, code, 15), 15);
	free(vm->page_gen);
	free(vm->group_gen);
	fake_vm_free(vm);
}

static void test_page_walk(void)
{
	struct vm *vm = fake_vm();
	struct kvm_sregs s;
	uint64_t gpa;
	memset(&s, 0, sizeof(s));
	/* 4-level paging: PML4 at 0x1000 -> PDPT 0x2000 -> PD 0x3000 (2 MiB page at 0x200000
	 * for VA 0xffff800000000000 + 0x40000000...) */
	uint64_t *pml4 = (uint64_t *)(vm->ram + 0x1000), *pdpt = (uint64_t *)(vm->ram + 0x2000);
	uint64_t *pd = (uint64_t *)(vm->ram + 0x3000), *pt = (uint64_t *)(vm->ram + 0x4000);
	pml4[0] = 0x2000 | 3;
	pdpt[0] = 0x3000 | 3;
	pd[0] = 0x4000 | 3;          /* first 2 MiB via 4 KiB pages */
	pd[1] = 0x400000 | 0x83;     /* second 2 MiB -> 4 MiB, large page */
	pt[5] = 0x7000 | 3;
	s.cr0 = 0x80000011;
	s.cr4 = 0x20;
	s.efer = 0x500;
	s.cr3 = 0x1000;
	CHECK_EQ(vm_gva_to_gpa(vm, &s, 0x5123, &gpa), 0);
	CHECK_EQ(gpa, 0x7123);
	CHECK_EQ(vm_gva_to_gpa(vm, &s, 0x200000 + 0x1234, &gpa), 0);
	CHECK_EQ(gpa, 0x401234);
	CHECK_EQ(vm_gva_to_gpa(vm, &s, 0x6000, &gpa), -EFAULT);         /* not present */
	CHECK_EQ(vm_gva_to_gpa(vm, &s, 0x8000000000ull, &gpa), -EFAULT); /* PML4[1] empty */
	/* A page table entry pointing outside RAM must not be followed. */
	pd[2] = 0x7fff0000000ull | 3;
	CHECK_EQ(vm_gva_to_gpa(vm, &s, 0x400000, &gpa), -EFAULT);
	uint8_t buf[8];
	memcpy(vm->ram + 0x7ffc, "ABCD", 4);
	pt[7] = 0x7000 | 3;
	pt[8] = 0x9000 | 3;
	memcpy(vm->ram + 0x9000, "EFGH", 4);
	CHECK_EQ(vm_read_virt(vm, &s, 0x7ffc, buf, 8), 8); /* crosses a page */
	CHECK(!memcmp(buf, "ABCDEFGH", 8));
	CHECK_EQ(vm_read_virt(vm, &s, 0x8ffc, buf, 8), 4); /* stops at unmapped */
	/* The walk names the entries it read (what the translation rests on). */
	uint64_t tab[VM_WALK_MAX];
	unsigned nt = 99;
	CHECK_EQ(vm_gva_walk(vm, &s, 0x5123, &gpa, tab, &nt), 0);
	CHECK_EQ(gpa, 0x7123);
	CHECK_EQ(nt, 4);
	CHECK(tab[0] == 0x1000 && tab[1] == 0x2000 && tab[2] == 0x3000 && tab[3] == 0x4000 + 5 * 8);
	CHECK_EQ(vm_gva_walk(vm, &s, 0x200000 + 0x1234, &gpa, tab, &nt), 0); /* large page: 3 levels */
	CHECK_EQ(nt, 3);
	CHECK_EQ(tab[2], 0x3000 + 8);
	CHECK_EQ(vm_gva_walk(vm, &s, 0x6000, &gpa, tab, &nt), -EFAULT);
	s.cr0 = 0x11; /* paging off: nothing read */
	CHECK_EQ(vm_gva_walk(vm, &s, 0x5123, &gpa, tab, &nt), 0);
	CHECK_EQ(nt, 0);
	CHECK_EQ(gpa, 0x5123);
	/* 32-bit paging: directory at CR3, then the table. */
	uint32_t *pd32 = (uint32_t *)(vm->ram + 0xa000), *pt32 = (uint32_t *)(vm->ram + 0xb000);
	pd32[1] = 0xb000 | 3;
	pt32[2] = 0xc000 | 3;
	s.cr0 = 0x80000011;
	s.cr4 = 0;
	s.efer = 0;
	s.cr3 = 0xa000;
	CHECK_EQ(vm_gva_walk(vm, &s, 0x402010, &gpa, tab, &nt), 0);
	CHECK_EQ(gpa, 0xc010);
	CHECK_EQ(nt, 2);
	CHECK(tab[0] == 0xa000 + 4 && tab[1] == 0xb000 + 8);
	fake_vm_free(vm);
}

static unsigned dev_writes, dev_last;
static int test_dev(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	if (is_write) {
		dev_writes++;
		dev_last = data[0];
	} else {
		memset(data, 0x42 + (int)off, len);
	}
	return 0;
}

static void test_exit_dispatch(void)
{
	struct vm *vm = fake_vm();
	struct kvm_run *run = vm->run;
	uint8_t *data = (uint8_t *)run + 1024;

	CHECK_EQ(bus_register(vm->bus, BUS_PIO, 0x300, 4, test_dev, NULL, "test"), 0);
	/* PIO read of a device port. */
	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = KVM_EXIT_IO_IN;
	run->io.size = 1;
	run->io.port = 0x301;
	run->io.count = 1;
	run->io.data_offset = 1024;
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(data[0], 0x43);
	/* String OUT, 3 bytes. */
	run->io.direction = KVM_EXIT_IO_OUT;
	run->io.count = 3;
	memcpy(data, "xyz", 3);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(dev_writes, 3);
	CHECK_EQ(dev_last, 'z');
	/* Unknown port: all-ones, no stop. */
	run->io.direction = KVM_EXIT_IO_IN;
	run->io.port = 0x1234;
	run->io.size = 4;
	run->io.count = 1;
	memset(data, 0, 4);
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	CHECK_EQ(data[0] & data[1] & data[2] & data[3], 0xff);
	CHECK(!vm->stop);
	/* Malformed exit: data beyond the run area. */
	run->io.data_offset = 4094;
	CHECK_EQ(exit_dispatch(vm), EXIT_STOP);
	CHECK_EQ(vm->status, ST_INTERNAL);
	/* --strict stops at an unknown MMIO address. */
	vm->stop = false;
	vm->opt.strict = true;
	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = 0xfee00000;
	run->mmio.len = 4;
	run->mmio.is_write = 0;
	CHECK_EQ(exit_dispatch(vm), EXIT_STOP);
	CHECK_EQ(vm->status, ST_STRICT);
	CHECK(strstr(vm->stop_msg, "0xfee00000") != NULL);
	vm->stop = false;
	run->exit_reason = KVM_EXIT_HLT;
	CHECK_EQ(exit_dispatch(vm), EXIT_HALT);
	run->exit_reason = KVM_EXIT_SHUTDOWN;
	CHECK_EQ(exit_dispatch(vm), EXIT_STOP);
	CHECK_EQ(vm->status, ST_TRIPLE);
	vm->stop = false;
	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
	CHECK_EQ(exit_dispatch(vm), EXIT_STOP);
	CHECK_EQ(vm->status, ST_INTERNAL);
	CHECK(strstr(vm->stop_msg, "emulation failed") != NULL);
	vm->stop = false;
	run->exit_reason = 9999;
	CHECK_EQ(exit_dispatch(vm), EXIT_STOP);
	CHECK_EQ(vm->status, ST_INTERNAL);
	fake_vm_free(vm);
}

static uint64_t msr_hook_value;
static uint32_t msr_hook_index;
static void fake_msr_read(struct vm *vm, uint32_t index, uint64_t *value)
{
	(void)vm;
	msr_hook_index = index;
	msr_hook_value = *value;
	*value = 0x1234567890ull; /* as replay's hook does: the logged value wins */
}

static uint64_t rdmsr_exit(struct vm *vm, uint32_t index)
{
	vm->run->exit_reason = KVM_EXIT_X86_RDMSR;
	vm->run->msr.reason = KVM_MSR_EXIT_REASON_FILTER;
	vm->run->msr.index = index;
	vm->run->msr.data = 0;
	vm->run->msr.error = 0xff;
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
	return vm->run->msr.data;
}

static void wrmsr_exit(struct vm *vm, uint32_t index, uint64_t data)
{
	vm->run->exit_reason = KVM_EXIT_X86_WRMSR;
	vm->run->msr.reason = KVM_MSR_EXIT_REASON_FILTER;
	vm->run->msr.index = index;
	vm->run->msr.data = data;
	vm->run->msr.error = 0xff;
	CHECK_EQ(exit_dispatch(vm), EXIT_CONTINUE);
}

/* User-space MSR exits (core/msr.h): the TSC and TSC_ADJUST model, the
 * hook, #GP for the refused ones; every such exit is a guest exit. */
static void test_msr_exits(void)
{
	struct vm *vm = fake_vm_new(1 << 20, true);
	unsigned n;
	const struct msr_rule *r = msr_rules(&n);

	for (unsigned i = 0; i < n; i++) {
		CHECK(r[i].first <= r[i].last);
		CHECK(i == 0 || r[i - 1].last < r[i].first);
	}
	CHECK(msr_rule_of(MSR_IA32_TSC)->action == MSR_LOGGED);
	CHECK(msr_rule_of(0x4b564d01)->action == MSR_REFUSED);
	CHECK(msr_rule_of(0x1b) == NULL); /* IA32_APIC_BASE stays KVM's */

	/* IA32_TSC counts up; IA32_TSC_ADJUST starts at 0. */
	uint64_t t0 = rdmsr_exit(vm, MSR_IA32_TSC), t1 = rdmsr_exit(vm, MSR_IA32_TSC);
	CHECK_EQ(vm->run->msr.error, 0);
	CHECK(t1 >= t0);
	CHECK_EQ(rdmsr_exit(vm, MSR_IA32_TSC_ADJUST), 0);
	CHECK_EQ(vm->guest_exits, 3);
	/* A write of the TSC moves it and TSC_ADJUST by the same amount. */
	uint64_t before = rdmsr_exit(vm, MSR_IA32_TSC);
	wrmsr_exit(vm, MSR_IA32_TSC, before + (1ull << 40));
	CHECK_EQ(vm->run->msr.error, 0);
	uint64_t adj = rdmsr_exit(vm, MSR_IA32_TSC_ADJUST);
	CHECK(adj >= (1ull << 40) - (1ull << 36) && adj <= (1ull << 40));
	uint64_t after = rdmsr_exit(vm, MSR_IA32_TSC);
	CHECK(after - before >= (1ull << 40) && after - before < (1ull << 40) + (1ull << 36));
	/* A write of TSC_ADJUST moves the TSC by the change. */
	wrmsr_exit(vm, MSR_IA32_TSC_ADJUST, adj - 1000000000ull);
	CHECK_EQ(rdmsr_exit(vm, MSR_IA32_TSC_ADJUST), adj - 1000000000ull);
	uint64_t moved = rdmsr_exit(vm, MSR_IA32_TSC);
	CHECK(after - moved <= 1000000000ull); /* went back by the change, less the time since */
	CHECK(after - moved > 500000000ull);
	/* The hook sees the value and may replace it. */
	struct vm_hooks h = { .msr_read = fake_msr_read };
	vm->hooks = &h;
	CHECK_EQ(rdmsr_exit(vm, MSR_IA32_TSC_ADJUST), 0x1234567890ull);
	CHECK_EQ(msr_hook_index, MSR_IA32_TSC_ADJUST);
	CHECK_EQ(msr_hook_value, adj - 1000000000ull);
	/* Refused MSRs and anything else that exits: #GP, no hook. */
	msr_hook_index = 0;
	vm->exception_queued = false;
	rdmsr_exit(vm, 0x4b564d01);
	CHECK_EQ(vm->run->msr.error, 1);
	CHECK(vm->exception_queued); /* no interrupt may go in at this exit */
	wrmsr_exit(vm, 0xc0010000, 1ull << 22);
	CHECK_EQ(vm->run->msr.error, 1);
	rdmsr_exit(vm, 0x1b);
	CHECK_EQ(vm->run->msr.error, 1);
	CHECK_EQ(msr_hook_index, 0);
	CHECK(!vm->stop);
	CHECK_EQ(vm->guest_exits, 14);
	vm->hooks = NULL;
	fake_vm_free(vm);
}

int main(void)
{
	RUN_TEST(test_cpuid_policy);
	RUN_TEST(test_multiboot_elf32);
	RUN_TEST(test_multiboot_virtual_entry);
	RUN_TEST(test_multiboot_errors);
	RUN_TEST(test_flat);
	RUN_TEST(test_gpa_checks);
	RUN_TEST(test_page_walk);
	RUN_TEST(test_load_quiet);
	RUN_TEST(test_store_fetch_quiet);
	RUN_TEST(test_exit_dispatch);
	RUN_TEST(test_msr_exits);
	return TEST_EXIT();
}
