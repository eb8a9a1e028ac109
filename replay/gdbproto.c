/* gdb remote serial protocol: framing, parsing and reply builders.  See
 * gdbproto.h; the packet syntax is the one of gdb's manual, "Remote
 * Protocol". */
#include "replay/gdbproto.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"

/* ------------------------------------------------------------------ */
/* hex */

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static const char hexdigits[] = "0123456789abcdef";

void gdb_hex_encode(char *out, const void *in, size_t n)
{
	const uint8_t *b = in;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdigits[b[i] >> 4];
		out[2 * i + 1] = hexdigits[b[i] & 15];
	}
	out[2 * n] = 0;
}

/* Safe in place (out == in): byte i is written after chars 2i, 2i+1 are read. */
int gdb_hex_decode(uint8_t *out, const char *in, size_t nchars)
{
	if (nchars % 2)
		return -EINVAL;
	for (size_t i = 0; i < nchars / 2; i++) {
		int hi = hexval((unsigned char)in[2 * i]);
		int lo = hexval((unsigned char)in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* parsing */

/* A cursor over the packet; 'end' is one past the last payload byte. */
struct cur {
	char *p;
	char *end;
};

static bool at_end(const struct cur *c)
{
	return c->p == c->end;
}

static bool eat(struct cur *c, char ch)
{
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

/* At least one hex digit; false on none or on a value above UINT64_MAX. */
static bool hex_u64(struct cur *c, uint64_t *out)
{
	uint64_t v = 0;
	const char *start = c->p;
	int d;

	while (c->p < c->end && (d = hexval((unsigned char)*c->p)) >= 0) {
		if (v > (UINT64_MAX >> 4))
			return false;
		v = v << 4 | (uint64_t)d;
		c->p++;
	}
	*out = v;
	return c->p != start;
}

static bool hex_max(struct cur *c, uint64_t max, uint64_t *out)
{
	return hex_u64(c, out) && *out <= max;
}

/* A thread or process id: "-1" or hex up to INT64_MAX. */
static bool parse_id(struct cur *c, int64_t *out)
{
	uint64_t v;

	if (eat(c, '-')) {
		if (!eat(c, '1'))
			return false;
		*out = -1;
		return true;
	}
	if (!hex_max(c, INT64_MAX, &v))
		return false;
	*out = (int64_t)v;
	return true;
}

static bool parse_tid(struct cur *c, struct gdb_tid *t)
{
	memset(t, 0, sizeof(*t));
	if (eat(c, 'p')) {
		t->has_pid = true;
		if (!parse_id(c, &t->pid))
			return false;
		if (!eat(c, '.')) {
			t->tid = -1; /* "pPID": every thread of the process */
			return true;
		}
	}
	return parse_id(c, &t->tid);
}

/* buf starts with lit (len bytes available)? */
static bool is(const char *buf, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len == n && memcmp(buf, lit, n) == 0;
}

static bool prefix(const char *buf, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len >= n && memcmp(buf, lit, n) == 0;
}

static void malformed(struct gdb_req *req, const char *why)
{
	memset(req, 0, sizeof(*req));
	req->kind = GDB_REQ_MALFORMED;
	req->why = why;
}

static void parse_supported(struct cur *c, struct gdb_req *req)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} known[] = {
		{ "multiprocess", GDB_FEAT_MULTIPROCESS }, { "swbreak", GDB_FEAT_SWBREAK },
		{ "hwbreak", GDB_FEAT_HWBREAK },           { "vContSupported", GDB_FEAT_VCONT_SUPPORTED },
		{ "no-resumed", GDB_FEAT_NO_RESUMED },     { "qRelocInsn", GDB_FEAT_QRELOCINSN },
		{ "error-message", GDB_FEAT_ERROR_MESSAGE },
	};

	req->kind = GDB_REQ_SUPPORTED;
	if (at_end(c))
		return;
	if (!eat(c, ':'))
		return malformed(req, "qSupported: ':' expected");
	while (!at_end(c)) {
		char *f = c->p;
		char *semi = memchr(f, ';', (size_t)(c->end - f));
		char *fend = semi ? semi : c->end;
		size_t flen = (size_t)(fend - f);

		if (flen > 0 && f[flen - 1] == '+') {
			for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
				if (flen - 1 == strlen(known[i].name) &&
				    memcmp(f, known[i].name, flen - 1) == 0)
					req->supported.features |= known[i].bit;
		} else if (prefix(f, flen, "xmlRegisters=")) {
			*fend = 0; /* a ';' or the terminating NUL */
			req->supported.xml_registers = f + strlen("xmlRegisters=");
		}
		c->p = semi ? semi + 1 : c->end;
	}
}

static void parse_vcont(struct cur *c, struct gdb_req *req)
{
	req->kind = GDB_REQ_VCONT;
	do {
		struct gdb_vcont_action *a;
		uint64_t v;

		if (req->vcont.n == GDB_VCONT_MAX)
			return malformed(req, "vCont: too many actions");
		a = &req->vcont.a[req->vcont.n++];
		a->sig = -1;
		if (at_end(c))
			return malformed(req, "vCont: action expected");
		switch (*c->p++) {
		case 'c': a->op = 'c'; break;
		case 's': a->op = 's'; break;
		case 't': a->op = 't'; break;
		case 'C':
		case 'S':
			a->op = (char)(c->p[-1] == 'C' ? 'c' : 's');
			if (!hex_max(c, 255, &v))
				return malformed(req, "vCont: bad signal");
			a->sig = (int)v;
			break;
		case 'r':
			a->op = 'r';
			if (!hex_u64(c, &a->start) || !eat(c, ',') || !hex_u64(c, &a->end))
				return malformed(req, "vCont: bad range");
			break;
		default:
			return malformed(req, "vCont: unknown action");
		}
		if (eat(c, ':')) {
			a->has_tid = true;
			if (!parse_tid(c, &a->tid))
				return malformed(req, "vCont: bad thread id");
		}
	} while (eat(c, ';'));
	if (!at_end(c))
		return malformed(req, "vCont: junk after actions");
}

/* "m/M/X addr,len" */
static bool addr_len(struct cur *c, struct gdb_req *req, uint64_t *len)
{
	return hex_u64(c, &req->mem.addr) && eat(c, ',') && hex_u64(c, len);
}

static void parse_mem(struct cur *c, struct gdb_req *req, char op)
{
	uint64_t len;
	size_t rest;

	if (!addr_len(c, req, &len))
		return malformed(req, "bad address or length");
	if (op == 'm') {
		if (!at_end(c))
			return malformed(req, "m: junk after length");
		req->kind = GDB_REQ_READ_MEM;
		req->mem.capped = len > GDB_MEM_MAX;
		req->mem.len = req->mem.capped ? GDB_MEM_MAX : (size_t)len;
		return;
	}
	if (!eat(c, ':'))
		return malformed(req, "':' expected after length");
	rest = (size_t)(c->end - c->p);
	req->kind = GDB_REQ_WRITE_MEM;
	req->mem.data = (const uint8_t *)c->p;
	if (op == 'X') {
		/* gdb probes X support with a zero-length write */
		if (len != rest)
			return malformed(req, "X: length does not match the data");
		req->mem.binary = true;
		req->mem.len = (size_t)len;
		return;
	}
	if (len > rest / 2 || len * 2 != rest)
		return malformed(req, "M: length does not match the data");
	if (gdb_hex_decode((uint8_t *)c->p, c->p, rest) < 0)
		return malformed(req, "M: bad hex data");
	req->mem.len = (size_t)len;
}

static void parse_resume(struct cur *c, struct gdb_req *req, char op)
{
	uint64_t v;

	req->kind = (op == 'c' || op == 'C') ? GDB_REQ_CONT : GDB_REQ_STEP;
	req->resume.sig = -1;
	if (op == 'C' || op == 'S') {
		if (!hex_max(c, 255, &v))
			return malformed(req, "bad signal");
		req->resume.sig = (int)v;
		if (at_end(c))
			return;
		if (!eat(c, ';'))
			return malformed(req, "';' expected after the signal");
	} else if (at_end(c)) {
		return;
	}
	if (!hex_u64(c, &req->resume.addr) || !at_end(c))
		return malformed(req, "bad resume address");
	req->resume.has_addr = true;
}

static void parse_bp(struct cur *c, struct gdb_req *req, char op)
{
	uint64_t type;

	if (!hex_u64(c, &type) || !eat(c, ','))
		return malformed(req, "Z: bad type");
	if (type > GDB_WATCH_ACCESS)
		return; /* UNKNOWN: the empty reply says "not supported" */
	req->kind = op == 'Z' ? GDB_REQ_INSERT_BP : GDB_REQ_REMOVE_BP;
	req->bp.type = (enum gdb_bp_type)type;
	if (!hex_u64(c, &req->bp.addr) || !eat(c, ',') || !hex_u64(c, &req->bp.kind))
		return malformed(req, "Z: bad address or kind");
	/* ";X..." condition lists and ";cmds" come only if we announce
	 * ConditionalBreakpoints/BreakpointCommands; accept and ignore them */
	if (!at_end(c) && !eat(c, ';'))
		return malformed(req, "Z: junk after kind");
}

static void parse_pid_opt(struct cur *c, struct gdb_req *req, enum gdb_req_kind kind, char sep)
{
	uint64_t v;

	req->kind = kind;
	if (at_end(c))
		return;
	if (!eat(c, sep) || !hex_max(c, INT64_MAX, &v) || !at_end(c))
		return malformed(req, "bad process id");
	req->pid.has_pid = true;
	req->pid.pid = (int64_t)v;
}

static void parse_xfer(struct cur *c, struct gdb_req *req)
{
	char *annex = c->p;
	char *colon = memchr(annex, ':', (size_t)(c->end - annex));

	req->kind = GDB_REQ_XFER_FEATURES;
	if (!colon)
		return malformed(req, "qXfer: ':' expected after the annex");
	*colon = 0;
	c->p = colon + 1;
	req->xfer.annex = annex;
	if (!hex_u64(c, &req->xfer.offset) || !eat(c, ',') || !hex_u64(c, &req->xfer.length) ||
	    !at_end(c))
		return malformed(req, "qXfer: bad offset or length");
}

static void parse_q(char *buf, size_t len, struct gdb_req *req)
{
	struct cur c = { buf, buf + len };

	if (is(buf, len, "qC"))
		req->kind = GDB_REQ_CURRENT_THREAD;
	else if (is(buf, len, "qfThreadInfo"))
		req->kind = GDB_REQ_THREADS_FIRST;
	else if (is(buf, len, "qsThreadInfo"))
		req->kind = GDB_REQ_THREADS_NEXT;
	else if (is(buf, len, "qOffsets"))
		req->kind = GDB_REQ_OFFSETS;
	else if (prefix(buf, len, "qSymbol:"))
		req->kind = GDB_REQ_SYMBOL;
	else if (prefix(buf, len, "qAttached")) {
		c.p += strlen("qAttached");
		parse_pid_opt(&c, req, GDB_REQ_ATTACHED, ':');
	} else if (prefix(buf, len, "qSupported") &&
		   (len == strlen("qSupported") || buf[strlen("qSupported")] == ':')) {
		c.p += strlen("qSupported");
		parse_supported(&c, req);
	} else if (prefix(buf, len, "qRcmd,")) {
		size_t n = len - strlen("qRcmd,");
		char *hex = buf + strlen("qRcmd,");

		req->kind = GDB_REQ_MONITOR;
		if (gdb_hex_decode((uint8_t *)hex, hex, n) < 0)
			return malformed(req, "qRcmd: bad hex");
		hex[n / 2] = 0;
		req->monitor.cmd = hex;
		req->monitor.len = n / 2;
	} else if (prefix(buf, len, "qXfer:features:read:")) {
		c.p += strlen("qXfer:features:read:");
		parse_xfer(&c, req);
	}
	/* anything else (qTStatus, qXfer:other, qL, ...) stays UNKNOWN */
}

static void parse_v(char *buf, size_t len, struct gdb_req *req)
{
	struct cur c = { buf, buf + len };

	if (is(buf, len, "vCont?")) {
		req->kind = GDB_REQ_VCONT_QUERY;
	} else if (prefix(buf, len, "vCont;")) {
		c.p += strlen("vCont;");
		parse_vcont(&c, req);
	} else if (is(buf, len, "vMustReplyEmpty")) {
		req->kind = GDB_REQ_MUST_REPLY_EMPTY;
	} else if (prefix(buf, len, "vKill;")) {
		c.p += strlen("vKill");
		parse_pid_opt(&c, req, GDB_REQ_VKILL, ';');
	}
}

void gdb_parse(char *buf, size_t len, struct gdb_req *req)
{
	struct cur c = { buf + 1, buf + len };
	uint64_t v;

	memset(req, 0, sizeof(*req));
	req->kind = GDB_REQ_UNKNOWN;
	buf[len] = 0;
	if (len == 0)
		return;

	switch (buf[0]) {
	case '?':
		if (len == 1)
			req->kind = GDB_REQ_HALT_REASON;
		break;
	case 'g':
		if (len == 1)
			req->kind = GDB_REQ_READ_REGS;
		break;
	case 'G':
		req->kind = GDB_REQ_WRITE_REGS;
		if (len == 1 || gdb_hex_decode((uint8_t *)c.p, c.p, len - 1) < 0)
			return malformed(req, "G: bad hex data");
		req->reg.data = (const uint8_t *)c.p;
		req->reg.len = (len - 1) / 2;
		break;
	case 'p':
		req->kind = GDB_REQ_READ_REG;
		if (!hex_max(&c, UINT_MAX, &v) || !at_end(&c))
			return malformed(req, "p: bad register number");
		req->reg.n = (unsigned)v;
		break;
	case 'P': {
		size_t n;

		req->kind = GDB_REQ_WRITE_REG;
		if (!hex_max(&c, UINT_MAX, &v) || !eat(&c, '='))
			return malformed(req, "P: bad register number");
		req->reg.n = (unsigned)v;
		n = (size_t)(c.end - c.p);
		if (n == 0 || gdb_hex_decode((uint8_t *)c.p, c.p, n) < 0)
			return malformed(req, "P: bad hex value");
		req->reg.data = (const uint8_t *)c.p;
		req->reg.len = n / 2;
		break;
	}
	case 'm':
	case 'M':
	case 'X':
		parse_mem(&c, req, buf[0]);
		break;
	case 'c':
	case 's':
	case 'C':
	case 'S':
		parse_resume(&c, req, buf[0]);
		break;
	case 'b':
		if (is(buf, len, "bc"))
			req->kind = GDB_REQ_REVERSE_CONT;
		else if (is(buf, len, "bs"))
			req->kind = GDB_REQ_REVERSE_STEP;
		break;
	case 'Z':
	case 'z':
		parse_bp(&c, req, buf[0]);
		break;
	case 'H':
		if (len < 2 || (buf[1] != 'g' && buf[1] != 'c'))
			break; /* Hm, Hs...: not used by gdb against us */
		req->kind = GDB_REQ_SET_THREAD;
		req->thread.op = buf[1];
		c.p++;
		if (!parse_tid(&c, &req->thread.tid) || !at_end(&c))
			return malformed(req, "H: bad thread id");
		break;
	case 'T':
		req->kind = GDB_REQ_THREAD_ALIVE;
		if (!parse_tid(&c, &req->thread.tid) || !at_end(&c))
			return malformed(req, "T: bad thread id");
		break;
	case 'k':
		if (len == 1)
			req->kind = GDB_REQ_KILL;
		break;
	case 'D':
		parse_pid_opt(&c, req, GDB_REQ_DETACH, ';');
		break;
	case 'q':
		parse_q(buf, len, req);
		break;
	case 'Q':
		if (is(buf, len, "QStartNoAckMode"))
			req->kind = GDB_REQ_START_NOACK;
		break;
	case 'v':
		parse_v(buf, len, req);
		break;
	default:
		break;
	}
}

const char *gdb_req_name(enum gdb_req_kind kind)
{
	static const char *const names[GDB_REQ_KIND_COUNT] = {
		[GDB_REQ_UNKNOWN] = "unknown",
		[GDB_REQ_MALFORMED] = "malformed",
		[GDB_REQ_SUPPORTED] = "qSupported",
		[GDB_REQ_HALT_REASON] = "?",
		[GDB_REQ_READ_REGS] = "g",
		[GDB_REQ_WRITE_REGS] = "G",
		[GDB_REQ_READ_REG] = "p",
		[GDB_REQ_WRITE_REG] = "P",
		[GDB_REQ_READ_MEM] = "m",
		[GDB_REQ_WRITE_MEM] = "M/X",
		[GDB_REQ_CONT] = "c",
		[GDB_REQ_STEP] = "s",
		[GDB_REQ_REVERSE_CONT] = "bc",
		[GDB_REQ_REVERSE_STEP] = "bs",
		[GDB_REQ_VCONT_QUERY] = "vCont?",
		[GDB_REQ_VCONT] = "vCont",
		[GDB_REQ_INSERT_BP] = "Z",
		[GDB_REQ_REMOVE_BP] = "z",
		[GDB_REQ_MONITOR] = "qRcmd",
		[GDB_REQ_XFER_FEATURES] = "qXfer:features:read",
		[GDB_REQ_ATTACHED] = "qAttached",
		[GDB_REQ_CURRENT_THREAD] = "qC",
		[GDB_REQ_THREADS_FIRST] = "qfThreadInfo",
		[GDB_REQ_THREADS_NEXT] = "qsThreadInfo",
		[GDB_REQ_SET_THREAD] = "H",
		[GDB_REQ_THREAD_ALIVE] = "T",
		[GDB_REQ_OFFSETS] = "qOffsets",
		[GDB_REQ_SYMBOL] = "qSymbol",
		[GDB_REQ_MUST_REPLY_EMPTY] = "vMustReplyEmpty",
		[GDB_REQ_START_NOACK] = "QStartNoAckMode",
		[GDB_REQ_KILL] = "k",
		[GDB_REQ_DETACH] = "D",
		[GDB_REQ_VKILL] = "vKill",
	};

	if ((unsigned)kind >= GDB_REQ_KIND_COUNT)
		return "?bad kind?";
	return names[kind];
}

/* ------------------------------------------------------------------ */
/* reply builders */

/* An output buffer that remembers running out of room. */
struct out {
	char *p;
	size_t len, cap;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || n >= o->cap - o->len) { /* keep a byte for the NUL */
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = 0;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void putf_u64(struct out *o, const char *fmt, uint64_t v)
{
	char tmp[40];
	int n = snprintf(tmp, sizeof(tmp), fmt, (unsigned long long)v);

	if (n < 0 || (size_t)n >= sizeof(tmp)) { /* only short formats are used */
		o->full = true;
		return;
	}
	put(o, tmp, (size_t)n);
}

static void put_hex(struct out *o, const void *data, size_t n)
{
	const uint8_t *b = data;

	for (size_t i = 0; i < n && !o->full; i++) {
		char two[2] = { hexdigits[b[i] >> 4], hexdigits[b[i] & 15] };

		put(o, two, 2);
	}
}

static int out_done(const struct out *o)
{
	if (o->full)
		return -ENOSPC;
	return (int)o->len;
}

static struct out out_init(char *buf, size_t cap)
{
	struct out o = { buf, 0, cap, cap == 0 || cap > INT_MAX };

	if (cap > 0)
		buf[0] = 0;
	return o;
}

int gdb_fmt_stop(char *buf, size_t cap, const struct gdb_stop *s)
{
	static const char *const reason[] = {
		[GDB_STOP_SWBREAK] = "swbreak:;",     [GDB_STOP_HWBREAK] = "hwbreak:;",
		[GDB_STOP_WATCH] = "watch:",          [GDB_STOP_RWATCH] = "rwatch:",
		[GDB_STOP_AWATCH] = "awatch:",        [GDB_STOP_REPLAY_BEGIN] = "replaylog:begin;",
		[GDB_STOP_REPLAY_END] = "replaylog:end;",
	};
	struct out o = out_init(buf, cap);

	if (s->sig < 0 || s->sig > 255 || s->nregs > GDB_STOP_MAX_REGS ||
	    (unsigned)s->reason > GDB_STOP_REPLAY_END)
		return -EINVAL;
	switch (s->kind) {
	case GDB_STOP_EXITED:
		putf_u64(&o, "W%02llx", (uint64_t)s->sig);
		return out_done(&o);
	case GDB_STOP_TERMINATED:
		putf_u64(&o, "X%02llx", (uint64_t)s->sig);
		return out_done(&o);
	case GDB_STOP_SIGNAL:
		break;
	default:
		return -EINVAL;
	}
	if (s->reason == GDB_STOP_REASON_NONE && s->thread <= 0 && s->nregs == 0) {
		putf_u64(&o, "S%02llx", (uint64_t)s->sig);
		return out_done(&o);
	}
	putf_u64(&o, "T%02llx", (uint64_t)s->sig);
	for (unsigned i = 0; i < s->nregs; i++) {
		putf_u64(&o, "%llx:", s->regs[i].n);
		put_hex(&o, s->regs[i].val, s->regs[i].len);
		puts_(&o, ";");
	}
	if (s->thread > 0)
		putf_u64(&o, "thread:%llx;", (uint64_t)s->thread);
	if (s->reason != GDB_STOP_REASON_NONE) {
		puts_(&o, reason[s->reason]);
		if (s->reason >= GDB_STOP_WATCH && s->reason <= GDB_STOP_AWATCH)
			putf_u64(&o, "%llx;", s->addr);
	}
	return out_done(&o);
}

int gdb_fmt_supported(char *buf, size_t cap, unsigned sup)
{
	struct out o = out_init(buf, cap);

	putf_u64(&o, "PacketSize=%llx", GDB_PACKET_SIZE);
	puts_(&o, ";QStartNoAckMode+;qXfer:features:read+");
	if (sup & GDB_SUP_SWBREAK)
		puts_(&o, ";swbreak+");
	if (sup & GDB_SUP_HWBREAK)
		puts_(&o, ";hwbreak+");
	if (sup & GDB_SUP_REVERSE)
		puts_(&o, ";ReverseStep+;ReverseContinue+");
	if (sup & GDB_SUP_VCONT)
		puts_(&o, ";vContSupported+");
	return out_done(&o);
}

int gdb_fmt_xfer(char *buf, size_t cap, const char *doc, size_t doclen, uint64_t offset,
		 uint64_t length)
{
	struct out o = out_init(buf, cap);
	size_t n;

	if (offset >= doclen) {
		puts_(&o, "l");
		return out_done(&o);
	}
	n = doclen - (size_t)offset;
	if (length < n)
		n = (size_t)length;
	/* escaping may double it; stay well inside what gdb buffers */
	if (n > GDB_PACKET_SIZE / 2)
		n = GDB_PACKET_SIZE / 2;
	puts_(&o, (uint64_t)offset + n < doclen ? "m" : "l");
	put(&o, doc + offset, n);
	return out_done(&o);
}

/* ------------------------------------------------------------------ */
/* the connection */

enum rx_state { RX_IDLE, RX_DATA, RX_ESC, RX_RLE, RX_CS1, RX_CS2 };

/* What one received byte completed. */
enum rx_event { EV_NONE, EV_PACKET, EV_BADSUM, EV_ACK, EV_NAK, EV_INTR };

struct gdb_conn {
	int fd;
	bool noack;
	/* receive: raw bytes, then the framing state machine */
	uint8_t rx[4096];
	size_t rx_pos, rx_len;
	enum rx_state st;
	uint8_t sum, cs_hi;
	bool pkt_overflow;  /* longer than GDB_PACKET_SIZE: only counted */
	bool pkt_rle_bad;   /* a '*' with nothing to repeat or a bad count */
	bool pkt_ready;     /* pkt holds a complete packet not yet returned */
	bool pkt_sum_ok;
	size_t pkt_len;
	char pkt[GDB_PACKET_SIZE + 1];
	unsigned bad_in_row;
	unsigned nak_in_row;
	bool interrupt;
	/* transmit: the last framed packet, for a retransmission on '-' */
	size_t tx_len;
	char tx[2 * GDB_REPLY_MAX + 4];
	struct gdb_stats stats;
};

static void store(struct gdb_conn *c, uint8_t b)
{
	if (c->pkt_len == GDB_PACKET_SIZE) {
		c->pkt_overflow = true;
		return;
	}
	c->pkt[c->pkt_len++] = (char)b;
}

static enum rx_event rx_byte(struct gdb_conn *c, uint8_t b)
{
	int d;

	switch (c->st) {
	case RX_IDLE:
		switch (b) {
		case '$':
			c->st = RX_DATA;
			c->sum = 0;
			c->pkt_len = 0;
			c->pkt_overflow = false;
			c->pkt_rle_bad = false;
			return EV_NONE;
		case '+':
			return EV_ACK;
		case '-':
			return EV_NAK;
		case 0x03:
			c->stats.interrupts++;
			return EV_INTR;
		default:
			c->stats.garbage++;
			return EV_NONE;
		}
	case RX_DATA:
		if (b == '#') {
			c->st = RX_CS1;
			return EV_NONE;
		}
		if (b == '$') {
			/* a new start inside a packet: the sender gave up on the
			 * previous one (gdb does this after a timeout); restart */
			c->stats.garbage += c->pkt_len + 1;
			c->sum = 0;
			c->pkt_len = 0;
			c->pkt_overflow = false;
			c->pkt_rle_bad = false;
			return EV_NONE;
		}
		c->sum = (uint8_t)(c->sum + b);
		if (b == '}')
			c->st = RX_ESC;
		else if (b == '*')
			c->st = RX_RLE;
		else
			store(c, b);
		return EV_NONE;
	case RX_ESC:
		c->sum = (uint8_t)(c->sum + b);
		store(c, b ^ 0x20);
		c->st = RX_DATA;
		return EV_NONE;
	case RX_RLE:
		/* "X*n": X repeated n - 29 more times (gdb's run-length
		 * encoding; gdb itself never sends it, but be tolerant) */
		c->sum = (uint8_t)(c->sum + b);
		c->st = RX_DATA;
		if (c->pkt_len == 0 || b < 29 + 3 || b > 126) {
			c->pkt_rle_bad = true;
			return EV_NONE;
		}
		for (int i = 0; i < b - 29; i++)
			store(c, (uint8_t)c->pkt[c->pkt_len - 1]);
		return EV_NONE;
	case RX_CS1:
		d = hexval(b);
		c->cs_hi = (uint8_t)(d < 0 ? 0xff : d);
		c->st = RX_CS2;
		return EV_NONE;
	case RX_CS2:
		d = hexval(b);
		c->st = RX_IDLE;
		c->pkt_sum_ok = d >= 0 && c->cs_hi != 0xff && (uint8_t)(c->cs_hi << 4 | d) == c->sum;
		if (!c->pkt_sum_ok && !c->noack)
			return EV_BADSUM;
		/* in no-ack mode a bad checksum cannot be NAKed; like gdbserver,
		 * take the packet (TCP does not corrupt bytes) and count it */
		if (!c->pkt_sum_ok)
			c->stats.bad_checksums++;
		c->pkt[c->pkt_len] = 0;
		return EV_PACKET;
	}
	return EV_NONE;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == ENOTSOCK)
			w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE || errno == ECONNRESET)
				return -EPIPE;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int send_byte(struct gdb_conn *c, char b)
{
	return write_all(c->fd, &b, 1);
}

/* Handle one framing event; 1 if a packet is ready, 0 to go on, <0 to give up. */
static int handle_event(struct gdb_conn *c, enum rx_event ev)
{
	int rc;

	switch (ev) {
	case EV_NONE:
		return 0;
	case EV_PACKET:
		c->bad_in_row = 0;
		c->stats.packets++;
		if (!c->noack && (rc = send_byte(c, '+')) < 0)
			return rc;
		c->pkt_ready = true;
		return 1;
	case EV_BADSUM:
		c->stats.bad_checksums++;
		if (++c->bad_in_row >= GDB_MAX_BAD_IN_ROW) {
			log_error("gdb: %u bad checksums in a row, disconnecting", c->bad_in_row);
			return -EPROTO;
		}
		return send_byte(c, '-');
	case EV_ACK:
		/* the last reply arrived: a later '-' cannot be about it */
		c->tx_len = 0;
		c->nak_in_row = 0;
		return 0;
	case EV_NAK:
		c->stats.naks++;
		if (c->noack || c->tx_len == 0)
			return 0;
		if (++c->nak_in_row >= GDB_MAX_BAD_IN_ROW) {
			log_error("gdb: %u replies refused in a row, disconnecting", c->nak_in_row);
			return -EPROTO;
		}
		return write_all(c->fd, c->tx, c->tx_len);
	case EV_INTR:
		c->interrupt = true;
		return 0;
	}
	return 0;
}

/* Run buffered bytes through the state machine until a packet is ready. */
static int drain(struct gdb_conn *c)
{
	while (!c->pkt_ready && c->rx_pos < c->rx_len) {
		int rc = handle_event(c, rx_byte(c, c->rx[c->rx_pos++]));

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Read more bytes; 0, -EAGAIN (nonblocking and none), -EPIPE at the end. */
static int fill(struct gdb_conn *c, bool block)
{
	ssize_t n;

	c->rx_pos = c->rx_len = 0;
	n = recv(c->fd, c->rx, sizeof(c->rx), block ? 0 : MSG_DONTWAIT);
	if (n < 0 && errno == ENOTSOCK) {
		struct pollfd p = { c->fd, POLLIN, 0 };

		if (!block && poll(&p, 1, 0) == 0)
			return -EAGAIN;
		n = read(c->fd, c->rx, sizeof(c->rx));
	}
	if (n == 0)
		return -EPIPE;
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		if (errno == ECONNRESET)
			return -EPIPE;
		return -errno;
	}
	c->rx_len = (size_t)n;
	return 0;
}

int gdb_read_request(struct gdb_conn *c, struct gdb_req *req)
{
	int rc;

	/* an interrupt that arrived while the target was stopped raced with
	 * our stop reply: gdb has its answer already */
	c->interrupt = false;
	for (;;) {
		if ((rc = drain(c)) < 0)
			return rc;
		if (c->pkt_ready) {
			c->pkt_ready = false;
			c->interrupt = false;
			if (c->pkt_overflow) {
				c->stats.too_long++;
				memset(req, 0, sizeof(*req));
				req->kind = GDB_REQ_MALFORMED;
				req->why = "packet too long";
				return 0;
			}
			if (c->pkt_rle_bad) {
				memset(req, 0, sizeof(*req));
				req->kind = GDB_REQ_MALFORMED;
				req->why = "bad run-length encoding";
				return 0;
			}
			gdb_parse(c->pkt, c->pkt_len, req);
			if (req->kind == GDB_REQ_START_NOACK) {
				/* the OK still goes out in ack mode; then neither side acks */
				if ((rc = gdb_send_ok(c)) < 0)
					return rc;
				c->noack = true;
				continue;
			}
			return 0;
		}
		rc = fill(c, true);
		if (rc == -EAGAIN)
			continue;
		if (rc < 0)
			return rc;
	}
}

int gdb_poll_interrupt(struct gdb_conn *c)
{
	int rc;

	for (;;) {
		if ((rc = drain(c)) < 0)
			return rc;
		if (c->pkt_ready || c->rx_pos < c->rx_len)
			break; /* a packet waits: the rest stays for gdb_read_request */
		rc = fill(c, false);
		if (rc == -EAGAIN)
			break;
		if (rc < 0)
			return rc;
	}
	if (c->interrupt) {
		c->interrupt = false;
		return 1;
	}
	return 0;
}

int gdb_send_packet(struct gdb_conn *c, const void *data, size_t len)
{
	const uint8_t *d = data;
	uint8_t sum = 0;
	size_t n = 0;

	if (len > GDB_REPLY_MAX)
		return -EMSGSIZE;
	c->tx[n++] = '$';
	for (size_t i = 0; i < len; i++) {
		uint8_t b = d[i];

		if (b == '$' || b == '#' || b == '}' || b == '*') {
			c->tx[n++] = '}';
			sum = (uint8_t)(sum + '}');
			b ^= 0x20;
		}
		c->tx[n++] = (char)b;
		sum = (uint8_t)(sum + b);
	}
	c->tx[n++] = '#';
	c->tx[n++] = hexdigits[sum >> 4];
	c->tx[n++] = hexdigits[sum & 15];
	c->tx_len = n;
	c->nak_in_row = 0;
	return write_all(c->fd, c->tx, n);
}

int gdb_send_str(struct gdb_conn *c, const char *s)
{
	return gdb_send_packet(c, s, strlen(s));
}

int gdb_send_ok(struct gdb_conn *c)
{
	return gdb_send_str(c, "OK");
}

int gdb_send_error(struct gdb_conn *c, unsigned code)
{
	char buf[8];

	snprintf(buf, sizeof(buf), "E%02x", code & 0xff);
	return gdb_send_str(c, buf);
}

int gdb_send_error_msg(struct gdb_conn *c, const char *text)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "E.%s", text);
	return gdb_send_str(c, buf);
}

int gdb_send_hex(struct gdb_conn *c, const void *data, size_t n)
{
	char *buf;
	int rc;

	if (n > GDB_REPLY_MAX / 2)
		return -EMSGSIZE;
	buf = malloc(2 * n + 1);
	if (!buf)
		return -ENOMEM;
	gdb_hex_encode(buf, data, n);
	rc = gdb_send_packet(c, buf, 2 * n);
	free(buf);
	return rc;
}

int gdb_send_stop(struct gdb_conn *c, const struct gdb_stop *stop)
{
	char buf[512];
	int n = gdb_fmt_stop(buf, sizeof(buf), stop);

	if (n < 0)
		return n;
	return gdb_send_packet(c, buf, (size_t)n);
}

int gdb_send_console(struct gdb_conn *c, const char *text, size_t len)
{
	/* gdb prints O packets as they come; keep each one modest */
	enum { CHUNK = 1024 };
	char buf[1 + 2 * CHUNK + 1];

	while (len > 0) {
		size_t n = len < CHUNK ? len : CHUNK;
		int rc;

		buf[0] = 'O';
		gdb_hex_encode(buf + 1, text, n);
		if ((rc = gdb_send_packet(c, buf, 1 + 2 * n)) < 0)
			return rc;
		text += n;
		len -= n;
	}
	return 0;
}

int gdb_conn_open(int fd, struct gdb_conn **out)
{
	struct gdb_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->fd = fd;
	c->st = RX_IDLE;
	*out = c;
	return 0;
}

void gdb_conn_close(struct gdb_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

int gdb_conn_fd(const struct gdb_conn *c)
{
	return c->fd;
}

const struct gdb_stats *gdb_conn_stats(const struct gdb_conn *c)
{
	return &c->stats;
}

bool gdb_conn_noack(const struct gdb_conn *c)
{
	return c->noack;
}

/* Split "[HOST:]PORT" ("[v6]:PORT" too); host defaults to 127.0.0.1. */
static int split_hostport(const char *hp, char *host, size_t hostcap, unsigned *port)
{
	const char *colon = strrchr(hp, ':');
	const char *ps = colon ? colon + 1 : hp;
	size_t hlen = colon ? (size_t)(colon - hp) : 0;
	unsigned long v = 0;

	if (*ps == 0)
		return -EINVAL;
	for (const char *q = ps; *q; q++) {
		if (*q < '0' || *q > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*q - '0');
		if (v > 65535)
			return -EINVAL;
	}
	if (hlen >= 2 && hp[0] == '[' && hp[hlen - 1] == ']') {
		hp++;
		hlen -= 2;
	}
	if (hlen == 0) {
		hp = "127.0.0.1";
		hlen = strlen(hp);
	}
	if (hlen >= hostcap)
		return -EINVAL;
	memcpy(host, hp, hlen);
	host[hlen] = 0;
	*port = (unsigned)v;
	return 0;
}

int gdb_listen(const char *hostport, int *lfd, unsigned *port)
{
	struct addrinfo hints = { 0 }, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], portstr[8], shown[NI_MAXHOST];
	unsigned p;
	int fd = -1, one = 1, rc;

	if (split_hostport(hostport, host, sizeof(host), &p) < 0) {
		log_error("--gdb: '%s' is not [HOST:]PORT (PORT 0-65535)", hostport);
		return -EINVAL;
	}
	snprintf(portstr, sizeof(portstr), "%u", p);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, portstr, &hints, &ai);
	if (rc != 0) {
		log_error("--gdb: cannot resolve '%s': %s", host, gai_strerror(rc));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		log_error("--gdb: socket: %s", strerror(-rc));
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		rc = -errno;
		log_error("--gdb: cannot listen on %s:%u: %s", host, p, strerror(-rc));
		goto out;
	}
	if (getnameinfo((struct sockaddr *)&ss, sl, shown, sizeof(shown), portstr, sizeof(portstr),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(shown, sizeof(shown), "%s", host);
	*port = (unsigned)strtoul(portstr, NULL, 10);
	*lfd = fd;
	fd = -1;
	rc = 0;
	fprintf(stderr, "ttvm: waiting for gdb on %s:%u\n", shown, *port);
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return rc;
}

int gdb_accept(int lfd, struct gdb_conn **out)
{
	int fd, one = 1, rc;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* replies are small and latency matters (each stepi is a round trip) */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = gdb_conn_open(fd, out);
	if (rc < 0)
		close(fd);
	return rc;
}
