/* Guest-virtual to guest-physical translation and instruction reports.
 *
 * Used for crash reports (disassemble the faulting instruction) and later by
 * the gdb stub; it walks the guest's own page tables in guest RAM, never
 * trusting an entry to point inside RAM. */
#include <capstone/capstone.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/vm.h"

#define PTE_P 1ull
#define PTE_PS (1ull << 7)
#define ADDR_MASK 0x000ffffffffff000ull

/* Where the walk read its entries (NULL: nobody asked). */
struct walk_log {
	uint64_t *gpas;
	unsigned n;
};

static void note(struct walk_log *log, uint64_t gpa)
{
	if (log->gpas && log->n < VM_WALK_MAX)
		log->gpas[log->n] = gpa;
	log->n++;
}

static int read_pte64(struct vm *vm, struct walk_log *log, uint64_t gpa, uint64_t *pte)
{
	const void *p = vm_gpa_ptr(vm, gpa, 8);
	if (!p)
		return -EFAULT;
	note(log, gpa);
	memcpy(pte, p, 8);
	return (*pte & PTE_P) ? 0 : -EFAULT;
}

static int walk(struct vm *vm, const struct kvm_sregs *s, uint64_t gva, uint64_t *gpa, struct walk_log *log)
{
	if (!(s->cr0 & X86_CR0_PG)) {
		*gpa = (s->cr0 & 1) ? (gva & 0xffffffffull) : (gva & 0xfffffull);
		return 0;
	}
	if (!(s->cr4 & X86_CR4_PAE)) {
		/* 32-bit paging: 4 KiB pages, or 4 MiB with PSE. */
		uint32_t va = (uint32_t)gva, pde, pte;
		uint64_t at = (s->cr3 & 0xfffff000u) + ((va >> 22) << 2);
		const void *p = vm_gpa_ptr(vm, at, 4);
		if (!p)
			return -EFAULT;
		note(log, at);
		memcpy(&pde, p, 4);
		if (!(pde & 1))
			return -EFAULT;
		if ((pde & PTE_PS) && (s->cr4 & X86_CR4_PSE)) {
			*gpa = (pde & 0xffc00000u) + (va & 0x3fffffu);
			return 0;
		}
		at = (pde & 0xfffff000u) + (((va >> 12) & 0x3ff) << 2);
		p = vm_gpa_ptr(vm, at, 4);
		if (!p)
			return -EFAULT;
		note(log, at);
		memcpy(&pte, p, 4);
		if (!(pte & 1))
			return -EFAULT;
		*gpa = (pte & 0xfffff000u) + (va & 0xfffu);
		return 0;
	}
	uint64_t pte, table;
	int level;
	if (s->efer & X86_EFER_LMA) {
		level = (s->cr4 & X86_CR4_LA57) ? 5 : 4;
		table = s->cr3 & ADDR_MASK;
	} else {
		/* PAE: four PDPTEs at CR3 (32-byte aligned). */
		if (read_pte64(vm, log, (s->cr3 & 0xffffffe0u) + (((gva >> 30) & 3) << 3), &pte))
			return -EFAULT;
		table = pte & ADDR_MASK;
		level = 2;
	}
	for (; level >= 1; level--) {
		unsigned shift = 12 + 9 * (unsigned)(level - 1);
		if (read_pte64(vm, log, table + (((gva >> shift) & 0x1ff) << 3), &pte))
			return -EFAULT;
		if (level == 1 || ((pte & PTE_PS) && level <= 3)) {
			uint64_t mask = (1ull << shift) - 1;
			*gpa = ((pte & ADDR_MASK) & ~mask) + (gva & mask);
			return 0;
		}
		table = pte & ADDR_MASK;
	}
	return -EFAULT;
}

int vm_gva_to_gpa(struct vm *vm, const struct kvm_sregs *s, uint64_t gva, uint64_t *gpa)
{
	struct walk_log log = { NULL, 0 };
	return walk(vm, s, gva, gpa, &log);
}

int vm_gva_walk(struct vm *vm, const struct kvm_sregs *s, uint64_t gva, uint64_t *gpa,
		uint64_t tables[VM_WALK_MAX], unsigned *ntables)
{
	struct walk_log log = { tables, 0 };
	int r = walk(vm, s, gva, gpa, &log);
	*ntables = log.n < VM_WALK_MAX ? log.n : VM_WALK_MAX;
	return r;
}

size_t vm_read_virt(struct vm *vm, const struct kvm_sregs *s, uint64_t gva, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		uint64_t gpa, va = gva + done;
		size_t chunk = 4096 - (va & 4095);
		if (chunk > len - done)
			chunk = len - done;
		if (vm_gva_to_gpa(vm, s, va, &gpa))
			break;
		const void *p = vm_gpa_ptr(vm, gpa, chunk);
		if (!p)
			break;
		memcpy((uint8_t *)buf + done, p, chunk);
		done += chunk;
	}
	return done;
}

#define PTE_W (1ull << 1)
#define PTE_U (1ull << 2)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_XD (1ull << 63)
#define X86_CR4_PKS (1ull << 24)
#define X86_EFER_NXE (1ull << 11)

uint8_t *vm_quiet_page(struct vm *vm, const struct kvm_sregs *s, uint64_t gva, unsigned *ok, uint64_t *gpa_page,
			uint64_t tables[VM_WALK_MAX], unsigned *ntables)
{
	uint64_t gpa;
	unsigned nt;

	*ok = 0;
	*ntables = 0;
	if (!(s->efer & X86_EFER_LMA) || !(s->cr0 & X86_CR0_PG) || (s->cr4 & X86_CR4_PKS) ||
	    (s->cs.selector & 3) || s->ss.dpl)
		return NULL;
	if (vm_gva_walk(vm, s, gva & ~4095ull, &gpa, tables, &nt) || nt < 2 || nt > VM_WALK_MAX)
		return NULL;
	*ntables = nt;
	uint64_t all = PTE_U | PTE_W, leaf = 0, xd = 0;
	for (unsigned i = 0; i < nt; i++) {
		uint64_t e;
		const void *p = vm_gpa_ptr(vm, tables[i], 8);
		if (!p)
			return NULL;
		memcpy(&e, p, 8);
		/* The CPU would set A (and a PS bit at the top level is reserved). */
		if (!(e & PTE_A) || (i == 0 && (e & PTE_PS)))
			return NULL;
		all &= e;
		xd |= e;
		leaf = e;
	}
	if (all & PTE_U)
		return NULL; /* a user page: SMAP, protection keys */
	uint8_t *page = vm_gpa_ptr(vm, gpa, 4096);
	if (!page)
		return NULL;
	*gpa_page = gpa >> 12;
	*ok = VM_QUIET_LOAD;
	if ((all & PTE_W) && (leaf & PTE_D))
		*ok |= VM_QUIET_STORE; /* else a fault, or the CPU would set D */
	if (!((s->efer & X86_EFER_NXE) && (xd & PTE_XD)))
		*ok |= VM_QUIET_FETCH;
	return page;
}

/* Where an access of len bytes at gva (within one page) may go quietly
 * (how: one VM_QUIET_ bit): a host pointer into RAM, or NULL. */
static uint8_t *quiet_ptr(struct vm *vm, const struct kvm_sregs *s, uint64_t gva, size_t len, unsigned how)
{
	uint64_t tables[VM_WALK_MAX], gpa_page;
	unsigned ok, nt;

	if (len == 0 || (gva & 4095) + len > 4096)
		return NULL;
	uint8_t *page = vm_quiet_page(vm, s, gva, &ok, &gpa_page, tables, &nt);
	return page && (ok & how) ? page + (gva & 4095) : NULL;
}

int vm_load_quiet(struct vm *vm, const struct kvm_sregs *s, uint64_t gva, void *buf, size_t len)
{
	const uint8_t *p = len <= 8 ? quiet_ptr(vm, s, gva, len, VM_QUIET_LOAD) : NULL;
	if (!p)
		return -1;
	memcpy(buf, p, len);
	return 0;
}

int vm_store_quiet(struct vm *vm, const struct kvm_sregs *s, uint64_t gva, const void *buf, size_t len)
{
	uint8_t *p = len <= 8 ? quiet_ptr(vm, s, gva, len, VM_QUIET_STORE) : NULL;
	if (!p)
		return -1;
	memcpy(p, buf, len);
	vm_mark_pages_written(vm, (uint64_t)(p - vm->ram) / 4096, 1);
	return 0;
}

size_t vm_fetch_quiet(struct vm *vm, const struct kvm_sregs *s, uint64_t gva, void *buf, size_t len)
{
	size_t n = 4096 - (gva & 4095);
	if (n > len)
		n = len;
	const uint8_t *p = quiet_ptr(vm, s, gva, n, VM_QUIET_FETCH);
	if (!p)
		return 0;
	memcpy(buf, p, n);
	if (n < len && (p = quiet_ptr(vm, s, gva + n, len - n, VM_QUIET_FETCH)) != NULL) {
		memcpy((uint8_t *)buf + n, p, len - n);
		n = len;
	}
	return n;
}

bool vcpu_in_reset_state(struct vm *vm)
{
	struct kvm_regs regs;
	struct kvm_sregs s;

	return vcpu_get_regs(vm, &regs) == 0 && vcpu_get_sregs(vm, &s) == 0 && regs.rip == 0xfff0 &&
	       s.cs.selector == 0xf000 && s.cs.base == 0xffff0000ull;
}

void vm_describe_insn(struct vm *vm, char *buf, size_t len)
{
	struct kvm_regs regs;
	struct kvm_sregs s;
	uint8_t code[16];
	csh cs;
	cs_insn *insn;

	if (vcpu_get_regs(vm, &regs) || vcpu_get_sregs(vm, &s)) {
		snprintf(buf, len, "RIP unknown (cannot read vCPU registers)");
		return;
	}
	uint64_t ip = s.cs.base + regs.rip;
	cs_mode mode = !(s.cr0 & 1) ? CS_MODE_16 : s.cs.l ? CS_MODE_64 : s.cs.db ? CS_MODE_32 : CS_MODE_16;
	size_t n = vm_read_virt(vm, &s, ip, code, sizeof(code));
	int w = snprintf(buf, len, "RIP %#" PRIx64 " (cs %#x)", (uint64_t)regs.rip, s.cs.selector);
	if (w < 0 || (size_t)w >= len)
		return;
	if (n == 0) {
		snprintf(buf + w, len - (size_t)w, ": code not readable");
		return;
	}
	if (cs_open(CS_ARCH_X86, mode, &cs) != CS_ERR_OK) {
		snprintf(buf + w, len - (size_t)w, ": capstone unavailable");
		return;
	}
	if (cs_disasm(cs, code, n, ip, 1, &insn) == 1) {
		char hex[3 * 16 + 1] = "";
		for (size_t i = 0; i < insn[0].size && i < 16; i++)
			sprintf(hex + 3 * i, "%02x ", insn[0].bytes[i]);
		hex[strlen(hex) ? strlen(hex) - 1 : 0] = 0;
		snprintf(buf + w, len - (size_t)w, ": %s%s%s [%s]", insn[0].mnemonic, insn[0].op_str[0] ? " " : "", insn[0].op_str, hex);
		cs_free(insn, 1);
	} else {
		snprintf(buf + w, len - (size_t)w, ": undecodable bytes %02x %02x %02x %02x",
			 code[0], n > 1 ? code[1] : 0, n > 2 ? code[2] : 0, n > 3 ? code[3] : 0);
	}
	cs_close(&cs);
}
