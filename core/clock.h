/* The virtual clock: the only source of time for device models.
 *
 * Devices never read host time themselves; they ask this interface.  In a
 * plain run it follows the host's CLOCK_MONOTONIC from VM creation; the
 * record/replay engine hooks here (record logs what devices observe, replay
 * returns the logged values).  A manual clock, moved only by clock_set(),
 * serves unit tests. */
#ifndef TTVM_CORE_CLOCK_H
#define TTVM_CORE_CLOCK_H
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
void clock_free(struct ttvm_clock *clk);

#endif
