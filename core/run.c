#include "core/run.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "devices/clock.h"
#include "core/exit.h"
#include "core/log.h"
#include "core/ptrap.h"
#include "core/status.h"
#include "core/stepfix.h"
#include "core/vm.h"
#include "core/hooks.h"
#include "core/irq.h"
#include "devices/uart.h"

#define NS_PER_MS 1000000ull
/* How often the loop may poll the serial input while the guest runs: a read()
 * per exit would cost more than the exit itself. */
#define INPUT_POLL_NS (1 * NS_PER_MS)

/* Signals may land while the vCPU runs or just before KVM_RUN: the handler
 * sets immediate_exit so that KVM_RUN returns at once either way. */
static struct kvm_run *volatile sig_run;
static volatile sig_atomic_t sig_stop;

static void on_signal(int sig)
{
	if (sig == SIGINT || sig == SIGTERM)
		sig_stop = sig;
	vm_signal_seen();
	if (sig_run)
		sig_run->immediate_exit = 1;
}

int run_signals_init(struct kvm_run *run)
{
	struct sigaction sa;

	sig_run = run;
	sig_stop = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN and ppoll must return EINTR. */
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL) || sigaction(SIGALRM, &sa, NULL))
		return -errno;
	return 0;
}

int run_signal_stop(void)
{
	return sig_stop;
}

static int install_signals(struct kvm_run *run, timer_t *timer)
{
	struct sigevent sev;
	int r;

	if ((r = run_signals_init(run)))
		return r;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGALRM;
	if (timer_create(CLOCK_MONOTONIC, &sev, timer))
		return -errno;
	return 0;
}

static void arm_timer(timer_t timer, uint64_t delta_ns)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (delta_ns == 0)
		delta_ns = 1;
	its.it_value.tv_sec = (time_t)(delta_ns / 1000000000ull);
	its.it_value.tv_nsec = (long)(delta_ns % 1000000000ull);
	timer_settime(timer, 0, &its, NULL);
}

/* Move pending serial input into the UART; read more from the host when
 * allowed.  Returns true while input may still arrive.  The read does not
 * wait for room in the UART: input the guest cannot take yet (it has not
 * looked for any, devices/uart.h) then goes in at the exit that lets it. */
static bool serial_feed(struct vm *vm, bool may_read)
{
	if (vm->serial_in_fd < 0)
		return false;
	if (vm->in_pos == vm->in_len && may_read && !vm->serial_in_eof) {
		ssize_t n = read(vm->serial_in_fd, vm->in_buf, sizeof(vm->in_buf));
		if (n > 0) {
			vm->in_pos = 0;
			vm->in_len = (size_t)n;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			vm->serial_in_eof = true;
		}
	}
	if (vm->in_pos < vm->in_len) {
		size_t n = uart_rx_push(vm->uart, vm->in_buf + vm->in_pos, vm->in_len - vm->in_pos);
		if (vm->hooks && vm->hooks->serial_in)
			vm->hooks->serial_in(vm, vm->in_buf + vm->in_pos, n);
		vm->in_pos += n;
	}
	return vm->in_pos < vm->in_len || !vm->serial_in_eof;
}

/* pt: where, for the hooks (NULL: right after the guest's exit). */
static void inject(struct vm *vm, const struct vm_irq_point *pt)
{
	static const struct vm_irq_point at_exit;
	uint8_t vector = (uint8_t)irq_ack(vm);

	if (!pt)
		pt = &at_exit;
	log_debug("inject %#x after guest exit %llu%s", vector, (unsigned long long)vm->guest_exits,
		  pt->regs_hash ? " at a kick point" : "");
	if (vcpu_interrupt(vm, vector))
		return;
	vm->irq_in_flight = true;
	vm->irq_in_flight_vector = vector;
	if (vm->hooks && vm->hooks->irq)
		vm->hooks->irq(vm, vector, pt);
}

/* Is the exception an exit handler queued (vm->exception_queued) still to
 * be delivered?  Right at that exit it is; after a kick, KVM says (the
 * guest may not have run: a signal can end KVM_RUN before it enters).
 * Clears the flag once delivered. */
static bool exception_pending(struct vm *vm, bool at_exit)
{
	struct kvm_vcpu_events ev;

	if (!vm->exception_queued)
		return false;
	if (at_exit || ioctl(vm->vcpu_fd, KVM_GET_VCPU_EVENTS, &ev) < 0 || ev.exception.injected ||
	    ev.exception.pending)
		return true;
	vm->exception_queued = false;
	return false;
}

#define RFLAGS_RF (1ull << 16)

/* Is RFLAGS.RF set in the guest (the sync area's registers when valid)? */
static bool guest_rf(struct vm *vm)
{
	struct kvm_regs regs;

	return vcpu_get_regs(vm, &regs) == 0 && (regs.rflags & RFLAGS_RF);
}

/* Deliver the PIC's pending interrupt when the guest can take it.
 *
 * at_exit: the last KVM_RUN ended with an exit the guest caused (I/O, MMIO,
 * HLT) or has not run yet: a point replay finds by counting exits.  Every
 * other return (a kick by ttvm's timer signal, an interrupt-window exit,
 * whose position the host does not make reproducible) is not: there the
 * irq_point hook (when set: recording) says whether and where the injection
 * may happen, or defers it to the guest's next exit. */
static void inject_interrupts(struct vm *vm, bool at_exit)
{
	struct kvm_run *run = vm->run;
	bool ready = run->ready_for_interrupt_injection && run->if_flag;
	const struct vm_hooks *h = vm->hooks;
	struct vm_irq_point pt;

	if (!irq_pending(vm)) {
		run->request_interrupt_window = 0;
		return;
	}
	if (exception_pending(vm, at_exit)) {
		/* Not before the guest took the exception an exit handler
		 * queued (vm.h): at its next exit, or a kick once it has run.
		 * No window either: replay would have to find its point by
		 * single steps, which push TF into the exception's frame. */
		run->request_interrupt_window = 0;
		return;
	}
	if (h && h->irq_point && !at_exit && vm->fault_stretch && guest_rf(vm)) {
		/* RFLAGS.RF is the guest's own here (an IRET from a fault's
		 * handler: a fault's frame has RF set, as the #GP of a refused
		 * MSR's), but replay clears RF before it injects at a kick or
		 * window point, as hosts leave it after a breakpoint: the
		 * interrupt's frame would differ.  The next exit, or a later
		 * kick, once the next instruction has cleared RF. */
		run->request_interrupt_window = 0;
		return;
	}
	if (!h || !h->irq_point || at_exit) {
		if (ready)
			inject(vm, NULL);
		else
			run->request_interrupt_window = 1;
		return;
	}
	/* An interrupt injected before this KVM_RUN may not have been delivered
	 * yet (the signal can end KVM_RUN before the guest ran); KVM may still
	 * call the vCPU ready.  A second one now would be found nowhere. */
	if (ready && !vm->irq_in_flight) {
		if (h->irq_point(vm, &pt))
			inject(vm, &pt);
		else
			run->request_interrupt_window = 0; /* wait for the guest's next exit */
	}
	/* Not ready: keep the window request as the last exit set it. */
}

/* The guest executed HLT: sleep until a device timer, serial input, a
 * signal or the timeout, then return so the loop can inject. */
static void wait_halted(struct vm *vm, uint64_t timeout_ns)
{
	struct kvm_regs regs;

	if (!vm->run->if_flag) {
		char insn[256];
		vm_describe_insn(vm, insn, sizeof(insn));
		vm_request_stop(vm, ST_HALTED, "halted forever: HLT with interrupts disabled at %s", insn);
		return;
	}
	/* Timers may still run (the PIT counts from power-on) but cannot
	 * wake a guest whose PIC masks every line: waiting for them would
	 * only end at --timeout. */
	if (!irq_pending(vm) && irq_all_masked(vm)) {
		char insn[256];
		vm_describe_insn(vm, insn, sizeof(insn));
		vm_request_stop(vm, ST_HALTED,
				"halted forever: HLT with interrupts enabled but every line masked in the %s, at %s",
				vm->apic ? "PIC, APIC and IOAPIC" : "PIC", insn);
		return;
	}
	for (;;) {
		uint64_t now = clock_now_ns(vm->clock);
		uint64_t deadline = bus_run_timers(vm->bus, now);
		bool input = serial_feed(vm, true);

		status_poll(now); /* a guest asleep for long still shows its figures */

		if (irq_pending(vm) || vm->stop || sig_stop)
			return;
		if (timeout_ns && now >= timeout_ns)
			return;
		if (timeout_ns && timeout_ns < deadline)
			deadline = timeout_ns;
		/* Wake for the status line's next draw too (not while it is off). */
		if (ttvm_status_due < deadline && deadline != UINT64_MAX)
			deadline = ttvm_status_due;
		if (deadline == UINT64_MAX && !input) {
			vcpu_get_regs(vm, &regs);
			vm_request_stop(vm, ST_HALTED,
					"halted forever: HLT at RIP %#llx with interrupts enabled, but no timer "
					"is armed and no input is left",
					(unsigned long long)regs.rip);
			return;
		}
		struct pollfd pfd = { .fd = vm->serial_in_fd, .events = POLLIN };
		bool want_fd = input && vm->in_pos == vm->in_len && uart_rx_room(vm->uart);
		int ms = -1;
		if (deadline != UINT64_MAX) {
			uint64_t d = deadline > now ? deadline - now : 0;
			ms = (int)((d + NS_PER_MS - 1) / NS_PER_MS);
		}
		if (!want_fd && ms < 0)
			ms = 1000; /* input pending in the UART's way: re-check soon */
		struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
		ppoll(want_fd ? &pfd : NULL, want_fd ? 1 : 0, ms < 0 ? NULL : &ts, NULL);
	}
}

int vm_run(struct vm *vm)
{
	struct kvm_run *run = vm->run;
	timer_t timer;
	uint64_t armed = UINT64_MAX, last_input = 0, retry_at = UINT64_MAX;
	uint64_t scout_at = UINT64_MAX, scout_from = UINT64_MAX;
	bool at_exit = true;
	uint64_t stretch_from = 0; /* virtual time the guest was entered after its last exit */
	uint64_t timeout_ns = vm->opt.timeout_s > 0 ? (uint64_t)(vm->opt.timeout_s * 1e9) : 0;
	int r;

	if ((r = install_signals(run, &timer))) {
		log_error("cannot set up signals and timers: %s", strerror(-r));
		return ST_HOST;
	}

	while (!vm->stop) {
		uint64_t now = clock_now_ns(vm->clock);
		uint64_t deadline = bus_run_timers(vm->bus, now);

		/* The virtual clock follows the host's from VM creation: the
		 * status line's time (core/status.h: no clock read of its own). */
		status_poll(now);
		if (sig_stop) {
			vm_request_stop(vm, ST_SIGNAL, "stopped by %s", sig_stop == SIGINT ? "SIGINT" : "SIGTERM");
			break;
		}
		if (timeout_ns && now >= timeout_ns) {
			vm_request_stop(vm, ST_TIMEOUT, "timeout: the guest ran for %.3g s", vm->opt.timeout_s);
			break;
		}
		if (timeout_ns && timeout_ns < deadline)
			deadline = timeout_ns;
		if (vm->serial_in_fd >= 0) {
			bool may_read = now - last_input >= INPUT_POLL_NS;
			if (may_read)
				last_input = now;
			serial_feed(vm, may_read);
			/* Input waiting to be read must not wait for an exit that may never come. */
			if (vm->in_pos < vm->in_len || !vm->serial_in_eof) {
				uint64_t d = now + INPUT_POLL_NS;
				if (d < deadline)
					deadline = d;
			}
		}
		if (at_exit)
			stretch_from = now;
		inject_interrupts(vm, at_exit);
		if (vm->stop)
			break;
		/* A deferred interrupt's second look (vm->kick_retry_ns). */
		if (at_exit || now >= retry_at)
			retry_at = UINT64_MAX;
		if (vm->kick_retry_ns) {
			retry_at = now + vm->kick_retry_ns;
			vm->kick_retry_ns = 0;
		}
		if (retry_at < deadline)
			deadline = retry_at;
		/* The timer scout: armed scout_ns ahead and moved on (once per
		 * scout_ns, not per exit: a timer_settime costs microseconds)
		 * while the guest makes exits. */
		if (vm->scout_ns) {
			if (vm->scout_exit == vm->guest_exits) {
				scout_at = UINT64_MAX; /* this stretch had its look */
			} else if (scout_at == UINT64_MAX || (now >= scout_at && vm->guest_exits != scout_from)) {
				scout_at = now + vm->scout_ns;
				scout_from = vm->guest_exits;
			}
			if (scout_at < deadline)
				deadline = scout_at;
		}
		/* Re-arm only when the deadline moved: a timer_settime per exit
		 * would show in the exit rate. */
		if (deadline != armed) {
			if (deadline != UINT64_MAX)
				arm_timer(timer, deadline > now ? deadline - now : 1);
			armed = deadline;
		}

		/* Loop probes are patched in for the run only; the run right
		 * after a probe's hit steps over its instruction instead. */
		bool step_over = vm->ptraps.skip;
		/* A stepped PUSHF pushes TF (core/stepfix.h): the recording
		 * must hold what the guest's own run would have pushed, as
		 * replay (which does not step there) will.  So does a step
		 * that delivers the interrupt just injected (a landing that
		 * took it at the trap it hit): on the SVM test host TF went
		 * into the interrupt frame, the handler's IRET set it, and
		 * the recorded kernel took a #DB (a WARN in exc_debug) that
		 * its replay, which delivers there without a step, did not. */
		struct stepfix fx = { .armed = false };
		if (step_over) {
			bool delivers = vm->irq_in_flight && vm->irq_in_flight_vector >= 0;
			stepfix_plan(vm, delivers, delivers ? (uint8_t)vm->irq_in_flight_vector : 0, &fx);
		}
		if (step_over && (r = vcpu_set_guest_debug(vm, KVM_GUESTDBG_SINGLESTEP, NULL))) {
			vm_request_stop(vm, ST_HOST, "KVM_SET_GUEST_DEBUG: %s", strerror(-r));
			break;
		}
		ptrap_apply(vm, &vm->ptraps, PTRAP_PROBE | PTRAP_LAND);
		__atomic_store_n(&vm->in_kvm_run, 1, __ATOMIC_RELEASE);
		int rc = vcpu_run(vm);
		int err = errno;
		__atomic_store_n(&vm->in_kvm_run, 0, __ATOMIC_RELEASE);
		ptrap_remove(vm, &vm->ptraps);
		if (step_over)
			(void)stepfix_apply(vm, &fx); /* logs what it cleared */
		if (step_over && (r = vcpu_set_guest_debug(vm, 0, NULL))) {
			vm_request_stop(vm, ST_HOST, "KVM_SET_GUEST_DEBUG: %s", strerror(-r));
			break;
		}
		errno = err;
		if (rc < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				run->immediate_exit = 0;
				at_exit = false;
				log_debug("EINTR: rip %#llx if %u ready %u pending %d",
					  (unsigned long long)run->s.regs.regs.rip, run->if_flag,
					  run->ready_for_interrupt_injection, irq_pending(vm));
				/* The timer fired: it is no longer armed. */
				uint64_t t = clock_now_ns(vm->clock);
				if (t >= armed)
					armed = UINT64_MAX;
				if (t - stretch_from > vm->max_exitless_ns)
					vm->max_exitless_ns = t - stretch_from;
				if (vm->scout_ns && t >= scout_at && vm->guest_exits == scout_from &&
				    vm->scout_exit != vm->guest_exits) {
					vm->scout_exit = vm->guest_exits;
					scout_at = UINT64_MAX;
				}
				/* A kick point is where the guest stands: not one
				 * with an exception still to come (vm.h). */
				if (vm->hooks && vm->hooks->kicked && !exception_pending(vm, false))
					vm->hooks->kicked(vm);
				continue;
			}
			vm_request_stop(vm, ST_HOST, "KVM_RUN failed: %s", strerror(errno));
			break;
		}
		vm->exits++;
		vm->irq_in_flight = false;
		vm->exception_queued = false;
		if (step_over && run->exit_reason == KVM_EXIT_DEBUG && run->debug.arch.exception == 1) {
			/* Stepped over the probe's instruction: not the guest's exit. */
			vm->ptraps.skip = false;
			at_exit = false;
			continue;
		}
		if (step_over)
			vm->ptraps.skip = false; /* the instruction exited by itself (I/O, MMIO, ...) */
		log_debug("exit %s rip %#llx if %u", exit_reason_name(run->exit_reason),
			  (unsigned long long)run->s.regs.regs.rip, run->if_flag);
		/* exit_dispatch() alone decides which exits the guest caused. */
		uint64_t guest_exits = vm->guest_exits;
		enum exit_action act = exit_dispatch(vm);
		at_exit = vm->guest_exits != guest_exits;
		if (at_exit)
			vm->fault_stretch = vm->exception_queued;
		if (at_exit && vm->sync_regs) {
			/* Free with the sync area: for a triple fault's report (exit.c). */
			vm->last_exit_rip = run->s.regs.regs.rip;
			vm->last_exit_no = vm->guest_exits;
			vm->last_exit_known = true;
		}
		if (!at_exit) {
			/* An interrupt window: the guest ran on since its last exit. */
			uint64_t t = clock_now_ns(vm->clock);
			if (t - stretch_from > vm->max_exitless_ns)
				vm->max_exitless_ns = t - stretch_from;
		}
		/* A quiet point that replay passes too: checkpoints go here. */
		if (at_exit && act != EXIT_STOP && !vm->stop && vm->hooks && vm->hooks->after_exit)
			vm->hooks->after_exit(vm);
		switch (act) {
		case EXIT_CONTINUE:
			break;
		case EXIT_HALT:
			wait_halted(vm, timeout_ns);
			armed = UINT64_MAX; /* a signal may have consumed it */
			break;
		case EXIT_STOP:
			break;
		}
	}
	sig_run = NULL;
	timer_delete(timer);
	/* Before the guest's last, unfinished line reaches the terminal. */
	status_end();
	fflush(vm->serial_out);
	log_error("%s", vm->stop_msg);
	log_info("%llu exits", (unsigned long long)vm->exits);
	return vm->status;
}
