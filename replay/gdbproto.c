/* gdb remote serial protocol: framing, reply builders and the connection
 * (parsing a request is gdbparse.c).  See
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
		char two[2] = { gdb_hexdigits[b[i] >> 4], gdb_hexdigits[b[i] & 15] };

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
		d = gdb_hexval(b);
		c->cs_hi = (uint8_t)(d < 0 ? 0xff : d);
		c->st = RX_CS2;
		return EV_NONE;
	case RX_CS2:
		d = gdb_hexval(b);
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
	c->tx[n++] = gdb_hexdigits[sum >> 4];
	c->tx[n++] = gdb_hexdigits[sum & 15];
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
