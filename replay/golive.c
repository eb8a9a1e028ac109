/* `ttvm replay --go-live EVENT [-o NEWTRACE]`: replay to a point, then run
 * live from it (replay/golive.h). */
#include "replay/golive.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/irq.h"
#include "core/log.h"
#include "core/ptrap.h"
#include "core/run.h"
#include "core/status.h"
#include "core/tsc.h"
#include "core/vm.h"
#include "devices/clock.h"
#include "devices/uart.h"
#include "record/ckpt.h"
#include "record/probe.h"
#include "record/record_cmd.h"
#include "record/rr.h"
#include "replay/engine.h"
#include "replay/seek.h"
#include "storage/checkpoint.h"
#include "storage/trace.h"

/* Copy the metadata key from the recording to the new trace (when it has it). */
static int copy_meta(struct trace_reader *r, struct trace_writer *w, const char *key)
{
	const char *v = trace_reader_meta(r, key);

	return v ? trace_writer_set_meta(w, key, v) : 0;
}

/* The recording's guest images, bytes included, into the new trace: its
 * replay boots from them before it restores the first checkpoint. */
static int copy_images(struct trace_reader *r, struct trace_writer *w)
{
	struct trace_info info;
	struct trace_image_info ii;
	int rc = 0;

	trace_reader_info(r, &info);
	for (uint64_t i = 0; !rc && i < info.n_images; i++) {
		if ((rc = trace_reader_image(r, i, &ii)))
			break;
		uint8_t *data = malloc(ii.size ? ii.size : 1);
		if (!data)
			return -ENOMEM;
		rc = ii.stored ? trace_reader_image_data(r, i, data, ii.size) : -ENOENT;
		if (!rc)
			rc = trace_writer_add_image(w, ii.name, data, ii.size, 1);
		free(data);
	}
	return rc;
}

/* Create the new trace: the recording's run options, MSR-exit mode,
 * patched sites, CPUID table and images (so that it replays alone), where
 * it came from, and kept_from_event 0: its replay starts by restoring the
 * checkpoint that is its event 0.  0 or the exit status (message printed). */
static int open_new_trace(struct vm *vm, struct trace_reader *src, const struct golive_opts *o, uint64_t event,
			  uint64_t exit_no, struct rr *nr)
{
	char *cmdline = rr_join_args(o->argc, o->argv, ' ');
	struct trace_meta meta;
	rr_trace_meta(vm, cmdline, &meta);
	struct trace_writer_opts wo = { .flight = false };
	char from[1024];
	int r = trace_writer_open(o->out, &meta, &wo, &nr->w);

	free(cmdline);
	if (r)
		return r == -EEXIST ? ST_USAGE : ST_HOST;
	snprintf(from, sizeof(from), "%s event %" PRIu64 " (guest exit %" PRIu64 ")", o->trace, event, exit_no);
	r = copy_meta(src, nr->w, "run_args");
	if (!r)
		r = copy_meta(src, nr->w, "msr_filter");
	if (!r)
		r = copy_meta(src, nr->w, "tsc_sites");
	if (!r)
		r = trace_writer_set_meta(nr->w, "live_from", from);
	if (!r)
		r = trace_writer_set_meta(nr->w, "kept_from_event", "0");
	if (!r)
		r = copy_images(src, nr->w);
	if (!r)
		r = trace_writer_flush(nr->w);
	if (r) {
		log_error("cannot write the trace header to %s", o->out);
		trace_writer_close(nr->w, NULL);
		nr->w = NULL;
		return ST_HOST;
	}
	return 0;
}

/* Undo what replay set up for itself: its traps and the recording's loop
 * probes (patched only around each KVM_RUN, so no byte of them is in
 * guest memory now), single-stepping and debug registers, a pending
 * interrupt-window request, the held-back serial output. */
static int drop_replay_setup(struct vm *vm)
{
	int r;

	ptrap_clear(&vm->ptraps, PTRAP_PROBE | PTRAP_ENGINE | PTRAP_LAND);
	vm->ptraps.skip = false;
	if ((r = vcpu_set_guest_debug(vm, 0, NULL))) {
		log_error("KVM_SET_GUEST_DEBUG: %s", strerror(-r));
		return ST_HOST;
	}
	vm->run->request_interrupt_window = 0;
	vm->run->immediate_exit = 0;
	vm->irq_in_flight = false;
	vm->kick_retry_ns = 0;
	vm->scout_ns = 0;
	replay_from_finish(vm); /* the real serial output back */
	return 0;
}

/* The recording's virtual clock (ns) at checkpoint ci.  0 or -errno. */
static int ckpt_ns(struct vm *vm, const struct trace_ckpt_info *ci, uint64_t *ns)
{
	const void *blob;
	size_t len;
	char err[256];
	int r = rr_ckpt_read(vm, ci->id, &blob, &len, err, sizeof(err));

	return r ? r : rr_ckpt_guest_ns(blob, len, ns);
}

/* The recording's guest time at guest exit x, for the live clock to
 * continue from.  Replay's own clock restarts at the recording's value at
 * the checkpoint it restored, then follows the host, and a replay runs at
 * another speed than the recording (it does not wait in HLT; under gdb it
 * waits for the user): at the point it can be far off what the guest has
 * seen (its timer ticks, its clock reads).  No event holds the time; the
 * checkpoints around x do, and the end of the recording (end_guest_ns,
 * written by record_close_trace): the time is interpolated by guest exits
 * between the nearest known times before and after x.  Without a later
 * one (a trace without end_guest_ns, or one cut by a crash) the replay's
 * clock is kept, not below the earlier one's.  *how says which. */
static uint64_t recorded_time_at(struct vm *vm, uint64_t event, uint64_t x, const char **how)
{
	struct rr *rr = rr_of(vm);
	struct trace_ckpt_info a, b;
	struct trace_info ti;
	uint64_t ta = 0, xa = 0, tb = 0, xb = 0, now = clock_now_ns(vm->clock);
	bool later = false;

	*how = "the replay's clock";
	trace_reader_info(rr->r, &ti);
	if (trace_ckpt_find(rr->r, event, &a) == 0) {
		if (ckpt_ns(vm, &a, &ta))
			return now;
		xa = a.exit_no;
		for (uint64_t i = 0; trace_ckpt_get(rr->r, i, &b) == 0; i++) {
			if (b.event_no <= a.event_no)
				continue;
			later = b.exit_no > xa && ckpt_ns(vm, &b, &tb) == 0 && tb >= ta;
			xb = b.exit_no;
			break;
		}
	}
	if (!later) {
		const char *end = trace_reader_meta(rr->r, "end_guest_ns");
		char *e;
		if (end && ti.complete) {
			tb = strtoull(end, &e, 10);
			xb = ti.last_exit;
			later = !*e && e != end && tb >= ta && xb > xa && x <= xb;
		}
	}
	if (later && x >= xa && x <= xb) {
		*how = "interpolated between the recorded times around it";
		return ta + (uint64_t)((double)(tb - ta) * (double)(x - xa) / (double)(xb - xa));
	}
	return now < ta ? ta : now;
}

static int open_serial_in(struct vm *vm, const char *path)
{
	vm->serial_in_fd = -1;
	vm->in_pos = vm->in_len = 0;
	vm->serial_in_eof = false;
	if (path) {
		vm->serial_in_fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (vm->serial_in_fd < 0) {
			log_error("cannot open serial input %s: %s", path, strerror(errno));
			return ST_USAGE;
		}
	} else if (!isatty(STDIN_FILENO)) {
		vm->serial_in_fd = dup(STDIN_FILENO);
		if (vm->serial_in_fd >= 0)
			fcntl(vm->serial_in_fd, F_SETFL, fcntl(vm->serial_in_fd, F_GETFL) | O_NONBLOCK);
	}
	/* Bytes the recording had received and the guest not yet read:
	 * replay does not feed input to the UART (the guest's reads of it
	 * are the trace's), so the FIFO holds a mix of a checkpoint's bytes;
	 * the live input takes their place. */
	uart_rx_drop(vm->uart);
	vm->opt.serial_in = path;
	vm->opt.no_serial_in = false;
	return 0;
}

/* The guest is at a point of the replay (the engine's traps and the
 * timeline gone): make it live and run it to its end, recording with
 * o->out.  event: the last event the replay met there (for the clock and
 * the new trace's live_from); replayed_ns: how long getting there took. */
static int go_live(struct vm *vm, const struct golive_opts *o, uint64_t event, uint64_t replayed_ns)
{
	struct rr *rr = rr_of(vm), nr;
	int status, r;

	const char *how;
	uint64_t exit_no = vm->guest_exits;
	uint64_t at_ns = recorded_time_at(vm, event, exit_no, &how);
	clock_restore(vm->clock, at_ns, clock_epoch_s(vm->clock));
	if ((status = drop_replay_setup(vm)) || (status = open_serial_in(vm, o->serial_in)))
		return status;

	/* From here on the guest is live. */
	memset(&nr, 0, sizeof(nr));
	nr.mode = RR_RECORD;
	nr.path = o->out;
	nr.ckpt_interval = RR_CKPT_DEFAULT_INTERVAL;
	if (o->out) {
		if ((status = open_new_trace(vm, rr->r, o, event, exit_no, &nr)))
			return status;
		/* The memory digest carries over: it is up to date with the
		 * dirty log that replay kept. */
		nr.page_hash = rr->page_hash;
		nr.mem_digest = rr->mem_digest;
		nr.digest_gen = rr->digest_gen;
		rr->page_hash = NULL;
		rr_attach(vm, &nr);
		record_probe_init(vm);
		if ((r = record_checkpoint_now(vm))) {
			log_error("cannot take the new trace's first checkpoint at guest exit %" PRIu64 ": %s",
				  vm->guest_exits, r == -EAGAIN ? "KVM holds a half-delivered event" : vm->stop_msg);
			trace_writer_close(nr.w, NULL);
			rr_attach(vm, rr);
			rr->page_hash = nr.page_hash;
			return ST_HOST;
		}
	} else {
		vm->hooks = NULL;
		vm->hook_ctx = NULL;
	}
	uint64_t now = clock_now_ns(vm->clock);
	/* --timeout counts live guest time: vm_run compares it with the
	 * virtual clock, which continues from the replayed machine's. */
	vm->opt.timeout_s = o->timeout_s > 0 ? (double)now / 1e9 + o->timeout_s : 0;
	char line[1400];
	snprintf(line, sizeof(line), "replay --go-live: live from event %" PRIu64 " (guest exit %" PRIu64 ", guest time %.3f s: %s) after "
		 "%.1f ms%s%s", event, exit_no, (double)now / 1e9, how, replayed_ns / 1e6, o->out ? ", recording to " : "",
		 o->out ? o->out : "");
	/* Under gdb the session has just ended: always say what happens now. */
	if (o->announce)
		log_error("%s", line);
	else
		log_info("%s", line);
	struct record_status rst = { .vm = vm, .rr = o->out ? &nr : NULL, .first_exits = vm->guest_exits,
				     .what = "live" };
	if (status_wanted(o->quiet)) {
		if (o->out)
			trace_msg_hook = status_erase;
		status_begin(record_status_line, &rst, now);
	}
	status = vm_run(vm);
	status_end();
	if (o->out) {
		record_probe_stop(vm);
		status = record_close_trace(vm, &nr, status);
		free(nr.flight.ck);
		/* The replay's owner frees rr->page_hash. */
		rr_attach(vm, rr);
		rr->page_hash = nr.page_hash;
	} else {
		rr_attach(vm, rr);
		if (ttvm_verbosity) {
			char digest[128];
			rr_state_digest(vm, digest, sizeof(digest));
			log_info("final state: %s", digest);
		}
	}
	return status;
}

int golive_run(struct vm *vm, const struct golive_opts *o)
{
	struct rr *rr = rr_of(vm);
	struct trace_info ti;
	struct trace_event ev;
	struct engine eng;
	uint64_t t0 = host_mono_ns();
	int status, r;

	trace_reader_info(rr->r, &ti);
	if (o->event < ti.first_event || o->event >= ti.n_events) {
		log_error("replay --go-live %" PRIu64 ": the trace has events %" PRIu64 " to %" PRIu64, o->event,
			  ti.first_event, ti.n_events ? ti.n_events - 1 : 0);
		return ST_USAGE;
	}
	char msg[1100];
	if (golive_check_out(o->out, msg, sizeof(msg))) {
		log_error("replay --%s", msg);
		return ST_USAGE;
	}
	memset(&ev, 0, sizeof(ev));
	if ((r = trace_reader_get(rr->r, o->event, &ev)) < 0 || trace_reader_seek(rr->r, ti.first_event)) {
		log_error("%s", trace_reader_errmsg(rr->r));
		return ST_BADTRACE;
	}
	uint64_t exit_no = ev.exit_no;
	rr->have_next = -1;
	/* The nearest checkpoint at or before the event (a flight
	 * recording's kept start at least); output held back until then. */
	if ((status = replay_from(vm, o->event)))
		return status;
	if (vm->guest_exits > exit_no) {
		/* A checkpoint after exit exit_no but at or before the event
		 * (events at one exit): the point is before it. */
		log_error("replay --go-live %" PRIu64 ": event %" PRIu64 " lies before the checkpoint at guest exit %"
			  PRIu64 " that precedes it: pick an event after that checkpoint", o->event, o->event,
			  vm->guest_exits);
		return ST_USAGE;
	}
	if ((r = run_signals_init(vm->run))) {
		log_error("cannot set up signal handlers: %s", strerror(-r));
		return ST_HOST;
	}
	eng_init(&eng, vm);
	struct eng_goal to = { .to_e = exit_no, .to_k = 0 };
	int stop = eng_run(&eng, &to);
	eng_free(&eng);
	if (stop != ENG_STOP_TARGET) {
		replay_from_finish(vm);
		log_error("%s", vm->stop_msg);
		log_error("replay --go-live %" PRIu64 ": the replay ended before guest exit %" PRIu64 ", the point of "
			  "that event", o->event, exit_no);
		return vm->status ? vm->status : ST_USAGE;
	}
	/* An interrupt the recording injected right at this exit (or at the
	 * window it opened after it) was pending at the point: its request
	 * carries over, and the live run injects it as the recording did.
	 * Device timers do not run in replay, so without this it would be
	 * lost (the next tick comes a period later). */
	const struct trace_event *next = rr_peek(vm);
	if (vm->stop)
		return vm->status ? vm->status : ST_BADTRACE;
	if (next && next->kind == TRACE_EV_IRQ && next->exit_no == exit_no &&
	    (next->u.irq.regs_hash == 0 ||
	     ((next->flags & TRACE_EVF_FP) && next->fp.exit_reason == KVM_EXIT_IRQ_WINDOW_OPEN))) {
		irq_request_vector(vm, next->u.irq.vector);
		log_info("replay --go-live: the request of vector %#x, pending at the point (event %" PRIu64
			 "), carries over", next->u.irq.vector, next->seq);
	}
	return go_live(vm, o, o->event, host_mono_ns() - t0);
}

int golive_here(struct vm *vm, const struct golive_opts *o)
{
	struct rr *rr = rr_of(vm);
	uint64_t event = rr->last_good == UINT64_MAX ? 0 : rr->last_good;

	struct golive_opts here = *o;

	here.announce = true;
	return go_live(vm, &here, event, 0);
}

int golive_check_out(const char *out, char *msg, size_t len)
{
	if (!out)
		return 0;
	if (access(out, F_OK) == 0) {
		snprintf(msg, len, "go-live -o %s: the file exists", out);
		return ST_USAGE;
	}
	/* The directory must take a new file: found out before the replay
	 * (or the gdb session) ends, not after. */
	char *dir = strdup(out);
	if (!dir) {
		snprintf(msg, len, "go-live -o %s: out of memory", out);
		return ST_HOST;
	}
	char *slash = strrchr(dir, '/');
	const char *d = !slash ? "." : slash == dir ? "/" : (*slash = 0, dir);
	int ok = access(d, W_OK | X_OK) == 0;
	int err = errno;
	if (!ok)
		snprintf(msg, len, "go-live -o %s: cannot create a file in %s: %s", out, d, strerror(err));
	free(dir);
	return ok ? 0 : ST_USAGE;
}
