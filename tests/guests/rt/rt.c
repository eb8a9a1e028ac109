/* Shared runtime of the test guests: serial, printf, IDT, PIC, PIT, exit.
 * Built for both 64-bit and 32-bit guests. */
#include "rt.h"

#define COM1 0x3f8
#define DEBUG_EXIT_PORT 0xf4

/* ---- tiny libc ---- */

void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;
	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			break;
	}
	return 0;
}

unsigned long cmdline_num(const char *s, const char *key, unsigned long def)
{
	size_t kl = strlen(key);
	while (s && *s) {
		while (*s == ' ')
			s++;
		if (!strncmp(s, key, kl) && s[kl] == '=') {
			unsigned long v = 0;
			for (s += kl + 1; *s >= '0' && *s <= '9'; s++)
				v = v * 10 + (unsigned long)(*s - '0');
			return v;
		}
		while (*s && *s != ' ')
			s++;
	}
	return def;
}

/* ---- serial ---- */

static void serial_init(void)
{
	outb(COM1 + 1, 0x00); /* IER: no interrupts */
	outb(COM1 + 3, 0x80); /* LCR: DLAB */
	outb(COM1 + 0, 0x01); /* DLL: 115200 */
	outb(COM1 + 1, 0x00); /* DLM */
	outb(COM1 + 3, 0x03); /* LCR: 8N1 */
	/* FCR left alone: toggling FIFO-enable clears the FIFOs on a 16550
	 * (and in QEMU), dropping input queued before we got here. */
	outb(COM1 + 4, 0x0b); /* MCR: DTR, RTS, OUT2 (IRQ gate on a PC) */
}

void serial_putc(char c)
{
	/* Bounded wait for THRE: a missing UART (all-ones) must not hang us,
	 * and every poll is an exit to the monitor. */
	for (int i = 0; i < 100000; i++)
		if (inb(COM1 + 5) & 0x20)
			break;
	outb(COM1, (uint8_t)c);
}

void serial_puts(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

/* ---- printf ---- */

/* *v /= base, returning the remainder, with 32-bit divisions only: the
 * 32-bit guests are linked without libgcc's __udivdi3. */
static unsigned divmod_small(unsigned long long *v, unsigned base)
{
	uint32_t r = 0;
	unsigned long long q = 0;
	for (int shift = 48; shift >= 0; shift -= 16) {
		uint32_t cur = (r << 16) | (uint32_t)((*v >> shift) & 0xffff);
		q |= (unsigned long long)(cur / base) << shift;
		r = cur % base;
	}
	*v = q;
	return r;
}

static void put_num(unsigned long long v, unsigned base, int width, int zero, int left, int neg)
{
	char buf[24];
	int n = 0;
	do {
		unsigned d = divmod_small(&v, base);
		buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
	} while (v);
	int len = n + neg;
	if (neg && zero)
		serial_putc('-');
	if (!left)
		for (; width > len; width--)
			serial_putc(zero ? '0' : ' ');
	if (neg && !zero)
		serial_putc('-');
	while (n)
		serial_putc(buf[--n]);
	for (; width > len; width--)
		serial_putc(' ');
}

void rt_vprintf(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			serial_putc(*fmt);
			continue;
		}
		int zero = 0, left = 0, width = 0, lng = 0;
		for (fmt++;; fmt++) {
			if (*fmt == '0')
				zero = 1;
			else if (*fmt == '-')
				left = 1;
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		if (left)
			zero = 0;
		unsigned long long u;
		switch (*fmt) {
		case 'c':
			serial_putc((char)va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			int len = (int)strlen(s);
			if (!left)
				for (; width > len; width--)
					serial_putc(' ');
			serial_puts(s);
			for (; width > len; width--)
				serial_putc(' ');
			break;
		}
		case 'd': {
			long long v = lng >= 2 ? va_arg(ap, long long) : lng ? va_arg(ap, long) : va_arg(ap, int);
			int neg = v < 0;
			u = neg ? 0ull - (unsigned long long)v : (unsigned long long)v;
			put_num(u, 10, width, zero, left, neg);
			break;
		}
		case 'u':
		case 'x':
			u = lng >= 2 ? va_arg(ap, unsigned long long)
			    : lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
			put_num(u, *fmt == 'u' ? 10 : 16, width, zero, left, 0);
			break;
		case 'p':
			serial_puts("0x");
			put_num((uintptr_t)va_arg(ap, void *), 16, width, zero, left, 0);
			break;
		case '%':
			serial_putc('%');
			break;
		case 0:
			return;
		default:
			serial_putc('%');
			serial_putc(*fmt);
		}
	}
}

void rt_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_vprintf(fmt, ap);
	va_end(ap);
}

/* ---- exit ---- */

void rt_exit(uint32_t value)
{
	outl(DEBUG_EXIT_PORT, value);
	for (;;)
		__asm__ volatile("cli; hlt");
}

void rt_fail(const char *fmt, ...)
{
	va_list ap;
	serial_puts("FAIL: ");
	va_start(ap, fmt);
	rt_vprintf(fmt, ap);
	va_end(ap);
	serial_putc('\n');
	rt_exit(RT_EXIT_FAIL);
}

/* ---- PIC / PIT ---- */

static void pic_init(void)
{
	outb(0x20, 0x11); /* ICW1: edge, cascade, ICW4 follows */
	outb(0xa0, 0x11);
	outb(0x21, IRQ_BASE); /* ICW2: vector base */
	outb(0xa1, IRQ_BASE + 8);
	outb(0x21, 0x04); /* ICW3: slave on IRQ2 */
	outb(0xa1, 0x02);
	outb(0x21, 0x01); /* ICW4: 8086 mode, normal EOI */
	outb(0xa1, 0x01);
	outb(0x21, 0xfb); /* mask all but the cascade line */
	outb(0xa1, 0xff);
}

void pic_unmask(int irq)
{
	uint16_t port = irq < 8 ? 0x21 : 0xa1;
	outb(port, inb(port) & (uint8_t)~(1u << (irq & 7)));
}

void pic_mask(int irq)
{
	uint16_t port = irq < 8 ? 0x21 : 0xa1;
	outb(port, inb(port) | (uint8_t)(1u << (irq & 7)));
}

void pic_eoi(int irq)
{
	if (irq >= 8)
		outb(0xa0, 0x20);
	outb(0x20, 0x20);
}

void pit_start(uint32_t hz)
{
	uint32_t div = (PIT_HZ + hz / 2) / hz;
	if (div > 0xffff)
		div = 0; /* 0 means 65536 */
	outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2, binary */
	outb(0x40, (uint8_t)div);
	outb(0x40, (uint8_t)(div >> 8));
}

void pit_stop(void)
{
	/* Mode 0 with a count written once: one last edge, then silence. */
	outb(0x43, 0x30);
	outb(0x40, 0xff);
	outb(0x40, 0xff);
}

/* ---- IDT ---- */

extern char rt_isr_stubs[]; /* 256 stubs, 16 bytes apart (entry*.S) */
static rt_handler handlers[256];

#ifdef __x86_64__
struct idt_gate {
	uint16_t off0, sel;
	uint8_t ist, type;
	uint16_t off1;
	uint32_t off2, zero;
} __attribute__((packed));
#define KERNEL_CS 0x08
#else
struct idt_gate {
	uint16_t off0, sel;
	uint8_t zero, type;
	uint16_t off1;
} __attribute__((packed));
#define KERNEL_CS 0x08
#endif

static struct idt_gate idt[256] __attribute__((aligned(16)));

static void idt_init(void)
{
	for (int v = 0; v < 256; v++) {
		uintptr_t a = (uintptr_t)rt_isr_stubs + 16 * (uintptr_t)v;
		struct idt_gate *g = &idt[v];
		g->off0 = (uint16_t)a;
		g->sel = KERNEL_CS;
		g->type = 0x8e; /* present, DPL0, interrupt gate (IF cleared) */
		g->off1 = (uint16_t)(a >> 16);
#ifdef __x86_64__
		g->ist = 0;
		g->off2 = (uint32_t)((uint64_t)a >> 32);
		g->zero = 0;
#else
		g->zero = 0;
#endif
	}
	struct {
		uint16_t limit;
		uintptr_t base;
	} __attribute__((packed)) desc = {sizeof(idt) - 1, (uintptr_t)idt};
	__asm__ volatile("lidt %0" ::"m"(desc));
}

void rt_set_handler(int vector, rt_handler h)
{
	handlers[vector & 255] = h;
}

void rt_set_gate_user(int vector)
{
	idt[vector & 255].type = 0xee; /* DPL3 */
}

void rt_isr_dispatch(struct rt_frame *f);
void rt_isr_dispatch(struct rt_frame *f)
{
	int v = (int)f->vector;
	if (handlers[v]) {
		handlers[v](f);
		if (v >= IRQ_BASE && v < IRQ_BASE + 16)
			pic_eoi(v - IRQ_BASE);
		return;
	}
	rt_printf("EXCEPTION: vector %d error 0x%lx ip 0x%lx cs 0x%lx\n", v,
		  (unsigned long)f->error, (unsigned long)RT_FRAME_IP(f), (unsigned long)f->cs);
	rt_exit(RT_EXIT_EXCEPTION);
}

/* ---- start ---- */

/* The loader must zero BSS (memsz > filesz); check a piece of it. */
static volatile uint32_t bss_probe[16];

void rt_start(uint32_t magic, uint32_t mbi);
void rt_start(uint32_t magic, uint32_t mbi)
{
	serial_init();
	if (magic != 0x2badb002) {
		rt_printf("FAIL: bad multiboot magic 0x%x\n", magic);
		rt_exit(RT_EXIT_BADBOOT);
	}
	for (int i = 0; i < 16; i++)
		if (bss_probe[i]) {
			rt_printf("FAIL: BSS not zeroed by the loader\n");
			rt_exit(RT_EXIT_BADBOOT);
		}
	idt_init();
	pic_init();
	int r = main(magic, (struct mb_info *)(uintptr_t)mbi);
	rt_exit((uint32_t)r);
}
