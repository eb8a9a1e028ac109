/* libFuzzer target over the gdb protocol layer.  The first input byte picks
 * the mode: odd = the rest is one packet payload for gdb_parse(); even =
 * the rest is a byte stream from "gdb" through a socketpair, read with
 * gdb_read_request()/gdb_poll_interrupt() until the end, each request
 * answered the way the debugger will (register and memory replies, target
 * description chunks, stop replies, console output), so that the framing,
 * the parser and the builders see every value a client can send. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "replay/gdbproto.h"
#include "replay/gdbregs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kvm_regs regs;
static struct kvm_sregs sregs;
static struct kvm_fpu fpu;

/* Plays gdb's side of the socket: sends the stream, then swallows our
 * replies until we close, so that neither side can block the other. */
struct peer {
	int fd;
	const uint8_t *data;
	size_t len;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	static char buf[65536];
	size_t done = 0;

	while (done < p->len) {
		ssize_t n = write(p->fd, p->data + done, p->len - done);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	shutdown(p->fd, SHUT_WR);
	while (read(p->fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

/* What the engine would do with r; every builder gets the parsed values. */
static void answer(struct gdb_conn *c, const struct gdb_req *r)
{
	static char out[GDB_REPLY_MAX];
	uint8_t g[GDBREGS_G_MAX];
	enum gdb_arch arch = r->kind & 1 ? GDB_ARCH_I386 : GDB_ARCH_X86_64;
	const char *xml;
	size_t len;
	int n;

	switch (r->kind) {
	case GDB_REQ_SUPPORTED:
		n = gdb_fmt_supported(out, sizeof(out), r->supported.features);
		if (n >= 0)
			gdb_send_packet(c, out, (size_t)n);
		break;
	case GDB_REQ_XFER_FEATURES:
		xml = gdbregs_xml(arch, r->xfer.annex, &len);
		if (!xml) {
			gdb_send_error(c, 0);
			break;
		}
		n = gdb_fmt_xfer(out, sizeof(out), xml, len, r->xfer.offset, r->xfer.length);
		if (n >= 0)
			gdb_send_packet(c, out, (size_t)n);
		break;
	case GDB_REQ_READ_REG:
		n = gdbregs_read_one(arch, r->reg.n, &regs, &sregs, &fpu, g);
		if (n >= 0)
			gdb_send_hex(c, g, (size_t)n);
		break;
	case GDB_REQ_WRITE_REG:
		gdbregs_write_one(arch, r->reg.n, r->reg.data, r->reg.len, &regs, &sregs, &fpu);
		gdb_send_ok(c);
		break;
	case GDB_REQ_WRITE_REGS:
		gdbregs_decode(arch, r->reg.data, r->reg.len, &regs, &sregs, &fpu);
		gdb_send_error_msg(c, "read-only");
		break;
	case GDB_REQ_READ_REGS:
		gdbregs_encode(arch, &regs, &sregs, &fpu, g);
		gdb_send_hex(c, g, gdbregs_g_size(arch));
		break;
	case GDB_REQ_READ_MEM: {
		/* the capped length is what the engine may allocate */
		static uint8_t mem[GDB_MEM_MAX];

		if (r->mem.len > GDB_MEM_MAX)
			abort();
		memset(mem, (int)r->mem.addr, r->mem.len);
		gdb_send_hex(c, mem, r->mem.len);
		break;
	}
	case GDB_REQ_WRITE_MEM:
		if (r->mem.len && r->mem.data[r->mem.len - 1] == 0xfe)
			gdb_send_error(c, 1); /* touch the last byte: must be in bounds */
		else
			gdb_send_ok(c);
		break;
	case GDB_REQ_MONITOR:
		gdb_send_console(c, r->monitor.cmd, r->monitor.len);
		gdb_send_ok(c);
		break;
	case GDB_REQ_INSERT_BP:
	case GDB_REQ_REMOVE_BP: {
		struct gdb_stop s = { GDB_STOP_SIGNAL, 5, GDB_STOP_WATCH, r->bp.addr, 1, 0, { { 0 } } };

		n = gdb_fmt_stop(out, sizeof(out), &s);
		if (n >= 0)
			gdb_send_packet(c, out, (size_t)n);
		break;
	}
	case GDB_REQ_VCONT:
		for (unsigned i = 0; i < r->vcont.n; i++) {
			struct gdb_stop s = { GDB_STOP_SIGNAL, r->vcont.a[i].sig < 0 ? 5 : r->vcont.a[i].sig,
					      (enum gdb_stop_reason)(i % 8), r->vcont.a[i].start,
					      r->vcont.a[i].tid.tid, 0, { { 0 } } };

			n = gdb_fmt_stop(out, sizeof(out), &s);
			if (n >= 0 && i == 0)
				gdb_send_packet(c, out, (size_t)n);
		}
		break;
	case GDB_REQ_CONT:
	case GDB_REQ_STEP:
		if (gdb_poll_interrupt(c) < 0)
			return;
		{
			struct gdb_stop s = { GDB_STOP_SIGNAL, r->resume.sig < 0 ? 5 : r->resume.sig,
					      GDB_STOP_REASON_NONE, 0, 1, 0, { { 0 } } };

			gdb_send_stop(c, &s);
		}
		break;
	case GDB_REQ_MALFORMED:
		if (!r->why)
			abort();
		gdb_send_error(c, 1);
		break;
	default:
		gdb_send_str(c, "");
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gdb_conn *c;
	struct gdb_req r;
	int sv[2];

	if (size == 0 || size > 200000)
		return 0;
	if (data[0] & 1) {
		/* exactly size - 1 bytes plus the NUL slot, so ASan sees any
		 * read past the payload */
		char *buf = malloc(size);

		memcpy(buf, data + 1, size - 1);
		gdb_parse(buf, size - 1, &r);
		if (r.kind >= GDB_REQ_KIND_COUNT || gdb_req_name(r.kind) == NULL)
			abort();
		free(buf);
		return 0;
	}

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		abort();
	struct peer peer = { sv[1], data + 1, size - 1 };
	pthread_t t;

	if (pthread_create(&t, NULL, peer_main, &peer) != 0)
		abort();
	if (gdb_conn_open(sv[0], &c) != 0)
		abort();
	for (int i = 0; i < 100000; i++) {
		int rc = gdb_read_request(c, &r);

		if (rc == -EINTR)
			continue; /* libFuzzer's -timeout alarm; the API says: call again */
		if (rc < 0) {
			if (rc != -EPIPE && rc != -EPROTO) {
				fprintf(stderr, "gdb_read_request: %s\n", strerror(-rc));
				abort(); /* only a clean end or a protocol error */
			}
			break;
		}
		answer(c, &r);
	}
	gdb_conn_close(c);
	pthread_join(t, NULL);
	close(sv[1]);
	return 0;
}
