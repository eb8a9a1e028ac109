/* A pretend debugging target built on the protocol layer alone, for real
 * gdb to connect to: fixed registers, 4 KiB of memory at 0x100000, and
 * canned execution (a step moves rip by one, continue stops at the first
 * breakpoint or watchpoint, or runs until gdb interrupts it).  It proves
 * that gdb accepts our target descriptions, register layout, stop replies,
 * console output and interrupt handling, without the replay engine.
 *
 *   gdbproto_target [--i386] [-v] HOST:PORT
 * prints "ttvm: waiting for gdb on HOST:PORT" and serves one session.
 * Exit status 0 when gdb detached, killed or hung up and never sent a
 * packet we could not parse or frame; 1 otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "replay/gdbproto.h"
#include "replay/gdbregs.h"

#define MEM_BASE 0x100000u
#define MEM_SIZE 4096u
#define WATCH_VALUE 42u

static enum gdb_arch arch = GDB_ARCH_X86_64;
static int verbose;
static struct kvm_regs regs;
static struct kvm_sregs sregs;
static struct kvm_fpu fpu;
static uint8_t mem[MEM_SIZE];

struct point {
	bool set;
	enum gdb_bp_type type;
	uint64_t addr, kind;
};
static struct point points[8];

static void init_state(void)
{
	static const uint64_t one = 0x8000000000000000ull;
	static const uint16_t one_exp = 0x3fff;

	regs.rax = 0x1122334455667788ull;
	regs.rbx = 0xb0b;
	regs.rsp = MEM_BASE + 0xf00;
	regs.rip = MEM_BASE + 0x10;
	regs.rflags = 0x246;
	sregs.cs.selector = 0x10;
	sregs.ds.selector = sregs.ss.selector = 0x18;
	sregs.fs.base = 0x7f0000001000ull;
	sregs.gs.base = 0xffff888000000000ull;
	sregs.cr0 = 0x80050033;
	sregs.cr3 = 0x1234000;
	sregs.cr4 = 0x6f0;
	sregs.efer = 0xd01;
	fpu.fcw = 0x37f;
	fpu.fsw = 7 << 11; /* one value pushed: ST(0) is physical register 7 */
	fpu.ftwx = 0x80;
	memcpy(fpu.fpr[0], &one, 8);
	memcpy(fpu.fpr[0] + 8, &one_exp, 2);
	fpu.mxcsr = 0x1f80;
	fpu.xmm[1][0] = 0x11;
	fpu.xmm[1][15] = 0xff;
	if (arch == GDB_ARCH_I386) {
		regs.rax &= 0xffffffff;
		sregs.gs.base = 0x80001000;
		sregs.fs.base = 0x1000;
		sregs.efer = 0;
	}
	for (unsigned i = 0; i < MEM_SIZE; i++)
		mem[i] = (uint8_t)i;
	memcpy(mem, "\xde\xad\xbe\xef", 4);
	memset(mem + 0x100, 0, 4); /* the watched word starts at 0 */
}

static int reply_mem(struct gdb_conn *c, const struct gdb_req *r)
{
	if (r->mem.addr < MEM_BASE || r->mem.addr - MEM_BASE >= MEM_SIZE)
		return gdb_send_error(c, 0x14);
	/* a read running off the end is answered short, as gdb allows */
	uint64_t off = r->mem.addr - MEM_BASE;
	size_t n = r->mem.len;

	if (n > MEM_SIZE - off)
		n = (size_t)(MEM_SIZE - off);
	return gdb_send_hex(c, mem + off, n);
}

static int stop(struct gdb_conn *c, int sig, enum gdb_stop_reason why, uint64_t addr)
{
	struct gdb_stop s = { .kind = GDB_STOP_SIGNAL, .sig = sig, .reason = why, .addr = addr,
			      .thread = 1 };
	uint8_t pc[GDBREGS_MAX_SIZE];
	int pcn = arch == GDB_ARCH_X86_64 ? 16 : 8;

	/* expedite the pc, as stubs do, so gdb need not ask for it */
	s.nregs = 1;
	s.regs[0].n = (unsigned)pcn;
	s.regs[0].len = (size_t)gdbregs_read_one(arch, (unsigned)pcn, &regs, &sregs, &fpu, pc);
	s.regs[0].val = pc;
	return gdb_send_stop(c, &s);
}

/* "continue": the first watchpoint fires (the guest writes WATCH_VALUE
 * there), else the first breakpoint; with neither, run until gdb sends the
 * interrupt byte (or 20 s pass: the end of the pretend recording). */
static int run(struct gdb_conn *c)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	for (unsigned i = 0; i < 8; i++) {
		struct point *p = &points[i];
		uint32_t v = WATCH_VALUE;

		if (!p->set || p->type < GDB_WATCH_WRITE)
			continue;
		if (p->addr >= MEM_BASE && p->addr - MEM_BASE + 4 <= MEM_SIZE)
			memcpy(mem + (p->addr - MEM_BASE), &v, 4);
		regs.rip = MEM_BASE + 0x30;
		return stop(c, 5, p->type == GDB_WATCH_WRITE ? GDB_STOP_WATCH :
				  p->type == GDB_WATCH_READ ? GDB_STOP_RWATCH : GDB_STOP_AWATCH, p->addr);
	}
	for (unsigned i = 0; i < 8; i++) {
		if (points[i].set) {
			regs.rip = points[i].addr;
			return stop(c, 5, points[i].type == GDB_BP_SW ? GDB_STOP_SWBREAK : GDB_STOP_HWBREAK, 0);
		}
	}
	for (int i = 0; i < 2000; i++) {
		int rc = gdb_poll_interrupt(c);

		if (rc < 0)
			return rc;
		if (rc == 1) {
			regs.rip = MEM_BASE + 0x40;
			fprintf(stderr, "gdbproto_target: interrupted\n");
			return stop(c, 2, GDB_STOP_REASON_NONE, 0);
		}
		nanosleep(&ts, NULL);
	}
	return stop(c, 5, GDB_STOP_REPLAY_END, 0);
}

static int set_point(const struct gdb_req *r, bool insert)
{
	for (unsigned i = 0; i < 8; i++) {
		struct point *p = &points[i];

		if (insert && !p->set) {
			*p = (struct point){ true, r->bp.type, r->bp.addr, r->bp.kind };
			return 0;
		}
		if (!insert && p->set && p->type == r->bp.type && p->addr == r->bp.addr) {
			p->set = false;
			return 0;
		}
	}
	return -ENOENT;
}

/* Serve one request; 1 when the session is over. */
static int serve(struct gdb_conn *c, const struct gdb_req *r, int *bad)
{
	char buf[GDB_REPLY_MAX];
	uint8_t g[GDBREGS_G_MAX];
	const char *xml;
	size_t len;
	int n;

	if (verbose)
		fprintf(stderr, "gdbproto_target: %s\n", gdb_req_name(r->kind));
	switch (r->kind) {
	case GDB_REQ_SUPPORTED:
		n = gdb_fmt_supported(buf, sizeof(buf), GDB_SUP_SWBREAK | GDB_SUP_HWBREAK |
							GDB_SUP_REVERSE | GDB_SUP_VCONT);
		return n < 0 ? n : gdb_send_packet(c, buf, (size_t)n);
	case GDB_REQ_XFER_FEATURES:
		xml = gdbregs_xml(arch, r->xfer.annex, &len);
		if (!xml)
			return gdb_send_error(c, 0);
		n = gdb_fmt_xfer(buf, sizeof(buf), xml, len, r->xfer.offset, r->xfer.length);
		return n < 0 ? n : gdb_send_packet(c, buf, (size_t)n);
	case GDB_REQ_HALT_REASON:
		return stop(c, 5, GDB_STOP_REASON_NONE, 0);
	case GDB_REQ_READ_REGS:
		gdbregs_encode(arch, &regs, &sregs, &fpu, g);
		return gdb_send_hex(c, g, gdbregs_g_size(arch));
	case GDB_REQ_READ_REG:
		n = gdbregs_read_one(arch, r->reg.n, &regs, &sregs, &fpu, g);
		return n < 0 ? gdb_send_error(c, 0x16) : gdb_send_hex(c, g, (size_t)n);
	case GDB_REQ_WRITE_REGS:
	case GDB_REQ_WRITE_REG:
		return gdb_send_error_msg(c, "ttvm: registers are read-only while replaying");
	case GDB_REQ_READ_MEM:
		return reply_mem(c, r);
	case GDB_REQ_WRITE_MEM:
		return gdb_send_error_msg(c, "ttvm: memory is read-only while replaying");
	case GDB_REQ_CONT:
		return run(c);
	case GDB_REQ_STEP:
		regs.rip++;
		return stop(c, 5, GDB_STOP_REASON_NONE, 0);
	case GDB_REQ_VCONT:
		if (r->vcont.a[0].op == 'c')
			return run(c);
		regs.rip++; /* 's' and 'r': one instruction */
		return stop(c, 5, GDB_STOP_REASON_NONE, 0);
	case GDB_REQ_REVERSE_STEP:
		if (regs.rip == MEM_BASE)
			return stop(c, 5, GDB_STOP_REPLAY_BEGIN, 0);
		regs.rip--;
		return stop(c, 5, GDB_STOP_REASON_NONE, 0);
	case GDB_REQ_REVERSE_CONT:
		regs.rip = MEM_BASE;
		return stop(c, 5, GDB_STOP_REPLAY_BEGIN, 0);
	case GDB_REQ_VCONT_QUERY:
		return gdb_send_str(c, "vCont;c;C;s;S;r");
	case GDB_REQ_INSERT_BP:
	case GDB_REQ_REMOVE_BP:
		if (set_point(r, r->kind == GDB_REQ_INSERT_BP) < 0)
			return gdb_send_error(c, 0x0e);
		return gdb_send_ok(c);
	case GDB_REQ_MONITOR:
		n = snprintf(buf, sizeof(buf), "fake target: monitor '%s'\n", r->monitor.cmd);
		if ((n = gdb_send_console(c, buf, (size_t)n)) < 0)
			return n;
		return gdb_send_ok(c);
	case GDB_REQ_ATTACHED:
		return gdb_send_str(c, "1");
	case GDB_REQ_CURRENT_THREAD:
		return gdb_send_str(c, "QC1");
	case GDB_REQ_THREADS_FIRST:
		return gdb_send_str(c, "m1");
	case GDB_REQ_THREADS_NEXT:
		return gdb_send_str(c, "l");
	case GDB_REQ_SET_THREAD:
	case GDB_REQ_THREAD_ALIVE:
	case GDB_REQ_SYMBOL:
		return gdb_send_ok(c);
	case GDB_REQ_KILL:
		return 1; /* 'k' has no reply */
	case GDB_REQ_DETACH:
	case GDB_REQ_VKILL:
		n = gdb_send_ok(c);
		return n < 0 ? n : 1;
	case GDB_REQ_MALFORMED:
		fprintf(stderr, "gdbproto_target: malformed packet: %s\n", r->why);
		(*bad)++;
		return gdb_send_error(c, 1);
	case GDB_REQ_START_NOACK:
	case GDB_REQ_OFFSETS:
	case GDB_REQ_MUST_REPLY_EMPTY:
	case GDB_REQ_UNKNOWN:
	default:
		return gdb_send_str(c, "");
	}
}

int main(int argc, char **argv)
{
	struct gdb_conn *c;
	struct gdb_req r;
	int lfd, rc, bad = 0, i;
	unsigned port;

	for (i = 1; i < argc - 1; i++) {
		if (strcmp(argv[i], "--i386") == 0)
			arch = GDB_ARCH_I386;
		else if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else
			break;
	}
	if (i != argc - 1) {
		fprintf(stderr, "usage: gdbproto_target [--i386] [-v] HOST:PORT\n");
		return 2;
	}
	init_state();
	if (gdb_listen(argv[i], &lfd, &port) < 0)
		return 2;
	rc = gdb_accept(lfd, &c);
	close(lfd);
	if (rc < 0) {
		fprintf(stderr, "gdbproto_target: accept: %s\n", strerror(-rc));
		return 1;
	}
	for (;;) {
		rc = gdb_read_request(c, &r);
		if (rc == -EINTR)
			continue;
		if (rc < 0)
			break;
		rc = serve(c, &r, &bad);
		if (rc != 0)
			break;
	}
	const struct gdb_stats *st = gdb_conn_stats(c);
	fprintf(stderr, "gdbproto_target: %llu packets, %llu bad checksums, %llu naks, %llu interrupts, "
		"%d malformed; %s\n", (unsigned long long)st->packets,
		(unsigned long long)st->bad_checksums, (unsigned long long)st->naks,
		(unsigned long long)st->interrupts, bad,
		rc == 1 ? "gdb ended the session" : rc == -EPIPE ? "gdb hung up" : strerror(-rc));
	rc = (rc == 1 || rc == -EPIPE) && bad == 0 && st->bad_checksums == 0 ? 0 : 1;
	gdb_conn_close(c);
	return rc;
}
