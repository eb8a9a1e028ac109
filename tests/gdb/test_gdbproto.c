/* Unit tests of the gdb protocol layer: packet parsing (every kind, bad
 * numbers), reply builders, and framing over a socketpair (checksums, acks,
 * escapes, split reads, the interrupt byte, oversized packets, garbage). */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "replay/gdbproto.h"
#include "testlib.h"

/* ---- parsing ---- */

static char pbuf[GDB_PACKET_SIZE + 1];

static struct gdb_req parse_n(const char *pkt, size_t len)
{
	struct gdb_req r;

	memcpy(pbuf, pkt, len);
	gdb_parse(pbuf, len, &r);
	return r;
}

static struct gdb_req parse(const char *pkt)
{
	return parse_n(pkt, strlen(pkt));
}

static enum gdb_req_kind kind(const char *pkt)
{
	return parse(pkt).kind;
}

static void test_parse_simple(void)
{
	CHECK_EQ(kind("?"), GDB_REQ_HALT_REASON);
	CHECK_EQ(kind("g"), GDB_REQ_READ_REGS);
	CHECK_EQ(kind("bc"), GDB_REQ_REVERSE_CONT);
	CHECK_EQ(kind("bs"), GDB_REQ_REVERSE_STEP);
	CHECK_EQ(kind("bx"), GDB_REQ_UNKNOWN);
	CHECK_EQ(kind("vCont?"), GDB_REQ_VCONT_QUERY);
	CHECK_EQ(kind("qC"), GDB_REQ_CURRENT_THREAD);
	CHECK_EQ(kind("qCRC:0,1"), GDB_REQ_UNKNOWN);
	CHECK_EQ(kind("qfThreadInfo"), GDB_REQ_THREADS_FIRST);
	CHECK_EQ(kind("qsThreadInfo"), GDB_REQ_THREADS_NEXT);
	CHECK_EQ(kind("qOffsets"), GDB_REQ_OFFSETS);
	CHECK_EQ(kind("qSymbol::"), GDB_REQ_SYMBOL);
	CHECK_EQ(kind("qSymbol:6d61696e:6d61696e"), GDB_REQ_SYMBOL);
	CHECK_EQ(kind("vMustReplyEmpty"), GDB_REQ_MUST_REPLY_EMPTY);
	CHECK_EQ(kind("QStartNoAckMode"), GDB_REQ_START_NOACK);
	CHECK_EQ(kind("k"), GDB_REQ_KILL);
	CHECK_EQ(kind("qTStatus"), GDB_REQ_UNKNOWN);
	CHECK_EQ(kind("vFile:open:2f,0,0"), GDB_REQ_UNKNOWN);
	CHECK_EQ(kind("qXfer:auxv:read::0,100"), GDB_REQ_UNKNOWN);
	CHECK_EQ(kind(""), GDB_REQ_UNKNOWN);
	CHECK_EQ(kind("\x01\xff"), GDB_REQ_UNKNOWN);
	CHECK(strcmp(gdb_req_name(GDB_REQ_XFER_FEATURES), "qXfer:features:read") == 0);
	for (int k = 0; k < GDB_REQ_KIND_COUNT; k++)
		CHECK(gdb_req_name((enum gdb_req_kind)k) != NULL);
}

static void test_parse_detach_kill(void)
{
	struct gdb_req r = parse("D");

	CHECK_EQ(r.kind, GDB_REQ_DETACH);
	CHECK(!r.pid.has_pid);
	r = parse("D;1f");
	CHECK_EQ(r.kind, GDB_REQ_DETACH);
	CHECK(r.pid.has_pid);
	CHECK_EQ(r.pid.pid, 0x1f);
	CHECK_EQ(kind("D;"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("D1"), GDB_REQ_MALFORMED);
	r = parse("vKill;2a");
	CHECK_EQ(r.kind, GDB_REQ_VKILL);
	CHECK_EQ(r.pid.pid, 0x2a);
	CHECK_EQ(kind("vKill;zz"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("vKill;8000000000000000"), GDB_REQ_MALFORMED);
	r = parse("qAttached");
	CHECK_EQ(r.kind, GDB_REQ_ATTACHED);
	CHECK(!r.pid.has_pid);
	r = parse("qAttached:1");
	CHECK_EQ(r.kind, GDB_REQ_ATTACHED);
	CHECK_EQ(r.pid.pid, 1);
	CHECK_EQ(kind("qAttached:"), GDB_REQ_MALFORMED);
}

static void test_parse_supported(void)
{
	struct gdb_req r = parse("qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;"
				 "fork-events+;vContSupported+;QThreadEvents+;no-resumed+;"
				 "xmlRegisters=i386;memory-tagging-");

	CHECK_EQ(r.kind, GDB_REQ_SUPPORTED);
	CHECK_EQ(r.supported.features, GDB_FEAT_MULTIPROCESS | GDB_FEAT_SWBREAK | GDB_FEAT_HWBREAK |
		 GDB_FEAT_QRELOCINSN | GDB_FEAT_VCONT_SUPPORTED | GDB_FEAT_NO_RESUMED);
	CHECK(r.supported.xml_registers && strcmp(r.supported.xml_registers, "i386") == 0);
	r = parse("qSupported");
	CHECK_EQ(r.kind, GDB_REQ_SUPPORTED);
	CHECK_EQ(r.supported.features, 0);
	CHECK(r.supported.xml_registers == NULL);
	/* a feature named like a known one plus more is not that one */
	r = parse("qSupported:swbreakx+;swbreak-;+;;");
	CHECK_EQ(r.kind, GDB_REQ_SUPPORTED);
	CHECK_EQ(r.supported.features, 0);
	CHECK_EQ(kind("qSupportedX"), GDB_REQ_UNKNOWN);
	r = parse("qSupported:xmlRegisters=i386:x86-64");
	CHECK(r.supported.xml_registers && strcmp(r.supported.xml_registers, "i386:x86-64") == 0);
}

static void test_parse_regs(void)
{
	struct gdb_req r = parse("G0102ff");

	CHECK_EQ(r.kind, GDB_REQ_WRITE_REGS);
	CHECK_EQ(r.reg.len, 3);
	CHECK(r.reg.data && r.reg.data[0] == 1 && r.reg.data[1] == 2 && r.reg.data[2] == 0xff);
	CHECK_EQ(kind("G"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("G012"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("G0g"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("gg"), GDB_REQ_UNKNOWN);

	r = parse("p10");
	CHECK_EQ(r.kind, GDB_REQ_READ_REG);
	CHECK_EQ(r.reg.n, 16);
	r = parse("pFFFFFFFF");
	CHECK_EQ(r.kind, GDB_REQ_READ_REG);
	CHECK_EQ(r.reg.n, 0xffffffffu);
	CHECK_EQ(kind("p"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("p100000000"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("p1x"), GDB_REQ_MALFORMED);

	r = parse("P11=46020000");
	CHECK_EQ(r.kind, GDB_REQ_WRITE_REG);
	CHECK_EQ(r.reg.n, 0x11);
	CHECK_EQ(r.reg.len, 4);
	CHECK(r.reg.data && r.reg.data[0] == 0x46 && r.reg.data[1] == 0x02);
	CHECK_EQ(kind("P11="), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("P11=4"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("P11"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("P=00"), GDB_REQ_MALFORMED);
}

static void test_parse_mem(void)
{
	struct gdb_req r = parse("m1000,4");

	CHECK_EQ(r.kind, GDB_REQ_READ_MEM);
	CHECK_EQ(r.mem.addr, 0x1000);
	CHECK_EQ(r.mem.len, 4);
	CHECK(!r.mem.capped);
	r = parse("mffffffffffffffff,1");
	CHECK_EQ(r.kind, GDB_REQ_READ_MEM);
	CHECK_EQ(r.mem.addr, UINT64_MAX);
	r = parse("m0000000000000000000001,1"); /* leading zeros are not an overflow */
	CHECK_EQ(r.kind, GDB_REQ_READ_MEM);
	CHECK_EQ(r.mem.addr, 1);
	r = parse("m1000,ffffffffffffffff");
	CHECK_EQ(r.kind, GDB_REQ_READ_MEM);
	CHECK_EQ(r.mem.len, GDB_MEM_MAX);
	CHECK(r.mem.capped);
	CHECK_EQ(kind("m10000000000000000,4"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("m1000,10000000000000000"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("m1000"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("m,4"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("m1000,"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("m1000,4,"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("m-1,4"), GDB_REQ_MALFORMED);

	r = parse("M2000,3:0a0b0c");
	CHECK_EQ(r.kind, GDB_REQ_WRITE_MEM);
	CHECK_EQ(r.mem.addr, 0x2000);
	CHECK_EQ(r.mem.len, 3);
	CHECK(!r.mem.binary);
	CHECK(r.mem.data && r.mem.data[0] == 0x0a && r.mem.data[2] == 0x0c);
	CHECK_EQ(kind("M2000,4:0a0b0c"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("M2000,2:0a0b0c"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("M2000,3:0a0b0z"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("M2000,3"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("M2000,8000000000000000:00"), GDB_REQ_MALFORMED);
	r = parse("M2000,0:");
	CHECK_EQ(r.kind, GDB_REQ_WRITE_MEM);
	CHECK_EQ(r.mem.len, 0);

	/* X carries raw bytes, NULs and ':' included */
	r = parse_n("X3000,4:\x00:\x03#", 12);
	CHECK_EQ(r.kind, GDB_REQ_WRITE_MEM);
	CHECK(r.mem.binary);
	CHECK_EQ(r.mem.len, 4);
	CHECK(r.mem.data && memcmp(r.mem.data, "\x00:\x03#", 4) == 0);
	r = parse("X3000,0:"); /* gdb's probe for X support */
	CHECK_EQ(r.kind, GDB_REQ_WRITE_MEM);
	CHECK_EQ(r.mem.len, 0);
	CHECK_EQ(kind("X3000,5:abcd"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("X3000,3:abcd"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("X3000,ffffffffffffffff:abcd"), GDB_REQ_MALFORMED);
}

static void test_parse_resume(void)
{
	struct gdb_req r = parse("c");

	CHECK_EQ(r.kind, GDB_REQ_CONT);
	CHECK(!r.resume.has_addr);
	CHECK_EQ(r.resume.sig, -1);
	r = parse("c100000");
	CHECK_EQ(r.kind, GDB_REQ_CONT);
	CHECK(r.resume.has_addr);
	CHECK_EQ(r.resume.addr, 0x100000);
	r = parse("s");
	CHECK_EQ(r.kind, GDB_REQ_STEP);
	r = parse("C0b");
	CHECK_EQ(r.kind, GDB_REQ_CONT);
	CHECK_EQ(r.resume.sig, 11);
	CHECK(!r.resume.has_addr);
	r = parse("S05;abc");
	CHECK_EQ(r.kind, GDB_REQ_STEP);
	CHECK_EQ(r.resume.sig, 5);
	CHECK_EQ(r.resume.addr, 0xabc);
	CHECK_EQ(kind("cxyz"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("c1;"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("C"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("C100"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("C05;"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("C05x"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("s10000000000000000"), GDB_REQ_MALFORMED);
}

static void test_parse_vcont(void)
{
	struct gdb_req r = parse("vCont;c");

	CHECK_EQ(r.kind, GDB_REQ_VCONT);
	CHECK_EQ(r.vcont.n, 1);
	CHECK_EQ(r.vcont.a[0].op, 'c');
	CHECK(!r.vcont.a[0].has_tid);
	CHECK_EQ(r.vcont.a[0].sig, -1);

	r = parse("vCont;s:p1.1;c");
	CHECK_EQ(r.kind, GDB_REQ_VCONT);
	CHECK_EQ(r.vcont.n, 2);
	CHECK_EQ(r.vcont.a[0].op, 's');
	CHECK(r.vcont.a[0].has_tid && r.vcont.a[0].tid.has_pid);
	CHECK_EQ(r.vcont.a[0].tid.pid, 1);
	CHECK_EQ(r.vcont.a[0].tid.tid, 1);
	CHECK_EQ(r.vcont.a[1].op, 'c');

	r = parse("vCont;r1000,1010:1;C05:-1;S0b;t:p2.-1");
	CHECK_EQ(r.kind, GDB_REQ_VCONT);
	CHECK_EQ(r.vcont.n, 4);
	CHECK_EQ(r.vcont.a[0].op, 'r');
	CHECK_EQ(r.vcont.a[0].start, 0x1000);
	CHECK_EQ(r.vcont.a[0].end, 0x1010);
	CHECK_EQ(r.vcont.a[0].tid.tid, 1);
	CHECK(!r.vcont.a[0].tid.has_pid);
	CHECK_EQ(r.vcont.a[1].op, 'c');
	CHECK_EQ(r.vcont.a[1].sig, 5);
	CHECK_EQ(r.vcont.a[1].tid.tid, -1);
	CHECK_EQ(r.vcont.a[2].op, 's');
	CHECK_EQ(r.vcont.a[2].sig, 11);
	CHECK_EQ(r.vcont.a[3].op, 't');
	CHECK_EQ(r.vcont.a[3].tid.pid, 2);
	CHECK_EQ(r.vcont.a[3].tid.tid, -1);

	CHECK_EQ(kind("vCont;"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("vCont"), GDB_REQ_UNKNOWN);
	CHECK_EQ(kind("vCont;x"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("vCont;c;"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("vCont;C"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("vCont;C1ff"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("vCont;r1000"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("vCont;r1000,"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("vCont;r10000000000000000,1"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("vCont;c:"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("vCont;c:-2"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("vCont;c:p"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("vCont;c:8000000000000000"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("vCont;cx"), GDB_REQ_MALFORMED);

	char many[256] = "vCont";
	for (int i = 0; i < GDB_VCONT_MAX; i++)
		strcat(many, ";s:1");
	CHECK_EQ(kind(many), GDB_REQ_VCONT);
	strcat(many, ";c");
	CHECK_EQ(kind(many), GDB_REQ_MALFORMED);
}

static void test_parse_breakpoints(void)
{
	struct gdb_req r = parse("Z0,100000,1");

	CHECK_EQ(r.kind, GDB_REQ_INSERT_BP);
	CHECK_EQ(r.bp.type, GDB_BP_SW);
	CHECK_EQ(r.bp.addr, 0x100000);
	CHECK_EQ(r.bp.kind, 1);
	r = parse("z1,ffffffff81000000,1");
	CHECK_EQ(r.kind, GDB_REQ_REMOVE_BP);
	CHECK_EQ(r.bp.type, GDB_BP_HW);
	CHECK_EQ(r.bp.addr, 0xffffffff81000000ull);
	r = parse("Z2,2000,4");
	CHECK_EQ(r.bp.type, GDB_WATCH_WRITE);
	CHECK_EQ(r.bp.kind, 4);
	CHECK_EQ(parse("Z3,2000,8").bp.type, GDB_WATCH_READ);
	CHECK_EQ(parse("z4,2000,2").bp.type, GDB_WATCH_ACCESS);
	r = parse("Z0,1000,1;X2,0a00;cmds:0,X2,0a00");
	CHECK_EQ(r.kind, GDB_REQ_INSERT_BP);
	CHECK_EQ(r.bp.addr, 0x1000);
	CHECK_EQ(kind("Z5,1000,1"), GDB_REQ_UNKNOWN);
	CHECK_EQ(kind("Z0,1000"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("Z0,1000,"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("Z0"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("Z"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("Z0,1000,1x"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("Z10000000000000000,1000,1"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("z0,10000000000000000,1"), GDB_REQ_MALFORMED);
}

static void test_parse_monitor_xfer(void)
{
	struct gdb_req r = parse("qRcmd,676f746f20656e64");

	CHECK_EQ(r.kind, GDB_REQ_MONITOR);
	CHECK(r.monitor.cmd && strcmp(r.monitor.cmd, "goto end") == 0);
	CHECK_EQ(r.monitor.len, 8);
	r = parse("qRcmd,");
	CHECK_EQ(r.kind, GDB_REQ_MONITOR);
	CHECK_EQ(r.monitor.len, 0);
	CHECK(r.monitor.cmd && r.monitor.cmd[0] == 0);
	CHECK_EQ(kind("qRcmd,6"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("qRcmd,zz"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("qRcmd"), GDB_REQ_UNKNOWN);

	r = parse("qXfer:features:read:target.xml:0,ffb");
	CHECK_EQ(r.kind, GDB_REQ_XFER_FEATURES);
	CHECK(r.xfer.annex && strcmp(r.xfer.annex, "target.xml") == 0);
	CHECK_EQ(r.xfer.offset, 0);
	CHECK_EQ(r.xfer.length, 0xffb);
	r = parse("qXfer:features:read:i386-64bit.xml:1000,800");
	CHECK(r.xfer.annex && strcmp(r.xfer.annex, "i386-64bit.xml") == 0);
	CHECK_EQ(r.xfer.offset, 0x1000);
	r = parse("qXfer:features:read::0,10");
	CHECK_EQ(r.kind, GDB_REQ_XFER_FEATURES);
	CHECK(r.xfer.annex && r.xfer.annex[0] == 0);
	CHECK_EQ(kind("qXfer:features:read:target.xml"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("qXfer:features:read:target.xml:0"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("qXfer:features:read:target.xml:0,"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("qXfer:features:read:target.xml:0,10,"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("qXfer:features:read:target.xml:10000000000000000,1"), GDB_REQ_MALFORMED);
}

static void test_parse_threads(void)
{
	struct gdb_req r = parse("Hg0");

	CHECK_EQ(r.kind, GDB_REQ_SET_THREAD);
	CHECK_EQ(r.thread.op, 'g');
	CHECK_EQ(r.thread.tid.tid, 0);
	r = parse("Hc-1");
	CHECK_EQ(r.thread.op, 'c');
	CHECK_EQ(r.thread.tid.tid, -1);
	r = parse("Hgp1.2");
	CHECK(r.thread.tid.has_pid);
	CHECK_EQ(r.thread.tid.pid, 1);
	CHECK_EQ(r.thread.tid.tid, 2);
	r = parse("Hgp1");
	CHECK_EQ(r.kind, GDB_REQ_SET_THREAD);
	CHECK_EQ(r.thread.tid.tid, -1);
	CHECK_EQ(kind("Hg"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("Hgp"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("Hgp1."), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("Hg1x"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("Hx0"), GDB_REQ_UNKNOWN);
	CHECK_EQ(kind("H"), GDB_REQ_UNKNOWN);
	r = parse("T1");
	CHECK_EQ(r.kind, GDB_REQ_THREAD_ALIVE);
	CHECK_EQ(r.thread.tid.tid, 1);
	r = parse("Tp1.1");
	CHECK_EQ(r.kind, GDB_REQ_THREAD_ALIVE);
	CHECK_EQ(r.thread.tid.pid, 1);
	CHECK_EQ(kind("T"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("T-2"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("T8000000000000000"), GDB_REQ_MALFORMED);
	CHECK_EQ(kind("T7fffffffffffffff"), GDB_REQ_THREAD_ALIVE);
}

/* ---- builders ---- */

static void test_fmt_stop(void)
{
	char buf[256];
	struct gdb_stop s = { .kind = GDB_STOP_SIGNAL, .sig = 5 };
	uint8_t rip[8] = { 0x10, 0x20, 0, 0, 0, 0, 0, 0 };

	CHECK_EQ(gdb_fmt_stop(buf, sizeof(buf), &s), 3);
	CHECK(strcmp(buf, "S05") == 0);
	s.thread = 1;
	s.reason = GDB_STOP_SWBREAK;
	gdb_fmt_stop(buf, sizeof(buf), &s);
	CHECK(strcmp(buf, "T05thread:1;swbreak:;") == 0);
	s.reason = GDB_STOP_HWBREAK;
	gdb_fmt_stop(buf, sizeof(buf), &s);
	CHECK(strcmp(buf, "T05thread:1;hwbreak:;") == 0);
	s.reason = GDB_STOP_WATCH;
	s.addr = 0x7ffc1234;
	gdb_fmt_stop(buf, sizeof(buf), &s);
	CHECK(strcmp(buf, "T05thread:1;watch:7ffc1234;") == 0);
	s.reason = GDB_STOP_RWATCH;
	gdb_fmt_stop(buf, sizeof(buf), &s);
	CHECK(strcmp(buf, "T05thread:1;rwatch:7ffc1234;") == 0);
	s.reason = GDB_STOP_AWATCH;
	gdb_fmt_stop(buf, sizeof(buf), &s);
	CHECK(strcmp(buf, "T05thread:1;awatch:7ffc1234;") == 0);
	s.reason = GDB_STOP_REPLAY_BEGIN;
	s.thread = 0;
	gdb_fmt_stop(buf, sizeof(buf), &s);
	CHECK(strcmp(buf, "T05replaylog:begin;") == 0);
	s.reason = GDB_STOP_REPLAY_END;
	gdb_fmt_stop(buf, sizeof(buf), &s);
	CHECK(strcmp(buf, "T05replaylog:end;") == 0);
	s.reason = GDB_STOP_REASON_NONE;
	s.sig = 2;
	s.nregs = 1;
	s.regs[0].n = 16;
	s.regs[0].val = rip;
	s.regs[0].len = 8;
	gdb_fmt_stop(buf, sizeof(buf), &s);
	CHECK(strcmp(buf, "T0210:1020000000000000;") == 0);

	struct gdb_stop w = { .kind = GDB_STOP_EXITED, .sig = 0x21 };
	gdb_fmt_stop(buf, sizeof(buf), &w);
	CHECK(strcmp(buf, "W21") == 0);
	w.kind = GDB_STOP_TERMINATED;
	w.sig = 9;
	gdb_fmt_stop(buf, sizeof(buf), &w);
	CHECK(strcmp(buf, "X09") == 0);
	w.sig = 256;
	CHECK_EQ(gdb_fmt_stop(buf, sizeof(buf), &w), -EINVAL);
	w.sig = 1;
	w.kind = (enum gdb_stop_kind)7;
	CHECK_EQ(gdb_fmt_stop(buf, sizeof(buf), &w), -EINVAL);
	s.nregs = GDB_STOP_MAX_REGS + 1;
	CHECK_EQ(gdb_fmt_stop(buf, sizeof(buf), &s), -EINVAL);
	s.nregs = 1;
	CHECK_EQ(gdb_fmt_stop(buf, 10, &s), -ENOSPC);
	CHECK_EQ(gdb_fmt_stop(buf, 0, &s), -ENOSPC);
}

static void test_fmt_supported_xfer(void)
{
	char buf[256];

	CHECK(gdb_fmt_supported(buf, sizeof(buf), 0) > 0);
	CHECK(strcmp(buf, "PacketSize=4000;QStartNoAckMode+;qXfer:features:read+") == 0);
	gdb_fmt_supported(buf, sizeof(buf), GDB_SUP_SWBREAK | GDB_SUP_HWBREAK | GDB_SUP_REVERSE |
				 GDB_SUP_VCONT);
	CHECK(strstr(buf, ";swbreak+;hwbreak+;ReverseStep+;ReverseContinue+;vContSupported+"));
	CHECK_EQ(gdb_fmt_supported(buf, 20, 0), -ENOSPC);

	CHECK_EQ(gdb_fmt_xfer(buf, sizeof(buf), "abcdef", 6, 0, 4), 5);
	CHECK(strcmp(buf, "mabcd") == 0);
	gdb_fmt_xfer(buf, sizeof(buf), "abcdef", 6, 4, 100);
	CHECK(strcmp(buf, "lef") == 0);
	gdb_fmt_xfer(buf, sizeof(buf), "abcdef", 6, 2, 4);
	CHECK(strcmp(buf, "lcdef") == 0);
	gdb_fmt_xfer(buf, sizeof(buf), "abcdef", 6, 6, 4);
	CHECK(strcmp(buf, "l") == 0);
	gdb_fmt_xfer(buf, sizeof(buf), "abcdef", 6, UINT64_MAX, UINT64_MAX);
	CHECK(strcmp(buf, "l") == 0);
	gdb_fmt_xfer(buf, sizeof(buf), "abcdef", 6, 1, UINT64_MAX);
	CHECK(strcmp(buf, "lbcdef") == 0);
	gdb_fmt_xfer(buf, sizeof(buf), "abcdef", 6, 0, 0);
	CHECK(strcmp(buf, "m") == 0);

	/* a chunk is bounded whatever gdb asks for */
	static char big[3 * GDB_PACKET_SIZE], out[GDB_REPLY_MAX];
	memset(big, 'x', sizeof(big));
	int n = gdb_fmt_xfer(out, sizeof(out), big, sizeof(big), 0, UINT64_MAX);
	CHECK_EQ(n, 1 + GDB_PACKET_SIZE / 2);
	CHECK_EQ(out[0], 'm');
}

static void test_hex(void)
{
	char s[16];
	uint8_t b[4];

	gdb_hex_encode(s, "\x00\x7f\xff", 3);
	CHECK(strcmp(s, "007fff") == 0);
	CHECK_EQ(gdb_hex_decode(b, "0aFf7E", 6), 0);
	CHECK(b[0] == 0x0a && b[1] == 0xff && b[2] == 0x7e);
	CHECK_EQ(gdb_hex_decode(b, "0a0", 3), -EINVAL);
	CHECK_EQ(gdb_hex_decode(b, "0x", 2), -EINVAL);
	CHECK_EQ(gdb_hex_decode(b, "", 0), 0);
}

/* ---- framing over a socketpair ---- */

struct pair {
	struct gdb_conn *c;
	int peer; /* plays gdb */
};

static void pair_open(struct pair *p)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
		perror("socketpair");
		exit(1);
	}
	p->peer = sv[1];
	CHECK_EQ(gdb_conn_open(sv[0], &p->c), 0);
}

static void pair_close(struct pair *p)
{
	gdb_conn_close(p->c);
	if (p->peer >= 0)
		close(p->peer);
}

static void peer_write(struct pair *p, const void *d, size_t n)
{
	if (write(p->peer, d, n) != (ssize_t)n) {
		perror("write");
		exit(1);
	}
}

static void peer_puts(struct pair *p, const char *s)
{
	peer_write(p, s, strlen(s));
}

static uint8_t csum(const char *d, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + (uint8_t)d[i]);
	return s;
}

/* Send a well-formed packet with raw payload bytes (no escaping). */
static void peer_packet_n(struct pair *p, const char *payload, size_t n)
{
	char tail[4];

	peer_write(p, "$", 1);
	peer_write(p, payload, n);
	snprintf(tail, sizeof(tail), "#%02x", csum(payload, n));
	peer_write(p, tail, 3);
}

static void peer_packet(struct pair *p, const char *payload)
{
	peer_packet_n(p, payload, strlen(payload));
}

/* Read whatever the connection sent, waiting up to 1 s for the first byte. */
static size_t peer_read(struct pair *p, char *buf, size_t cap)
{
	struct pollfd pfd = { p->peer, POLLIN, 0 };
	size_t got = 0;

	while (got < cap - 1 && poll(&pfd, 1, got ? 50 : 1000) == 1) {
		ssize_t n = read(p->peer, buf + got, cap - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = 0;
	return got;
}

static void test_frame_basic(void)
{
	struct pair p;
	struct gdb_req r;
	char out[256];

	pair_open(&p);
	peer_packet(&p, "qSupported:multiprocess+;swbreak+");
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_SUPPORTED);
	CHECK_EQ(r.supported.features, GDB_FEAT_MULTIPROCESS | GDB_FEAT_SWBREAK);
	peer_read(&p, out, sizeof(out));
	CHECK(strcmp(out, "+") == 0);

	CHECK_EQ(gdb_send_ok(p.c), 0);
	peer_read(&p, out, sizeof(out));
	CHECK(strcmp(out, "$OK#9a") == 0);
	CHECK_EQ(gdb_send_error(p.c, 1), 0);
	peer_read(&p, out, sizeof(out));
	CHECK(strcmp(out, "$E01#a6") == 0);
	CHECK_EQ(gdb_send_str(p.c, ""), 0);
	peer_read(&p, out, sizeof(out));
	CHECK(strcmp(out, "$#00") == 0);
	CHECK_EQ(gdb_send_hex(p.c, "\x12\xab", 2), 0);
	peer_read(&p, out, sizeof(out));
	CHECK(strcmp(out, "$12ab#26") == 0);
	CHECK_EQ(gdb_send_error_msg(p.c, "replaying: registers are read-only"), 0);
	peer_read(&p, out, sizeof(out));
	CHECK(strncmp(out, "$E.replaying: registers are read-only#", 38) == 0);
	CHECK_EQ(gdb_conn_stats(p.c)->packets, 1);
	CHECK(gdb_conn_fd(p.c) >= 0);
	pair_close(&p);
}

static void test_frame_checksum(void)
{
	struct pair p;
	struct gdb_req r;
	char out[64];

	pair_open(&p);
	peer_puts(&p, "$g#00");      /* wrong sum */
	peer_puts(&p, "$g#zz");      /* not hex */
	peer_puts(&p, "$g#6");       /* truncated: eats the '$' below as 2nd digit */
	peer_puts(&p, "$?#3f");
	peer_puts(&p, "$g#67");
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_READ_REGS);
	CHECK_EQ(gdb_conn_stats(p.c)->bad_checksums, 3);
	peer_read(&p, out, sizeof(out));
	CHECK(strcmp(out, "---+") == 0);

	/* too many in a row: a clean protocol error, not a loop */
	for (int i = 0; i < GDB_MAX_BAD_IN_ROW; i++)
		peer_puts(&p, "$g#00");
	CHECK_EQ(gdb_read_request(p.c, &r), -EPROTO);
	pair_close(&p);

	/* a good packet resets the count */
	pair_open(&p);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < GDB_MAX_BAD_IN_ROW - 1; i++)
			peer_puts(&p, "$g#00");
		peer_puts(&p, "$g#67");
		CHECK_EQ(gdb_read_request(p.c, &r), 0);
		CHECK_EQ(r.kind, GDB_REQ_READ_REGS);
		peer_read(&p, out, sizeof(out));
	}
	pair_close(&p);
}

static void test_frame_escapes_rle(void)
{
	struct pair p;
	struct gdb_req r;
	char out[64];
	/* X with the escaped bytes '#', '$', '}', '*' and a raw 0x03 */
	static const char x[] = "X100,5:}\x03}\x04}]}\x0a\x03";

	pair_open(&p);
	peer_packet_n(&p, x, sizeof(x) - 1);
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_WRITE_MEM);
	CHECK_EQ(r.mem.len, 5);
	CHECK(r.mem.data && memcmp(r.mem.data, "#$}*\x03", 5) == 0);
	/* the 0x03 was data, not an interrupt */
	CHECK_EQ(gdb_poll_interrupt(p.c), 0);
	CHECK_EQ(gdb_conn_stats(p.c)->interrupts, 0);

	/* run-length: "0*\"" is '0' and 5 more */
	peer_packet(&p, "G0*\"");
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_WRITE_REGS);
	CHECK_EQ(r.reg.len, 3);
	/* a '*' with nothing before it, or a count below 3 */
	peer_packet(&p, "*\"");
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_MALFORMED);
	peer_packet(&p, "G0*\x1f");
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_MALFORMED);
	/* run-length past the packet size limit is "too long", not an overflow */
	char rle[1200];
	size_t n = 0;
	rle[n++] = 'G';
	rle[n++] = '0';
	while (n + 2 < sizeof(rle)) {
		rle[n++] = '*';
		rle[n++] = '~'; /* 97 more */
	}
	peer_packet_n(&p, rle, n);
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_MALFORMED);
	CHECK(r.why && strstr(r.why, "too long"));
	peer_read(&p, out, sizeof(out));
	CHECK(strcmp(out, "+++++") == 0);

	/* replies escape $ # } * */
	CHECK_EQ(gdb_send_packet(p.c, "a$#}*b", 6), 0);
	peer_read(&p, out, sizeof(out));
	char want[64];
	static const char esc[] = "a}\x04}\x03}]}\x0a" "b";
	snprintf(want, sizeof(want), "$%s#%02x", esc, csum(esc, sizeof(esc) - 1));
	CHECK(strcmp(out, want) == 0);
	CHECK_EQ(gdb_send_packet(p.c, out, GDB_REPLY_MAX + 1), -EMSGSIZE);
	pair_close(&p);
}

struct slow_writer {
	int fd;
	const char *data;
	size_t len;
};

static void *slow_write(void *arg)
{
	struct slow_writer *w = arg;
	struct timespec ts = { 0, 2 * 1000 * 1000 };

	for (size_t i = 0; i < w->len; i++) {
		if (write(w->fd, w->data + i, 1) != 1)
			break;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void *fast_write(void *arg)
{
	struct slow_writer *w = arg;
	size_t done = 0;

	while (done < w->len) {
		ssize_t n = write(w->fd, w->data + done, w->len - done);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	return NULL;
}

static void test_frame_split_reads(void)
{
	struct pair p;
	struct gdb_req r;
	pthread_t t;
	char stream[128];
	struct slow_writer w;

	/* one byte per read(): every state of the framing is crossed at a
	 * read boundary, including the middle of an escape and the checksum */
	static const char x[] = "X10,2:}\x03}]";
	size_t n = 0;
	stream[n++] = '$';
	memcpy(stream + n, x, sizeof(x) - 1);
	n += sizeof(x) - 1;
	n += (size_t)snprintf(stream + n, sizeof(stream) - n, "#%02x", csum(x, sizeof(x) - 1));
	n += (size_t)snprintf(stream + n, sizeof(stream) - n, "$m1000,4#%02x", csum("m1000,4", 7));

	pair_open(&p);
	w = (struct slow_writer){ p.peer, stream, n };
	pthread_create(&t, NULL, slow_write, &w);
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_WRITE_MEM);
	CHECK(r.mem.len == 2 && r.mem.data && memcmp(r.mem.data, "#}", 2) == 0);
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_READ_MEM);
	CHECK_EQ(r.mem.addr, 0x1000);
	pthread_join(t, NULL);
	CHECK_EQ(gdb_conn_stats(p.c)->bad_checksums, 0);
	pair_close(&p);
}

static void test_frame_interrupt(void)
{
	struct pair p;
	struct gdb_req r;

	pair_open(&p);
	/* a stale interrupt before the request is dropped */
	peer_puts(&p, "\x03");
	peer_packet(&p, "vCont;c");
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_VCONT);
	CHECK_EQ(gdb_poll_interrupt(p.c), 0);
	CHECK_EQ(gdb_conn_stats(p.c)->interrupts, 1);

	/* while "running": nothing, then the byte */
	CHECK_EQ(gdb_poll_interrupt(p.c), 0);
	peer_puts(&p, "\x03");
	CHECK_EQ(gdb_poll_interrupt(p.c), 1);
	CHECK_EQ(gdb_poll_interrupt(p.c), 0);

	/* the byte right behind the resume packet, in the same read */
	peer_write(&p, "$c#63\x03", 6);
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_CONT);
	CHECK_EQ(gdb_poll_interrupt(p.c), 1);

	/* acks and an interrupt around a packet that arrives while polling:
	 * the packet is kept for the next read */
	peer_write(&p, "+\x03$?#3f", 7);
	CHECK_EQ(gdb_poll_interrupt(p.c), 1);
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_HALT_REASON);

	/* the peer goes away while we poll */
	close(p.peer);
	p.peer = -1;
	CHECK_EQ(gdb_poll_interrupt(p.c), -EPIPE);
	pair_close(&p);
}

static void test_frame_too_long_garbage(void)
{
	struct pair p;
	struct gdb_req r;
	static char big[GDB_PACKET_SIZE + 100];
	pthread_t t;
	struct slow_writer w;

	pair_open(&p);
	/* garbage between packets is skipped */
	peer_puts(&p, "hello\r\n");
	peer_packet(&p, "?");
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_HALT_REASON);
	CHECK_EQ(gdb_conn_stats(p.c)->garbage, 7);

	/* a '$' inside a packet restarts it (gdb resends after a timeout) */
	peer_puts(&p, "$m10");
	peer_packet(&p, "g");
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_READ_REGS);

	/* a packet longer than GDB_PACKET_SIZE: answered as malformed, the
	 * stream stays in sync and the next packet is fine */
	big[0] = 'M';
	memset(big + 1, '0', sizeof(big) - 1);
	char *stream = malloc(sizeof(big) + 16);
	size_t n = 0;
	stream[n++] = '$';
	memcpy(stream + n, big, sizeof(big));
	n += sizeof(big);
	n += (size_t)snprintf(stream + n, 16, "#%02x$?#3f", csum(big, sizeof(big)));
	/* from a thread: the socket buffer may be smaller than the packet */
	w = (struct slow_writer){ p.peer, stream, n };
	pthread_create(&t, NULL, fast_write, &w);
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_MALFORMED);
	CHECK(r.why && strstr(r.why, "too long"));
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_HALT_REASON);
	pthread_join(t, NULL);
	CHECK_EQ(gdb_conn_stats(p.c)->too_long, 1);
	CHECK_EQ(gdb_conn_stats(p.c)->bad_checksums, 0);
	free(stream);

	/* a packet that never ends is consumed without growing anything */
	memset(big, 'a', sizeof(big));
	stream = malloc(8 * sizeof(big) + 16);
	n = 0;
	stream[n++] = '$';
	for (int i = 0; i < 8; i++, n += sizeof(big))
		memcpy(stream + n, big, sizeof(big));
	n += (size_t)snprintf(stream + n, 16, "#00$k#6b"); /* bad sum, then a real one */
	w = (struct slow_writer){ p.peer, stream, n };
	pthread_create(&t, NULL, fast_write, &w);
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_KILL);
	pthread_join(t, NULL);
	CHECK_EQ(gdb_conn_stats(p.c)->bad_checksums, 1);
	free(stream);
	pair_close(&p);
}

static void test_frame_eof(void)
{
	struct pair p;
	struct gdb_req r;

	pair_open(&p);
	peer_puts(&p, "$g#6"); /* cut in the middle */
	close(p.peer);
	p.peer = -1;
	CHECK_EQ(gdb_read_request(p.c, &r), -EPIPE);
	pair_close(&p);

	/* a reset connection is a disconnect too: closing a unix socket with
	 * unread data (our '+') resets the other end */
	pair_open(&p);
	peer_packet(&p, "?");
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	close(p.peer);
	p.peer = -1;
	CHECK_EQ(gdb_read_request(p.c, &r), -EPIPE);
	CHECK_EQ(gdb_send_ok(p.c), -EPIPE);
	pair_close(&p);
}

static void test_listen(void)
{
	int lfd, fd;
	unsigned port;
	struct gdb_conn *c;
	struct gdb_req r;
	struct sockaddr_in sin = { .sin_family = AF_INET };

	CHECK_EQ(gdb_listen("abc", &lfd, &port), -EINVAL);
	CHECK_EQ(gdb_listen("1:99999", &lfd, &port), -EINVAL);
	CHECK_EQ(gdb_listen("127.0.0.1:", &lfd, &port), -EINVAL);
	CHECK_EQ(gdb_listen("", &lfd, &port), -EINVAL);
	CHECK_EQ(gdb_listen("12a", &lfd, &port), -EINVAL);
	CHECK_EQ(gdb_listen("[::1]:x", &lfd, &port), -EINVAL);

	CHECK_EQ(gdb_listen(":0", &lfd, &port), 0);
	CHECK(port > 0 && port < 65536);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	CHECK_EQ(gdb_accept(lfd, &c), 0);
	CHECK(write(fd, "$qC#b4", 6) == 6);
	CHECK_EQ(gdb_read_request(c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_CURRENT_THREAD);
	close(fd);
	gdb_conn_close(c);
	close(lfd);

	/* a bare port, and a port in use */
	CHECK_EQ(gdb_listen("0", &lfd, &port), 0);
	char busy[32];
	int lfd2;
	unsigned port2;
	snprintf(busy, sizeof(busy), "127.0.0.1:%u", port);
	CHECK(gdb_listen(busy, &lfd2, &port2) < 0);
	close(lfd);
}

static void test_frame_nak_noack(void)
{
	struct pair p;
	struct gdb_req r;
	char out[128], want[64];

	pair_open(&p);
	peer_packet(&p, "?");
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	peer_read(&p, out, sizeof(out));
	CHECK_EQ(gdb_send_str(p.c, "S05"), 0);
	peer_read(&p, out, sizeof(out));
	CHECK(strcmp(out, "$S05#b8") == 0);
	/* gdb refuses the reply: it is sent again, while polling too */
	peer_puts(&p, "-");
	CHECK_EQ(gdb_poll_interrupt(p.c), 0);
	peer_read(&p, out, sizeof(out));
	CHECK(strcmp(out, "$S05#b8") == 0);
	CHECK_EQ(gdb_conn_stats(p.c)->naks, 1);
	/* once gdb acked it, a stray '-' is not about that reply */
	peer_puts(&p, "+-");
	CHECK_EQ(gdb_poll_interrupt(p.c), 0);
	CHECK_EQ(peer_read(&p, out, sizeof(out)), 0);
	CHECK_EQ(gdb_send_str(p.c, "S05"), 0);
	peer_read(&p, out, sizeof(out));
	/* endless refusals end the connection */
	for (int i = 0; i < GDB_MAX_BAD_IN_ROW; i++)
		peer_puts(&p, "-");
	CHECK_EQ(gdb_read_request(p.c, &r), -EPROTO);
	pair_close(&p);

	/* QStartNoAckMode: answered by the layer, acked, then no more acks */
	pair_open(&p);
	peer_packet(&p, "QStartNoAckMode");
	peer_puts(&p, "+");
	peer_packet(&p, "qC");
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_CURRENT_THREAD);
	CHECK(gdb_conn_noack(p.c));
	peer_read(&p, out, sizeof(out));
	CHECK(strcmp(out, "+$OK#9a") == 0);
	/* no ack, and a bad checksum is taken (cannot be NAKed) but counted */
	peer_puts(&p, "$g#00");
	CHECK_EQ(gdb_read_request(p.c, &r), 0);
	CHECK_EQ(r.kind, GDB_REQ_READ_REGS);
	CHECK_EQ(gdb_conn_stats(p.c)->bad_checksums, 1);
	CHECK_EQ(gdb_send_console(p.c, "hi\n", 3), 0);
	peer_read(&p, out, sizeof(out));
	snprintf(want, sizeof(want), "$O68690a#%02x", csum("O68690a", 7));
	CHECK(strcmp(out, want) == 0);
	/* '-' in no-ack mode is ignored */
	peer_puts(&p, "-");
	CHECK_EQ(gdb_poll_interrupt(p.c), 0);
	CHECK_EQ(peer_read(&p, out, sizeof(out)), 0);
	pair_close(&p);
}

static void test_console_chunks(void)
{
	struct pair p;
	static char text[3000], out[16384];
	size_t n, packets = 0;

	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (char)('a' + i % 26);
	pair_open(&p);
	CHECK_EQ(gdb_send_console(p.c, text, sizeof(text)), 0);
	n = peer_read(&p, out, sizeof(out));
	for (size_t i = 0; i < n; i++)
		packets += out[i] == '$';
	CHECK_EQ(packets, 3);
	CHECK_EQ(n, 2 * sizeof(text) + packets * 5);
	pair_close(&p);
}

int main(void)
{
	RUN_TEST(test_parse_simple);
	RUN_TEST(test_parse_detach_kill);
	RUN_TEST(test_parse_supported);
	RUN_TEST(test_parse_regs);
	RUN_TEST(test_parse_mem);
	RUN_TEST(test_parse_resume);
	RUN_TEST(test_parse_vcont);
	RUN_TEST(test_parse_breakpoints);
	RUN_TEST(test_parse_monitor_xfer);
	RUN_TEST(test_parse_threads);
	RUN_TEST(test_fmt_stop);
	RUN_TEST(test_fmt_supported_xfer);
	RUN_TEST(test_hex);
	RUN_TEST(test_frame_basic);
	RUN_TEST(test_frame_checksum);
	RUN_TEST(test_frame_escapes_rle);
	RUN_TEST(test_frame_split_reads);
	RUN_TEST(test_frame_interrupt);
	RUN_TEST(test_frame_too_long_garbage);
	RUN_TEST(test_frame_eof);
	RUN_TEST(test_listen);
	RUN_TEST(test_frame_nak_noack);
	RUN_TEST(test_console_chunks);
	return TEST_EXIT();
}
