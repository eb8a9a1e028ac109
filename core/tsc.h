/* Trapping RDTSC, RDTSCP, RDRAND, RDSEED and RDPMC in the code ttvm loaded.
 *
 * KVM never lets these instructions exit to userspace (HOST-NOTES), so after
 * the image is loaded ttvm finds them with capstone in the executable parts
 * of the image and rewrites each one into an instruction that exits: the
 * site's first two bytes become `out %al,$0xf0` (e6 f0), or on VMX/SVM
 * hosts its first byte becomes INT3 (cc) with KVM_GUESTDBG_USE_SW_BP on
 * (enum tsc_method: chosen per host), the rest of a longer instruction
 * becomes NOPs.  At the exit the monitor produces the
 * value (live in a plain run; the rdtsc/rdrand hooks of core/hooks.h log it
 * while recording and take it from the trace in replay), writes the registers the original instruction would
 * have written and sets RIP after the original instruction.  Run, record and
 * replay patch the same sites, so the guest executes the same instructions
 * in all three modes.
 *
 * Finding sites: each executable range is decoded linearly in 64-bit mode
 * (the multiboot guests are 32-bit entry code + 64-bit code in one ELF32;
 * the bytes of RDTSC/RDTSCP and prefix-free RDRAND/RDSEED mean the same in
 * both modes).  Only instructions that start at a boundary of that decoding
 * are patched; undecodable bytes are skipped one at a time.  Data inside an
 * executable segment (.rodata often is) can hide a real site (a false
 * negative: that RDTSC runs unlogged) or, rarely, produce a false one (data
 * bytes rewritten).  RDTSC/RDTSCP with a REX prefix are left alone: in
 * 32-bit code the "prefix" is an INC/DEC that the patch would swallow.
 *
 * Sites are keyed by the linear address the code runs at (ELF p_vaddr) and,
 * when it differs, also by its physical load address (code that runs before
 * paging).  A flat CS base (0) is assumed: real-mode images (--flat) are not
 * scanned. */
#ifndef TTVM_CORE_TSC_H
#define TTVM_CORE_TSC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/vm.h"

/* The port of the patched OUT.  Port 0xf0 is the legacy FPU-error port that
 * no ttvm device claims; a guest's own write to it at an unpatched RIP still
 * goes to the bus (unknown port, ignored). */
#define TSC_PORT 0xf0
#define TSC_MAX_LEN 15

/* RDPMC is trapped too, and always raises #GP: ttvm offers no PMU, and
 * KVM's VMware backdoor (kvm.enable_vmware_backdoor=1) would answer its
 * pseudo-counters 0x10000-0x10002 with host time, in the kernel. */
enum tsc_kind { TSC_RDTSC = 1, TSC_RDTSCP = 2, TSC_RDRAND = 3, TSC_RDSEED = 4, TSC_RDPMC = 5 };

/* How a site traps.  PIO: e6 f0 + NOPs, an I/O exit at CPL0; at CPL3 only
 * where IOPL or the TSS I/O bitmap allow the OUT, else it raises #GP (on
 * PVM too: usermode.c with cpl3-rdtsc=1).  INT3: cc + NOPs with KVM_GUESTDBG_USE_SW_BP, a
 * debug exit (#BP) at every CPL on VMX/SVM; not on PVM, whose instruction
 * emulator fails on INT3 at CPL0 in long mode (HOST-NOTES). */
enum tsc_method { TSC_TRAP_PIO = 1, TSC_TRAP_INT3 = 2 };

struct tsc_site {
	uint64_t addr;   /* linear address of the instruction's first byte */
	uint64_t gpa;    /* where its bytes lie in guest RAM */
	uint8_t len;     /* original instruction length (2..15) */
	uint8_t kind;    /* enum tsc_kind */
	uint8_t reg;     /* RDRAND/RDSEED: destination register (0=rax .. 15=r15) */
	uint8_t opsize;  /* RDRAND/RDSEED: operand size in bytes (2, 4, 8) */
	bool ambiguous;  /* patched bytes e6 f0 also lie at addr-2 or addr+2 */
	bool copy;       /* only there once the guest copies code (tsc_add_copies): never patched */
	uint8_t orig[TSC_MAX_LEN];
};

struct tsc_table;

/* New empty table, NULL when out of memory. */
struct tsc_table *tsc_table_new(void);
void tsc_table_free(struct tsc_table *t);
/* Number of sites (aliases counted once). */
size_t tsc_count(const struct tsc_table *t);
/* The i-th site in address order (aliases included), NULL past the end. */
const struct tsc_site *tsc_site_at(const struct tsc_table *t, size_t i);

/* Decode code[0..len), which runs at linear address lin and lies at
 * guest-physical gpa, and add every site found.  A site at an address
 * already in the table is not added twice.  0 or -ENOMEM/-EIO (capstone). */
int tsc_scan(struct tsc_table *t, const uint8_t *code, size_t len, uint64_t lin, uint64_t gpa);
/* Also key every site of [gpa, gpa+len) by its physical address (code that
 * runs before paging maps it at its linear address).  0 or -ENOMEM. */
int tsc_add_phys_aliases(struct tsc_table *t, uint64_t gpa, uint64_t len);
/* Rewrite the sites that lie in code[0..len) (guest-physical gpa) with the
 * trapping bytes of method, and mark sites whose patch is adjacent to other
 * e6 f0 bytes as ambiguous.  The original bytes stay in the table. */
void tsc_patch(struct tsc_table *t, uint8_t *code, size_t len, uint64_t gpa, enum tsc_method method);

/* Sites that code the guest copies at run time brings along: for each copy
 * (Linux's alternatives: a replacement instruction copied over the original
 * at boot), every site in [src, src+len) also becomes a site at the same
 * offset from dst, in place only once the guest made the copy (the copied
 * bytes are the patched ones).  Such sites are not patched, only looked up.
 * 0 or -ENOMEM. */
int tsc_add_copies(struct tsc_table *t, const struct vm_code_copy *c, size_t n);
/* Trapped code may run at linear addresses the table does not know (a
 * kernel its decompressor placed, KASLR): look a trap whose address is
 * unknown up by the guest-physical address it translates to. */
void tsc_lookup_by_gpa(struct tsc_table *t, bool on);

/* The site whose first byte is at linear address addr, or NULL. */
const struct tsc_site *tsc_lookup(const struct tsc_table *t, uint64_t addr);
/* For a debugger: the byte the guest's code had at linear address addr
 * before patching.  true and *byte set when addr lies in a patched site. */
bool tsc_original_byte(const struct tsc_table *t, uint64_t addr, uint8_t *byte);

/* The guest's TSC now, as trapped RDTSC/RDTSCP and RDMSR of IA32_TSC
 * show it: the host's TSC plus KVM's offset for the guest (read at the
 * first call) plus the guest's own moves (vm->tsc_delta, core/msr.h). */
uint64_t tsc_guest_now(struct vm *vm);

/* The trap method for this host, probed once: PIO on PVM; elsewhere INT3
 * when a throwaway one-page VM made on kvm_fd shows that INT3 gives a #BP
 * debug exit with USE_SW_BP, else PIO.  $TTVM_TSC_TRAP=pio|int3 forces one
 * (debugging, tests).  *why (may be NULL) says how it was chosen. */
enum tsc_method tsc_choose_method(int kvm_fd, enum kvm_flavour flavour, const char **why);
/* Printable description of a method ("int3 (KVM_GUESTDBG_USE_SW_BP)", ...). */
const char *tsc_method_name(enum tsc_method m);
/* The method t's sites were patched with. */
enum tsc_method tsc_method_of(const struct tsc_table *t);

/* After loading: find and patch the sites in the executable ranges the loader
 * reported in vm->exec, choose the method for the host (when there is a
 * site), turn USE_SW_BP on for INT3 and report (-v).  0 or -errno (message
 * printed). */
int tsc_setup(struct vm *vm);
/* An OUT to TSC_PORT: when it comes from a patched site, emulate the
 * original instruction (value through vm->hooks when recording/replaying),
 * set the registers and RIP and return true; false when it is the guest's
 * own OUT, which then goes to the bus. */
bool tsc_handle_io(struct vm *vm);
/* Is vm->run a #BP debug exit at a site patched with INT3? */
bool tsc_is_bp_trap(const struct vm *vm);
/* Such an exit: emulate the site's instruction as tsc_handle_io() does.
 * true when handled (vm->stop set on a host error or a divergence). */
bool tsc_handle_bp(struct vm *vm);

#endif
