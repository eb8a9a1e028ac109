/* The kernel inside a bzImage: payload, ELF, relocations, the hand-over. */
#include "core/bzimage_kernel.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>

#include "core/loader_internal.h"
#include "core/log.h"
#include "core/tsc.h"
#include "core/vm.h"

#define OUT_IMM8 0xe6
#define CALL_REL32 0xe8
#define POP_RSI 0x5e
#define HEAD_LEN 16
/* Relocated words read to find the KASLR offset: a majority must agree. */
#define MAX_RELS 8
/* Far above any kernel (Debian's unpacks to ~45 MiB), to refuse nonsense. */
#define MAX_UNPACKED (1ull << 30)

struct bzk_section {
	uint64_t off, size; /* from the kernel's lowest p_paddr */
	uint64_t vaddr;     /* link-time address (before KASLR) */
	uint8_t *code;      /* its bytes as unpacked, before any patching */
};

/* A 32-bit relocation: the word at off holds a kernel address, which the
 * decompressor moves by the virtual offset KASLR chose. */
struct bzk_rel {
	uint64_t off;
	uint32_t orig;
};

struct bzimage_kernel {
	uint64_t load, init_size; /* the decompressor's buffer */
	uint64_t align;           /* where the decompressor may put the kernel */
	uint64_t entry_off, span; /* the kernel's entry and extent, from its lowest p_paddr */
	uint8_t head[HEAD_LEN];   /* its first bytes at the entry */
	size_t head_len;
	struct bzk_section sec[VM_MAX_EXEC];
	unsigned nsec;
	struct bzk_rel rel[MAX_RELS];
	unsigned nrel;
	uint64_t min_paddr;           /* the kernel's link-time physical start */
	struct vm_code_copy *copies; /* its alternatives, at link-time addresses */
	size_t ncopies;
	struct vm_range *text_sites; /* code it reads back, from min_paddr up */
	size_t ntext_sites;
	unsigned handovers, recoveries;
};

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static const char *format_name(const uint8_t *p, size_t len)
{
	static const struct {
		const char *name;
		uint8_t magic[4];
		size_t n;
	} f[] = {
		{ "gzip", { 0x1f, 0x8b }, 2 },           { "bzip2", { 'B', 'Z', 'h' }, 3 },
		{ "lzo", { 0x89, 'L', 'Z', 'O' }, 4 },   { "lz4", { 0x02, 0x21, 0x4c, 0x18 }, 4 },
		{ "zstd", { 0x28, 0xb5, 0x2f, 0xfd }, 4 },
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (len >= f[i].n && !memcmp(p, f[i].magic, f[i].n))
			return f[i].name;
	return NULL;
}

/* Unpack the payload: xz or lzma (what liblzma's auto decoder takes).  The
 * kernel's build appends the unpacked size as 4 bytes (size_append), which
 * the result must match.  0 or -errno, message printed. */
static int unpack(const uint8_t *in, size_t len, const char *name, uint8_t **out, size_t *out_len)
{
	static const uint8_t xz_magic[6] = { 0xfd, '7', 'z', 'X', 'Z', 0 };
	const char *other = format_name(in, len);

	if (other || len < 8 || (memcmp(in, xz_magic, 6) && in[0] != 0x5d)) {
		log_error("%s: the kernel in this bzImage is compressed with %s: ttvm unpacks xz and lzma only "
			  "(it must read the kernel to trap its RDTSCs)", name, other ? other : "an unknown method");
		return -ENOEXEC;
	}
	uint64_t want = rd32(in + len - 4);
	if (want == 0 || want > MAX_UNPACKED) {
		log_error("%s: the payload's appended size (%" PRIu64 " bytes) is not that of a kernel", name, want);
		return -ENOEXEC;
	}
	uint8_t *buf = malloc(want + 1);
	if (!buf)
		return -ENOMEM;
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret rc = lzma_auto_decoder(&s, UINT64_MAX, 0);
	if (rc == LZMA_OK) {
		s.next_in = in;
		s.avail_in = len - 4;
		s.next_out = buf;
		s.avail_out = want + 1; /* one byte more: a longer kernel is caught */
		rc = lzma_code(&s, LZMA_FINISH);
	}
	uint64_t got = s.total_out;
	lzma_end(&s);
	if (rc != LZMA_STREAM_END || got != want) {
		log_error("%s: the compressed kernel does not unpack (liblzma: %s%d; %" PRIu64 " of %" PRIu64 " bytes)",
			  name, rc == LZMA_STREAM_END ? "wrong size, " : "error ", (int)rc, got, want);
		free(buf);
		return -ENOEXEC;
	}
	*out = buf;
	*out_len = want;
	return 0;
}

struct elf_view {
	const uint8_t *img;
	size_t len;
	Elf64_Ehdr eh;
	uint64_t min_paddr;
};

static Elf64_Phdr phdr(const struct elf_view *e, unsigned i)
{
	Elf64_Phdr p;
	memcpy(&p, e->img + e->eh.e_phoff + (uint64_t)i * e->eh.e_phentsize, sizeof(p));
	return p;
}

/* The PT_LOAD segment whose file bytes hold virtual [va, va+n), or -1. */
static int seg_of_vaddr(const struct elf_view *e, uint64_t va, uint64_t n)
{
	for (unsigned i = 0; i < e->eh.e_phnum; i++) {
		Elf64_Phdr p = phdr(e, i);
		if (p.p_type == PT_LOAD && p.p_vaddr && va >= p.p_vaddr && va - p.p_vaddr <= p.p_filesz &&
		    n <= p.p_filesz - (va - p.p_vaddr))
			return (int)i;
	}
	return -1;
}

/* Headers, segments and entry.  *extent: where the ELF file's own bytes end
 * (what follows is the relocation table).  0 or -ENOEXEC. */
static int read_elf(struct elf_view *e, struct bzimage_kernel *k, uint64_t *extent)
{
	if (e->len < sizeof(e->eh) || memcmp(e->img, ELFMAG, SELFMAG))
		return -ENOEXEC;
	memcpy(&e->eh, e->img, sizeof(e->eh));
	const Elf64_Ehdr *h = &e->eh;
	if (h->e_ident[EI_CLASS] != ELFCLASS64 || h->e_machine != EM_X86_64 ||
	    h->e_phentsize < sizeof(Elf64_Phdr) || h->e_phoff > e->len ||
	    (uint64_t)h->e_phnum * h->e_phentsize > e->len - h->e_phoff ||
	    (h->e_shnum && (h->e_shentsize < sizeof(Elf64_Shdr) || h->e_shoff > e->len ||
			    (uint64_t)h->e_shnum * h->e_shentsize > e->len - h->e_shoff)))
		return -ENOEXEC;
	*extent = h->e_shoff + (uint64_t)h->e_shnum * h->e_shentsize;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (unsigned i = 0; i < h->e_phnum; i++) {
		Elf64_Phdr p = phdr(e, i);
		if (p.p_type != PT_LOAD)
			continue;
		if (p.p_offset > e->len || p.p_filesz > e->len - p.p_offset || p.p_filesz > p.p_memsz ||
		    p.p_paddr + p.p_memsz < p.p_paddr)
			return -ENOEXEC;
		lo = p.p_paddr < lo ? p.p_paddr : lo;
		hi = p.p_paddr + p.p_memsz > hi ? p.p_paddr + p.p_memsz : hi;
		if (p.p_offset + p.p_filesz > *extent)
			*extent = p.p_offset + p.p_filesz;
	}
	if (hi == 0)
		return -ENOEXEC;
	e->min_paddr = lo;
	k->span = hi - lo;
	/* e_entry: physical in a vmlinux (phys_startup_64), virtual elsewhere. */
	for (unsigned i = 0; i < h->e_phnum; i++) {
		Elf64_Phdr p = phdr(e, i);
		uint64_t at;
		if (p.p_type != PT_LOAD)
			continue;
		if (h->e_entry - p.p_paddr < p.p_filesz)
			at = h->e_entry - p.p_paddr;
		else if (p.p_vaddr && h->e_entry - p.p_vaddr < p.p_filesz)
			at = h->e_entry - p.p_vaddr;
		else
			continue;
		k->entry_off = p.p_paddr + at - lo;
		k->head_len = p.p_filesz - at < HEAD_LEN ? p.p_filesz - at : HEAD_LEN;
		memcpy(k->head, e->img + p.p_offset + at, k->head_len);
		return 0;
	}
	return -ENOEXEC;
}

/* The executable sections, as offsets from the lowest p_paddr: what
 * core/tsc.c scans (whole segments would take .rodata for code). */
static int read_sections(const struct elf_view *e, struct bzimage_kernel *k)
{
	for (unsigned i = 0; i < e->eh.e_shnum; i++) {
		Elf64_Shdr sh;
		memcpy(&sh, e->img + e->eh.e_shoff + (uint64_t)i * e->eh.e_shentsize, sizeof(sh));
		if (sh.sh_type != SHT_PROGBITS || (sh.sh_flags & (SHF_ALLOC | SHF_EXECINSTR)) !=
		    (SHF_ALLOC | SHF_EXECINSTR) || sh.sh_size == 0)
			continue;
		int s = seg_of_vaddr(e, sh.sh_addr, sh.sh_size);
		if (s < 0)
			continue;
		if (k->nsec == VM_MAX_EXEC) {
			log_info("kernel: more than %d executable sections: the rest is not scanned for RDTSC",
				 VM_MAX_EXEC);
			break;
		}
		Elf64_Phdr p = phdr(e, (unsigned)s);
		uint8_t *code = malloc(sh.sh_size);
		if (!code)
			return -ENOMEM;
		memcpy(code, e->img + p.p_offset + (sh.sh_addr - p.p_vaddr), sh.sh_size);
		k->sec[k->nsec++] = (struct bzk_section){ p.p_paddr + (sh.sh_addr - p.p_vaddr) - e->min_paddr,
							  sh.sh_size, sh.sh_addr, code };
	}
	return k->nsec ? 0 : -ENOEXEC;
}

/* Some 32-bit relocations of the table the build appends after the ELF
 * (arch/x86/tools/relocs: read backwards from the end, zero-ended): those
 * in the largest executable section (.text), which the kernel never frees,
 * unlike its init sections, so that they still tell the offset after a
 * checkpoint restore. */
static void read_relocs(const struct elf_view *e, uint64_t extent, struct bzimage_kernel *k)
{
	const struct bzk_section *text = &k->sec[0];
	for (unsigned i = 1; i < k->nsec; i++)
		if (k->sec[i].size > text->size)
			text = &k->sec[i];
	for (uint64_t at = e->len; at >= extent + 4 && k->nrel < MAX_RELS; at -= 4) {
		uint32_t r = rd32(e->img + at - 4);
		if (r == 0)
			break;
		uint64_t va = (uint64_t)(int64_t)(int32_t)r;
		int s = seg_of_vaddr(e, va, 4);
		if (s < 0)
			continue;
		Elf64_Phdr p = phdr(e, (unsigned)s);
		if (va - text->vaddr >= text->size || text->size - (va - text->vaddr) < 4)
			continue;
		k->rel[k->nrel++] = (struct bzk_rel){ p.p_paddr + (va - p.p_vaddr) - e->min_paddr,
						      rd32(e->img + p.p_offset + (va - p.p_vaddr)) };
	}
}

/* The kernel's alternatives (loader_linux.c reads them) at its link-time
 * addresses, shifted to where it lands at the hand-over.  0 or -ENOMEM. */
static int note_alternatives(struct vm *vm, struct bzimage_kernel *k, const uint8_t *elf, size_t len)
{
	vm->nexec = 0;
	for (unsigned i = 0; i < k->nsec; i++)
		loader_add_exec(vm, k->min_paddr + k->sec[i].off, k->sec[i].vaddr, k->sec[i].size);
	free(vm->copies);
	vm->copies = NULL;
	vm->ncopies = 0;
	int r = linux_note_alternatives(vm, elf, len);
	if (!r)
		r = linux_note_text_sites(vm, elf, len);
	k->copies = vm->copies;
	k->ncopies = vm->ncopies;
	vm->copies = NULL;
	vm->ncopies = 0;
	k->text_sites = vm->text_sites;
	k->ntext_sites = vm->ntext_sites;
	vm->text_sites = NULL;
	vm->ntext_sites = 0;
	vm->nexec = 0;
	return r;
}

long bzk_find_jump(const uint8_t *code, size_t len, size_t skip, size_t skip_len)
{
	static const uint8_t mov_r15_rsi[3] = { 0x4c, 0x89, 0xfe };
	long found = -1;

	for (size_t i = 8; i + 2 <= len; i++) {
		if (code[i] != 0xff || code[i + 1] != 0xe0)
			continue;
		size_t call;
		if (code[i - 1] == POP_RSI && code[i - 6] == CALL_REL32)
			call = i - 6;
		else if (!memcmp(code + i - 3, mov_r15_rsi, 3) && code[i - 8] == CALL_REL32)
			call = i - 8;
		else
			continue;
		if (i + 2 > skip && call < skip + skip_len)
			continue; /* inside the compressed payload */
		int64_t target = (int64_t)call + 5 + (int32_t)rd32(code + call + 1);
		if (target < 0 || (uint64_t)target >= len)
			continue;
		if (found >= 0)
			return -2;
		found = (long)i;
	}
	return found;
}

int bzk_prepare(struct vm *vm, const uint8_t *img, const struct bzimage_hdr *h, uint64_t load,
		const char *name)
{
	const uint8_t *pm = img + h->setup_size;
	struct bzimage_kernel *k = calloc(1, sizeof(*k));
	uint8_t *raw = NULL;
	size_t raw_len;
	int r;

	if (!k)
		return -ENOMEM;
	k->load = load;
	k->init_size = h->init_size;
	k->align = h->relocatable ? h->kernel_alignment : 0;
	long jump = bzk_find_jump(pm, h->pm_size, h->payload_offset, h->payload_length);
	if (jump < 0) {
		log_error("%s: %s the decompressor's jump to the kernel (call; pop %%rsi; jmp *%%rax): ttvm could "
			  "not trap the kernel's RDTSCs", name, jump == -1 ? "cannot find" : "more than one candidate for");
		r = -ENOEXEC;
		goto fail;
	}
	if ((r = unpack(pm + h->payload_offset, h->payload_length, name, &raw, &raw_len)))
		goto fail;
	struct elf_view e = { .img = raw, .len = raw_len };
	uint64_t extent;
	if ((r = read_elf(&e, k, &extent)) || (r = read_sections(&e, k))) {
		log_error("%s: the unpacked kernel is not a vmlinux ELF with executable sections", name);
		goto fail;
	}
	read_relocs(&e, extent, k);
	k->min_paddr = e.min_paddr;
	if ((r = note_alternatives(vm, k, raw, raw_len)))
		goto fail;
	uint8_t *p = vm_gpa_ptr(vm, load + (uint64_t)jump, 2);
	if (!p) {
		r = -ENOMEM;
		goto fail;
	}
	p[0] = OUT_IMM8;
	p[1] = BZK_PORT;
	log_info("bzImage: kernel of %" PRIu64 " bytes unpacked (%" PRIu64 " to load), %u executable section(s), "
		 "%u relocation(s) kept; jump to it at %#" PRIx64 " patched",
		 (uint64_t)raw_len, k->span, k->nsec, k->nrel, load + (uint64_t)jump);
	free(raw);
	bzk_free(vm->bzk);
	vm->bzk = k;
	return 0;
fail:
	free(raw);
	bzk_free(k);
	return r;
}

/* Is the OUT at c (its first byte) the patched jump, inside the buffer the
 * decompressor copied itself to? */
static bool is_jump(struct vm *vm, const struct bzimage_kernel *k, uint64_t c)
{
	if (c < k->load + 8 || c + 2 > k->load + k->init_size)
		return false;
	const uint8_t *p = vm_gpa_ptr(vm, c - 8, 10);
	return p && p[8] == OUT_IMM8 && p[9] == BZK_PORT &&
	       ((p[7] == POP_RSI && p[2] == CALL_REL32) ||
		(p[5] == 0x4c && p[6] == 0x89 && p[7] == 0xfe && p[0] == CALL_REL32));
}

/* The virtual offset the decompressor gave the kernel (KASLR): how much
 * the relocated words moved, as more than half of them agree (the kernel
 * may since have rewritten an instruction that held one).  false when no
 * such majority, true with 0 when the kernel has no relocations. */
static bool virt_offset(struct vm *vm, const struct bzimage_kernel *k, uint64_t base, uint64_t *delta)
{
	uint64_t d[MAX_RELS];

	*delta = 0;
	for (unsigned i = 0; i < k->nrel; i++) {
		const uint8_t *p = vm_gpa_ptr(vm, base + k->rel[i].off, 4);
		d[i] = p ? (uint32_t)(rd32(p) - k->rel[i].orig) : UINT64_MAX;
	}
	for (unsigned i = 0; i < k->nrel; i++) {
		unsigned n = 0;
		for (unsigned j = 0; j < k->nrel; j++)
			n += d[j] == d[i];
		if (d[i] != UINT64_MAX && 2 * n > k->nrel) {
			*delta = d[i];
			return true;
		}
	}
	return k->nrel == 0;
}

static bool kernel_at(struct vm *vm, const struct bzimage_kernel *k, uint64_t base)
{
	const uint8_t *p = vm_gpa_ptr(vm, base, k->span);
	return p && !memcmp(p + k->entry_off, k->head, k->head_len);
}

/* vm->copies: the alternatives moved by the kernel's offsets (none when
 * the virtual one is unknown: copies are keyed by linear address).
 * 0 or -ENOMEM. */
static int place_copies(struct vm *vm, const struct bzimage_kernel *k, uint64_t base, bool virt,
			uint64_t delta)
{
	free(vm->copies);
	vm->copies = NULL;
	vm->ncopies = 0;
	if (!virt || !k->ncopies)
		return 0;
	if (!(vm->copies = malloc(k->ncopies * sizeof(*vm->copies))))
		return -ENOMEM;
	for (size_t i = 0; i < k->ncopies; i++) {
		struct vm_code_copy c = k->copies[i];
		c.dst += delta;
		c.src += delta;
		c.dst_gpa = c.dst_gpa - k->min_paddr + base;
		vm->copies[i] = c;
	}
	vm->ncopies = k->ncopies;
	return 0;
}

/* vm->text_sites: the kernel's, where it lies (base). 0 or -ENOMEM. */
static int place_text_sites(struct vm *vm, const struct bzimage_kernel *k, uint64_t base)
{
	free(vm->text_sites);
	vm->text_sites = NULL;
	vm->ntext_sites = 0;
	if (!k->ntext_sites)
		return 0;
	if (!(vm->text_sites = malloc(k->ntext_sites * sizeof(*vm->text_sites))))
		return -ENOMEM;
	for (size_t i = 0; i < k->ntext_sites; i++)
		vm->text_sites[i] = (struct vm_range){ k->text_sites[i].gpa - k->min_paddr + base, k->text_sites[i].len };
	vm->ntext_sites = k->ntext_sites;
	return 0;
}

/* The kernel lies at base: report its code and alternatives to core/tsc.c
 * and trap its sites.  restored: RAM is a checkpoint's, past the hand-over
 * (sites patched, init code maybe freed, alternatives applied); then
 * tsc_setup() scans the code as unpacked, written in for the while, so
 * that it finds the hand-over's sites, and RAM gets its bytes back.
 * 0 or -errno (message printed). */
static int attach(struct vm *vm, struct bzimage_kernel *k, uint64_t base, bool restored)
{
	uint8_t *saved[VM_MAX_EXEC] = { NULL };
	uint64_t delta;
	bool virt = virt_offset(vm, k, base, &delta);
	int r = 0;

	if (!virt)
		log_info("bzImage: the kernel's relocated words disagree on its virtual offset: its RDTSC "
			 "sites are keyed by physical address only");
	vm->nexec = 0;
	for (unsigned i = 0; i < k->nsec; i++)
		loader_add_exec(vm, base + k->sec[i].off, virt ? k->sec[i].vaddr + delta : base + k->sec[i].off,
				k->sec[i].size);
	if ((r = place_copies(vm, k, base, virt, delta)) || (r = place_text_sites(vm, k, base)))
		goto out;
	for (unsigned i = 0; restored && i < k->nsec; i++) {
		uint8_t *ram = vm_gpa_ptr(vm, base + k->sec[i].off, k->sec[i].size);
		if (!ram || !(saved[i] = malloc(k->sec[i].size))) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(saved[i], ram, k->sec[i].size);
		memcpy(ram, k->sec[i].code, k->sec[i].size);
	}
	tsc_table_free(vm->tsc);
	vm->tsc = NULL;
	r = tsc_setup(vm);
	if (vm->tsc)
		tsc_lookup_by_gpa(vm->tsc, true);
out:
	for (unsigned i = 0; i < k->nsec; i++)
		if (saved[i]) {
			memcpy(vm_gpa_ptr(vm, base + k->sec[i].off, k->sec[i].size), saved[i], k->sec[i].size);
			free(saved[i]);
		}
	if (r)
		log_error("bzImage: cannot trap the kernel's RDTSCs: %s", strerror(-r));
	else
		log_info("bzImage: kernel at %#" PRIx64 ", virtual offset %#" PRIx64 "%s", base, delta,
			 restored ? " (found again in a restored state)" : "");
	return r;
}

bool bzk_handle_io(struct vm *vm)
{
	struct bzimage_kernel *k = vm->bzk;
	struct kvm_run *run = vm->run;
	struct kvm_regs regs;

	if (!k || run->io.port != BZK_PORT || run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1 ||
	    run->io.count != 1 || vcpu_get_regs(vm, &regs))
		return false;
	/* RIP is the OUT (KVM's fast path) or after it (the emulator's). */
	uint64_t at = is_jump(vm, k, regs.rip) ? regs.rip : is_jump(vm, k, regs.rip - 2) ? regs.rip - 2 : 0;
	if (!at)
		return false;
	uint64_t base = regs.rax - k->entry_off;
	if (regs.rax < k->entry_off || !kernel_at(vm, k, base)) {
		vm_request_stop(vm, ST_INTERNAL, "bzImage: the decompressor jumps to %#llx (from %#" PRIx64 "), "
				"where the kernel ttvm unpacked from the image does not lie",
				(unsigned long long)regs.rax, at);
		return true;
	}
	log_info("bzImage: the decompressor hands over to the kernel at %#llx", (unsigned long long)regs.rax);
	if (attach(vm, k, base, false)) {
		vm_request_stop(vm, ST_HOST, "bzImage: cannot trap the kernel's RDTSCs");
		return true;
	}
	k->handovers++;
	regs.rip = regs.rax;
	int r = vcpu_set_regs(vm, &regs); /* with sync regs: at the next KVM_RUN */
	if (r)
		vm_request_stop(vm, ST_HOST, "KVM_SET_REGS at the bzImage hand-over: %s", strerror(-r));
	return true;
}

bool bzk_recover(struct vm *vm)
{
	struct bzimage_kernel *k = vm->bzk;
	uint64_t found = UINT64_MAX;

	if (!k || vm->tsc)
		return false;
	/* Where the decompressor may have put it: kernel_alignment steps (KASLR's
	 * CONFIG_PHYSICAL_ALIGN), or the load address of a fixed kernel. */
	if (!k->align) {
		if (kernel_at(vm, k, k->load))
			found = k->load;
	}
	for (uint64_t b = k->align; k->align && b + k->span <= vm->low_size; b += k->align) {
		if (!kernel_at(vm, k, b))
			continue;
		if (found != UINT64_MAX)
			return false; /* two: not knowable */
		found = b;
	}
	if (found == UINT64_MAX || attach(vm, k, found, true))
		return false;
	k->recoveries++;
	return vm->tsc != NULL;
}

unsigned bzk_handovers(const struct bzimage_kernel *k)
{
	return k ? k->handovers : 0;
}

void bzk_free(struct bzimage_kernel *k)
{
	if (!k)
		return;
	for (unsigned i = 0; i < k->nsec; i++)
		free(k->sec[i].code);
	free(k->copies);
	free(k->text_sites);
	free(k);
}
