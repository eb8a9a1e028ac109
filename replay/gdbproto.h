/* The gdb remote serial protocol, transport and syntax only: framing
 * ('$data#cs', acks, escapes, the 0x03 interrupt byte), packets parsed into
 * struct gdb_req, and reply builders.  No debugging logic and no KVM here:
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

/* Largest packet (bytes between '$' and '#') we accept; advertised as
 * PacketSize in qSupported, so gdb never sends a longer one on purpose. */
#define GDB_PACKET_SIZE 16384
/* Largest reply payload the builders and gdb_send_packet() accept. */
#define GDB_REPLY_MAX (2 * GDB_PACKET_SIZE)
/* 'm' lengths are capped to this (gdb accepts a short read and asks again). */
#define GDB_MEM_MAX 4096
/* Most actions one vCont packet may carry. */
#define GDB_VCONT_MAX 16
/* Bad checksums (or NAKs of our replies) in a row before we give up. */
#define GDB_MAX_BAD_IN_ROW 10

enum gdb_req_kind {
	GDB_REQ_UNKNOWN = 0,     /* not understood: answer "" */
	GDB_REQ_MALFORMED,       /* known packet, bad syntax or numbers: answer E01; .why says why */
	GDB_REQ_SUPPORTED,       /* qSupported[:features] */
	GDB_REQ_HALT_REASON,     /* ? */
	GDB_REQ_READ_REGS,       /* g */
	GDB_REQ_WRITE_REGS,      /* G hex */
	GDB_REQ_READ_REG,        /* p n */
	GDB_REQ_WRITE_REG,       /* P n=hex */
	GDB_REQ_READ_MEM,        /* m addr,len (len capped to GDB_MEM_MAX) */
	GDB_REQ_WRITE_MEM,       /* M addr,len:hex and X addr,len:binary (.mem.binary) */
	GDB_REQ_CONT,            /* c [addr], C sig[;addr] */
	GDB_REQ_STEP,            /* s [addr], S sig[;addr] */
	GDB_REQ_REVERSE_CONT,    /* bc */
	GDB_REQ_REVERSE_STEP,    /* bs */
	GDB_REQ_VCONT_QUERY,     /* vCont? */
	GDB_REQ_VCONT,           /* vCont;action[:tid]... */
	GDB_REQ_INSERT_BP,       /* Z type,addr,kind (type 0..4) */
	GDB_REQ_REMOVE_BP,       /* z type,addr,kind */
	GDB_REQ_MONITOR,         /* qRcmd,hex: .monitor.cmd is the decoded text */
	GDB_REQ_XFER_FEATURES,   /* qXfer:features:read:annex:offset,length */
	GDB_REQ_ATTACHED,        /* qAttached[:pid] */
	GDB_REQ_CURRENT_THREAD,  /* qC */
	GDB_REQ_THREADS_FIRST,   /* qfThreadInfo */
	GDB_REQ_THREADS_NEXT,    /* qsThreadInfo */
	GDB_REQ_SET_THREAD,      /* H op tid */
	GDB_REQ_THREAD_ALIVE,    /* T tid */
	GDB_REQ_OFFSETS,         /* qOffsets */
	GDB_REQ_SYMBOL,          /* qSymbol:... (answer OK: no symbols wanted) */
	GDB_REQ_MUST_REPLY_EMPTY,/* vMustReplyEmpty */
	GDB_REQ_START_NOACK,     /* QStartNoAckMode (gdb_read_request answers it itself) */
	GDB_REQ_KILL,            /* k */
	GDB_REQ_DETACH,          /* D[;pid] */
	GDB_REQ_VKILL,           /* vKill;pid */
	GDB_REQ_KIND_COUNT
};

/* qSupported features the client announced with '+'. */
#define GDB_FEAT_MULTIPROCESS    (1u << 0)
#define GDB_FEAT_SWBREAK         (1u << 1)
#define GDB_FEAT_HWBREAK         (1u << 2)
#define GDB_FEAT_VCONT_SUPPORTED (1u << 3)
#define GDB_FEAT_NO_RESUMED      (1u << 4)
#define GDB_FEAT_QRELOCINSN      (1u << 5)
#define GDB_FEAT_ERROR_MESSAGE   (1u << 6)

/* A thread id: "tid", "pPID.TID" or "pPID"; -1 means all, 0 means any.
 * has_pid is false for the plain form (pid is then 0). */
struct gdb_tid {
	bool has_pid;
	int64_t pid;
	int64_t tid;
};

/* One vCont action: 'c', 's', 't' or 'r' (range step); 'C'/'S' are 'c'/'s'
 * with sig >= 0. */
struct gdb_vcont_action {
	char op;
	int sig;            /* -1: no signal */
	uint64_t start, end;/* 'r': step while start <= pc < end */
	bool has_tid;       /* no tid: applies to every thread not named before */
	struct gdb_tid tid;
};

/* Z/z types. */
enum gdb_bp_type {
	GDB_BP_SW = 0, GDB_BP_HW = 1, GDB_WATCH_WRITE = 2, GDB_WATCH_READ = 3, GDB_WATCH_ACCESS = 4,
};

/* A parsed request.  Pointers point into the packet buffer given to
 * gdb_parse() (or the connection's buffer for gdb_read_request()) and stay
 * valid until that buffer is reused. */
struct gdb_req {
	enum gdb_req_kind kind;
	const char *why;                 /* MALFORMED: a short reason */
	union {
		struct {
			uint32_t features;       /* GDB_FEAT_* */
			const char *xml_registers; /* "xmlRegisters=" value or NULL */
		} supported;
		struct {                     /* g is empty; G and P carry data */
			unsigned n;              /* p, P: register number */
			const uint8_t *data;
			size_t len;
		} reg;
		struct {                     /* m, M, X */
			uint64_t addr;
			size_t len;              /* m: after capping; M/X: == data length */
			const uint8_t *data;     /* M, X */
			bool binary;             /* X */
			bool capped;             /* m: gdb asked for more than GDB_MEM_MAX */
		} mem;
		struct {                     /* c, s, C, S */
			bool has_addr;
			uint64_t addr;
			int sig;                 /* -1: none */
		} resume;
		struct {
			unsigned n;
			struct gdb_vcont_action a[GDB_VCONT_MAX];
		} vcont;
		struct {                     /* Z, z */
			enum gdb_bp_type type;
			uint64_t addr;
			uint64_t kind;
		} bp;
		struct {                     /* qRcmd: NUL-terminated text */
			const char *cmd;
			size_t len;
		} monitor;
		struct {                     /* qXfer:features:read */
			const char *annex;       /* NUL-terminated */
			uint64_t offset;
			uint64_t length;
		} xfer;
		struct {                     /* H (op 'g' or 'c'), T (op 0) */
			char op;
			struct gdb_tid tid;
		} thread;
		struct {                     /* D, vKill, qAttached */
			bool has_pid;
			int64_t pid;
		} pid;
	};
};

/* Parse one unescaped packet payload.  buf must have len + 1 writable bytes:
 * the parser NUL-terminates and decodes hex in place.  Always fills *req
 * (UNKNOWN or MALFORMED for bad input); never reads outside buf[0..len]. */
void gdb_parse(char *buf, size_t len, struct gdb_req *req);
/* A request kind's name, for logs ("qXfer:features", "vCont", ...). */
const char *gdb_req_name(enum gdb_req_kind kind);

/* ---- hex ---- */
/* Write 2*n lowercase hex digits and a NUL at out. */
void gdb_hex_encode(char *out, const void *in, size_t n);
/* Decode nchars hex digits into nchars/2 bytes; -EINVAL if odd or not hex. */
int gdb_hex_decode(uint8_t *out, const char *in, size_t nchars);
/* The value of hex digit ch (either case), or -1. */
int gdb_hexval(int ch);

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
