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

/* *eh: the ELF64 header of img, whose section headers lie in the file.
 * false when it has none. */
static bool elf64_shdrs(const uint8_t *img, size_t size, Elf64_Ehdr *eh)
{
	if (size < sizeof(*eh))
		return false;
	memcpy(eh, img, sizeof(*eh));
	return eh->e_shoff != 0 && eh->e_shentsize >= sizeof(Elf64_Shdr) && eh->e_shoff <= size &&
	       (uint64_t)eh->e_shnum * eh->e_shentsize <= size - eh->e_shoff;
}

/* A section of an ELF64 file by name; false when there is none. */
static bool elf64_section(const uint8_t *img, size_t size, const char *want, Elf64_Shdr *out)
{
	Elf64_Ehdr eh;
	Elf64_Shdr strs;

	if (!elf64_shdrs(img, size, &eh) || eh.e_shstrndx >= eh.e_shnum)
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
 * u16 cpuid; 14: later, u32 ft_flags), all or nothing.  sites (may be
 * NULL) gets each original instruction's bytes. */
static size_t decode_alts(struct vm *vm, const uint8_t *tab, const Elf64_Shdr *alt, const Elf64_Shdr *repl,
			  size_t esize, struct vm_code_copy *out, struct vm_range *sites)
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
		if (sites)
			sites[i] = (struct vm_range){ gpa, instrlen };
	}
	return n;
}

/* The image's .altinstructions, in either entry size: *copies and, when
 * sites is not NULL, *sites (each original instruction's bytes), malloc'd
 * with *n entries.  0 (*n 0: there are none), 1 (in an unknown format:
 * *n 0) or -ENOMEM. */
static int read_alts(struct vm *vm, const uint8_t *img, size_t size, struct vm_code_copy **copies,
		     struct vm_range **sites, size_t *n)
{
	Elf64_Shdr alt, repl;

	*copies = NULL;
	if (sites)
		*sites = NULL;
	*n = 0;
	if (!elf64_section(img, size, ".altinstructions", &alt) ||
	    !elf64_section(img, size, ".altinstr_replacement", &repl) || alt.sh_offset > size ||
	    alt.sh_size > size - alt.sh_offset || alt.sh_size == 0)
		return 0;
	size_t most = alt.sh_size / 12 + 1;
	struct vm_code_copy *c = calloc(most, sizeof(*c));
	struct vm_range *r = sites ? calloc(most, sizeof(*r)) : NULL;
	if (!c || (sites && !r)) {
		free(c);
		free(r);
		return -ENOMEM;
	}
	*n = decode_alts(vm, img + alt.sh_offset, &alt, &repl, 12, c, r);
	if (!*n)
		*n = decode_alts(vm, img + alt.sh_offset, &alt, &repl, 14, c, r);
	if (!*n) {
		free(c);
		free(r);
		return 1;
	}
	*copies = c;
	if (sites)
		*sites = r;
	return 0;
}

int linux_note_alternatives(struct vm *vm, const uint8_t *img, size_t size)
{
	struct vm_code_copy *c;
	size_t n;
	int r = read_alts(vm, img, size, &c, NULL, &n);

	if (r < 0)
		return r;
	if (r)
		log_info("%s: .altinstructions in an unknown format: RDTSCs the kernel copies into place at "
			 "boot are not trapped", "Linux");
	if (!n)
		return 0;
	free(vm->copies);
	vm->copies = c;
	vm->ncopies = n;
	log_debug("Linux: %zu alternative instruction(s)", n);
	return 0;
}

/* The bytes of the image at linear va (an allocated section's), or NULL. */
static const uint8_t *elf64_bytes(const uint8_t *img, size_t size, uint64_t va, size_t n)
{
	Elf64_Ehdr eh;

	if (!elf64_shdrs(img, size, &eh))
		return NULL;
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh;
		memcpy(&sh, img + eh.e_shoff + (uint64_t)i * eh.e_shentsize, sizeof(sh));
		if (sh.sh_type == SHT_PROGBITS && (sh.sh_flags & SHF_ALLOC) && va >= sh.sh_addr &&
		    va - sh.sh_addr < sh.sh_size && n <= sh.sh_size - (va - sh.sh_addr) && sh.sh_offset <= size &&
		    sh.sh_size <= size - sh.sh_offset)
			return img + sh.sh_offset + (va - sh.sh_addr);
	}
	return NULL;
}

/* Length of the branch Linux rewrites at a return, retpoline or jump-label
 * site (the image's bytes b): jmp/call rel32 5, jcc rel32 6, jmp rel8 2,
 * ret 1, the 5- and 2-byte NOPs; anything else counts 5. */
static unsigned site_len(const uint8_t *b)
{
	if (!b)
		return 5;
	size_t i = b[0] == 0x2e || b[0] == 0x3e ? 1 : 0;
	if (b[i] == 0x0f && (b[i + 1] & 0xf0) == 0x80)
		return (unsigned)i + 6;
	if (b[i] == 0xeb || (b[i] & 0xf0) == 0x70 || (b[i] == 0x66 && b[i + 1] == 0x90))
		return (unsigned)i + 2;
	if (b[i] == 0xc3)
		return (unsigned)i + 1;
	return (unsigned)i + 5;
}

struct site_list {
	struct vm_range *r;
	size_t n, cap;
};

static int site_add(struct site_list *l, uint64_t gpa, uint64_t len)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		struct vm_range *r = realloc(l->r, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		l->r = r;
		l->cap = cap;
	}
	l->r[l->n++] = (struct vm_range){ gpa, len };
	return 0;
}

/* Tables of 32-bit offsets, each from its own entry to a site (len 0: the
 * site's instruction says).  Linux versions have some of them. */
static const struct {
	const char *name;
	unsigned len;
} rel_tables[] = {
	{ ".return_sites", 0 },  /* jmp __x86_return_thunk: apply_returns */
	{ ".retpoline_sites", 0 }, /* call/jmp __x86_indirect_thunk_*: apply_retpolines */
	{ ".call_sites", 5 },    /* call depth tracking (6.2+) */
	{ ".ibt_endbr_seal", 4 }, /* ENDBR64 sealed (6.2+) */
	{ ".smp_locks", 1 },     /* LOCK prefixes, turned into DS on one CPU */
};

/* All or nothing per table: a table whose entries do not all land in the
 * loaded code is in a format this does not know, and is skipped. */
static int note_rel_table(struct vm *vm, const uint8_t *img, size_t size, const char *name, unsigned len,
			  struct site_list *l)
{
	Elf64_Shdr sh;
	size_t first = l->n;
	int r;

	if (!elf64_section(img, size, name, &sh) || sh.sh_type != SHT_PROGBITS || sh.sh_offset > size ||
	    sh.sh_size > size - sh.sh_offset || sh.sh_size % 4)
		return 0;
	for (uint64_t off = 0; off < sh.sh_size; off += 4) {
		int32_t rel;
		uint64_t gpa;
		memcpy(&rel, img + sh.sh_offset + off, 4);
		if (rel == 0)
			continue; /* padding (.smp_locks ends page-aligned) */
		uint64_t va = sh.sh_addr + off + (uint64_t)(int64_t)rel;
		unsigned n = len ? len : site_len(elf64_bytes(img, size, va, 7));
		if (!exec_gpa(vm, va, n, &gpa)) {
			log_info("Linux: %s in an unknown format: patch traps may go on its sites", name);
			l->n = first;
			return 0;
		}
		if ((r = site_add(l, gpa, n)))
			return r;
	}
	return 0;
}

/* .parainstructions (Linux up to 6.7): { u8 *instr; u8 type; u8 len; }. */
static int note_paravirt(struct vm *vm, const uint8_t *img, size_t size, struct site_list *l)
{
	Elf64_Shdr sh;
	size_t first = l->n;
	int r;

	if (!elf64_section(img, size, ".parainstructions", &sh) || sh.sh_type != SHT_PROGBITS ||
	    sh.sh_offset > size || sh.sh_size > size - sh.sh_offset || sh.sh_size % 16)
		return 0;
	for (uint64_t off = 0; off < sh.sh_size; off += 16) {
		uint64_t va, gpa;
		memcpy(&va, img + sh.sh_offset + off, 8);
		uint8_t n = img[sh.sh_offset + off + 9];
		if (!n || n > 16 || !exec_gpa(vm, va, n, &gpa)) {
			log_info("Linux: .parainstructions in an unknown format: patch traps may go on its sites");
			l->n = first;
			return 0;
		}
		if ((r = site_add(l, gpa, n)))
			return r;
	}
	return 0;
}

static int range_cmp(const void *a, const void *b)
{
	const struct vm_range *x = a, *y = b;
	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

int linux_note_text_sites(struct vm *vm, const uint8_t *img, size_t size)
{
	struct site_list l = { 0 };
	int r = 0;

	for (size_t i = 0; i < sizeof(rel_tables) / sizeof(rel_tables[0]) && !r; i++)
		r = note_rel_table(vm, img, size, rel_tables[i].name, rel_tables[i].len, &l);
	if (!r)
		r = note_paravirt(vm, img, size, &l);
	if (!r) {
		struct vm_code_copy *c;
		struct vm_range *s;
		size_t n;
		r = read_alts(vm, img, size, &c, &s, &n);
		if (r > 0)
			r = 0; /* an unknown format: skipped */
		for (size_t i = 0; i < n && !r; i++)
			if (s[i].len)
				r = site_add(&l, s[i].gpa, s[i].len);
		free(c);
		free(s);
	}
	if (r) {
		free(l.r);
		return r;
	}
	size_t m = 0;
	if (l.n) {
		qsort(l.r, l.n, sizeof(*l.r), range_cmp);
		for (size_t i = 1; i < l.n; i++) {
			struct vm_range *last = &l.r[m];
			if (l.r[i].gpa <= last->gpa + last->len) {
				uint64_t end = l.r[i].gpa + l.r[i].len;
				if (end > last->gpa + last->len)
					last->len = end - last->gpa;
			} else {
				l.r[++m] = l.r[i];
			}
		}
		m++;
	}
	free(vm->text_sites);
	vm->text_sites = l.r;
	vm->ntext_sites = m;
	log_debug("Linux: %zu site(s) of code the kernel reads back or rewrites, in %zu range(s)", l.n, m);
	return 0;
}
