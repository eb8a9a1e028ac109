/* `ttvm record`: the command line, the trace's header (metadata, guest
 * images, patched sites), then a run with the record hooks attached. */
#include "record/record_cmd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/log.h"
#include "core/run.h"
#include "core/status.h"
#include "core/tsc.h"
#include "core/vm.h"
#include "devices/clock.h"
#include "record/ckpt.h"
#include "record/flight.h"
#include "record/probe.h"
#include "record/rr.h"
#include "storage/trace.h"

static int store_image(struct trace_writer *w, const char *path)
{
	uint8_t *data;
	size_t size;
	int r = loader_read_file(path, &data, &size);
	if (r)
		return r;
	r = trace_writer_add_image(w, path, data, size, 1);
	free(data);
	return r;
}

/* The RDTSC-family sites ttvm patched, for `ttvm inspect`. */
static int store_sites(const struct vm *vm, struct trace_writer *w)
{
	static const char *const names[] = { "?", "rdtsc", "rdtscp", "rdrand", "rdseed" };
	char buf[4096];
	size_t n = vm->tsc ? tsc_count(vm->tsc) : 0, used;

	used = (size_t)snprintf(buf, sizeof(buf), "%zu RDTSC-family site(s) trapped", n);
	for (size_t i = 0; i < n && used < sizeof(buf) - 64; i++) {
		const struct tsc_site *s = tsc_site_at(vm->tsc, i);
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%#" PRIx64 " %s", i ? ", " : ": ",
					 s->addr, names[s->kind <= 4 ? s->kind : 0]);
	}
	return trace_writer_set_meta(w, "tsc_sites", buf);
}

/* What `ttvm record` takes besides the run options. */
struct record_args {
	const char *out;
	bool quiet; /* no status line */
	double interval;
	const char *keep, *max_size; /* flight recording: as given */
	uint64_t keep_ns, max_bytes;
	char **rest; /* the run options (rest[0] = the command's name) */
	int nrest;
};

/* Take -o, -q and --checkpoint-interval out of argv; the rest are run
 * options (they go into the trace's run_args: these three do not).
 * 0 or ST_USAGE / ST_HOST (message printed). */
static int parse_record_args(int argc, char **argv, struct record_args *a)
{
	int status = 0;

	a->out = NULL;
	a->quiet = false;
	a->interval = RR_CKPT_DEFAULT_INTERVAL;
	a->keep = a->max_size = NULL;
	a->keep_ns = a->max_bytes = 0;
	a->nrest = 0;
	a->rest = calloc((size_t)argc + 1, sizeof(*a->rest));
	if (!a->rest)
		return ST_HOST;
	a->rest[a->nrest++] = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *ci = NULL;
		if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc)
			a->out = argv[++i];
		else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
			a->quiet = true;
		else if (!strcmp(argv[i], "--checkpoint-interval") && i + 1 < argc)
			ci = argv[++i];
		else if (!strncmp(argv[i], "--checkpoint-interval=", 22))
			ci = argv[i] + 22;
		else if (!strcmp(argv[i], "--keep") && i + 1 < argc)
			a->keep = argv[++i];
		else if (!strncmp(argv[i], "--keep=", 7))
			a->keep = argv[i] + 7;
		else if (!strcmp(argv[i], "--max-size") && i + 1 < argc)
			a->max_size = argv[++i];
		else if (!strncmp(argv[i], "--max-size=", 11))
			a->max_size = argv[i] + 11;
		else
			a->rest[a->nrest++] = argv[i];
		if (ci) {
			char *end;
			a->interval = strtod(ci, &end);
			if (end == ci || *end || !(a->interval >= 0) || a->interval > 1e6) {
				log_error("--checkpoint-interval %s: not a number of seconds (0 = no checkpoints)", ci);
				status = ST_USAGE;
			}
		}
	}
	if (!status && a->keep && flight_parse_duration(a->keep, &a->keep_ns)) {
		log_error("--keep %s: not a duration of guest time (e.g. 90s, 10m, 1.5h; at least 1ms)", a->keep);
		status = ST_USAGE;
	}
	if (!status && a->max_size && flight_parse_size(a->max_size, &a->max_bytes)) {
		log_error("--max-size %s: not a size (e.g. 100M, 2G; at least 64K)", a->max_size);
		status = ST_USAGE;
	}
	if (!status && (a->keep || a->max_size) && a->interval <= 0) {
		log_error("--keep and --max-size need checkpoints: the kept part starts at one "
			  "(--checkpoint-interval must be above 0)");
		status = ST_USAGE;
	}
	return status;
}

static void record_usage(void)
{
	printf("usage: ttvm record -o TRACE [--checkpoint-interval SEC] [--keep DURATION] [--max-size SIZE] [-q]\n"
	       "                   [run options] KERNEL\n"
	       "  -o, --output TRACE    the trace to write (must not exist)\n"
	       "  -q, --quiet           no status line on a terminal's stderr\n"
	       "      --checkpoint-interval SEC  a checkpoint every SEC seconds of recording\n"
	       "                        (default %g; 0 = none), for `ttvm replay --from`\n"
	       "      --keep DURATION   flight recording: keep only about the last DURATION of\n"
	       "                        guest time (90s, 10m, 1h), from a checkpoint on\n"
	       "      --max-size SIZE   flight recording: drop the oldest part while the trace\n"
	       "                        holds more than SIZE (100M, 2G) of data\n",
	       RR_CKPT_DEFAULT_INTERVAL);
	cli_run_usage(stdout);
}

/* Create the trace and write what replay needs before the first event: the
 * metadata (command line, CPUID table, run options), the patched sites and
 * the guest images.  0 or the exit status (message printed; rr->w closed). */
static int open_trace(struct vm *vm, const struct run_config *cfg, const struct record_args *a, int argc,
		      char **argv, struct rr *rr)
{
	char *cmdline = rr_join_args(argc, argv, ' ');
	char *args = rr_join_args(a->nrest - 1, a->rest + 1, RR_ARG_SEP[0]);
	/* The table the vCPU really got, so that a replay can pin it. */
	struct trace_meta meta;
	rr_trace_meta(vm, cmdline, &meta);
	struct trace_writer_opts wo = { .flight = a->keep || a->max_size };
	int r = trace_writer_open(a->out, &meta, &wo, &rr->w);
	free(cmdline);
	if (r) {
		free(args);
		return r == -EEXIST ? ST_USAGE : ST_HOST;
	}
	r = trace_writer_set_meta(rr->w, "run_args", args ? args : "");
	free(args);
	/* Whether RDMSR/WRMSR of core/msr.h's MSRs were guest exits: replay
	 * must run the same way. */
	if (!r)
		r = trace_writer_set_meta(rr->w, "msr_filter", vm->msr_filter ? "on" : "off");
	if (!r)
		r = store_sites(vm, rr->w);
	/* What bounds a flight recording, for `ttvm inspect`. */
	if (!r && a->keep)
		r = trace_writer_set_meta(rr->w, "flight_keep", a->keep);
	if (!r && a->max_size)
		r = trace_writer_set_meta(rr->w, "flight_max_size", a->max_size);
	if (!r)
		r = store_image(rr->w, cfg->kernel);
	for (size_t i = 0; !r && i < cfg->nmodules; i++)
		r = store_image(rr->w, cfg->modules[i]);
	if (!r)
		r = trace_writer_flush(rr->w);
	if (r) {
		log_error("cannot write the trace header to %s", a->out);
		trace_writer_close(rr->w, NULL);
		return ST_HOST;
	}
	return 0;
}

/* After the run: the final state, the end record, state=complete.  Returns
 * status, or ST_HOST when the trace cannot be completed. */
int record_close_trace(struct vm *vm, struct rr *rr, int status)
{
	char digest[128];
	struct trace_event end;

	rr_state_digest(vm, digest, sizeof(digest));
	log_info("final state: %s", digest);
	if (!rr->failed && trace_writer_set_meta(rr->w, "final_state", digest))
		rr->failed = true;
	/* Replay's bound on the search for a kick or window point (replay/engine.h). */
	char ns[32];
	snprintf(ns, sizeof(ns), "%" PRIu64, vm->max_exitless_ns);
	if (!rr->failed && trace_writer_set_meta(rr->w, "max_exitless_ns", ns))
		rr->failed = true;
	/* The guest time at the end: replay --go-live estimates the time at
	 * a point after the last checkpoint from it (replay/golive.c). */
	snprintf(ns, sizeof(ns), "%" PRIu64, clock_now_ns(vm->clock));
	if (!rr->failed && trace_writer_set_meta(rr->w, "end_guest_ns", ns))
		rr->failed = true;
	record_end_event(vm, &end);
	if (rr->failed) {
		trace_writer_close(rr->w, NULL);
	} else if (trace_writer_close(rr->w, &end)) {
		log_error("cannot complete the trace %s", rr->path);
		status = ST_HOST;
	}
	record_probe_report(vm);
	record_flight_report(vm);
	if (rr->ckpt_count)
		log_info("record: %" PRIu64 " checkpoint(s), %.1f ms taking them", rr->ckpt_count, rr->ckpt_ns / 1e6);
	log_info("record: %" PRIu64 " guest exits recorded to %s", vm->guest_exits, rr->path);
	return status;
}


void record_status_line(void *ctx, uint64_t now_ns, uint64_t start_ns, char *buf, size_t len)
{
	struct record_status *st = ctx;
	uint64_t exits = st->vm->guest_exits;
	char rate[32], events[32], size[32];
	/* Over the last period; the first one counts from the start. */
	uint64_t from_ns = st->last_ns ? st->last_ns : start_ns,
		 from_exits = st->last_ns ? st->last_exits : st->first_exits;
	double dt = (double)(now_ns - from_ns) / 1e9;
	int n;

	status_count(rate, sizeof(rate), dt > 0 ? (double)(exits - from_exits) / dt : 0);
	n = snprintf(buf, len, "%s: guest %.1f s, %s exits/s", st->what ? st->what : "record", (double)now_ns / 1e9,
		     rate);
	if (st->rr && n > 0 && (size_t)n < len) {
		/* Recording (a live run with -o too): the trace's figures. */
		status_count(events, sizeof(events), (double)trace_writer_next_seq(st->rr->w));
		status_bytes(size, sizeof(size), trace_writer_size(st->rr->w));
		snprintf(buf + n, len - (size_t)n, ", %s events, %s, %" PRIu64 " checkpoint%s", events, size,
			 st->rr->ckpt_count, st->rr->ckpt_count == 1 ? "" : "s");
	}
	st->last_ns = now_ns;
	st->last_exits = exits;
}

int record_main(int argc, char **argv)
{
	struct record_args a;
	struct run_config cfg;
	struct vm vm;
	struct rr rr;
	int status, r;

	memset(&vm, 0, sizeof(vm));
	memset(&cfg, 0, sizeof(cfg));
	memset(&rr, 0, sizeof(rr));
	vm.kvm_fd = vm.vm_fd = vm.vcpu_fd = vm.serial_in_fd = -1;
	if ((status = parse_record_args(argc, argv, &a)))
		goto out;
	status = cli_parse_run(a.nrest, a.rest, &cfg);
	if (status == -1) {
		record_usage();
		status = 0;
		goto out;
	}
	if (status)
		goto out;
	if (!a.out) {
		log_error("record: -o TRACE is required");
		status = ST_USAGE;
		goto out;
	}
	if ((status = cli_boot(&cfg, &vm, NULL, NULL)))
		goto out;
	rr.mode = RR_RECORD;
	rr.path = a.out;
	rr.ckpt_interval = a.interval;
	rr.flight.keep_ns = a.keep_ns;
	rr.flight.max_bytes = a.max_bytes;
	if ((status = open_trace(&vm, &cfg, &a, argc, argv, &rr)))
		goto out;
	rr_attach(&vm, &rr);
	if ((r = rr_mem_digest_init(&vm))) {
		log_error("cannot track guest memory: %s", strerror(-r));
		trace_writer_close(rr.w, NULL);
		status = ST_HOST;
		goto out;
	}
	record_probe_init(&vm);
	struct record_status rst = { .vm = &vm, .rr = &rr };
	if (status_wanted(a.quiet)) {
		trace_msg_hook = status_erase; /* the store's messages (a full disk) too */
		status_begin(record_status_line, &rst, clock_now_ns(vm.clock));
	}
	status = vm_run(&vm);
	status_end(); /* vm_run ended it, unless it failed before its loop */
	record_probe_stop(&vm);
	status = record_close_trace(&vm, &rr, status);
out:
	if (vm.kvm_fd >= 0)
		vm_destroy(&vm);
	free(rr.page_hash);
	free(rr.flight.ck);
	cli_free_run(&cfg);
	free(a.rest);
	return status;
}
