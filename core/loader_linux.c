/* What Linux's two boot paths (PVH, bzImage) share: command line and initrd. */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/loader_internal.h"
#include "core/log.h"
#include "core/vm.h"

int linux_put_cmdline(struct vm *vm, const struct boot_args *a, uint32_t max)
{
	const char *cl = a->cmdline ? a->cmdline : "";
	size_t len = strlen(cl) + 1;

	if (len > max) {
		log_error("%s: the command line has %zu bytes; this kernel takes at most %u", a->kernel_path,
			  len - 1, max - 1);
		return -E2BIG;
	}
	return loader_put(vm, LINUX_CMDLINE, cl, len, len, "Linux command line");
}

int linux_put_initrd(struct vm *vm, const struct boot_args *a, uint64_t floor, uint64_t limit,
		     uint64_t *addr, uint64_t *size)
{
	uint8_t *all = NULL;
	size_t total = 0;
	int r = 0;

	*addr = *size = 0;
	for (size_t i = 0; i < a->nmodules; i++) {
		uint8_t *m;
		size_t msz;
		if ((r = loader_read_image(a, a->modules[i], &m, &msz)))
			goto out;
		size_t at = (total + 3) & ~(size_t)3;
		uint8_t *n = realloc(all, at + msz ? at + msz : 1);
		if (!n) {
			free(m);
			r = -ENOMEM;
			goto out;
		}
		all = n;
		memset(all + total, 0, at - total);
		memcpy(all + at, m, msz);
		total = at + msz;
		free(m);
	}
	if (!a->nmodules)
		return 0;
	if (limit > vm->low_size)
		limit = vm->low_size;
	uint64_t start = limit >= total ? (limit - total) & ~0xfffull : 0;
	if (total == 0 || limit < total || start < floor) {
		uint64_t need_mib = (floor + total + (1u << 20) - 1) >> 20;
		if (total == 0)
			log_error("%s: the initrd is empty", a->modules[0]);
		else
			log_error("%s: an initrd of %zu bytes does not fit between the kernel's end (%#llx) and "
				  "%#llx: give -m %llu or more", a->modules[0], total, (unsigned long long)floor,
				  (unsigned long long)limit, (unsigned long long)need_mib + 1);
		r = total == 0 ? -EINVAL : -ENOMEM;
		goto out;
	}
	if ((r = loader_put(vm, start, all, total, total, "initrd")))
		goto out;
	*addr = start;
	*size = total;
out:
	free(all);
	return r;
}

/* A section of an ELF64 file by name; false when there is none. */
static bool elf64_section(const uint8_t *img, size_t size, const char *want, Elf64_Shdr *out)
{
	Elf64_Ehdr eh;
	Elf64_Shdr strs;

	if (size < sizeof(eh))
		return false;
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_shoff == 0 || eh.e_shentsize < sizeof(Elf64_Shdr) || eh.e_shoff > size ||
	    (uint64_t)eh.e_shnum * eh.e_shentsize > size - eh.e_shoff || eh.e_shstrndx >= eh.e_shnum)
		return false;
	memcpy(&strs, img + eh.e_shoff + (uint64_t)eh.e_shstrndx * eh.e_shentsize, sizeof(strs));
	if (strs.sh_offset > size || strs.sh_size > size - strs.sh_offset)
		return false;
	size_t wl = strlen(want) + 1;
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh;
		memcpy(&sh, img + eh.e_shoff + (uint64_t)i * eh.e_shentsize, sizeof(sh));
		if (sh.sh_name < strs.sh_size && strs.sh_size - sh.sh_name >= wl &&
		    memcmp(img + strs.sh_offset + sh.sh_name, want, wl) == 0) {
			*out = sh;
			return true;
		}
	}
	return false;
}

/* Where linear [va, va+len) of the loaded code lies in guest RAM. */
static bool exec_gpa(const struct vm *vm, uint64_t va, uint64_t len, uint64_t *gpa)
{
	for (unsigned i = 0; i < vm->nexec; i++) {
		const struct vm_exec_range *x = &vm->exec[i];
		if (va >= x->vaddr && va - x->vaddr <= x->size && len <= x->size - (va - x->vaddr)) {
			*gpa = x->gpa + (va - x->vaddr);
			return true;
		}
	}
	return false;
}

/* Decode .altinstructions with entries of esize bytes (12: Linux up to 6.2,
 * u16 cpuid; 14: later, u32 ft_flags), all or nothing. */
static size_t decode_alts(struct vm *vm, const uint8_t *tab, const Elf64_Shdr *alt, const Elf64_Shdr *repl,
			  size_t esize, struct vm_code_copy *out)
{
	size_t n = alt->sh_size / esize;

	if (alt->sh_size % esize)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = tab + i * esize;
		int32_t instr_off, repl_off;
		memcpy(&instr_off, e, 4);
		memcpy(&repl_off, e + 4, 4);
		uint8_t instrlen = e[esize - 2], repllen = e[esize - 1];
		uint64_t at = alt->sh_addr + i * esize;
		uint64_t instr = at + (uint64_t)(int64_t)instr_off, src = at + 4 + (uint64_t)(int64_t)repl_off;
		uint64_t gpa;
		if (repllen > instrlen || !exec_gpa(vm, instr, instrlen, &gpa) ||
		    (repllen && (src < repl->sh_addr || src - repl->sh_addr > repl->sh_size ||
				 repllen > repl->sh_size - (src - repl->sh_addr))))
			return 0;
		out[i] = (struct vm_code_copy){ instr, gpa, src, repllen };
	}
	return n;
}

int linux_note_alternatives(struct vm *vm, const uint8_t *img, size_t size)
{
	Elf64_Shdr alt, repl;

	if (!elf64_section(img, size, ".altinstructions", &alt) ||
	    !elf64_section(img, size, ".altinstr_replacement", &repl) || alt.sh_offset > size ||
	    alt.sh_size > size - alt.sh_offset || alt.sh_size == 0)
		return 0;
	struct vm_code_copy *c = calloc(alt.sh_size / 12 + 1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	size_t n = decode_alts(vm, img + alt.sh_offset, &alt, &repl, 12, c);
	if (!n)
		n = decode_alts(vm, img + alt.sh_offset, &alt, &repl, 14, c);
	if (!n) {
		log_info("%s: .altinstructions in an unknown format: RDTSCs the kernel copies into place at "
			 "boot are not trapped", "Linux");
		free(c);
		return 0;
	}
	free(vm->copies);
	vm->copies = c;
	vm->ncopies = n;
	log_debug("Linux: %zu alternative instruction(s)", n);
	return 0;
}
