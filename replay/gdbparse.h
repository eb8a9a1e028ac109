/* The gdb remote serial protocol's syntax: the limits, a packet payload
 * parsed into a struct gdb_req, and the hex encoding (gdbparse.c).  Part of
 * the protocol layer of replay/gdbproto.h, which includes it; apart so that
 * parsing depends on nothing of the transport. */
#ifndef TTVM_REPLAY_GDBPARSE_H
#define TTVM_REPLAY_GDBPARSE_H
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
/* The lowercase hex digits, by value. */
extern const char gdb_hexdigits[17];

#endif
