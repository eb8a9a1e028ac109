/* Multiboot v1 and flat-binary loaders. */
#include "core/loader.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/loader_internal.h"
#include "core/log.h"
#include "core/vm.h"

#define MB_MAGIC 0x1BADB002u
#define MB_BOOT_MAGIC 0x2BADB002u
#define MB_SEARCH 8192
#define MB_FLAG_ALIGN (1u << 0)
#define MB_FLAG_MEMINFO (1u << 1)
#define MB_FLAG_VIDEO (1u << 2)
#define MB_FLAG_AOUT (1u << 16)
#define MB_INFO_MEM (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MODS (1u << 3)
#define MB_INFO_MMAP (1u << 6)
#define MB_INFO_LOADER (1u << 9)
#define MAX_IMAGE (1ull << 32)
/* ESP at a multiboot entry.  The spec leaves it undefined, but kernels
 * written against GRUB call and return before setting their own: GRUB 2
 * sets 0x7ff00 ("some random location in low memory to avoid breaking
 * non-compliant kernels", its MULTIBOOT_INITIAL_STATE); QEMU's -kernel
 * leaves the option ROM's real-mode stack, also in low memory.  ttvm does
 * as GRUB: below 512 KiB, in RAM the memory map calls usable. */
#define MB_STACK_TOP 0x7ff00ull

struct mb_header {
	uint32_t magic, flags, checksum;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr, config_table, boot_loader_name;
	uint32_t apm_table;
	uint32_t vbe[6];
} __attribute__((packed));

struct mb_mod {
	uint32_t mod_start, mod_end, string, reserved;
};

struct mb_mmap {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

int loader_read_file(const char *path, uint8_t **data, size_t *size)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	int r = 0;

	if (!f) {
		log_error("cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error("%s: not a regular file", path);
		fclose(f);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > MAX_IMAGE) {
		log_error("%s: too large (%lld bytes)", path, (long long)st.st_size);
		fclose(f);
		return -EFBIG;
	}
	*size = (size_t)st.st_size;
	*data = malloc(*size ? *size : 1);
	if (!*data) {
		fclose(f);
		log_error("%s: out of memory", path);
		return -ENOMEM;
	}
	if (*size && fread(*data, 1, *size, f) != *size) {
		log_error("cannot read %s", path);
		free(*data);
		*data = NULL;
		r = -EIO;
	}
	fclose(f);
	return r;
}

static const struct mb_header *mb_find(const uint8_t *img, size_t size, size_t *off)
{
	size_t lim = size < MB_SEARCH ? size : MB_SEARCH;

	for (size_t o = 0; o + 12 <= lim; o += 4) {
		struct mb_header h;
		memcpy(&h, img + o, size - o < sizeof(h) ? size - o : sizeof(h));
		if (h.magic == MB_MAGIC && (uint32_t)(h.magic + h.flags + h.checksum) == 0) {
			*off = o;
			return (const struct mb_header *)(img + o);
		}
	}
	return NULL;
}

int multiboot_probe(const uint8_t *img, size_t size)
{
	size_t off;
	return mb_find(img, size, &off) != NULL;
}

int loader_put(struct vm *vm, uint64_t gpa, const void *src, uint64_t len, uint64_t memsz,
	       const char *what)
{
	uint8_t *p = vm_gpa_ptr(vm, gpa, memsz);

	if (!p || gpa < LOAD_MIN || memsz < len) {
		log_error("%s: does not fit in guest RAM at %#llx (+%#llx bytes); try a larger -m",
			  what, (unsigned long long)gpa, (unsigned long long)memsz);
		return -ENOMEM;
	}
	if (len)
		memcpy(p, src, len);
	memset(p + len, 0, memsz - len);
	return 0;
}

/* More ranges than fit go unscanned. */
void loader_add_exec(struct vm *vm, uint64_t gpa, uint64_t vaddr, uint64_t size)
{
	if (vm->nexec == VM_MAX_EXEC) {
		log_info("more than %d executable segments: the rest is not scanned for RDTSC", VM_MAX_EXEC);
		return;
	}
	vm->exec[vm->nexec++] = (struct vm_exec_range){ gpa, vaddr, size };
}

int loader_elf_phdrs(const uint8_t *img, size_t size, struct elf_phdrs *e)
{
	if (size < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG) != 0)
		return ELF_NOT_ELF;
	e->img = img;
	e->is64 = img[EI_CLASS] == ELFCLASS64;
	if (e->is64) {
		Elf64_Ehdr eh;
		if (size < sizeof(eh))
			return ELF_MALFORMED;
		memcpy(&eh, img, sizeof(eh));
		e->phoff = eh.e_phoff, e->phnum = eh.e_phnum, e->phentsize = eh.e_phentsize;
		e->entry = eh.e_entry;
		if (e->phentsize < sizeof(Elf64_Phdr))
			return ELF_MALFORMED;
	} else if (img[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr eh;
		if (size < sizeof(eh))
			return ELF_MALFORMED;
		memcpy(&eh, img, sizeof(eh));
		e->phoff = eh.e_phoff, e->phnum = eh.e_phnum, e->phentsize = eh.e_phentsize;
		e->entry = eh.e_entry;
		if (e->phentsize < sizeof(Elf32_Phdr))
			return ELF_MALFORMED;
	} else {
		return ELF_UNKNOWN_CLASS;
	}
	if (e->phoff > size || e->phnum * e->phentsize > size - e->phoff)
		return ELF_MALFORMED;
	return 0;
}

void loader_elf_seg(const struct elf_phdrs *e, uint64_t i, struct elf_seg *g)
{
	const uint8_t *ph = e->img + e->phoff + i * e->phentsize;

	if (e->is64) {
		Elf64_Phdr p;
		memcpy(&p, ph, sizeof(p));
		*g = (struct elf_seg){ p.p_type, p.p_offset, p.p_filesz, p.p_memsz, p.p_paddr, p.p_vaddr, p.p_flags };
	} else {
		Elf32_Phdr p;
		memcpy(&p, ph, sizeof(p));
		*g = (struct elf_seg){ p.p_type, p.p_offset, p.p_filesz, p.p_memsz, p.p_paddr, p.p_vaddr, p.p_flags };
	}
}

/* The physical address of virtual [vaddr, vaddr+len) through the PT_LOAD
 * segments; false when no one segment's file bytes hold it all. */
static bool elf_vaddr_to_paddr(const struct elf_phdrs *e, uint64_t vaddr, uint64_t len, uint64_t *paddr)
{
	for (uint64_t i = 0; i < e->phnum; i++) {
		struct elf_seg g;
		loader_elf_seg(e, i, &g);
		if (g.type == PT_LOAD && vaddr >= g.vaddr && vaddr - g.vaddr <= g.filesz &&
		    len <= g.filesz - (vaddr - g.vaddr)) {
			*paddr = g.paddr + (vaddr - g.vaddr);
			return true;
		}
	}
	return false;
}

/* Report the executable sections (ELF64 only: Linux) to core/tsc.c.  false
 * when the file has no usable section headers: then the segments count. */
static bool add_exec_sections(struct vm *vm, const uint8_t *img, size_t size, const struct elf_phdrs *e)
{
	Elf64_Ehdr eh;
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_shoff == 0 || eh.e_shnum == 0 || eh.e_shentsize < sizeof(Elf64_Shdr) ||
	    eh.e_shoff > size || (uint64_t)eh.e_shnum * eh.e_shentsize > size - eh.e_shoff)
		return false;
	unsigned found = 0;
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh;
		memcpy(&sh, img + eh.e_shoff + (uint64_t)i * eh.e_shentsize, sizeof(sh));
		uint64_t pa;
		if (sh.sh_type != SHT_PROGBITS || (sh.sh_flags & (SHF_ALLOC | SHF_EXECINSTR)) !=
		    (SHF_ALLOC | SHF_EXECINSTR) || sh.sh_size == 0)
			continue;
		if (!elf_vaddr_to_paddr(e, sh.sh_addr, sh.sh_size, &pa))
			continue;
		loader_add_exec(vm, pa, sh.sh_addr, sh.sh_size);
		found++;
	}
	return found > 0;
}

int loader_load_elf(struct vm *vm, const uint8_t *img, size_t size, const char *name, bool exec_sections,
		    uint64_t *entry, uint64_t *end)
{
	struct elf_phdrs e;
	*end = 0;

	switch (loader_elf_phdrs(img, size, &e)) {
	case 0:
		break;
	case ELF_NOT_ELF:
		log_error("%s: multiboot header without the a.out kludge, and not an ELF file", name);
		return -ENOEXEC;
	case ELF_UNKNOWN_CLASS:
		log_error("%s: unknown ELF class", name);
		return -ENOEXEC;
	default:
		goto trunc;
	}
	*entry = e.entry;
	int loaded = 0, entry_found = 0;
	uint64_t vaddr_entry = *entry;
	bool by_sections = exec_sections && e.is64 && add_exec_sections(vm, img, size, &e);
	for (uint64_t i = 0; i < e.phnum; i++) {
		struct elf_seg g;
		loader_elf_seg(&e, i, &g);
		uint64_t type = g.type, off = g.off, filesz = g.filesz, memsz = g.memsz, paddr = g.paddr;
		uint64_t vaddr = g.vaddr, flags = g.flags;
		if (type != PT_LOAD || memsz == 0)
			continue;
		if (off > size || filesz > size - off || filesz > memsz)
			goto trunc;
		int r = loader_put(vm, paddr, img + off, filesz, memsz, name);
		if (r)
			return r;
		if ((flags & PF_X) && filesz && !by_sections)
			loader_add_exec(vm, paddr, vaddr, filesz);
		if (paddr + memsz > *end)
			*end = paddr + memsz;
		/* e_entry is a virtual address: jump to where its segment was
		 * loaded, as GRUB does (a kernel linked at 0xc0100000 with
		 * AT(0x100000) starts at 0x10000c, not 0xc010000c). */
		if (!entry_found && vaddr_entry >= vaddr && vaddr_entry - vaddr < memsz) {
			*entry = vaddr_entry - vaddr + paddr;
			entry_found = 1;
		} else if (exec_sections && !entry_found && vaddr_entry >= paddr && vaddr_entry - paddr < memsz) {
			/* Linux's vmlinux: e_entry is physical already. */
			entry_found = 1;
		}
		loaded++;
	}
	if (!loaded) {
		log_error("%s: ELF file has no loadable segment", name);
		return -ENOEXEC;
	}
	if (!entry_found) {
		log_error("%s: entry point %#llx lies in no loadable segment", name,
			  (unsigned long long)vaddr_entry);
		return -ENOEXEC;
	}
	if (*entry != vaddr_entry)
		log_info("%s: entry point %#llx is virtual: loaded at %#llx", name,
			 (unsigned long long)vaddr_entry, (unsigned long long)*entry);
	return 0;
trunc:
	log_error("%s: truncated or malformed ELF headers", name);
	return -ENOEXEC;
}

int loader_memory_map(const struct vm *vm, struct mem_region *r)
{
	int n = 0;
	r[n++] = (struct mem_region){ 0, 0x9fc00, MEM_USABLE };
	r[n++] = (struct mem_region){ 0xf0000, 0x10000, MEM_RESERVED };
	r[n++] = (struct mem_region){ 0x100000, vm->low_size - 0x100000, MEM_USABLE };
	if (vm->high_size)
		r[n++] = (struct mem_region){ VM_HIGH_START, vm->high_size, MEM_USABLE };
	return n;
}

int loader_read_image(const struct boot_args *a, const char *path, uint8_t **data, size_t *size)
{
	return a->read ? a->read(a->read_ctx, path, data, size) : loader_read_file(path, data, size);
}

uint64_t loader_align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* The kernel image of a multiboot file (a.out kludge or ELF): its entry
 * point and the end of what it occupies.  0 or -errno (message printed). */
static int load_kernel(struct vm *vm, const uint8_t *img, size_t size, const char *name, uint64_t *entry,
		       uint64_t *end)
{
	size_t hoff;
	const struct mb_header *hp = mb_find(img, size, &hoff);
	struct mb_header h = { 0 };
	int r;

	if (!hp) {
		log_error("%s: not a multiboot kernel (no multiboot v1 header in its first 8 KiB)", name);
		return -ENOEXEC;
	}
	memcpy(&h, hp, size - hoff < sizeof(h) ? size - hoff : sizeof(h));
	if (h.flags & MB_FLAG_VIDEO)
		log_info("%s: asks for a video mode; ttvm has no display, ignored", name);

	if (h.flags & MB_FLAG_AOUT) {
		if (size - hoff < sizeof(h) || h.load_addr > h.header_addr ||
		    h.header_addr - h.load_addr > hoff) {
			log_error("%s: inconsistent multiboot a.out-kludge addresses", name);
			return -ENOEXEC;
		}
		uint64_t file_off = hoff - (h.header_addr - h.load_addr);
		uint64_t load_len = h.load_end_addr ? (uint64_t)h.load_end_addr - h.load_addr : size - file_off;
		uint64_t mem_len = h.bss_end_addr ? (uint64_t)h.bss_end_addr - h.load_addr : load_len;
		if (h.load_end_addr && h.load_end_addr < h.load_addr)
			load_len = UINT64_MAX;
		if (load_len > size - file_off || mem_len < load_len) {
			log_error("%s: multiboot load range exceeds the file", name);
			return -ENOEXEC;
		}
		if ((r = loader_put(vm, h.load_addr, img + file_off, load_len, mem_len, name)))
			return r;
		if (load_len)
			loader_add_exec(vm, h.load_addr, h.load_addr, load_len);
		*entry = h.entry_addr;
		*end = (uint64_t)h.load_addr + mem_len;
	} else {
		if ((r = loader_load_elf(vm, img, size, name, false, entry, end)))
			return r;
	}
	if (*entry >= (1ull << 32)) {
		log_error("%s: entry point %#llx is above 4 GiB", name, (unsigned long long)*entry);
		return -ENOEXEC;
	}
	return 0;
}

/* The modules, page-aligned from *cur on (moved past them), into mods.
 * 0 or -errno (message printed). */
static int load_modules(struct vm *vm, const struct boot_args *a, uint64_t *cur, struct mb_mod *mods)
{
	int r;

	for (size_t i = 0; i < a->nmodules; i++) {
		uint8_t *m;
		size_t msz;
		if ((r = loader_read_image(a, a->modules[i], &m, &msz)))
			return r;
		r = loader_put(vm, *cur, m, msz, msz ? msz : 1, a->modules[i]);
		free(m);
		if (r)
			return r;
		mods[i].mod_start = (uint32_t)*cur;
		mods[i].mod_end = (uint32_t)(*cur + msz);
		*cur = loader_align_up(*cur + msz, 4096);
	}
	return 0;
}

int multiboot_load(struct vm *vm, const uint8_t *img, size_t size,
		   const struct boot_args *a, struct boot_state *st)
{
	const char *name = a->kernel_path;
	uint64_t entry, end;
	int r;

	if ((r = load_kernel(vm, img, size, name, &entry, &end)))
		return r;

	/* Boot information goes after the kernel: modules (page-aligned),
	 * then the info block, memory map and strings. */
	uint64_t cur = loader_align_up(end, 4096);
	struct mb_mod *mods = calloc(a->nmodules ? a->nmodules : 1, sizeof(*mods));
	if (!mods)
		return -ENOMEM;
	if ((r = load_modules(vm, a, &cur, mods)))
		goto out;

	struct mem_region reg[MEM_MAX_REGIONS];
	struct mb_mmap mmap[MEM_MAX_REGIONS];
	int nmap = loader_memory_map(vm, reg);
	for (int i = 0; i < nmap; i++)
		mmap[i] = (struct mb_mmap){ 20, reg[i].addr, reg[i].len, reg[i].type };

	struct mb_info info = { 0 };
	uint64_t info_addr = cur;
	uint64_t mods_addr = info_addr + sizeof(info);
	uint64_t mmap_addr = mods_addr + a->nmodules * sizeof(struct mb_mod);
	uint64_t str_addr = mmap_addr + (uint64_t)nmap * sizeof(struct mb_mmap);
	uint64_t str = str_addr;

	info.flags = MB_INFO_MEM | MB_INFO_CMDLINE | MB_INFO_MMAP | MB_INFO_LOADER;
	info.mem_lower = 639;
	info.mem_upper = (uint32_t)((vm->low_size - 0x100000) >> 10);
	info.mmap_addr = (uint32_t)mmap_addr;
	info.mmap_length = (uint32_t)(nmap * sizeof(struct mb_mmap));

	/* Command line as GRUB and QEMU pass it: the kernel's name, then the arguments. */
	size_t cl_len = strlen(name) + 2 + (a->cmdline ? strlen(a->cmdline) : 0);
	char *cl = malloc(cl_len);
	if (!cl) {
		r = -ENOMEM;
		goto out;
	}
	snprintf(cl, cl_len, "%s%s%s", name, a->cmdline ? " " : "", a->cmdline ? a->cmdline : "");
	info.cmdline = (uint32_t)str;
	r = loader_put(vm, str, cl, strlen(cl) + 1, strlen(cl) + 1, "multiboot command line");
	str += strlen(cl) + 1;
	free(cl);
	if (r)
		goto out;
	static const char loader_name[] = "ttvm";
	info.boot_loader_name = (uint32_t)str;
	if ((r = loader_put(vm, str, loader_name, sizeof(loader_name), sizeof(loader_name), "multiboot info")))
		goto out;
	str += sizeof(loader_name);
	if (a->nmodules) {
		info.flags |= MB_INFO_MODS;
		info.mods_count = (uint32_t)a->nmodules;
		info.mods_addr = (uint32_t)mods_addr;
		for (size_t i = 0; i < a->nmodules; i++) {
			size_t l = strlen(a->modules[i]) + 1;
			mods[i].string = (uint32_t)str;
			if ((r = loader_put(vm, str, a->modules[i], l, l, "multiboot module name")))
				goto out;
			str += l;
		}
		if ((r = loader_put(vm, mods_addr, mods, a->nmodules * sizeof(*mods),
			     a->nmodules * sizeof(*mods), "multiboot module list")))
			goto out;
	}
	if ((r = loader_put(vm, mmap_addr, mmap, info.mmap_length, info.mmap_length, "multiboot memory map")) ||
	    (r = loader_put(vm, info_addr, &info, sizeof(info), sizeof(info), "multiboot info")))
		goto out;
	if (str >= (1ull << 32)) {
		log_error("%s: boot information would lie above 4 GiB", name);
		r = -ENOMEM;
		goto out;
	}

	memset(st, 0, sizeof(*st));
	st->mode = BOOT_PROT32;
	st->rip = entry;
	st->eax = MB_BOOT_MAGIC;
	st->ebx = (uint32_t)info_addr;
	st->rsp = MB_STACK_TOP;
	log_info("multiboot: entry %#llx, info at %#llx, %zu module(s), image ends at %#llx, "
		 "stack at %#llx",
		 (unsigned long long)entry, (unsigned long long)info_addr, a->nmodules,
		 (unsigned long long)str, (unsigned long long)st->rsp);
	r = 0;
out:
	free(mods);
	return r;
}

int flat_load(struct vm *vm, const uint8_t *img, size_t size, uint64_t addr, struct boot_state *st)
{
	int r;

	if (addr >= 0x100000 || size > 0x100000 - addr) {
		log_error("--flat %#llx: a real-mode image must lie below 1 MiB (%zu bytes)",
			  (unsigned long long)addr, size);
		return -EINVAL;
	}
	if ((r = loader_put(vm, addr, img, size, size ? size : 1, "flat image")))
		return r;
	memset(st, 0, sizeof(*st));
	st->mode = BOOT_REAL16;
	st->cs = (uint16_t)((addr >> 4) & 0xf000);
	st->rip = addr - ((uint64_t)st->cs << 4);
	st->rsp = 0x7000; /* below the traditional 0x7c00 boot sector, above the BDA */
	st->edx = 0x80;   /* boot drive, as a PC BIOS leaves it */
	return 0;
}

static void seg_flat(struct kvm_segment *s, uint16_t sel, uint8_t type, int code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->db = 1;
	s->s = 1;
	s->l = 0;
	s->g = 1;
	(void)code;
}

int loader_apply_state(struct vm *vm, const struct boot_state *st)
{
	struct kvm_sregs s;
	struct kvm_regs regs;
	int r;

	if ((r = vcpu_get_sregs(vm, &s)))
		return r;
	if (st->mode == BOOT_LONG64) {
		/* Linux's 64-bit boot protocol: flat 64-bit code, flat data,
		 * paging on with the loader's identity map. */
		seg_flat(&s.cs, 0x10, 0xb, 1);
		s.cs.db = 0;
		s.cs.l = 1;
		seg_flat(&s.ds, 0x18, 0x3, 0);
		s.es = s.fs = s.gs = s.ss = s.ds;
		s.gdt.base = st->gdt;
		s.gdt.limit = 4 * 8 - 1;
		s.cr0 = 0x80000011; /* PG | ET | PE */
		s.cr3 = st->cr3;
		s.cr4 = 0x20;       /* PAE */
		s.efer = 0x500;     /* LMA | LME */
	} else if (st->mode == BOOT_PROT32) {
		/* Multiboot: flat 4 GiB code and data segments, PE on, paging off. */
		seg_flat(&s.cs, 0x10, 0xb, 1);
		seg_flat(&s.ds, 0x18, 0x3, 0);
		s.es = s.fs = s.gs = s.ss = s.ds;
		s.cr0 = 0x11; /* PE | ET */
		s.cr4 = 0;
		s.efer = 0;
	} else {
		s.cs.selector = st->cs;
		s.cs.base = (uint64_t)st->cs << 4;
		s.ds.selector = s.es.selector = s.fs.selector = s.gs.selector = s.ss.selector = 0;
		s.ds.base = s.es.base = s.fs.base = s.gs.base = s.ss.base = 0;
	}
	if ((r = vcpu_set_sregs(vm, &s)))
		return r;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = st->rip;
	regs.rsp = st->rsp;
	regs.rax = st->eax;
	regs.rbx = st->ebx;
	regs.rdx = st->edx;
	regs.rsi = st->rsi;
	return vcpu_set_regs(vm, &regs);
}
