/* Shared runtime of the ttvm test guests: freestanding, multiboot v1.
 *
 * 64-bit guests enter through rt/entry64.S (32-bit multiboot entry, switch
 * to long mode at once: on PVM 32-bit code runs in KVM's emulator); 32-bit
 * guests through rt/entry32.S.  Both then call main() with the multiboot
 * info.  Everything talks to the devices ttvm models: COM1, the 8259A pair,
 * the 8254 and the debug-exit port. */
#ifndef TTVM_GUEST_RT_H
#define TTVM_GUEST_RT_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Debug-exit values (ttvm and QEMU exit with status (V << 1) | 1). */
#define RT_EXIT_OK 0        /* status 1 */
#define RT_EXIT_FAIL 1      /* status 3: a guest's own check failed */
#define RT_EXIT_BADBOOT 2   /* status 5: bad multiboot magic, BSS not zero */
#define RT_EXIT_EXCEPTION 3 /* status 7: unexpected exception or vector */

/* Multiboot v1 information structure (only the fields the guests read). */
struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
	uint32_t drives_length, drives_addr;
	uint32_t config_table;
	uint32_t boot_loader_name;
} __attribute__((packed));

struct mb_module {
	uint32_t mod_start, mod_end, string, reserved;
} __attribute__((packed));

/* One memory-map entry; 'size' does not count itself. */
struct mb_mmap {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

#define MB_INFO_MEM (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MODS (1u << 3)
#define MB_INFO_MMAP (1u << 6)
#define MB_INFO_LOADER_NAME (1u << 9)

/* Register frame built by the interrupt stubs (see entry64.S / entry32.S). */
#ifdef __x86_64__
struct rt_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};
#define RT_FRAME_IP(f) ((f)->rip)
#else
struct rt_frame {
	uint32_t edi, esi, ebp, esp_unused, ebx, edx, ecx, eax; /* pushal */
	uint32_t vector, error;
	uint32_t eip, cs, eflags; /* pushed by the CPU (same-CPL only) */
};
#define RT_FRAME_IP(f) ((f)->eip)
#endif

typedef void (*rt_handler)(struct rt_frame *f);

/* The guest's entry point, called once the runtime is ready (serial up,
 * IDT loaded, PIC remapped with every line masked, interrupts off). */
int main(uint32_t magic, struct mb_info *mbi);

/* Port I/O. */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
/* sti;hlt back to back: the STI shadow makes "enable and wait" atomic, so
 * an interrupt that is already pending wakes the HLT instead of being lost. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* Serial (COM1, 115200 8N1, polled output). */
void serial_putc(char c);
void serial_puts(const char *s);
/* printf subset: %c %s %d %u %x %p %%, flags '0' and '-', a width, and the
 * length modifiers l and ll (z is treated as l). */
void rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rt_vprintf(const char *fmt, va_list ap);

/* Leave through the debug-exit port; spins with cli;hlt if nothing there. */
void rt_exit(uint32_t value) __attribute__((noreturn));
/* Print "FAIL: ..." and exit with RT_EXIT_FAIL. */
void rt_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Interrupts.  Vectors without a handler end the guest with
 * RT_EXIT_EXCEPTION after printing vector, error code and RIP.  For IRQ
 * vectors (0x20-0x2f) the runtime sends the EOI after the handler. */
void rt_set_handler(int vector, rt_handler h);
/* Make a gate callable from CPL3 (int $vector). */
void rt_set_gate_user(int vector);

/* 8259A: remapped to 0x20 (master) and 0x28 (slave) at start-up, all masked. */
#define IRQ_BASE 0x20
void pic_unmask(int irq);
void pic_mask(int irq);
void pic_eoi(int irq);

/* 8254 channel 0, mode 2 (rate generator) at about hz interrupts/s. */
#define PIT_HZ 1193182u
void pit_start(uint32_t hz);
void pit_stop(void);

/* Tiny libc. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
/* Find "key=" in a space-separated command line; return the decimal value
 * or def if absent. */
unsigned long cmdline_num(const char *cmdline, const char *key, unsigned long def);

/* FNV-1a style 64-bit mixing for the nondeterminism guests. */
static inline uint64_t mix64(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ull;
	}
	return h;
}
#define MIX64_INIT 0xcbf29ce484222325ull

#endif
