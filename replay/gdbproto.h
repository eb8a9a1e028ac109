/* The gdb remote serial protocol, transport and syntax only: framing
 * ('$data#cs', acks, escapes, the 0x03 interrupt byte), packets parsed into
 * struct gdb_req (replay/gdbparse.h), and reply builders.  No debugging logic and no KVM here:
 * the replay debugger reads requests, decides, and answers through these
 * functions (as rr splits GdbServerConnection from its debugging session).
 *
 * Numbers in packets are parsed with overflow checks; a packet that does not
 * parse is GDB_REQ_MALFORMED (answer with an error), a packet this layer does
 * not know is GDB_REQ_UNKNOWN (answer with an empty packet). */
#ifndef TTVM_REPLAY_GDBPROTO_H
#define TTVM_REPLAY_GDBPROTO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replay/gdbparse.h"

/* ---- reply builders: write a payload into out (cap bytes, NUL-terminated),
 *      return its length, or -ENOSPC if it does not fit ---- */

enum gdb_stop_kind {
	GDB_STOP_SIGNAL,     /* S/T: stopped with signal .sig */
	GDB_STOP_EXITED,     /* W: exited with status .sig */
	GDB_STOP_TERMINATED, /* X: terminated by signal .sig */
};
enum gdb_stop_reason {
	GDB_STOP_REASON_NONE,
	GDB_STOP_SWBREAK, GDB_STOP_HWBREAK,
	GDB_STOP_WATCH, GDB_STOP_RWATCH, GDB_STOP_AWATCH, /* .addr: the data address */
	GDB_STOP_REPLAY_BEGIN, GDB_STOP_REPLAY_END,       /* replaylog:begin / end */
};
#define GDB_STOP_MAX_REGS 4
struct gdb_stop {
	enum gdb_stop_kind kind;
	int sig;                   /* signal, or exit status for W */
	enum gdb_stop_reason reason;
	uint64_t addr;
	int64_t thread;            /* > 0: "thread:N;" */
	unsigned nregs;            /* expedited registers "n:value;" */
	struct {
		unsigned n;
		const uint8_t *val;
		size_t len;
	} regs[GDB_STOP_MAX_REGS];
};

/* qSupported reply options. */
#define GDB_SUP_SWBREAK (1u << 0) /* we report swbreak stops */
#define GDB_SUP_HWBREAK (1u << 1) /* we report hwbreak stops */
#define GDB_SUP_REVERSE (1u << 2) /* ReverseStep+ ReverseContinue+ */
#define GDB_SUP_VCONT   (1u << 3) /* vContSupported+ */

/* A stop reply: Sxx, Txx[n:r;][thread:N;][reason;], Wxx or Xxx. */
int gdb_fmt_stop(char *out, size_t cap, const struct gdb_stop *stop);
/* The qSupported reply: PacketSize, QStartNoAckMode+, qXfer:features:read+ and GDB_SUP_*. */
int gdb_fmt_supported(char *out, size_t cap, unsigned sup);
/* A qXfer read reply for doc[offset, offset+length): 'm'/'l' and raw bytes
 * (escaped by gdb_send_packet), never more than GDB_PACKET_SIZE/2 bytes. */
int gdb_fmt_xfer(char *out, size_t cap, const char *doc, size_t doclen,
		 uint64_t offset, uint64_t length);

/* ---- the connection ---- */

struct gdb_conn;

struct gdb_stats {
	uint64_t packets;        /* good packets received */
	uint64_t bad_checksums;
	uint64_t naks;           /* '-' received for our replies */
	uint64_t too_long;       /* packets longer than GDB_PACKET_SIZE */
	uint64_t garbage;        /* bytes skipped between packets */
	uint64_t interrupts;     /* 0x03 bytes seen (also stale ones) */
};

/* Bind and listen on "[HOST:]PORT" (default host 127.0.0.1; port 0 picks a
 * free one), print "ttvm: waiting for gdb on HOST:PORT" on stderr.  Returns
 * 0 with *lfd and *port set; -EINVAL (bad address, message printed) or -errno. */
int gdb_listen(const char *hostport, int *lfd, unsigned *port);
/* Wait for one client on lfd and wrap it; -EINTR if a signal came first. */
int gdb_accept(int lfd, struct gdb_conn **out);
/* Wrap an already connected stream fd (a socketpair in tests); takes ownership. */
int gdb_conn_open(int fd, struct gdb_conn **out);
/* Close the connection and its fd; NULL is allowed. */
void gdb_conn_close(struct gdb_conn *c);
/* The socket, for the caller's own poll() while the guest runs.  Bytes that
 * came with the last request may already be buffered: call
 * gdb_poll_interrupt() once before relying on poll().  A connection is
 * used by one thread at a time. */
int gdb_conn_fd(const struct gdb_conn *c);
/* Counters since the connection was opened. */
const struct gdb_stats *gdb_conn_stats(const struct gdb_conn *c);
/* True once QStartNoAckMode is in effect. */
bool gdb_conn_noack(const struct gdb_conn *c);

/* Block until the next request, ack it and parse it into *req (valid until
 * the next call).  QStartNoAckMode is answered here.  0x03 bytes read while
 * waiting are stale (gdb sent them before our last stop reply) and dropped.
 * Returns 0; -EPIPE when the client went away (EOF, reset); -EPROTO after
 * GDB_MAX_BAD_IN_ROW bad checksums or NAKs in a row; -EINTR on a signal
 * (call again); other -errno on I/O errors. */
int gdb_read_request(struct gdb_conn *c, struct gdb_req *req);
/* Non-blocking: 1 if gdb sent the interrupt byte since the last request,
 * 0 if not, -EPIPE/-EPROTO/-errno if the connection failed.  Bytes of a
 * following packet are kept for gdb_read_request(). */
int gdb_poll_interrupt(struct gdb_conn *c);

/* Frame and send one packet (escaping '$', '#', '}', '*'); kept for a
 * retransmission if gdb answers '-'.  -EMSGSIZE above GDB_REPLY_MAX. */
int gdb_send_packet(struct gdb_conn *c, const void *data, size_t len);
/* gdb_send_packet() of a NUL-terminated string ("" is the empty reply). */
int gdb_send_str(struct gdb_conn *c, const char *s);
/* "OK". */
int gdb_send_ok(struct gdb_conn *c);
/* "Enn" (code 0..255). */
int gdb_send_error(struct gdb_conn *c, unsigned code);
/* "E.text": an error gdb shows to the user. */
int gdb_send_error_msg(struct gdb_conn *c, const char *text);
/* Bytes as hex (m, g and p replies). */
int gdb_send_hex(struct gdb_conn *c, const void *data, size_t n);
/* A stop reply (see gdb_fmt_stop). */
int gdb_send_stop(struct gdb_conn *c, const struct gdb_stop *stop);
/* Console output for gdb to print (O packets, split as needed); send the
 * final reply ("OK") after it for a monitor command. */
int gdb_send_console(struct gdb_conn *c, const char *text, size_t len);

#endif
