/* The virtual clock: the only source of time for device models.
 *
 * Devices never read host time themselves; they ask this interface.  It
 * follows the host's CLOCK_MONOTONIC from VM creation (a snapshot restore
 * moves it).  It has no record/replay hook of its own: the guest only sees
 * time through device reads (the PIT's counters, the RTC), which the
 * io_read hook (core/hooks.h) logs and replays.  A manual clock, moved only
 * by clock_set(), serves unit tests. */
#ifndef TTVM_DEVICES_CLOCK_H
#define TTVM_DEVICES_CLOCK_H
#include <stdint.h>

struct ttvm_clock;

/* Host-driven clock starting at 0 now; epoch_s is the Unix time of virtual 0. NULL on ENOMEM. */
struct ttvm_clock *clock_new_host(void);
/* Manual clock at 0 with the given Unix epoch; only clock_set() moves it. NULL on ENOMEM. */
struct ttvm_clock *clock_new_manual(int64_t epoch_s);
/* Set a manual clock to ns (never moves backwards: smaller values are ignored). */
void clock_set(struct ttvm_clock *clk, uint64_t ns);
/* Virtual nanoseconds since VM start; monotonic. */
uint64_t clock_now_ns(struct ttvm_clock *clk);
/* Unix time (seconds) that corresponds to virtual time 0 (used by the RTC). */
int64_t clock_epoch_s(struct ttvm_clock *clk);
/* Snapshot restore: make the clock read now_ns from here on (also backwards,
 * as a restored machine goes back in time) with epoch_s as the Unix time of
 * virtual 0.  A host clock keeps following the host from now_ns. */
void clock_restore(struct ttvm_clock *clk, uint64_t now_ns, int64_t epoch_s);
void clock_free(struct ttvm_clock *clk);

/* The host's CLOCK_MONOTONIC in ns: for timing ttvm's own work (snapshot
 * intervals, polls, statistics), never for anything the guest sees. */
uint64_t host_mono_ns(void);

#endif
