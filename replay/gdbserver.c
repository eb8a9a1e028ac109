/* The debugging session behind `ttvm replay --gdb`: gdb's requests
 * (gdbproto.h) answered from the replayed machine, moves through the
 * recording done by the timeline (timeline.h).  The replay is read-only:
 * memory and register writes are refused with a message gdb shows. */
#include "replay/gdbserver.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/log.h"
#include "core/tsc.h"
#include "core/vm.h"
#include "replay/gdbproto.h"
#include "replay/golive.h"
#include "replay/timeline.h"

struct session {
	struct vm *vm;
	struct timeline tl;
	struct gdb_conn *c;
	enum gdb_arch arch;
	bool sw_bp[ENG_MAX_TRAPS]; /* the trap was asked for as Z0 */
	int last_result;
	bool conn_lost;
	bool broken;               /* the replay diverged: no more moving */
	struct gdb_golive *live;   /* monitor go-live asked for (the session ends) */
};

static int poll_interrupt(void *ctx)
{
	struct session *s = ctx;
	int r = gdb_poll_interrupt(s->c);
	if (r < 0)
		s->conn_lost = true;
	return r != 0;
}

static int read_state(struct session *s, struct kvm_regs *regs, struct kvm_sregs *sregs, struct kvm_fpu *fpu)
{
	struct vm *vm = s->vm;
	if (tl_settle(&s->tl) || vcpu_get_regs(vm, regs) || vcpu_get_sregs(vm, sregs))
		return -EIO;
	memset(fpu, 0, sizeof(*fpu));
	if (ioctl(vm->vcpu_fd, KVM_GET_FPU, fpu) < 0)
		return -errno;
	return 0;
}

static void send_stop(struct session *s, int result)
{
	struct gdb_stop st = { .kind = GDB_STOP_SIGNAL, .sig = 5, .thread = 1 };
	char msg[700];

	s->last_result = result;
	switch (result) {
	case TL_TRAP: {
		struct eng_trap t;
		uint64_t addr = 0;
		int i = tl_hit(&s->tl, &t, &addr);
		if (i < 0 || t.type == ENG_EXEC)
			st.reason = i >= 0 && s->sw_bp[i] ? GDB_STOP_SWBREAK : GDB_STOP_HWBREAK;
		else {
			st.reason = t.type == ENG_WRITE ? GDB_STOP_WATCH :
				    t.type == ENG_READ	 ? GDB_STOP_RWATCH : GDB_STOP_AWATCH;
			st.addr = addr;
		}
		break;
	}
	case TL_BEGIN:
		st.reason = GDB_STOP_REPLAY_BEGIN;
		break;
	case TL_END:
		snprintf(msg, sizeof(msg), "ttvm: end of the recording: %s\n", tl_end_msg(&s->tl));
		gdb_send_console(s->c, msg, strlen(msg));
		st.reason = GDB_STOP_REPLAY_END;
		break;
	case TL_INTERRUPTED:
		st.sig = 2;
		break;
	case TL_ERROR:
		snprintf(msg, sizeof(msg), "ttvm: %s\n", tl_msg(&s->tl)[0] ? tl_msg(&s->tl) : s->vm->stop_msg);
		gdb_send_console(s->c, msg, strlen(msg));
		log_error("%s", msg);
		if (s->vm->status == ST_DIVERGED || s->vm->status == ST_BADTRACE || s->vm->status == ST_HOST)
			s->broken = true;
		break;
	default:
		break;
	}
	gdb_send_stop(s->c, &st);
}

static void reply_regs(struct session *s)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	uint8_t buf[GDBREGS_G_MAX];

	if (read_state(s, &regs, &sregs, &fpu)) {
		gdb_send_error_msg(s->c, "ttvm: cannot read the vCPU's registers");
		return;
	}
	gdbregs_encode(s->arch, &regs, &sregs, &fpu, buf);
	gdb_send_hex(s->c, buf, gdbregs_g_size(s->arch));
}

static void reply_reg(struct session *s, unsigned n)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	uint8_t buf[GDBREGS_MAX_SIZE];

	if (read_state(s, &regs, &sregs, &fpu)) {
		gdb_send_error_msg(s->c, "ttvm: cannot read the vCPU's registers");
		return;
	}
	int len = gdbregs_read_one(s->arch, n, &regs, &sregs, &fpu, buf);
	if (len < 0)
		gdb_send_error(s->c, 0x45);
	else
		gdb_send_hex(s->c, buf, (size_t)len);
}

static void reply_mem(struct session *s, uint64_t addr, size_t len)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	uint8_t buf[GDB_MEM_MAX];

	if (len > sizeof(buf))
		len = sizeof(buf);
	if (read_state(s, &regs, &sregs, &fpu)) {
		gdb_send_error(s->c, 0x0e);
		return;
	}
	size_t got = vm_read_virt(s->vm, &sregs, addr, buf, len);
	if (got == 0 && len > 0) {
		gdb_send_error(s->c, 0x0e); /* unmapped: gdb says "Cannot access memory" */
		return;
	}
	/* gdb must see the guest's own code, not ttvm's RDTSC traps. */
	if (s->vm->tsc)
		for (size_t i = 0; i < got; i++)
			tsc_original_byte(s->vm->tsc, addr + i, &buf[i]);
	gdb_send_hex(s->c, buf, got);
}

static void insert_trap(struct session *s, const struct gdb_req *q, bool insert)
{
	struct eng_trap t = { .addr = q->bp.addr, .len = q->bp.kind };

	switch (q->bp.type) {
	case GDB_BP_SW:
	case GDB_BP_HW: t.type = ENG_EXEC; t.len = 1; break;
	case GDB_WATCH_WRITE: t.type = ENG_WRITE; break;
	case GDB_WATCH_READ: t.type = ENG_READ; break;
	case GDB_WATCH_ACCESS: t.type = ENG_ACCESS; break;
	default: gdb_send_str(s->c, ""); return;
	}
	if (!insert) {
		tl_trap_del(&s->tl, &t);
		gdb_send_ok(s->c);
		return;
	}
	int i = tl_trap_add(&s->tl, &t);
	if (i == -ENOTSUP) {
		gdb_send_error_msg(s->c, "ttvm: read and access watchpoints need data breakpoints, "
					 "which this host's KVM (PVM) does not report");
		return;
	}
	if (i < 0) {
		gdb_send_error_msg(s->c, i == -ENOSPC ? "ttvm: too many breakpoints"
						      : "ttvm: watchpoint length must be 1, 2, 4 or 8, aligned");
		return;
	}
	s->sw_bp[i] = q->bp.type == GDB_BP_SW;
	gdb_send_ok(s->c);
}

static int console(struct session *s, const char *text)
{
	return gdb_send_console(s->c, text, strlen(text));
}

/* A monitor command refused: gdb takes no "E.text" reply to one (it
 * hex-decodes it), so the text goes to the console, then an error. */
static void monitor_refuse(struct session *s, const char *why)
{
	char buf[700];

	snprintf(buf, sizeof(buf), "ttvm: %.600s\n", why);
	console(s, buf);
	gdb_send_error(s->c, 1);
}

static void monitor(struct session *s, const char *cmd)
{
	char buf[1024];
	struct eng_pos p;

	while (*cmd == ' ')
		cmd++;
	if (!strcmp(cmd, "when")) {
		tl_where(&s->tl, &p);
		char pos[200];
		eng_pos_format(&p, pos, sizeof(pos));
		snprintf(buf, sizeof(buf), "at %s (next event %" PRIu64 ")%s\n", pos,
			 tl_next_event(&s->tl), tl_at_end(&s->tl) ? ", the end of the recording" : "");
		console(s, buf);
		gdb_send_ok(s->c);
	} else if (!strncmp(cmd, "goto ", 5)) {
		const char *arg = cmd + 5;
		int r;
		if (s->broken) {
			monitor_refuse(s, "the replay diverged; nothing more can be shown");
			return;
		}
		if (!strcmp(arg, "end")) {
			r = tl_goto_exit(&s->tl, UINT64_MAX);
		} else {
			char *end;
			errno = 0;
			uint64_t ev_no = strtoull(arg, &end, 0);
			r = errno || end == arg || *end || arg[0] == '-' ? -ENOENT : tl_goto_event(&s->tl, ev_no);
			if (r == -ESRCH) {
				monitor_refuse(s, tl_msg(&s->tl));
				return;
			}
			if (r == -ENOENT) {
				snprintf(buf, sizeof(buf), "no event %.200s in this recording (see monitor info)", arg);
				monitor_refuse(s, buf);
				return;
			}
		}
		tl_where(&s->tl, &p);
		char pos[200];
		eng_pos_format(&p, pos, sizeof(pos));
		if (r == TL_ERROR)
			snprintf(buf, sizeof(buf), "ttvm: %s\n", tl_msg(&s->tl));
		else if (r == TL_END)
			snprintf(buf, sizeof(buf), "at the end of the recording (%s): %s\n", pos, tl_end_msg(&s->tl));
		else
			snprintf(buf, sizeof(buf), "at %s\n", pos);
		console(s, buf);
		console(s, "(gdb's register cache is stale: type 'maint flush register-cache' or step)\n");
		gdb_send_ok(s->c);
	} else if (!strcmp(cmd, "go-live") || !strncmp(cmd, "go-live ", 8)) {
		const char *arg = cmd + 7;
		while (*arg == ' ')
			arg++;
		if (s->broken) {
			monitor_refuse(s, "the replay diverged: it cannot go live");
			return;
		}
		if (*arg && strncmp(arg, "-o ", 3)) {
			monitor_refuse(s, "usage: monitor go-live [-o NEWTRACE]");
			return;
		}
		if (*arg) {
			arg += 3;
			while (*arg == ' ')
				arg++;
			char msg[512];
			if (!*arg || strlen(arg) >= 400 || golive_check_out(arg, msg, sizeof(msg))) {
				monitor_refuse(s, !*arg ? "usage: monitor go-live [-o NEWTRACE]"
						  : strlen(arg) >= 400 ? "go-live -o: the name is too long" : msg);
				return;
			}
			snprintf(s->live->out, sizeof(s->live->out), "%s", arg);
		}
		tl_where(&s->tl, &p);
		char pos[200];
		eng_pos_format(&p, pos, sizeof(pos));
		snprintf(buf, sizeof(buf), "ttvm: going live at %s%s%.400s: the replay ends and the guest runs on live in "
			 "ttvm; this debugging session ends\n", pos, *s->live->out ? ", recording to " : "", s->live->out);
		console(s, buf);
		s->live->wanted = true;
		gdb_send_ok(s->c);
	} else if (!strcmp(cmd, "checkpoints")) {
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		if (f) {
			tl_list_points(&s->tl, f);
			fclose(f);
			gdb_send_console(s->c, text, len);
		}
		free(text);
		gdb_send_ok(s->c);
	} else if (!strcmp(cmd, "info")) {
		tl_info(&s->tl, buf, sizeof(buf));
		console(s, buf);
		gdb_send_ok(s->c);
	} else {
		console(s, "ttvm monitor commands: when, goto EVENT, goto end, checkpoints, info, go-live [-o NEWTRACE]\n");
		gdb_send_ok(s->c);
	}
}

/* vCont;r: step while start <= pc < end (gdb's range stepping for next/step). */
static int range_step(struct session *s, uint64_t start, uint64_t end)
{
	for (;;) {
		int r = tl_stepi(&s->tl);
		if (r != TL_OK)
			return r;
		struct eng_trap t;
		uint64_t addr;
		if (tl_hit(&s->tl, &t, &addr) >= 0)
			return TL_TRAP;
		struct kvm_regs regs;
		if (vcpu_get_regs(s->vm, &regs) || regs.rip < start || regs.rip >= end)
			return TL_OK;
		if (poll_interrupt(s))
			return TL_INTERRUPTED;
	}
}

static int resume(struct session *s, char op, uint64_t start, uint64_t end)
{
	if (s->broken) {
		tl_clear_msg(&s->tl);
		return TL_ERROR;
	}
	switch (op) {
	case 'c': return tl_continue(&s->tl);
	case 's': {
		/* A write watch that the step triggered is reported as such
		 * (as range_step does): gdb steps over a breakpoint this way,
		 * and a store at the breakpoint's own address is seen only
		 * here, or never (the next continue starts from the new value). */
		int r = tl_stepi(&s->tl);
		struct eng_trap t;
		uint64_t addr;
		if (r == TL_OK && tl_hit(&s->tl, &t, &addr) >= 0 && t.type != ENG_EXEC)
			return TL_TRAP;
		return r;
	}
	case 'r': return range_step(s, start, end);
	case 'C': return tl_reverse_continue(&s->tl);
	case 'S': return tl_reverse_stepi(&s->tl);
	}
	return TL_OK;
}

static int serve(struct session *s)
{
	struct gdb_req q;
	char out[GDB_REPLY_MAX];

	for (;;) {
		int r = gdb_read_request(s->c, &q);
		if (r == -EINTR)
			continue;
		if (r) {
			log_info("gdb: connection closed (%s)", strerror(-r));
			return 0;
		}
		switch (q.kind) {
		case GDB_REQ_SUPPORTED:
			gdb_fmt_supported(out, sizeof(out),
					  GDB_SUP_SWBREAK | GDB_SUP_HWBREAK | GDB_SUP_REVERSE | GDB_SUP_VCONT);
			gdb_send_str(s->c, out);
			break;
		case GDB_REQ_HALT_REASON:
			send_stop(s, s->last_result);
			break;
		case GDB_REQ_READ_REGS: reply_regs(s); break;
		case GDB_REQ_READ_REG: reply_reg(s, q.reg.n); break;
		case GDB_REQ_WRITE_REGS:
		case GDB_REQ_WRITE_REG:
			gdb_send_error_msg(s->c, "ttvm: registers cannot be changed in a replay");
			break;
		case GDB_REQ_WRITE_MEM:
			gdb_send_error_msg(s->c, "ttvm: memory cannot be changed in a replay");
			break;
		case GDB_REQ_READ_MEM: reply_mem(s, q.mem.addr, q.mem.len); break;
		case GDB_REQ_CONT: send_stop(s, resume(s, 'c', 0, 0)); break;
		case GDB_REQ_STEP: send_stop(s, resume(s, 's', 0, 0)); break;
		case GDB_REQ_REVERSE_CONT: send_stop(s, resume(s, 'C', 0, 0)); break;
		case GDB_REQ_REVERSE_STEP: send_stop(s, resume(s, 'S', 0, 0)); break;
		case GDB_REQ_VCONT_QUERY: gdb_send_str(s->c, "vCont;c;C;s;S;r"); break;
		case GDB_REQ_VCONT: {
			/* One vCPU: the first action that applies to it decides. */
			const struct gdb_vcont_action *a = q.vcont.n ? &q.vcont.a[0] : NULL;
			if (!a || a->op == 't') {
				gdb_send_ok(s->c);
				break;
			}
			send_stop(s, resume(s, a->op == 'r' ? 'r' : a->op == 's' ? 's' : 'c', a->start, a->end));
			break;
		}
		case GDB_REQ_INSERT_BP: insert_trap(s, &q, true); break;
		case GDB_REQ_REMOVE_BP: insert_trap(s, &q, false); break;
		case GDB_REQ_MONITOR: monitor(s, q.monitor.cmd); break;
		case GDB_REQ_XFER_FEATURES: {
			size_t len;
			const char *doc = gdbregs_xml(s->arch, q.xfer.annex, &len);
			if (!doc) {
				gdb_send_error(s->c, 0x00);
				break;
			}
			int n = gdb_fmt_xfer(out, sizeof(out), doc, len, q.xfer.offset, q.xfer.length);
			if (n < 0)
				gdb_send_error(s->c, 0x01);
			else
				gdb_send_packet(s->c, out, (size_t)n);
			break;
		}
		case GDB_REQ_ATTACHED: gdb_send_str(s->c, "1"); break;
		case GDB_REQ_CURRENT_THREAD: gdb_send_str(s->c, "QC1"); break;
		case GDB_REQ_THREADS_FIRST: gdb_send_str(s->c, "m1"); break;
		case GDB_REQ_THREADS_NEXT: gdb_send_str(s->c, "l"); break;
		case GDB_REQ_SET_THREAD:
		case GDB_REQ_THREAD_ALIVE:
		case GDB_REQ_SYMBOL: gdb_send_ok(s->c); break;
		case GDB_REQ_KILL: return 0;
		case GDB_REQ_VKILL:
		case GDB_REQ_DETACH: gdb_send_ok(s->c); return 0;
		case GDB_REQ_MALFORMED:
			log_debug("gdb: malformed packet: %s", q.why ? q.why : "?");
			gdb_send_error(s->c, 0x01);
			break;
		default: gdb_send_str(s->c, ""); break;
		}
		if (s->conn_lost || (s->live && s->live->wanted))
			return 0;
	}
}

int gdbserver_main(struct vm *vm, const char *hostport, enum gdb_arch arch, FILE *serial, struct gdb_golive *live)
{
	struct session s;
	int lfd = -1, r, status = 0;
	unsigned port;

	memset(&s, 0, sizeof(s));
	s.vm = vm;
	s.arch = arch;
	s.last_result = TL_OK;
	s.live = live;
	memset(live, 0, sizeof(*live));
	if ((r = gdb_listen(hostport, &lfd, &port)))
		return r == -EINVAL ? ST_USAGE : ST_HOST;
	if ((r = tl_init(&s.tl, vm, serial))) {
		log_error("replay --gdb: cannot set up the timeline: %s", strerror(-r));
		status = ST_HOST;
		goto out;
	}
	s.tl.poll = poll_interrupt;
	s.tl.poll_ctx = &s;
	while ((r = gdb_accept(lfd, &s.c)) == -EINTR)
		;
	if (r) {
		log_error("replay --gdb: accept: %s", strerror(-r));
		status = ST_HOST;
		goto out;
	}
	status = serve(&s);
	if (s.broken)
		status = ST_DIVERGED;
out:
	gdb_conn_close(s.c);
	tl_free(&s.tl);
	if (lfd >= 0)
		close(lfd);
	return status;
}
