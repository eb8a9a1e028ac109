/* Linux bzImage through the x86 boot protocol's 64-bit entry
 * (Documentation/x86/boot.rst, "64-bit Boot Protocol").
 *
 * The protected-mode part of the file (the decompressor and its compressed
 * payload) goes where the header asks, boot_params ("zero page") gets a copy
 * of the setup header with what a boot loader fills in (command line,
 * initrd, e820 map), and the vCPU starts in 64-bit mode at load + 0x200 with
 * RSI = boot_params, an identity map of the low 4 GiB and a GDT whose
 * selectors 0x10/0x18 are flat code/data.  The decompressor then runs as
 * guest code; core/bzimage_kernel.h prepares the hand-over to the kernel it
 * unpacks. */
#include <errno.h>
#include <string.h>

#include "core/bzimage_kernel.h"
#include "core/loader_internal.h"
#include "core/log.h"
#include "core/vm.h"

/* Offsets into the file (and into boot_params, whose 0x1f1.. is the setup
 * header). */
#define SETUP_SECTS 0x1f1
#define SYSSIZE 0x1f4
#define BOOT_FLAG 0x1fe
#define JUMP 0x200
#define HDRS_OFF 0x202
#define VERSION 0x206
#define TYPE_OF_LOADER 0x210
#define LOADFLAGS 0x211
#define RAMDISK_IMAGE 0x218
#define RAMDISK_SIZE 0x21c
#define HEAP_END_PTR 0x224
#define CMD_LINE_PTR 0x228
#define INITRD_ADDR_MAX 0x22c
#define KERNEL_ALIGNMENT 0x230
#define RELOCATABLE 0x234
#define XLOADFLAGS 0x236
#define CMDLINE_SIZE 0x238
#define PAYLOAD_OFFSET 0x248
#define PAYLOAD_LENGTH 0x24c
#define PREF_ADDRESS 0x258
#define INIT_SIZE 0x260
#define HDR_MIN_END 0x264 /* init_size's end: what a 2.12 header has */
/* boot_params outside the setup header. */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0
#define BP_SIZE 4096u

#define LOADED_HIGH 0x01
#define QUIET_FLAG 0x20
#define CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x01
#define PROTO_MIN 0x020c /* 2.12: xloadflags, hence a known 64-bit entry */
#define ENTRY64_OFF 0x200
#define TYPE_UNDEFINED 0xff /* boot.rst: a boot loader without an assigned id */
#define KERNEL_MIN 0x100000ull

/* GDT of the 64-bit entry: 0x10 flat 64-bit code, 0x18 flat data. */
static const uint64_t gdt[4] = { 0, 0, 0x00af9a000000ffffull, 0x00cf92000000ffffull };

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int bzimage_probe(const uint8_t *img, size_t size)
{
	return size >= HDRS_OFF + 4 && memcmp(img + HDRS_OFF, "HdrS", 4) == 0;
}

int bzimage_parse(const uint8_t *img, size_t size, const char *name, struct bzimage_hdr *h)
{
	memset(h, 0, sizeof(*h));
	if (!bzimage_probe(img, size) || size < HDR_MIN_END) {
		log_error("%s: not a bzImage (no complete x86 boot protocol setup header)", name);
		return -ENOEXEC;
	}
	h->version = rd16(img + VERSION);
	if (h->version < PROTO_MIN) {
		log_error("%s: boot protocol %u.%02u is too old: ttvm needs 2.12 or later (a 64-bit entry)", name,
			  h->version >> 8, h->version & 0xff);
		return -ENOEXEC;
	}
	h->xloadflags = rd16(img + XLOADFLAGS);
	if (!(h->xloadflags & XLF_KERNEL_64)) {
		log_error("%s: boot protocol %u.%02u without a 64-bit entry (xloadflags has no XLF_KERNEL_64): "
			  "not an x86-64 kernel", name, h->version >> 8, h->version & 0xff);
		return -ENOEXEC;
	}
	if (!(img[LOADFLAGS] & LOADED_HIGH)) {
		log_error("%s: a zImage (loadflags without LOADED_HIGH): only bzImages load at 1 MiB", name);
		return -ENOEXEC;
	}
	unsigned sects = img[SETUP_SECTS] ? img[SETUP_SECTS] : 4;
	h->setup_size = (sects + 1u) * 512u;
	h->hdr_end = HDRS_OFF + img[JUMP + 1];
	if (img[JUMP] != 0xeb || h->hdr_end < HDR_MIN_END || h->hdr_end > h->setup_size) {
		log_error("%s: the setup header's length (jump at 0x200: %02x %02x) is not that of protocol %u.%02u",
			  name, img[JUMP], img[JUMP + 1], h->version >> 8, h->version & 0xff);
		return -ENOEXEC;
	}
	if (size <= h->setup_size) {
		log_error("%s: truncated: %zu bytes, but its %u setup sector(s) and the kernel after them need more",
			  name, size, sects);
		return -ENOEXEC;
	}
	h->pm_size = size - h->setup_size;
	uint64_t syssize = (uint64_t)rd32(img + SYSSIZE) * 16;
	if (syssize > h->pm_size) {
		log_error("%s: truncated: the header says the kernel has %llu bytes after the setup, the file %zu",
			  name, (unsigned long long)syssize, h->pm_size);
		return -ENOEXEC;
	}
	h->initrd_addr_max = rd32(img + INITRD_ADDR_MAX);
	h->kernel_alignment = rd32(img + KERNEL_ALIGNMENT);
	h->relocatable = img[RELOCATABLE] != 0;
	h->cmdline_size = rd32(img + CMDLINE_SIZE);
	h->payload_offset = rd32(img + PAYLOAD_OFFSET);
	h->payload_length = rd32(img + PAYLOAD_LENGTH);
	h->pref_address = rd64(img + PREF_ADDRESS);
	h->init_size = rd32(img + INIT_SIZE);
	if (h->relocatable && (h->kernel_alignment == 0 || (h->kernel_alignment & (h->kernel_alignment - 1)))) {
		log_error("%s: kernel_alignment %#x is not a power of two", name, h->kernel_alignment);
		return -ENOEXEC;
	}
	if (h->payload_offset > h->pm_size || h->payload_length > h->pm_size - h->payload_offset) {
		log_error("%s: truncated: the compressed kernel (payload %#x+%#x) runs past the file's end", name,
			  h->payload_offset, h->payload_length);
		return -ENOEXEC;
	}
	if (h->init_size < h->pm_size)
		h->init_size = (uint32_t)h->pm_size;
	return 0;
}

/* Where the protected-mode kernel goes: pref_address when the kernel may be
 * relocated there (or must be), else the lowest aligned address from 1 MiB.
 * Its decompressor then works in [load, load + init_size). */
static int place(const struct vm *vm, const struct bzimage_hdr *h, const char *name, uint64_t *load)
{
	uint64_t top = vm->low_size, need;

	if (!h->relocatable) {
		*load = h->pref_address ? h->pref_address : KERNEL_MIN;
	} else if (h->pref_address >= KERNEL_MIN && !(h->pref_address & (h->kernel_alignment - 1)) &&
		   h->pref_address + h->init_size <= top) {
		*load = h->pref_address;
	} else {
		*load = loader_align_up(KERNEL_MIN, h->kernel_alignment);
	}
	need = *load + h->init_size;
	if (need > top || need > VM_PCI_HOLE_START) {
		log_error("%s: the kernel needs RAM up to %#llx (loaded at %#llx, init_size %#x): give -m %llu or more",
			  name, (unsigned long long)need, (unsigned long long)*load, h->init_size,
			  (unsigned long long)((need + (1u << 20) - 1) >> 20));
		return -ENOMEM;
	}
	return 0;
}

/* PML4, PDPT and four page directories of 2 MiB pages: the low 4 GiB,
 * identity-mapped (the 64-bit entry needs the kernel, boot_params and the
 * command line mapped; the decompressor builds its own tables after). */
static int put_page_tables(struct vm *vm)
{
	static uint64_t pt[6 * 512];
	const uint64_t base = LINUX_PAGE_TABLES, rw = 0x3, ps = 0x80;

	memset(pt, 0, sizeof(pt));
	pt[0] = (base + 0x1000) | rw;
	for (unsigned i = 0; i < 4; i++)
		pt[512 + i] = (base + 0x2000 + i * 0x1000ull) | rw;
	for (unsigned i = 0; i < 4 * 512; i++)
		pt[1024 + i] = ((uint64_t)i << 21) | rw | ps;
	return loader_put(vm, base, pt, sizeof(pt), sizeof(pt), "bzImage page tables");
}

/* boot_params: the file's setup header at 0x1f1 of a zeroed page, then what
 * the boot loader fills in. */
static int put_zero_page(struct vm *vm, const uint8_t *img, const struct bzimage_hdr *h, uint64_t initrd,
			 uint64_t initrd_size)
{
	uint8_t bp[BP_SIZE];
	struct mem_region reg[MEM_MAX_REGIONS];

	memset(bp, 0, sizeof(bp));
	memcpy(bp + SETUP_SECTS, img + SETUP_SECTS, h->hdr_end - SETUP_SECTS);
	bp[TYPE_OF_LOADER] = TYPE_UNDEFINED;
	/* No real-mode heap: the 64-bit entry skips the setup code. */
	bp[LOADFLAGS] = (uint8_t)((bp[LOADFLAGS] | LOADED_HIGH) & ~(QUIET_FLAG | CAN_USE_HEAP));
	bp[HEAP_END_PTR] = bp[HEAP_END_PTR + 1] = 0;
	wr32(bp + CMD_LINE_PTR, (uint32_t)LINUX_CMDLINE);
	wr32(bp + BP_EXT_CMD_LINE_PTR, 0);
	wr32(bp + RAMDISK_IMAGE, (uint32_t)initrd);
	wr32(bp + RAMDISK_SIZE, (uint32_t)initrd_size);
	wr32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd >> 32));
	wr32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)(initrd_size >> 32));
	int n = loader_memory_map(vm, reg);
	bp[BP_E820_ENTRIES] = (uint8_t)n;
	for (int i = 0; i < n; i++) {
		uint8_t *e = bp + BP_E820_TABLE + 20 * i;
		wr32(e, (uint32_t)reg[i].addr);
		wr32(e + 4, (uint32_t)(reg[i].addr >> 32));
		wr32(e + 8, (uint32_t)reg[i].len);
		wr32(e + 12, (uint32_t)(reg[i].len >> 32));
		wr32(e + 16, reg[i].type);
	}
	return loader_put(vm, LINUX_ZERO_PAGE, bp, sizeof(bp), sizeof(bp), "boot_params");
}

int bzimage_load(struct vm *vm, const uint8_t *img, size_t size, const struct boot_args *a,
		 struct boot_state *st)
{
	const char *name = a->kernel_path;
	struct bzimage_hdr h;
	uint64_t load, initrd, initrd_size;
	int r;

	if ((r = bzimage_parse(img, size, name, &h)) || (r = place(vm, &h, name, &load)))
		return r;
	const uint8_t *pm = img + h.setup_size;
	/* The kernel knows cmdline_size since 2.06, which 2.12 implies. */
	uint32_t cl_max = h.cmdline_size < LINUX_CMDLINE_MAX - 1 ? h.cmdline_size + 1 : LINUX_CMDLINE_MAX;
	uint64_t limit = (uint64_t)h.initrd_addr_max + 1;
	if ((r = loader_put(vm, load, pm, h.pm_size, h.init_size, name)) ||
	    (r = linux_put_cmdline(vm, a, cl_max)) ||
	    (r = linux_put_initrd(vm, a, loader_align_up(load + h.init_size, 4096), limit, &initrd,
				  &initrd_size)) ||
	    (r = put_zero_page(vm, img, &h, initrd, initrd_size)) ||
	    (r = loader_put(vm, LINUX_GDT, gdt, sizeof(gdt), sizeof(gdt), "bzImage GDT")) ||
	    (r = put_page_tables(vm)))
		return r;
	/* The decompressor's jump to the kernel becomes an exit (core/bzimage_kernel.h). */
	if ((r = bzk_prepare(vm, img, &h, load, name)))
		return r;

	memset(st, 0, sizeof(*st));
	st->mode = BOOT_LONG64;
	st->rip = load + ENTRY64_OFF;
	st->rsi = LINUX_ZERO_PAGE;
	st->rsp = LINUX_ZERO_PAGE; /* below boot_params; the decompressor sets its own at once */
	st->cr3 = LINUX_PAGE_TABLES;
	st->gdt = LINUX_GDT;
	log_info("bzImage: protocol %u.%02u, loaded at %#llx (init_size %#x), entry %#llx, initrd %llu bytes at %#llx",
		 h.version >> 8, h.version & 0xff, (unsigned long long)load, h.init_size,
		 (unsigned long long)st->rip, (unsigned long long)initrd_size, (unsigned long long)initrd);
	return 0;
}
