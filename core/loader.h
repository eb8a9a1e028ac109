/* Guest image loaders.
 *
 * A loader copies an image into guest RAM (only through vm_gpa_ptr) and fills
 * in the CPU state the boot protocol promises; it does not touch KVM, so unit
 * tests run it on a bare RAM buffer.  Linux's boot protocols (bzImage, PVH)
 * are a later issue: they add a loader_linux.c and a BOOT_LINUX kind here. */
#ifndef TTVM_CORE_LOADER_H
#define TTVM_CORE_LOADER_H
#include <stddef.h>
#include <stdint.h>

struct vm;

enum boot_mode { BOOT_REAL16, BOOT_PROT32 };

/* CPU state at the first guest instruction. */
struct boot_state {
	enum boot_mode mode;
	uint64_t rip, rsp;
	uint32_t eax, ebx, edx;
	uint16_t cs; /* real mode: segment of the entry point */
};

/* Where images come from: the files (loader_read_file) or, in replay, the
 * copies stored in the trace.  0 or -errno with a message printed. */
typedef int (*image_read_fn)(void *ctx, const char *path, uint8_t **data, size_t *size);

struct multiboot_args {
	image_read_fn read; /* NULL: loader_read_file */
	void *read_ctx;
	const char *kernel_path;
	const char *cmdline;        /* --append, may be NULL */
	const char *const *modules; /* --initrd files */
	size_t nmodules;
};

/* Read a whole file; 0 or -errno with a one-line message printed. */
int loader_read_file(const char *path, uint8_t **data, size_t *size);
/* Does this image carry a multiboot v1 header in its first 8 KiB? */
int multiboot_probe(const uint8_t *img, size_t size);
/* Load a multiboot v1 kernel (ELF32, ELF64 or a.out-kludge) with its modules
 * and boot information.  0 or -errno with a one-line message printed. */
int multiboot_load(struct vm *vm, const uint8_t *img, size_t size,
		   const struct multiboot_args *args, struct boot_state *st);
/* Copy a raw binary to addr and start it in real mode at it. 0 or -errno. */
int flat_load(struct vm *vm, const uint8_t *img, size_t size, uint64_t addr, struct boot_state *st);
/* Put the vCPU in the state st describes. 0 or -errno. */
int loader_apply_state(struct vm *vm, const struct boot_state *st);

#endif
