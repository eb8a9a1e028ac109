/* gdb remote serial protocol: parsing a packet into a request, and hex
 * (gdbparse.h); the packet syntax is the one of gdb's manual, "Remote
 * Protocol".  Framing, replies and the connection are gdbproto.c. */
#include "replay/gdbparse.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* hex */

int gdb_hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

const char gdb_hexdigits[17] = "0123456789abcdef";

void gdb_hex_encode(char *out, const void *in, size_t n)
{
	const uint8_t *b = in;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = gdb_hexdigits[b[i] >> 4];
		out[2 * i + 1] = gdb_hexdigits[b[i] & 15];
	}
	out[2 * n] = 0;
}

/* Safe in place (out == in): byte i is written after chars 2i, 2i+1 are read. */
int gdb_hex_decode(uint8_t *out, const char *in, size_t nchars)
{
	if (nchars % 2)
		return -EINVAL;
	for (size_t i = 0; i < nchars / 2; i++) {
		int hi = gdb_hexval((unsigned char)in[2 * i]);
		int lo = gdb_hexval((unsigned char)in[2 * i + 1]);

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

	while (c->p < c->end && (d = gdb_hexval((unsigned char)*c->p)) >= 0) {
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

