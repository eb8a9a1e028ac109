/* Unit tests of the code Linux reads back or rewrites (core/loader_linux.c
 * linux_note_text_sites, vm_text_site) and of patch traps kept off it
 * (ptrap_patchable, ptrap_text_site), on a synthetic vmlinux built here
 * with each table Linux 6.1 has: .return_sites, .retpoline_sites,
 * .smp_locks, .parainstructions, .altinstructions. */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "core/loader_internal.h"
#include "core/ptrap.h"
#include "core/vm.h"
#include "fake_vm.h"
#include "testlib.h"

#define MIB (1ull << 20)
#define KVIRT 0xffffffff81000000ull
#define KPHYS 0x1000000ull
#define SEG_AT 0x1000 /* the segment in the file */
#define SEG_LEN 0x2000
#define TEXT 0x000      /* .text in the segment, 0x800 bytes */
#define REPL 0x800      /* .altinstr_replacement, 0x10 bytes */
#define TABLES 0x1000   /* the tables, not code */

/* Sites in .text (offsets), and the lengths Linux patches there. */
#define RET_SITE 0x100  /* jmp __x86_return_thunk: 5 */
#define RETP_SITE 0x110 /* jne __x86_indirect_thunk_rax: 6 */
#define RETP8_SITE 0x118 /* jmp rel8: 2 */
#define LOCK_SITE 0x120 /* lock incl (%rax): the prefix, 1 */
#define PV_SITE 0x130   /* a paravirt call: 7 */
#define ALT_SITE 0x140  /* 3 bytes an alternative replaces */
#define NOP5_SITE 0x150 /* an ftrace NOP: in no table */
#define LOCK2_SITE 0x141 /* a LOCK prefix inside the alternative: merged */

enum { SH_NULL, SH_TEXT, SH_REPL, SH_RET, SH_RETP, SH_LOCKS, SH_PV, SH_ALT, SH_STR, NSH };

static const char strtab[] = "\0.text\0.altinstr_replacement\0.return_sites\0.retpoline_sites\0.smp_locks\0"
			     ".parainstructions\0.altinstructions\0.shstrtab";

static uint32_t name_of(const char *n)
{
	for (size_t i = 0; i < sizeof(strtab); i += strlen(strtab + i) + 1)
		if (!strcmp(strtab + i, n))
			return (uint32_t)i;
	return 0;
}

static void rel32(uint8_t *seg, uint64_t entry_off, uint64_t target_off)
{
	int32_t r = (int32_t)((int64_t)target_off - (int64_t)entry_off);
	memcpy(seg + entry_off, &r, 4);
}

/* bad_lock: the .smp_locks entry points outside the code (an unknown
 * format: that table is skipped, the others kept). */
static uint8_t *make_vmlinux(size_t *len, bool bad_lock)
{
	size_t str_at = SEG_AT + SEG_LEN, sh_at = (str_at + sizeof(strtab) + 7) & ~(size_t)7;
	size_t total = sh_at + NSH * sizeof(Elf64_Shdr);
	uint8_t *img = calloc(1, total);
	Elf64_Ehdr eh = { 0 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_entry = KPHYS;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 1;
	eh.e_shoff = sh_at;
	eh.e_shentsize = sizeof(Elf64_Shdr);
	eh.e_shnum = NSH;
	eh.e_shstrndx = SH_STR;
	memcpy(img, &eh, sizeof(eh));
	Elf64_Phdr ph = { .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = SEG_AT, .p_vaddr = KVIRT,
			  .p_paddr = KPHYS, .p_filesz = SEG_LEN, .p_memsz = SEG_LEN };
	memcpy(img + eh.e_phoff, &ph, sizeof(ph));

	uint8_t *seg = img + SEG_AT;
	memset(seg + TEXT, 0x90, 0x800);
	memcpy(seg + RET_SITE, "\xe9\x00\x01\x00\x00", 5);
	memcpy(seg + RETP_SITE, "\x0f\x85\x00\x01\x00\x00", 6);
	memcpy(seg + RETP8_SITE, "\xeb\x10", 2);
	memcpy(seg + LOCK_SITE, "\xf0\xff\x00", 3);
	memcpy(seg + PV_SITE, "\xff\x14\x25\x00\x10\x00\x00", 7);
	memcpy(seg + ALT_SITE, "\x0f\x01\xf9", 3);
	memcpy(seg + NOP5_SITE, "\x0f\x1f\x44\x00\x00", 5);
	memcpy(seg + REPL, "\x0f\x31", 2);

	/* .return_sites, .retpoline_sites (2 entries), .smp_locks (2) */
	uint64_t t = TABLES;
	rel32(seg, t, RET_SITE);
	rel32(seg, t + 4, RETP_SITE);
	rel32(seg, t + 8, RETP8_SITE);
	rel32(seg, t + 12, LOCK_SITE);
	rel32(seg, t + 16, bad_lock ? TABLES + 0x100 : LOCK2_SITE);
	/* .parainstructions: { u8 *instr; u8 type; u8 len; } */
	uint64_t pv = KVIRT + PV_SITE;
	memcpy(seg + t + 24, &pv, 8);
	seg[t + 24 + 8] = 1;
	seg[t + 24 + 9] = 7;
	/* .altinstructions (6.1): s32 instr, s32 repl, u16 cpuid, u8 instrlen, u8 repllen */
	rel32(seg, t + 40, ALT_SITE);
	rel32(seg, t + 44, REPL);
	seg[t + 40 + 10] = 3;
	seg[t + 40 + 11] = 2;

	memcpy(img + str_at, strtab, sizeof(strtab));
	Elf64_Shdr sh[NSH] = { { 0 } };
	struct {
		const char *name;
		uint64_t off, size;
		bool exec;
	} secs[NSH] = {
		[SH_TEXT] = { ".text", TEXT, 0x800, true },
		[SH_REPL] = { ".altinstr_replacement", REPL, 0x10, true },
		[SH_RET] = { ".return_sites", TABLES, 4, false },
		[SH_RETP] = { ".retpoline_sites", TABLES + 4, 8, false },
		[SH_LOCKS] = { ".smp_locks", TABLES + 12, 12, false }, /* ends in a zero (padding) */
		[SH_PV] = { ".parainstructions", TABLES + 24, 16, false },
		[SH_ALT] = { ".altinstructions", TABLES + 40, 12, false },
	};
	for (int i = SH_TEXT; i < SH_STR; i++)
		sh[i] = (Elf64_Shdr){ .sh_name = name_of(secs[i].name), .sh_type = SHT_PROGBITS,
				      .sh_flags = SHF_ALLOC | (secs[i].exec ? SHF_EXECINSTR : 0),
				      .sh_addr = KVIRT + secs[i].off, .sh_offset = SEG_AT + secs[i].off,
				      .sh_size = secs[i].size };
	sh[SH_STR] = (Elf64_Shdr){ .sh_name = name_of(".shstrtab"), .sh_type = SHT_STRTAB, .sh_offset = str_at,
				   .sh_size = sizeof(strtab) };
	memcpy(img + sh_at, sh, sizeof(sh));
	*len = total;
	return img;
}

static struct vm *load(bool bad_lock)
{
	struct vm *vm = fake_vm_new(32 * MIB, true);
	size_t len;
	uint64_t entry, end;
	uint8_t *img = make_vmlinux(&len, bad_lock);
	CHECK_EQ(loader_load_elf(vm, img, len, "vmlinux", true, &entry, &end), 0);
	CHECK_EQ(linux_note_text_sites(vm, img, len), 0);
	free(img);
	return vm;
}

static void free_vm(struct vm *vm)
{
	free(vm->text_sites);
	fake_vm_free(vm);
}

/* Is [off, off+len) of .text a site, and the bytes around it not? */
static void check_site(struct vm *vm, uint64_t off, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		CHECK(vm_text_site(vm, KPHYS + off + i));
	CHECK(!vm_text_site(vm, KPHYS + off - 1));
	CHECK(!vm_text_site(vm, KPHYS + off + len));
}

static void test_tables(void)
{
	struct vm *vm = load(false);
	check_site(vm, RET_SITE, 5);
	check_site(vm, RETP_SITE, 6);
	check_site(vm, RETP8_SITE, 2);
	check_site(vm, LOCK_SITE, 1);
	check_site(vm, PV_SITE, 7);
	check_site(vm, ALT_SITE, 3); /* with the lock prefix inside it */
	/* sorted and merged: the LOCK prefix inside the alternative adds no range */
	CHECK_EQ(vm->ntext_sites, 6);
	for (size_t i = 1; i < vm->ntext_sites; i++)
		CHECK(vm->text_sites[i - 1].gpa + vm->text_sites[i - 1].len < vm->text_sites[i].gpa);
	/* the tables themselves, the replacement code, RAM elsewhere: not sites */
	CHECK(!vm_text_site(vm, KPHYS + TABLES));
	CHECK(!vm_text_site(vm, KPHYS + REPL));
	CHECK(!vm_text_site(vm, 0));
	CHECK(!vm_text_site(vm, 64 * MIB)); /* past RAM */
	/* The ftrace NOP is in no table: a site in a Linux guest only. */
	CHECK(!vm_text_site(vm, KPHYS + NOP5_SITE));
	vm->linux_guest = true;
	CHECK(vm_text_site(vm, KPHYS + NOP5_SITE));
	CHECK(!vm_text_site(vm, KPHYS + NOP5_SITE + 1));
	free_vm(vm);
}

static void test_unknown_table(void)
{
	struct vm *vm = load(true);
	/* .smp_locks skipped whole; the other tables kept */
	CHECK(!vm_text_site(vm, KPHYS + LOCK_SITE));
	check_site(vm, RET_SITE, 5);
	check_site(vm, ALT_SITE, 3);
	CHECK_EQ(vm->ntext_sites, 5);
	free_vm(vm);
}

/* Paging off at CPL0: every byte of RAM is patchable, but for the sites. */
static void test_ptraps(void)
{
	struct vm *vm = load(false);
	struct kvm_sregs s = { 0 };
	s.cr0 = 1; /* protected mode, no paging */
	uint64_t gpa = 0;
	CHECK(ptrap_can_patch(vm, &s, KPHYS + RET_SITE, &gpa));
	CHECK_EQ(gpa, KPHYS + RET_SITE);
	CHECK(!ptrap_patchable(vm, &s, KPHYS + RET_SITE, NULL));
	CHECK(ptrap_text_site(vm, &s, KPHYS + RET_SITE));
	CHECK(!ptrap_patchable(vm, &s, KPHYS + LOCK_SITE, NULL));
	CHECK(ptrap_patchable(vm, &s, KPHYS + RET_SITE + 5, &gpa));
	CHECK_EQ(gpa, KPHYS + RET_SITE + 5);
	CHECK(!ptrap_text_site(vm, &s, KPHYS + RET_SITE + 5));
	CHECK(!ptrap_text_site(vm, &s, 1ull << 40)); /* unmapped */
	free_vm(vm);
}

int main(void)
{
	RUN_TEST(test_tables);
	RUN_TEST(test_unknown_table);
	RUN_TEST(test_ptraps);
	return TEST_EXIT();
}
