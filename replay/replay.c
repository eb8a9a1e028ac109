/* `ttvm replay`: re-execute a recorded guest from its trace alone.
 *
 * Device reads take the logged values (rr_io_read), interrupts are injected
 * where the trace says: right after guest exit N (at the first interrupt
 * window after it), or at a kick point found again with a hardware
 * breakpoint on its linear RIP and a comparison of the register hash.  At
 * the first mismatch replay stops with a divergence report. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/cli.h"
#include "core/exit.h"
#include "core/log.h"
#include "core/run.h"
#include "core/vm.h"
#include "record/ckpt.h"
#include "record/rr.h"
#include "replay/seek.h"

/* DR7: L0 enabled, breakpoint 0 on execution, bit 10 reserved-as-one. */
#define DR7_EXEC_BP0 0x401ull

static int set_debug(struct vm *vm, uint32_t control, uint64_t addr)
{
	struct kvm_guest_debug dbg;

	memset(&dbg, 0, sizeof(dbg));
	dbg.control = control;
	if (control & KVM_GUESTDBG_USE_HW_BP) {
		dbg.arch.debugreg[0] = addr;
		dbg.arch.debugreg[7] = DR7_EXEC_BP0;
	}
	if (ioctl(vm->vcpu_fd, KVM_SET_GUEST_DEBUG, &dbg) < 0) {
		vm_request_stop(vm, ST_HOST, "KVM_SET_GUEST_DEBUG: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static void inject(struct vm *vm, uint8_t vector)
{
	vcpu_interrupt(vm, vector);
	log_debug("replay: inject %#x after guest exit %" PRIu64, vector, vm->guest_exits);
}

/* The guest stopped by itself: the trace must end here, the same way. */
static void check_end(struct vm *vm)
{
	int status = vm->status;
	char msg[sizeof(vm->stop_msg)];
	const struct trace_event *e;

	memcpy(msg, vm->stop_msg, sizeof(msg));
	vm->stop = false;
	e = rr_peek(vm);
	if (vm->stop)
		return;
	if (!e || e->kind != TRACE_EV_END || e->exit_no != vm->guest_exits || e->u.end.status != status) {
		char what[sizeof(msg) + 64];
		snprintf(what, sizeof(what), "the guest ended (%s)", msg);
		rr_diverged(vm, what, e);
		return;
	}
	rr_consume(vm);
	vm_request_stop(vm, status, "%s", msg);
}

static bool recording_stopped_here(const struct trace_event *e)
{
	return e->kind == TRACE_EV_END &&
	       (e->u.end.reason == TRACE_END_LIMIT || e->u.end.reason == TRACE_END_USER ||
		e->u.end.reason == TRACE_END_HOST_ERROR || e->u.end.status == ST_HALTED);
}

static int replay_run(struct vm *vm)
{
	struct kvm_run *run = vm->run;
	/* How a positioned interrupt point is being searched for: a hardware
	 * breakpoint on its RIP (stepping over non-matching hits), or (for an
	 * interrupt window, a few instructions after the exit) single steps. */
	enum { BP_NONE, BP_ARMED, BP_STEP, BP_SEARCH_STEP } bp = BP_NONE;
	uint64_t bp_addr = 0;
	bool injected = false;

	if (run_signals_init(run)) {
		log_error("cannot set up signal handlers: %s", strerror(errno));
		return ST_HOST;
	}
	while (!vm->stop) {
		int sig = run_signal_stop();
		if (sig) {
			vm_request_stop(vm, ST_SIGNAL, "replay stopped by %s after guest exit %" PRIu64,
					sig == SIGINT ? "SIGINT" : "SIGTERM", vm->guest_exits);
			break;
		}
		const struct trace_event *e = rr_peek(vm);
		if (vm->stop)
			break;
		if (!e) {
			vm_request_stop(vm, ST_OK, "replay reached the end of an incomplete trace after guest exit %" PRIu64,
					vm->guest_exits);
			break;
		}
		if (e->exit_no < vm->guest_exits) {
			rr_diverged(vm, "the guest went past the point of the next event", e);
			break;
		}
		run->request_interrupt_window = 0;
		if (e->exit_no == vm->guest_exits && !injected) {
			if (recording_stopped_here(e)) {
				int st = e->u.end.status;
				rr_consume(vm);
				vm->rr->ended_early = e->u.end.status != ST_HALTED;
				vm_request_stop(vm, st, "replay reached the end of the recording (it ended with status %d: %s)",
						st, trace_end_reason_name(e->u.end.reason));
				break;
			}
			if (e->kind == TRACE_EV_IRQ && e->u.irq.regs_hash == 0) {
				/* Recorded right at this exit, where the guest could take it. */
				if (!run->ready_for_interrupt_injection || !run->if_flag) {
					rr_diverged(vm, "the guest cannot take the interrupt the recording injected here", e);
					break;
				}
				inject(vm, e->u.irq.vector);
				rr_consume(vm);
				injected = true;
			} else if (e->kind == TRACE_EV_IRQ && bp == BP_NONE) {
				bp_addr = e->u.irq.rip;
				if ((e->flags & TRACE_EVF_FP) && e->fp.exit_reason == KVM_EXIT_IRQ_WINDOW_OPEN) {
					if (set_debug(vm, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP, 0))
						break;
					bp = BP_SEARCH_STEP;
				} else {
					if (set_debug(vm, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP, bp_addr))
						break;
					bp = BP_ARMED;
				}
			}
		}

		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				run->immediate_exit = 0;
				continue;
			}
			vm_request_stop(vm, ST_HOST, "KVM_RUN failed: %s", strerror(errno));
			break;
		}
		vm->exits++;
		injected = false;
		if (run->exit_reason == KVM_EXIT_DEBUG) {
			struct kvm_regs regs;
			if (bp == BP_STEP) {
				if (set_debug(vm, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP, bp_addr))
					break;
				bp = BP_ARMED;
				continue;
			}
			e = rr_peek(vm);
			if ((bp != BP_ARMED && bp != BP_SEARCH_STEP) || !e || e->kind != TRACE_EV_IRQ ||
			    (bp == BP_ARMED && run->debug.arch.pc != bp_addr)) {
				rr_diverged(vm, "unexpected debug exit", e);
				break;
			}
			if (bp == BP_SEARCH_STEP && run->debug.arch.pc != bp_addr)
				continue; /* keep stepping */
			/* Registers first (cheap), then the memory digest: a loop
			 * that keeps its counter in memory repeats its registers. */
			bool regs_ok = vcpu_get_regs(vm, &regs) == 0 && rr_regs_hash(&regs) == e->u.irq.regs_hash;
			if (regs_ok && ttvm_verbosity >= 3)
				log_debug("replay: kick point %#llx: registers match, memory %016llx, want %016llx",
					  (unsigned long long)bp_addr, (unsigned long long)rr_mem_digest(vm),
					  (unsigned long long)e->u.irq.mem_hash);
			if (regs_ok && rr_mem_digest(vm) == e->u.irq.mem_hash) {
				if (set_debug(vm, 0, 0))
					break;
				bp = BP_NONE;
				/* The breakpoint left RF (and maybe TF) in RFLAGS; the
				 * interrupt frame would carry them onto the guest's
				 * stack, which the recording never had. */
				if (regs.rflags & RR_RFLAGS_DEBUG_BITS) {
					regs.rflags &= ~RR_RFLAGS_DEBUG_BITS;
					if (vcpu_set_regs(vm, &regs)) {
						vm_request_stop(vm, ST_HOST, "KVM_SET_REGS: %s", strerror(errno));
						break;
					}
				}
				inject(vm, e->u.irq.vector);
				rr_consume(vm);
				injected = true;
			} else if (bp == BP_ARMED) {
				/* Same RIP, other state: step over it and look again. */
				if (set_debug(vm, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP, 0))
					break;
				bp = BP_STEP;
			}
			continue;
		}
		enum exit_action act = exit_dispatch(vm);
		if (act == EXIT_STOP) {
			if (vm->status != ST_DIVERGED && vm->status != ST_BADTRACE)
				check_end(vm);
			break;
		}
		e = rr_peek(vm);
		if (vm->stop)
			break;
		/* Where the recorder took its checkpoints: compare digests. */
		rr_after_exit(vm);
		if (vm->stop)
			break;
		if (bp != BP_NONE && e && e->exit_no < vm->guest_exits) {
			rr_diverged(vm, "the kick point of an interrupt was not met before the guest's next exit", e);
			break;
		}
		if (act == EXIT_HALT && (!e || e->exit_no != vm->guest_exits)) {
			rr_diverged(vm, "the guest halted where the recording has no interrupt", e);
			break;
		}
	}
	fflush(vm->serial_out);
	log_error("%s", vm->stop_msg);
	log_info("replay: %" PRIu64 " guest exits, %" PRIu64 " exits", vm->guest_exits, vm->exits);
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

int replay_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "serial", required_argument, NULL, 's' },
		{ "from", required_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *serial = NULL, *from = NULL;
	uint64_t from_event = 0;
	char err[512];
	int c, status = ST_USAGE;
	struct rr rr;
	struct vm vm;
	struct run_config cfg;
	char **args = NULL, *argbuf = NULL;

	memset(&vm, 0, sizeof(vm));
	memset(&cfg, 0, sizeof(cfg));
	memset(&rr, 0, sizeof(rr));
	vm.kvm_fd = vm.vm_fd = vm.vcpu_fd = vm.serial_in_fd = -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 's': serial = optarg; break;
		case 'f': from = optarg; break;
		case 'v': ttvm_verbosity++; break;
		case 'h':
			printf("usage: ttvm replay [--serial FILE] [--from EVENT] [-v] TRACE\n"
			       "      --from EVENT   start at the nearest checkpoint at or before event EVENT\n"
			       "                     (see ttvm inspect); serial output from EVENT on\n");
			return 0;
		default:
			log_error("replay: bad option (see ttvm --help)");
			return ST_USAGE;
		}
	}
	if (optind != argc - 1) {
		log_error("replay: expected exactly one TRACE (see ttvm --help)");
		return ST_USAGE;
	}
	if (from) {
		char *end;
		errno = 0;
		from_event = strtoull(from, &end, 0);
		if (errno || end == from || *end || from[0] == '-') {
			log_error("replay --from %s: not an event number", from);
			return ST_USAGE;
		}
	}
	rr.mode = RR_REPLAY;
	rr.path = argv[optind];
	rr.have_next = -1;
	rr.last_good = UINT64_MAX;
	if (trace_reader_open(rr.path, &rr.r, err, sizeof(err))) {
		log_error("%s", err);
		return ST_BADTRACE;
	}
	const char *saved = trace_reader_meta(rr.r, "run_args");
	if (!saved) {
		log_error("%s: not a recording of a run (no run_args in its metadata)", rr.path);
		status = ST_BADTRACE;
		goto out;
	}
	argbuf = strdup(saved);
	size_t n = 2;
	for (const char *p = saved; *p; p++)
		n += *p == RR_ARG_SEP[0];
	args = calloc(n + 1, sizeof(*args));
	if (!argbuf || !args) {
		status = ST_HOST;
		goto out;
	}
	int nargs = 0;
	args[nargs++] = "replay";
	for (char *p = argbuf, *tok; (tok = strsep(&p, RR_ARG_SEP));)
		args[nargs++] = tok;
	int verbosity = ttvm_verbosity;
	status = cli_parse_run(nargs, args, &cfg);
	ttvm_verbosity = verbosity;
	if (status) {
		log_error("%s: its recorded run options are unusable", rr.path);
		status = ST_BADTRACE;
		goto out;
	}
	cfg.vo.serial_out = serial;
	cfg.vo.serial_in = NULL;
	cfg.vo.no_serial_in = true;
	cfg.vo.timeout_s = 0;
	if ((status = cli_boot(&cfg, &vm, read_image, rr.r)))
		goto out;
	vm.rr = &rr;
	int r = rr_mem_digest_init(&vm);
	if (r) {
		log_error("cannot track guest memory: %s", strerror(-r));
		status = ST_HOST;
		goto out;
	}
	if (from && (status = replay_from(&vm, from_event)))
		goto out;
	status = replay_run(&vm);
	if (status != ST_DIVERGED && status != ST_BADTRACE && !rr.ended_early && rr.have_next == -1 &&
	    trace_reader_next(rr.r, &rr.next) == 0) {
		/* The whole trace was met: the final state must be the recorded one. */
		char digest[128];
		const char *want = trace_reader_meta(rr.r, "final_state");
		rr_state_digest(&vm, digest, sizeof(digest));
		log_info("final state: %s", digest);
		if (want && strcmp(want, digest)) {
			log_error("replay diverged at the end: final state %s, recorded %s", digest, want);
			status = ST_DIVERGED;
		}
	}
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
