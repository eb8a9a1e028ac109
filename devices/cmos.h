/* Motorola MC146818 real-time clock and the PC's 128-byte CMOS RAM at ports
 * 0x70 (index, bit 7 = NMI mask, ignored) and 0x71 (data).
 *
 * The time is clock_epoch_s() + clock_now_ns() plus an offset the guest sets
 * by writing the time registers; the host clock is never touched.  The RAM
 * carries the memory-size bytes a BIOS would have filled in. */
#ifndef TTVM_DEVICES_CMOS_H
#define TTVM_DEVICES_CMOS_H
#include <stdint.h>

#include "devices/clock.h"
#include "devices/bus.h"

/* RAM at and above this address is placed above 4 GiB (the 32-bit PCI
 * hole), matching the monitor's memory map. */
#define CMOS_LOWMEM_MAX 0xc0000000ull

struct cmos;

/* New RTC/CMOS for a guest of ram_bytes, or NULL on ENOMEM. */
struct cmos *cmos_new(struct ttvm_clock *clk, uint64_t ram_bytes);
/* Free it; NULL is ignored. */
void cmos_free(struct cmos *c);
/* Claim ports 0x70-0x71; 0 or -errno. */
int cmos_attach(struct cmos *c, struct bus *bus);
/* Guest-visible Unix time now (virtual time plus the guest's offset). */
int64_t cmos_time(struct cmos *c);

/* Snapshot state (raw bytes in core/snapshot.c: a change of layout is a
 * change of the snapshot format).  The time itself is the virtual clock's:
 * restore the clock with it. */
struct cmos_state {
	uint8_t ram[128];
	int64_t offset_s;
	uint64_t last_c_ns;
	int64_t set_year;
	int32_t set_mon, set_mday, set_hour, set_min, set_sec, set_wday;
	uint8_t index, pad[7];
};
/* Copy the RTC/CMOS state out. */
void cmos_save(const struct cmos *c, struct cmos_state *s);
/* Take over s.  0, or -EINVAL with c unchanged when s is inconsistent. */
int cmos_load(struct cmos *c, const struct cmos_state *s);

#endif
