/* Shared body of mbstack and mbhigh: checks what the loader promised,
 * prints one line on COM1 (polled, no set-up needed) and leaves through
 * the debug-exit port (0 = pass: status 1; 1 = failed check: status 3). */
#include "mb/mb.h"

#define COM1 0x3f8

struct mb_mmap {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static void putc_com1(char c)
{
	for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
		;
	outb(COM1, (uint8_t)c);
}

static void puts_com1(const char *s)
{
	while (*s)
		putc_com1(*s++);
}

static void puthex(uint32_t v)
{
	int started = 0;

	puts_com1("0x");
	for (int sh = 28; sh >= 0; sh -= 4) {
		unsigned d = (v >> sh) & 15;
		if (d || started || sh == 0) {
			putc_com1((char)(d < 10 ? '0' + d : 'a' + d - 10));
			started = 1;
		}
	}
}

static void __attribute__((noreturn)) leave(uint32_t v)
{
	outl(0xf4, v);
	for (;;)
		__asm__ volatile("cli; hlt");
}

static void __attribute__((noreturn)) fail(const char *why)
{
	puts_com1("FAIL: " MB_NAME ": ");
	puts_com1(why);
	putc_com1('\n');
	leave(1);
}

/* Is [lo, hi) inside one usable (type 1) range of the memory map? */
static int usable(uint32_t mbi, uint32_t lo, uint32_t hi)
{
	const uint32_t *info = (const uint32_t *)(uintptr_t)mbi;

	if (!(info[0] & (1u << 6)))
		fail("no memory map");
	uint32_t p = info[12], end = info[12] + info[11];
	while (p < end) {
		const struct mb_mmap *m = (const struct mb_mmap *)(uintptr_t)p;
		if (m->type == 1 && m->addr <= lo && hi <= m->addr + m->len)
			return 1;
		p += m->size + 4;
	}
	return 0;
}

extern char _start[];

void mb_main(uint32_t magic, uint32_t mbi, uint32_t entry_esp)
{
	if (magic != 0x2badb002)
		fail("bad multiboot magic");
#ifdef MB_HIGH
	(void)entry_esp;
	/* Running linked addresses: the entry code turned paging on. */
	if ((uintptr_t)&mb_main < 0xc0000000u)
		fail("not running in the higher half");
	if (!usable(mbi, (uint32_t)(uintptr_t)_start - 0xc0000000u, (uint32_t)(uintptr_t)_start - 0xc0000000u + 4096))
		fail("not loaded at the physical address AT() gave");
	puts_com1(MB_NAME ": running in the higher half, entry point at physical ");
	puthex((uint32_t)(uintptr_t)_start - 0xc0000000u);
	putc_com1('\n');
#else
	/* The stack we were called on: 4 KiB under the loader's ESP must be
	 * usable RAM below the kernel (a kernel may assume that much). */
	if (entry_esp < 4096 || entry_esp > (uint32_t)(uintptr_t)_start)
		fail("loader's ESP not below the kernel");
	if (!usable(mbi, entry_esp - 4096, entry_esp))
		fail("loader's stack not in usable RAM");
	puts_com1(MB_NAME ": called on the loader's stack, ESP ");
	puthex(entry_esp);
	putc_com1('\n');
#endif
	puts_com1(MB_NAME ": done\n");
	leave(0);
}
