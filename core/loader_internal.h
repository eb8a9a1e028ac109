/* What the loaders (core/loader*.c) share; nothing outside them uses it. */
#ifndef TTVM_CORE_LOADER_INTERNAL_H
#define TTVM_CORE_LOADER_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loader.h"

struct vm;

/* Kernels must not load below 1 MiB's legacy area's start; keep the first
 * page free for the real-mode IVT as PC firmware would. */
#define LOAD_MIN 0x1000ull

/* One range of the guest's memory map, types as e820 numbers them. */
enum { MEM_USABLE = 1, MEM_RESERVED = 2 };
struct mem_region {
	uint64_t addr, len;
	uint32_t type;
};
#define MEM_MAX_REGIONS 4

/* The memory map every boot protocol hands over: RAM below 0x9fc00, the BIOS
 * area at 0xf0000 reserved, RAM from 1 MiB to the PCI hole, high RAM.
 * Returns the number of regions written to r (at most MEM_MAX_REGIONS). */
int loader_memory_map(const struct vm *vm, struct mem_region *r);

/* Copy len bytes to guest-physical gpa, zero-filling up to memsz.  0, or
 * -ENOMEM with a message naming what when it does not fit in RAM. */
int loader_put(struct vm *vm, uint64_t gpa, const void *src, uint64_t len, uint64_t memsz,
	       const char *what);
/* Tell core/tsc.c that [gpa, gpa+size) holds code run at vaddr. */
void loader_add_exec(struct vm *vm, uint64_t gpa, uint64_t vaddr, uint64_t size);
uint64_t loader_align_up(uint64_t v, uint64_t a);
/* Read one image through a->read (or the file). 0 or -errno, message printed. */
int loader_read_image(const struct boot_args *a, const char *path, uint8_t **data, size_t *size);

/* An ELF32/ELF64 file's program header table, its bounds checked against
 * the file, and its segments in one shape whatever the class. */
struct elf_phdrs {
	const uint8_t *img;
	bool is64;
	uint64_t phoff, phnum, phentsize, entry;
};
struct elf_seg {
	uint64_t type, off, filesz, memsz, paddr, vaddr, flags;
};
enum { ELF_NOT_ELF = 1, ELF_UNKNOWN_CLASS, ELF_MALFORMED };
/* 0, or ELF_NOT_ELF (no ELF magic), ELF_UNKNOWN_CLASS, ELF_MALFORMED
 * (headers truncated or out of the file).  Nothing printed. */
int loader_elf_phdrs(const uint8_t *img, size_t size, struct elf_phdrs *e);
/* Program header i (< e->phnum). */
void loader_elf_seg(const struct elf_phdrs *e, uint64_t i, struct elf_seg *g);

/* Load an ELF32/ELF64 file's PT_LOAD segments at their physical addresses.
 * *entry: e_entry moved into the segment that holds it; *end: the end of the
 * highest segment.  Code for core/tsc.c is every executable segment, or with
 * exec_sections only the executable sections (SHF_EXECINSTR), when the file
 * has section headers: a kernel's executable segment may also hold its
 * read-only data, whose bytes must not be taken for instructions.  With
 * exec_sections e_entry may also be physical (Linux's vmlinux).
 * 0 or -errno (message printed). */
int loader_load_elf(struct vm *vm, const uint8_t *img, size_t size, const char *name, bool exec_sections,
		    uint64_t *entry, uint64_t *end);

/* ---- Linux (loader_pvh.c, loader_bzimage.c; shared parts in loader_linux.c) ----
 * Where the boot structures go, all below 640 KiB (Linux reserves the first
 * MiB for itself, so nothing it allocates early lies there). */
#define LINUX_GDT 0x1000ull        /* bzImage: GDT of the 64-bit entry */
#define LINUX_START_INFO 0x6000ull /* PVH: hvm_start_info, module list, memory map */
#define LINUX_ZERO_PAGE 0x7000ull  /* bzImage: boot_params */
#define LINUX_PAGE_TABLES 0x9000ull /* bzImage: PML4, PDPT, 4 PDs (identity, 4 GiB) */
#define LINUX_CMDLINE 0x20000ull
#define LINUX_CMDLINE_MAX 2048u    /* x86's COMMAND_LINE_SIZE, with the NUL */

/* The command line (--append, or empty) at LINUX_CMDLINE, at most max bytes
 * with its NUL.  0 or -E2BIG/-ENOMEM (message printed). */
int linux_put_cmdline(struct vm *vm, const struct boot_args *a, uint32_t max);
/* The --initrd files, concatenated (each padded to 4 bytes, as cpio archives
 * may be) and placed page-aligned as high as possible below limit and above
 * floor (the kernel's end).  *addr = *size = 0 without --initrd.  0 or
 * -errno with a message saying which -m would fit it. */
int linux_put_initrd(struct vm *vm, const struct boot_args *a, uint64_t floor, uint64_t limit,
		     uint64_t *addr, uint64_t *size);
/* Note Linux's alternatives (.altinstructions of a vmlinux ELF64, after its
 * code was reported with loader_add_exec) in vm->copies, so that RDTSCs
 * the kernel copies into place at boot trap too.  0 or -ENOMEM; an image
 * without them or in an unknown format is not an error. */
int linux_note_alternatives(struct vm *vm, const uint8_t *img, size_t size);
/* Note the code a vmlinux ELF64 reads back or rewrites as it runs
 * (alternatives, return/retpoline/call sites, ENDBRs it seals, paravirt
 * sites, LOCK prefixes: the tables its sections hold) in vm->text_sites,
 * by guest-physical address through the code reported with
 * loader_add_exec.  0 or -ENOMEM; tables missing or in an unknown format
 * are skipped. */
int linux_note_text_sites(struct vm *vm, const uint8_t *img, size_t size);

#endif
