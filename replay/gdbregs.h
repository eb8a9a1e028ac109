/* The registers ttvm shows to gdb: target descriptions (XML served through
 * qXfer:features:read) and conversions between gdb's 'g' packet layout and
 * KVM's register structs.  Pure data conversion: no ioctls.
 *
 * Two layouts.  GDB_ARCH_X86_64 (i386:x86-64) serves any guest that may run
 * in long mode, also while it is still in 32-bit or real mode: gdb cannot
 * change a target's register layout during a session.  GDB_ARCH_I386 is for
 * guests that never leave 32-bit mode, so that gdb shows eax/eip and 32-bit
 * pointers.  Register numbers are positions in the XML (and in 'g'):
 *   x86-64: 0-15 rax rbx rcx rdx rsi rdi rbp rsp r8-r15, 16 rip, 17 eflags,
 *           18-23 cs ss ds es fs gs, 24-31 st0-7, 32-39 fctrl fstat ftag
 *           fiseg fioff foseg fooff fop, 40-55 xmm0-15, 56 mxcsr,
 *           57-58 fs_base gs_base, 59-64 cr0 cr2 cr3 cr4 cr8 efer
 *   i386:   0-7 eax ecx edx ebx esp ebp esi edi, 8 eip, 9 eflags, 10-15 cs..gs,
 *           16-23 st0-7, 24-31 fctrl..fop, 32-39 xmm0-7, 40 mxcsr,
 *           41-42 fs_base gs_base, 43-48 cr0 cr2 cr3 cr4 cr8 efer
 * Features: org.gnu.gdb.i386.core, .sse, .segments (fs_base, gs_base; x86-64
 * only: gdb 13 asserts on it for i386, where they join the next one) and
 * org.ttvm.gdb.x86.sys (control registers, shown by `info registers`).
 * Sizes follow gdb's own feature files (64bit-core.xml etc.): selectors and
 * eflags are 32-bit, x87 registers 10 bytes; the x87 control words are 32-bit
 * and ftag is the full tag word (KVM keeps the FXSAVE abridged one). */
#ifndef TTVM_REPLAY_GDBREGS_H
#define TTVM_REPLAY_GDBREGS_H
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

enum gdb_arch {
	GDB_ARCH_X86_64,
	GDB_ARCH_I386,
};

/* Largest single register (xmm) in bytes. */
#define GDBREGS_MAX_SIZE 16
/* Largest 'g' block (x86-64) in bytes. */
#define GDBREGS_G_MAX 600

struct gdbreg {
	const char *name;
	unsigned size;   /* bytes */
	unsigned offset; /* in the 'g' block */
};

/* Number of registers of arch. */
unsigned gdbregs_count(enum gdb_arch arch);
/* Size of arch's 'g' block in bytes. */
size_t gdbregs_g_size(enum gdb_arch arch);
/* Register n of arch, or NULL if there is none. */
const struct gdbreg *gdbregs_reg(enum gdb_arch arch, unsigned n);
/* The number of the register called name, or -ENOENT. */
int gdbregs_find(enum gdb_arch arch, const char *name);
/* The description document called annex ("target.xml") with its length, or
 * NULL for an annex we do not serve. */
const char *gdbregs_xml(enum gdb_arch arch, const char *annex, size_t *len);

/* Fill buf (gdbregs_g_size() bytes) with the 'g' block of the given state. */
void gdbregs_encode(enum gdb_arch arch, const struct kvm_regs *regs,
		    const struct kvm_sregs *sregs, const struct kvm_fpu *fpu, uint8_t *buf);
/* Update the state from a 'g' block of len bytes: only fields the layout
 * carries change (the upper halves stay in i386); -EINVAL on a wrong length. */
int gdbregs_decode(enum gdb_arch arch, const uint8_t *buf, size_t len, struct kvm_regs *regs,
		   struct kvm_sregs *sregs, struct kvm_fpu *fpu);
/* Register n into out (GDBREGS_MAX_SIZE bytes): its size, or -EINVAL. */
int gdbregs_read_one(enum gdb_arch arch, unsigned n, const struct kvm_regs *regs,
		     const struct kvm_sregs *sregs, const struct kvm_fpu *fpu, uint8_t *out);
/* Set register n from len bytes; -EINVAL for a bad number or length. */
int gdbregs_write_one(enum gdb_arch arch, unsigned n, const uint8_t *val, size_t len,
		      struct kvm_regs *regs, struct kvm_sregs *sregs, struct kvm_fpu *fpu);

#endif
