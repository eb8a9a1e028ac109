/* Flight recording: which checkpoint the kept part starts at (flight.h). */
#include "record/flight.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/vm.h"
#include "devices/clock.h"
#include "record/rr.h"
#include "storage/checkpoint.h"

int flight_parse_duration(const char *s, uint64_t *ns)
{
	static const struct { const char *unit; double ns; } units[] = {
		{ "", 1e9 }, { "s", 1e9 }, { "ms", 1e6 }, { "m", 60e9 }, { "min", 60e9 }, { "h", 3600e9 },
		{ "d", 86400e9 },
	};
	char *end;
	double v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	v = strtod(s, &end);
	if (end == s || !isfinite(v))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit))
			continue;
		double t = v * units[i].ns;
		if (!(t >= 1e6) || t > 366 * 86400e9) /* at least 1 ms, at most a year */
			return -EINVAL;
		*ns = (uint64_t)t;
		return 0;
	}
	return -EINVAL;
}

int flight_parse_size(const char *s, uint64_t *bytes)
{
	static const char suffix[] = "KMGT";
	char *end;
	double v, mult = 1;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	v = strtod(s, &end);
	if (end == s || !isfinite(v))
		return -EINVAL;
	if (*end) {
		const char *p = strchr(suffix, *end >= 'a' ? *end - 'a' + 'A' : *end);
		if (p) {
			mult = ldexp(1, 10 * (int)(p - suffix + 1));
			end++;
			if (!strcmp(end, "iB") || !strcmp(end, "B"))
				end += strlen(end);
		} else if (!strcmp(end, "B")) {
			end++;
		}
	}
	if (*end)
		return -EINVAL;
	double b = v * mult;
	if (!(b >= 65536) || b > ldexp(1, 60))
		return -EINVAL;
	*bytes = (uint64_t)b;
	return 0;
}

static int drop_to(struct vm *vm, size_t i)
{
	struct rr *rr = rr_of(vm);
	struct rr_flight *f = &rr->flight;
	struct trace_drop_stats ds;
	char ns[32];
	int r;

	snprintf(ns, sizeof(ns), "%" PRIu64, f->ck[i].guest_ns);
	if ((r = trace_writer_set_meta(rr->w, "kept_from_guest_ns", ns)) ||
	    (r = trace_drop_before(rr->w, f->ck[i].id, &ds))) {
		rr->failed = true;
		vm_request_stop(vm, ST_HOST, "recording stopped: cannot drop the oldest part of %s (%s); "
				"what was committed stays readable", rr->path, strerror(-r));
		return r;
	}
	log_debug("flight: kept part now starts at checkpoint %" PRIu64 " (guest %.3f s): dropped %" PRIu64
		  " events, %" PRIu64 " checkpoints, %" PRIu64 " chunks, %" PRIu64 " pages in %.2f ms",
		  f->ck[i].id, f->ck[i].guest_ns / 1e9, ds.events, ds.checkpoints, ds.chunks, ds.pages, ds.us / 1e3);
	memmove(f->ck, f->ck + i, (f->n - i) * sizeof(f->ck[0]));
	f->n -= i;
	f->drops++;
	f->dropped_ckpts += ds.checkpoints;
	f->drop_us += ds.us;
	if (ds.us > f->drop_us_max)
		f->drop_us_max = ds.us;
	return 0;
}

void record_flight_after_ckpt(struct vm *vm, uint64_t id)
{
	struct rr *rr = rr_of(vm);
	struct rr_flight *f = &rr->flight;

	if (!f->keep_ns && !f->max_bytes)
		return;
	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 64;
		void *p = realloc(f->ck, ncap * sizeof(f->ck[0]));
		if (!p) {
			rr->failed = true;
			vm_request_stop(vm, ST_HOST, "recording stopped: out of memory");
			return;
		}
		f->ck = p;
		f->cap = ncap;
	}
	uint64_t now = clock_now_ns(vm->clock);
	f->ck[f->n].id = id;
	f->ck[f->n].guest_ns = now;
	f->n++;
	if (f->keep_ns && now >= f->keep_ns) {
		/* The newest checkpoint the kept part may start at and still
		 * cover keep_ns. */
		size_t i = 0;
		while (i + 1 < f->n && f->ck[i + 1].guest_ns <= now - f->keep_ns)
			i++;
		if (i > 0 && drop_to(vm, i))
			return;
	}
	while (f->max_bytes && f->n > 1 && trace_writer_used(rr->w) > f->max_bytes)
		if (drop_to(vm, 1))
			return;
	if (f->max_bytes && f->n == 1 && !f->warned && trace_writer_used(rr->w) > f->max_bytes) {
		f->warned = true;
		log_error("flight: the latest checkpoint alone takes %.1f MB, more than --max-size %.1f MB: "
			  "keeping just it and what follows", trace_writer_used(rr->w) / 1e6, f->max_bytes / 1e6);
	}
}

void record_flight_report(struct vm *vm)
{
	struct rr_flight *f = &rr_of(vm)->flight;

	if (!f->keep_ns && !f->max_bytes)
		return;
	if (!f->drops) {
		log_info("flight: nothing dropped (the recording is within its bounds)");
		return;
	}
	log_info("flight: kept from checkpoint %" PRIu64 " (guest %.3f s); %" PRIu64 " drops took %.2f ms on "
		 "average, %.2f ms at most, %" PRIu64 " checkpoints dropped", f->n ? f->ck[0].id : 0,
		 f->n ? f->ck[0].guest_ns / 1e9 : 0, f->drops, f->drop_us / 1e3 / (double)f->drops,
		 f->drop_us_max / 1e3, f->dropped_ckpts);
}
