/* Linux through its PVH entry: an uncompressed vmlinux whose ELF notes name
 * a 32-bit entry point (XEN_ELFNOTE_PHYS32_ENTRY), started as Xen's and
 * QEMU's PVH boot does: flat 32-bit protected mode, paging off, EBX = the
 * guest-physical address of an hvm_start_info (version 1: command line,
 * initrd as the first module, memory map; no ACPI RSDP). */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "core/loader_internal.h"
#include "core/log.h"
#include "core/vm.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578u

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
};

struct hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

/* Walk the notes of [p, p+len) for Xen's PHYS32_ENTRY. */
static bool note_entry(const uint8_t *p, uint64_t len, uint32_t *entry)
{
	uint64_t o = 0;

	while (len - o >= 12) {
		uint32_t namesz, descsz, type;
		memcpy(&namesz, p + o, 4);
		memcpy(&descsz, p + o + 4, 4);
		memcpy(&type, p + o + 8, 4);
		uint64_t name_at = o + 12, desc_at = name_at + (((uint64_t)namesz + 3) & ~3ull);
		uint64_t next = desc_at + (((uint64_t)descsz + 3) & ~3ull);
		if (desc_at > len || next > len)
			return false;
		if (namesz == 4 && memcmp(p + name_at, "Xen", 4) == 0 && type == XEN_ELFNOTE_PHYS32_ENTRY &&
		    (descsz == 4 || descsz == 8)) {
			memcpy(entry, p + desc_at, 4);
			return true;
		}
		o = next;
	}
	return false;
}

/* The PVH entry point of an ELF image; false when it has none. */
static bool pvh_entry(const uint8_t *img, size_t size, uint32_t *entry)
{
	struct elf_phdrs e;

	if (loader_elf_phdrs(img, size, &e))
		return false;
	for (uint64_t i = 0; i < e.phnum; i++) {
		struct elf_seg g;
		loader_elf_seg(&e, i, &g);
		if (g.type == PT_NOTE && g.off <= size && g.filesz <= size - g.off &&
		    note_entry(img + g.off, g.filesz, entry))
			return true;
	}
	return false;
}

int pvh_probe(const uint8_t *img, size_t size)
{
	uint32_t entry;
	return pvh_entry(img, size, &entry);
}

int pvh_load(struct vm *vm, const uint8_t *img, size_t size, const struct boot_args *a, struct boot_state *st)
{
	const char *name = a->kernel_path;
	uint32_t entry;
	uint64_t elf_entry, end, initrd, initrd_size;
	int r;

	if (!pvh_entry(img, size, &entry)) {
		log_error("%s: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)", name);
		return -ENOEXEC;
	}
	if ((r = loader_load_elf(vm, img, size, name, true, &elf_entry, &end)) ||
	    (r = linux_note_alternatives(vm, img, size)) || (r = linux_note_text_sites(vm, img, size)))
		return r;
	if (!vm_gpa_ptr(vm, entry, 1)) {
		log_error("%s: PVH entry point %#x lies outside guest RAM", name, entry);
		return -ENOEXEC;
	}
	if ((r = linux_put_cmdline(vm, a, LINUX_CMDLINE_MAX)) ||
	    (r = linux_put_initrd(vm, a, loader_align_up(end, 4096), VM_PCI_HOLE_START, &initrd, &initrd_size)))
		return r;

	struct mem_region reg[MEM_MAX_REGIONS];
	struct hvm_memmap_entry map[MEM_MAX_REGIONS];
	int n = loader_memory_map(vm, reg);
	for (int i = 0; i < n; i++)
		map[i] = (struct hvm_memmap_entry){ reg[i].addr, reg[i].len, reg[i].type, 0 };
	struct hvm_modlist_entry mod = { initrd, initrd_size, 0, 0 };
	uint64_t mod_at = LINUX_START_INFO + 0x40, map_at = LINUX_START_INFO + 0x80;
	struct hvm_start_info si = {
		.magic = HVM_START_MAGIC, .version = 1, .nr_modules = initrd_size ? 1 : 0,
		.modlist_paddr = initrd_size ? mod_at : 0, .cmdline_paddr = LINUX_CMDLINE,
		.memmap_paddr = map_at, .memmap_entries = (uint32_t)n,
	};
	if ((r = loader_put(vm, map_at, map, n * sizeof(map[0]), n * sizeof(map[0]), "PVH memory map")) ||
	    (r = loader_put(vm, mod_at, &mod, sizeof(mod), sizeof(mod), "PVH module list")) ||
	    (r = loader_put(vm, LINUX_START_INFO, &si, sizeof(si), sizeof(si), "PVH start info")))
		return r;

	memset(st, 0, sizeof(*st));
	st->mode = BOOT_PROT32;
	st->rip = entry;
	st->ebx = (uint32_t)LINUX_START_INFO;
	log_info("PVH: entry %#x, kernel ends at %#llx, initrd %llu bytes at %#llx", entry,
		 (unsigned long long)end, (unsigned long long)initrd_size, (unsigned long long)initrd);
	return 0;
}
