/* pioread: a port-read-heavy loop for the record/replay benchmark and test.
 * Each of `loops=N` iterations (multiboot cmdline, default 2000) latches
 * PIT channel 2 (running in mode 2, gated on, no IRQ) and reads its count
 * (two reads), then reads the UART's line status and the CMOS seconds: four
 * reads and one write.  Prints a hash of every value read: the PIT count
 * follows time, so it differs from run to run, and must be equal between a
 * recording and its replay.  With `ms=N` the loop runs for N ms of PIT time
 * instead (however fast the host: the status line's test needs a run of a
 * given length), counted from channel 2's count, which wraps every 55 ms,
 * far longer than a pass. */
#include "rt/rt.h"

#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PORT_B 0x61
#define COM1_LSR 0x3fd
#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define LSR_THRE 0x20 /* transmit holding register empty */

int main(uint32_t magic, struct mb_info *mbi)
{
	(void)magic;
	const char *cmdline = (mbi->flags & MB_INFO_CMDLINE) ? (const char *)(uintptr_t)mbi->cmdline : "";
	unsigned long loops = cmdline_num(cmdline, "loops", 2000);
	uint64_t ms = cmdline_num(cmdline, "ms", 0);
	uint64_t elapsed = 0, want = ms * 1193182 / 1000; /* PIT input clock ticks */

	/* Channel 2: gate on (port B bit 0), speaker off, mode 2, count 65536. */
	outb(PORT_B, (uint8_t)((inb(PORT_B) & ~0x02) | 0x01));
	outb(PIT_CMD, 0xb4);
	outb(PIT_CH2, 0);
	outb(PIT_CH2, 0);
	/* The CMOS index stays selected: every later read of 0x71 is the seconds. */
	outb(CMOS_INDEX, 0x00);

	uint64_t h = MIX64_INIT;
	uint32_t lsr_busy = 0, first = 0, last = 0;
	unsigned long i;
	for (i = 0; ms ? elapsed < want : i < loops; i++) {
		outb(PIT_CMD, 0x80); /* latch channel 2 */
		uint32_t count = inb(PIT_CH2);
		count |= (uint32_t)inb(PIT_CH2) << 8;
		uint8_t lsr = inb(COM1_LSR);
		uint8_t sec = inb(CMOS_DATA);
		if (!(lsr & LSR_THRE))
			lsr_busy++;
		if (i == 0)
			first = count;
		else /* mode 2 counts down and reloads: the distance wraps at 65536 */
			elapsed += (uint16_t)(last - count);
		last = count;
		h = mix64(h, (uint64_t)count | (uint64_t)lsr << 16 | (uint64_t)sec << 24);
	}
	loops = i;
	rt_printf("pioread: %lu loops, %lu port reads\n", loops, 4 * loops);
	rt_printf("pioread: pit first %u last %u\n", first, last);
	rt_printf("pioread: hash %016llx\n", (unsigned long long)h);
	/* Nothing was sent while the loop ran: the transmitter is idle. */
	if (lsr_busy)
		rt_fail("UART transmitter busy in %u of %lu reads", lsr_busy, loops);
	rt_printf("pioread: done\n");
	return RT_EXIT_OK;
}
