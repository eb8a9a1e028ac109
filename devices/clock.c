#include "devices/clock.h"

#include <stdlib.h>
#include <time.h>

struct ttvm_clock {
	int manual;
	uint64_t host_start_ns; /* CLOCK_MONOTONIC at creation (host clocks) */
	uint64_t last_ns;       /* last value handed out: keeps it monotonic */
	int64_t epoch_s;
};

uint64_t host_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct ttvm_clock *clock_new_host(void)
{
	struct ttvm_clock *clk = calloc(1, sizeof(*clk));
	if (!clk)
		return NULL;
	clk->host_start_ns = host_mono_ns();
	clk->epoch_s = (int64_t)time(NULL);
	return clk;
}

struct ttvm_clock *clock_new_manual(int64_t epoch_s)
{
	struct ttvm_clock *clk = calloc(1, sizeof(*clk));
	if (!clk)
		return NULL;
	clk->manual = 1;
	clk->epoch_s = epoch_s;
	return clk;
}

void clock_set(struct ttvm_clock *clk, uint64_t ns)
{
	if (ns > clk->last_ns)
		clk->last_ns = ns;
}

uint64_t clock_now_ns(struct ttvm_clock *clk)
{
	if (!clk->manual) {
		uint64_t now = host_mono_ns() - clk->host_start_ns;
		if (now > clk->last_ns)
			clk->last_ns = now;
	}
	return clk->last_ns;
}

int64_t clock_epoch_s(struct ttvm_clock *clk)
{
	return clk->epoch_s;
}

void clock_restore(struct ttvm_clock *clk, uint64_t now_ns, int64_t epoch_s)
{
	if (!clk->manual)
		clk->host_start_ns = host_mono_ns() - now_ns;
	clk->last_ns = now_ns;
	clk->epoch_s = epoch_s;
}

void clock_free(struct ttvm_clock *clk)
{
	free(clk);
}
