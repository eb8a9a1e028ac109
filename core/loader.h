/* Guest image loaders.
 *
 * A loader copies an image into guest RAM (only through vm_gpa_ptr) and fills
 * in the CPU state the boot protocol promises; it does not touch KVM, so unit
 * tests run it on a bare RAM buffer.  Kinds: multiboot v1 (loader.c), Linux
 * through its PVH entry note (loader_pvh.c) or the x86 boot protocol of a
 * bzImage (loader_bzimage.c), flat real-mode binaries (loader.c). */
#ifndef TTVM_CORE_LOADER_H
#define TTVM_CORE_LOADER_H
#include <stddef.h>
#include <stdint.h>

struct vm;

/* REAL16: real mode at cs:rip.  PROT32: flat 32-bit protected mode, paging
 * off (CS 0x10, data 0x18).  LONG64: 64-bit mode with the page tables at cr3
 * and a GDT at gdt (CS 0x10, data 0x18), as Linux's 64-bit boot protocol
 * asks. */
enum boot_mode { BOOT_REAL16, BOOT_PROT32, BOOT_LONG64 };

/* CPU state at the first guest instruction. */
struct boot_state {
	enum boot_mode mode;
	uint64_t rip, rsp;
	uint32_t eax, ebx, edx;
	uint64_t rsi;
	uint16_t cs;  /* real mode: segment of the entry point */
	uint64_t cr3; /* LONG64: the PML4 */
	uint64_t gdt; /* LONG64: guest-physical address of a GDT of 4 entries */
};

/* Where images come from: the files (loader_read_file) or, in replay, the
 * copies stored in the trace.  0 or -errno with a message printed. */
typedef int (*image_read_fn)(void *ctx, const char *path, uint8_t **data, size_t *size);

struct boot_args {
	image_read_fn read; /* NULL: loader_read_file */
	void *read_ctx;
	const char *kernel_path;
	const char *cmdline;        /* --append, may be NULL */
	const char *const *modules; /* --initrd files (Linux: concatenated into one initrd) */
	size_t nmodules;
};

/* Read a whole file; 0 or -errno with a one-line message printed. */
int loader_read_file(const char *path, uint8_t **data, size_t *size);
/* Does this image carry a multiboot v1 header in its first 8 KiB? */
int multiboot_probe(const uint8_t *img, size_t size);
/* Load a multiboot v1 kernel (ELF32, ELF64 or a.out-kludge) with its modules
 * and boot information.  0 or -errno with a one-line message printed. */
int multiboot_load(struct vm *vm, const uint8_t *img, size_t size,
		   const struct boot_args *args, struct boot_state *st);
/* Is this an ELF file with Linux's PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)? */
int pvh_probe(const uint8_t *img, size_t size);
/* Load such a kernel (an uncompressed vmlinux) with its initrd and command
 * line and an hvm_start_info, entered at the note's 32-bit entry point.
 * 0 or -errno with a one-line message printed. */
int pvh_load(struct vm *vm, const uint8_t *img, size_t size, const struct boot_args *args,
	     struct boot_state *st);
/* Does this image carry the x86 boot protocol's setup header ("HdrS")? */
int bzimage_probe(const uint8_t *img, size_t size);
/* Load a bzImage (boot protocol 2.12 or later with a 64-bit entry) with its
 * initrd and command line; its decompressor then runs as guest code.
 * 0 or -errno with a one-line message printed. */
int bzimage_load(struct vm *vm, const uint8_t *img, size_t size, const struct boot_args *args,
		 struct boot_state *st);
/* Copy a raw binary to addr and start it in real mode at it. 0 or -errno. */
int flat_load(struct vm *vm, const uint8_t *img, size_t size, uint64_t addr, struct boot_state *st);
/* Put the vCPU in the state st describes. 0 or -errno. */
int loader_apply_state(struct vm *vm, const struct boot_state *st);

#endif
