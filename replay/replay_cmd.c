/* `ttvm replay`: re-execute a recorded guest from its trace alone (the
 * engine, replay/engine.h), to its end or (--gdb) under gdb's control. */
#include "replay/replay_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "core/cli.h"
#include "core/exit.h"
#include "core/log.h"
#include "core/run.h"
#include "core/status.h"
#include "core/vm.h"
#include "record/ckpt.h"
#include "record/rr.h"
#include "replay/engine.h"
#include "replay/gdbserver.h"
#include "replay/golive.h"
#include "replay/seek.h"
#include "replay/timeline.h"

/* The status line's figures (core/status.h), from the replay's position
 * against the recording's totals.  Its clock is CLOCK_MONOTONIC_COARSE,
 * read once per guest exit (a vDSO memory read: about 5 ns, see
 * storage/writer.c), not the virtual clock, which in a replay does not
 * tell the recording's guest time. */
struct replay_status {
	struct vm *vm;
	struct rr *rr;
	struct trace_info info;
	uint64_t start_exits;  /* where the replay began (--from: a checkpoint's exit) */
	uint64_t last_ns, last_exits;
};

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* eng_goal.on_boundary: at every guest exit; never stops the replay. */
static int replay_status_poll(void *ctx)
{
	(void)ctx;
	status_poll(coarse_ns());
	return 0;
}

/* "12 s", "4:05", "1:02:03". */
static void format_left(char *buf, size_t len, double s)
{
	unsigned long t = (unsigned long)(s + 0.5);

	if (t < 60)
		snprintf(buf, len, "%lu s", t);
	else if (t < 3600)
		snprintf(buf, len, "%lu:%02lu", t / 60, t % 60);
	else
		snprintf(buf, len, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
}

static void replay_status_line(void *ctx, uint64_t now_ns, uint64_t start_ns, char *buf, size_t len)
{
	struct replay_status *st = ctx;
	uint64_t exits = st->vm->guest_exits, total = st->info.last_exit;
	uint64_t met = st->rr->last_good + 1; /* UINT64_MAX (none yet) + 1 = 0 */
	char rate[32], events[32], nevents[32], left[32] = "? s";
	uint64_t from_ns = st->last_ns ? st->last_ns : start_ns, from_exits = st->last_ns ? st->last_exits : st->start_exits;
	double dt = (double)(now_ns - from_ns) / 1e9;
	double all = (double)(now_ns - start_ns) / 1e9;
	double share = total ? (double)exits / (double)total : 1;

	if (share > 1)
		share = 1;
	/* The time left at the average rate since the start: steadier than
	 * the last period's, which the guest's phases move. */
	if (exits > st->start_exits && total > exits)
		format_left(left, sizeof(left), (double)(total - exits) * all / (double)(exits - st->start_exits));
	else if (total <= exits)
		snprintf(left, sizeof(left), "0 s");
	status_count(rate, sizeof(rate), dt > 0 ? (double)(exits - from_exits) / dt : 0);
	status_count(events, sizeof(events), (double)met);
	status_count(nevents, sizeof(nevents), (double)st->info.n_events);
	snprintf(buf, len, "replay: %.0f%%, %s left, %s exits/s, %s of %s events, %" PRIu64 " of %" PRIu64 " checkpoints",
		 share * 100, left, rate, events, nevents, st->rr->ckpt_count, st->info.n_checkpoints);
	st->last_ns = now_ns;
	st->last_exits = exits;
}

/* Replay the whole recording (or from --from's checkpoint) to its end;
 * with a status line when show_status. */
static int replay_run(struct vm *vm, bool show_status)
{
	struct engine eng;
	struct eng_goal all = { .to_e = UINT64_MAX };
	struct replay_status st = { .vm = vm, .rr = rr_of(vm), .start_exits = vm->guest_exits };

	if (run_signals_init(vm->run)) {
		log_error("cannot set up signal handlers: %s", strerror(errno));
		return ST_HOST;
	}
	eng_init(&eng, vm);
	if (show_status) {
		trace_reader_info(st.rr->r, &st.info);
		all.on_boundary = replay_status_poll;
		status_begin(replay_status_line, &st, coarse_ns());
	}
	eng_run(&eng, &all);
	/* Before the guest's last, unfinished line reaches the terminal. */
	status_end();
	fflush(vm->serial_out);
	log_error("%s", vm->stop_msg);
	log_info("replay: %" PRIu64 " guest exits, %" PRIu64 " exits", vm->guest_exits, vm->exits);
	eng_report(&eng);
	eng_free(&eng);
	return vm->status;
}

static int read_image(void *ctx, const char *path, uint8_t **data, size_t *size)
{
	struct trace_reader *r = ctx;
	struct trace_info info;
	struct trace_image_info ii;

	trace_reader_info(r, &info);
	for (uint64_t i = 0; i < info.n_images; i++) {
		if (trace_reader_image(r, i, &ii) || strcmp(ii.name, path))
			continue;
		if (!ii.stored) {
			log_error("%s: the trace does not hold a copy of it", path);
			return -ENOENT;
		}
		*data = malloc(ii.size ? ii.size : 1);
		if (!*data)
			return -ENOMEM;
		int rc = trace_reader_image_data(r, i, *data, ii.size);
		if (rc) {
			log_error("%s: %s", path, trace_reader_errmsg(r));
			free(*data);
			*data = NULL;
			return rc;
		}
		*size = ii.size;
		return 0;
	}
	log_error("%s: not among the trace's images", path);
	return -ENOENT;
}

/* What `ttvm replay` takes. */
struct replay_args {
	const char *trace, *serial, *from, *gdb;
	bool quiet; /* no status line */
	enum gdb_arch arch;
	uint64_t from_event;
	/* --go-live EVENT [-o NEWTRACE] [--serial-in FILE] [--timeout SEC] */
	const char *golive, *out, *serial_in, *timeout;
	uint64_t golive_event;
	double timeout_s;
};

static void replay_usage(void)
{
	printf("usage: ttvm replay [--serial FILE] [--from EVENT] [--gdb [HOST:]PORT [--gdb-arch i386]] [-q] [-v] TRACE\n"
	       "       ttvm replay --go-live EVENT [-o NEWTRACE] [--serial-in FILE] [--timeout SEC]\n"
	       "                   [--serial FILE] [-q] [-v] TRACE\n"
	       "  -q, --quiet        no status line on a terminal's stderr (--gdb never shows one)\n"
	       "      --gdb [HOST:]PORT  serve the recording to gdb (target remote HOST:PORT),\n"
	       "                     with reverse execution; HOST defaults to 127.0.0.1\n"
	       "      --gdb-arch i386  describe the vCPU to gdb as 32-bit (guests that never\n"
	       "                     enter long mode); default x86-64\n"
	       "      --from EVENT   start at the nearest checkpoint at or before event EVENT\n"
	       "                     (see ttvm inspect); serial output from EVENT on\n"
	       "      --go-live EVENT  replay to the guest exit of event EVENT, then run the guest\n"
	       "                     live from there: real time, the user's serial input\n"
	       "      -o NEWTRACE    with --go-live: record the live run (it starts with a\n"
	       "                     checkpoint of the state at EVENT; replays alone)\n"
	       "      --serial-in FILE  with --go-live: live serial input (default: stdin\n"
	       "                     when it is not a terminal)\n"
	       "      --timeout SEC  with --go-live: stop after SEC seconds of live guest time\n");
}

/* 0 when a is ready, -1 when --help was printed, or ST_USAGE (message printed). */
static int parse_replay_args(int argc, char **argv, struct replay_args *a)
{
	static const struct option opts[] = {
		{ "serial", required_argument, NULL, 's' },
		{ "from", required_argument, NULL, 'f' },
		{ "gdb", required_argument, NULL, 'g' },
		{ "gdb-arch", required_argument, NULL, 'a' },
		{ "go-live", required_argument, NULL, 'L' },
		{ "output", required_argument, NULL, 'o' },
		{ "serial-in", required_argument, NULL, 'i' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	a->arch = GDB_ARCH_X86_64;
	optind = 1;
	while ((c = getopt_long(argc, argv, "qvho:", opts, NULL)) != -1) {
		switch (c) {
		case 's': a->serial = optarg; break;
		case 'f': a->from = optarg; break;
		case 'g': a->gdb = optarg; break;
		case 'L': a->golive = optarg; break;
		case 'o': a->out = optarg; break;
		case 'i': a->serial_in = optarg; break;
		case 't': a->timeout = optarg; break;
		case 'a':
			if (!strcmp(optarg, "i386"))
				a->arch = GDB_ARCH_I386;
			else if (strcmp(optarg, "x86-64")) {
				log_error("replay --gdb-arch %s: expected x86-64 or i386", optarg);
				return ST_USAGE;
			}
			break;
		case 'v': ttvm_verbosity++; break;
		case 'q': a->quiet = true; break;
		case 'h':
			replay_usage();
			return -1;
		default:
			log_error("replay: bad option (see ttvm --help)");
			return ST_USAGE;
		}
	}
	if (optind != argc - 1) {
		log_error("replay: expected exactly one TRACE (see ttvm --help)");
		return ST_USAGE;
	}
	a->trace = argv[optind];
	if (a->golive) {
		char *end;
		errno = 0;
		a->golive_event = strtoull(a->golive, &end, 0);
		if (errno || end == a->golive || *end || a->golive[0] == '-') {
			log_error("replay --go-live %s: not an event number", a->golive);
			return ST_USAGE;
		}
		if (a->from || a->gdb) {
			log_error("replay --go-live: not with %s (it picks its own starting checkpoint)",
				  a->from ? "--from" : "--gdb (use monitor go-live)");
			return ST_USAGE;
		}
	} else if (a->out || a->serial_in || a->timeout) {
		log_error("replay: %s only goes with --go-live", a->out ? "-o" : a->serial_in ? "--serial-in" : "--timeout");
		return ST_USAGE;
	}
	if (a->timeout) {
		char *end;
		a->timeout_s = strtod(a->timeout, &end);
		if (end == a->timeout || *end || !(a->timeout_s > 0) || a->timeout_s > 1e9) {
			log_error("replay --timeout %s: not a number of seconds", a->timeout);
			return ST_USAGE;
		}
	}
	if (a->from) {
		char *end;
		errno = 0;
		a->from_event = strtoull(a->from, &end, 0);
		if (errno || end == a->from || *end || a->from[0] == '-') {
			log_error("replay --from %s: not an event number", a->from);
			return ST_USAGE;
		}
	}
	return 0;
}

/* The run options the recording was made with (its run_args metadata), in
 * cfg; *args and *argbuf hold the strings cfg points into (the caller
 * frees them).  0 or the exit status (message printed). */
static int recorded_config(struct rr *rr, struct run_config *cfg, char ***args, char **argbuf)
{
	const char *saved = trace_reader_meta(rr->r, "run_args");

	if (!saved) {
		log_error("%s: not a recording of a run (no run_args in its metadata)", rr->path);
		return ST_BADTRACE;
	}
	*argbuf = strdup(saved);
	size_t n = 2;
	for (const char *p = saved; *p; p++)
		n += *p == RR_ARG_SEP[0];
	*args = calloc(n + 1, sizeof(**args));
	if (!*argbuf || !*args)
		return ST_HOST;
	int nargs = 0;
	(*args)[nargs++] = "replay";
	for (char *p = *argbuf, *tok; (tok = strsep(&p, RR_ARG_SEP));)
		(*args)[nargs++] = tok;
	int verbosity = ttvm_verbosity;
	int status = cli_parse_run(nargs, *args, cfg);
	ttvm_verbosity = verbosity;
	if (status) {
		log_error("%s: its recorded run options are unusable", rr->path);
		return ST_BADTRACE;
	}
	return 0;
}

/* The whole trace was met: the final state must be the recorded one.
 * Returns status, or ST_DIVERGED. */
static int check_final_state(struct vm *vm, struct rr *rr, int status)
{
	char digest[128];

	if (status == ST_DIVERGED || status == ST_BADTRACE || rr->ended_early || rr->have_next != -1 ||
	    trace_reader_next(rr->r, &rr->next) != 0)
		return status;
	const char *want = trace_reader_meta(rr->r, "final_state");
	rr_state_digest(vm, digest, sizeof(digest));
	log_info("final state: %s", digest);
	if (want && strcmp(want, digest)) {
		log_error("replay diverged at the end: final state %s, recorded %s", digest, want);
		return ST_DIVERGED;
	}
	return status;
}

/* Single steps a search for a reset-hidden fault may take (at about 28k
 * steps/s on the QEMU-TCG SVM host: 7 s). */
#define FAULT_MAX_STEPS 200000

/* The replay ended in a triple fault that the host reported with the vCPU
 * already reset (SVM: core/exit.c).  Replay the recording again, in a
 * second VM, to the boundary of guest exit e (the last one) and step from
 * there to the shutdown: the last instruction before it is the one that
 * caused the fault.  Prints one line either way. */
static void name_fault(const char *path, struct run_config *cfg, uint64_t e)
{
	struct rr rr;
	struct vm vm;
	struct timeline tl;
	char err[512], insn[256] = "", why[96] = "";
	uint64_t k = 0;
	bool found = false, tl_on = false;

	memset(&rr, 0, sizeof(rr));
	memset(&vm, 0, sizeof(vm));
	vm.kvm_fd = vm.vm_fd = vm.vcpu_fd = vm.serial_in_fd = -1;
	rr.mode = RR_REPLAY;
	rr.path = path;
	rr.have_next = -1;
	rr.last_good = UINT64_MAX;
	cfg->vo.serial_out = "/dev/null";
	if (trace_reader_open(path, &rr.r, err, sizeof(err))) {
		snprintf(why, sizeof(why), "cannot open the trace again");
		goto out;
	}
	if (cli_boot(cfg, &vm, read_image, rr.r)) {
		snprintf(why, sizeof(why), "cannot boot a second VM");
		goto out;
	}
	rr_attach(&vm, &rr);
	/* The output went out the first time: this one goes to /dev/null (closed by vm_destroy). */
	struct trace_info ti;
	trace_reader_info(rr.r, &ti);
	if (rr_mem_digest_init(&vm) || (ti.first_event && replay_from(&vm, ti.first_event)) ||
	    tl_init(&tl, &vm, vm.serial_out)) {
		snprintf(why, sizeof(why), "cannot set up the second replay");
		goto out;
	}
	tl_on = true;
	int r = tl_goto_exit(&tl, e);
	for (; r == TL_OK && k < FAULT_MAX_STEPS; k++) {
		if (tl_settle(&tl))
			break;
		vm_describe_insn(&vm, insn, sizeof(insn));
		r = tl_stepi(&tl);
	}
	found = r == TL_END && tl.end_status == ST_TRIPLE && k > 0;
	if (!found)
		snprintf(why, sizeof(why), r == TL_OK ? "not within %d single steps" : "the second replay stopped (%d)",
			 r == TL_OK ? FAULT_MAX_STEPS : r);
out:
	if (found)
		log_error("the triple fault came from %s (%" PRIu64 " single step(s) after guest exit %" PRIu64
			  ", found by a second replay)",
			  insn, k - 1, e);
	else
		log_error("the instruction that caused the triple fault was not found after guest exit %" PRIu64 ": %s",
			  e, why);
	if (tl_on)
		tl_free(&tl);
	replay_from_finish(&vm); /* the checkpoint scratch the timeline's restores used */
	if (vm.kvm_fd >= 0)
		vm_destroy(&vm);
	trace_reader_close(rr.r);
	free(rr.page_hash);
}

int replay_main(int argc, char **argv)
{
	struct replay_args a;
	char err[512];
	int status;
	struct rr rr;
	struct vm vm;
	struct run_config cfg;
	char **args = NULL, *argbuf = NULL;

	memset(&vm, 0, sizeof(vm));
	memset(&cfg, 0, sizeof(cfg));
	memset(&rr, 0, sizeof(rr));
	vm.kvm_fd = vm.vm_fd = vm.vcpu_fd = vm.serial_in_fd = -1;
	if ((status = parse_replay_args(argc, argv, &a)))
		return status == -1 ? 0 : status;
	rr.mode = RR_REPLAY;
	rr.path = a.trace;
	rr.have_next = -1;
	rr.last_good = UINT64_MAX;
	if (trace_reader_open(rr.path, &rr.r, err, sizeof(err))) {
		log_error("%s", err);
		/* --go-live: a trace it cannot start from is bad input. */
		return a.golive ? ST_USAGE : ST_BADTRACE;
	}
	if ((status = recorded_config(&rr, &cfg, &args, &argbuf)))
		goto out;
	cfg.vo.serial_out = a.serial;
	cfg.vo.serial_in = NULL;
	cfg.vo.no_serial_in = true;
	cfg.vo.timeout_s = 0;
	/* Traces before format 5 (no msr_filter key) were recorded without
	 * MSR exits: replay them the same way. */
	const char *mf = trace_reader_meta(rr.r, "msr_filter");
	bool want_filter = mf && !strcmp(mf, "on");
	cfg.vo.no_msr_filter = !want_filter;
	if ((status = cli_boot(&cfg, &vm, read_image, rr.r)))
		goto out;
	if (want_filter && !vm.msr_filter) {
		log_error("%s: recorded with KVM's user-space MSR exits, which this host's KVM does not offer "
			  "(KVM_CAP_X86_USER_SPACE_MSR): cannot replay it here", rr.path);
		status = ST_HOST;
		goto out;
	}
	rr_attach(&vm, &rr);
	int r = rr_mem_digest_init(&vm);
	if (r) {
		log_error("cannot track guest memory: %s", strerror(-r));
		status = ST_HOST;
		goto out;
	}
	/* A flight recording that dropped its beginning starts at its oldest
	 * kept checkpoint. */
	struct trace_info ti;
	trace_reader_info(rr.r, &ti);
	if (a.golive) {
		struct golive_opts go = {
			.event = a.golive_event,
			.out = a.out,
			.serial_in = a.serial_in,
			.timeout_s = a.timeout_s,
			.quiet = a.quiet,
			.trace = a.trace,
			.argc = argc,
			.argv = argv,
		};
		status = golive_run(&vm, &go);
		goto out;
	}
	/* A trace made by --go-live -o starts with a checkpoint at event 0
	 * (kept_from_event 0). */
	if ((ti.first_event || trace_reader_meta(rr.r, "kept_from_event")) && !a.from) {
		a.from = "kept start";
		a.from_event = ti.first_event;
		if (trace_reader_meta(rr.r, "live_from"))
			log_info("replay: a live run's recording (--go-live -o) from %s: it starts with a checkpoint",
				 trace_reader_meta(rr.r, "live_from"));
		else
			log_info("replay: a flight recording: the kept part starts at event %" PRIu64, ti.first_event);
	}
	if (a.from && (status = replay_from(&vm, a.from_event)))
		goto out;
	if (a.gdb) {
		if (run_signals_init(vm.run)) {
			status = ST_HOST;
			goto out;
		}
		struct gdb_golive live;
		status = gdbserver_main(&vm, a.gdb, a.arch, vm.serial_out ? vm.serial_out : stdout, &live);
		if (!status && live.wanted) {
			/* monitor go-live: the guest's serial input is now stdin
			 * (when it is not a terminal), no --timeout. */
			struct golive_opts go = {
				.out = live.out[0] ? live.out : NULL,
				.quiet = a.quiet,
				.trace = a.trace,
				.argc = argc,
				.argv = argv,
			};
			status = golive_here(&vm, &go);
		}
		goto out;
	}
	status = check_final_state(&vm, &rr, replay_run(&vm, status_wanted(a.quiet)));
	if (status == ST_TRIPLE && vcpu_in_reset_state(&vm))
		name_fault(rr.path, &cfg, vm.guest_exits);
out:
	replay_from_finish(&vm);
	if (vm.kvm_fd >= 0)
		vm_destroy(&vm);
	cli_free_run(&cfg);
	free(args);
	free(argbuf);
	trace_reader_close(rr.r);
	free(rr.page_hash);
	return status;
}
