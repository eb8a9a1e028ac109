/* The kernel inside a bzImage: finding its RDTSC sites although the
 * decompressor (guest code) unpacks it, at an address it may pick at random.
 *
 * At load, ttvm decompresses the payload itself (xz or lzma: liblzma),
 * reads the vmlinux ELF inside it (its executable sections, its entry, and a
 * few of the relocations appended after it) and turns the decompressor's
 * final `jmp *%rax` (ff e0, right after `call extract_kernel`, at the end of
 * head_64.S) into `out %al,$BZK_PORT` (e6 f1).  The decompressor copies
 * itself to the end of its buffer before it runs: the two bytes travel with
 * the copy.  At that exit RAX is the unpacked kernel's entry, so the kernel
 * lies at RAX - (entry - lowest p_paddr); its virtual offset (KASLR) is read
 * off relocated words.  ttvm then reports the kernel's executable sections to
 * core/tsc.c (tsc_setup: find, patch, key by virtual and physical address;
 * its alternatives, read at load, as vm->copies) and emulates the jump.  The exit is the guest's own, at the same point in
 * run, record and replay, so all three patch the same bytes; if a replay
 * goes back to before it (a checkpoint), the kernel is unpacked again and
 * the exit patches it again. */
#ifndef TTVM_CORE_BZIMAGE_KERNEL_H
#define TTVM_CORE_BZIMAGE_KERNEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct bzimage_kernel;

/* The port of the patched jump: next to TSC_PORT (core/tsc.h), claimed by no
 * device (legacy FPU reset; Linux on x86-64 never writes it). */
#define BZK_PORT 0xf1

/* What loader_bzimage.c read from the setup header. */
struct bzimage_hdr {
	uint16_t version, xloadflags;
	uint32_t setup_size;   /* bytes before the protected-mode kernel */
	uint32_t hdr_end;      /* end of the setup header (0x202 + byte at 0x201) */
	size_t pm_size;        /* bytes of the protected-mode kernel in the file */
	uint32_t initrd_addr_max, kernel_alignment, cmdline_size;
	uint32_t payload_offset, payload_length; /* in the protected-mode kernel */
	uint32_t init_size;    /* the decompressor's buffer, at least pm_size */
	uint64_t pref_address;
	bool relocatable;
};

/* Check a bzImage's setup header (protocol 2.12+, a 64-bit entry, a loadable
 * size) and read it.  0 or -ENOEXEC with a one-line reason printed. */
int bzimage_parse(const uint8_t *img, size_t size, const char *name, struct bzimage_hdr *h);

/* After the protected-mode kernel is in RAM at load: decompress the payload,
 * read the kernel in it, patch the decompressor's jump and keep what the
 * hand-over needs in vm->bzk.  0 or -errno with a one-line reason printed
 * (an unknown compression, no jump found exactly once, a damaged payload). */
int bzk_prepare(struct vm *vm, const uint8_t *img, const struct bzimage_hdr *h, uint64_t load,
		const char *name);

/* An OUT to BZK_PORT: when it is the patched jump, find and patch the
 * kernel's RDTSC sites (tsc_setup), set RIP = RAX and return true; false
 * when it is the guest's own OUT (it then goes to the bus).  A kernel that
 * is not where RAX says stops the VM (ST_INTERNAL) and returns true. */
bool bzk_handle_io(struct vm *vm);

/* A trap exit (OUT to TSC_PORT, #BP) while vm->tsc is empty: the state was
 * restored from a checkpoint taken after the hand-over into a VM that never
 * saw it (`ttvm replay --from`, the timeline).  Find the kernel in RAM (its
 * entry's bytes at kernel_alignment steps, exactly once) and its KASLR
 * offset (a majority of relocated .text words), and build the same site
 * table as the hand-over did, from the code as unpacked (RAM, whose code
 * the kernel has patched, freed or reused since, is left exactly as
 * restored).  true when vm->tsc is now set. */
bool bzk_recover(struct vm *vm);

/* How many hand-overs this VM has seen (tests, -v). */
unsigned bzk_handovers(const struct bzimage_kernel *k);

void bzk_free(struct bzimage_kernel *k);

/* ---- parts, for unit tests ---- */

/* Offset in code[0..len) of the one `call rel32; [pop %rsi | mov %r15,%rsi];
 * jmp *%rax` whose call lands inside code, skipping [skip, skip+skip_len)
 * (the compressed payload).  -1: none; -2: more than one. */
long bzk_find_jump(const uint8_t *code, size_t len, size_t skip, size_t skip_len);

#endif
