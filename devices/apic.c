/* Local APIC.  Facts from the Intel SDM vol. 3A ch. 11 ("Advanced
 * Programmable Interrupt Controller"): register layout, priority classes
 * (a vector's class is its bits 7:4), PPR, EOI, ESR semantics, LVT fields,
 * the timer's divide configuration. */
#include "devices/apic.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR, LVT_N };

/* Writable bits of each LVT entry (delivery status, bit 12, and LINT's
 * remote IRR, bit 14, are read-only; the timer's TSC-deadline bit 18 does
 * not exist here: CPUID hides that mode). */
static const uint32_t lvt_writable[LVT_N] = {
	0x300ff, /* timer: vector, mask, periodic */
	0x107ff, /* thermal: vector, delivery mode, mask */
	0x107ff, /* perf */
	0x1a7ff, /* LINT0: vector, delivery mode, polarity, trigger, mask */
	0x1a7ff, /* LINT1 */
	0x100ff, /* error: vector, mask */
};

struct apic {
	struct ttvm_clock *clk;
	apic_eoi_fn eoi_fn;
	void *eoi_opaque;
	uint32_t irr[8], isr[8], tmr[8];
	uint32_t id, tpr, ldr, dfr, svr, esr, esr_pending, icr_lo, icr_hi;
	uint32_t lvt[LVT_N];
	uint32_t tmict, tdcr, timer_count;
	bool hw_enabled, timer_running;
	uint64_t timer_base, timer_next;
};

/* Power-up state (SDM: "Local APIC State After Power-Up or Reset"). */
static void apic_reset(struct apic *a)
{
	memset(a->irr, 0, sizeof(a->irr));
	memset(a->isr, 0, sizeof(a->isr));
	memset(a->tmr, 0, sizeof(a->tmr));
	a->tpr = a->ldr = a->esr = a->esr_pending = a->icr_lo = a->icr_hi = 0;
	a->dfr = 0xffffffffu;
	a->svr = 0xff;
	for (int i = 0; i < LVT_N; i++)
		a->lvt[i] = APIC_LVT_MASKED;
	a->tmict = a->tdcr = a->timer_count = 0;
	a->timer_running = false;
	a->timer_base = 0;
	a->timer_next = UINT64_MAX;
}

struct apic *apic_new(struct ttvm_clock *clk)
{
	struct apic *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->clk = clk;
	apic_reset(a);
	a->id = 0;
	a->hw_enabled = true;
	/* As QEMU resets its BSP (and SeaBIOS programs it): LINT0 ExtINT,
	 * so that a guest that never touches the APIC gets the 8259A. */
	a->lvt[LVT_LINT0] = APIC_DM_EXTINT << 8;
	return a;
}

void apic_free(struct apic *a)
{
	free(a);
}

void apic_set_eoi_sink(struct apic *a, apic_eoi_fn fn, void *opaque)
{
	a->eoi_fn = fn;
	a->eoi_opaque = opaque;
}

/* ---- 256-bit vector sets ---- */

static int highest(const uint32_t *set)
{
	for (int w = 7; w >= 0; w--)
		if (set[w])
			return w * 32 + 31 - __builtin_clz(set[w]);
	return -1;
}

static void set_bit(uint32_t *set, uint8_t v)
{
	set[v >> 5] |= 1u << (v & 31);
}

static void clear_bit(uint32_t *set, uint8_t v)
{
	set[v >> 5] &= ~(1u << (v & 31));
}

static bool test_bit(const uint32_t *set, uint8_t v)
{
	return set[v >> 5] & (1u << (v & 31));
}

static bool sw_enabled(const struct apic *a)
{
	return a->svr & APIC_SVR_ENABLE;
}

/* ---- priorities, acceptance, EOI ---- */

uint8_t apic_ppr(const struct apic *a)
{
	int isrv = highest(a->isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;

	return (uint8_t)((a->tpr & 0xf0) >= isr_class ? a->tpr : isr_class);
}

static void accept(struct apic *a, uint8_t vector, bool level);

/* An error is logged in the ESR (seen after the next ESR write) and
 * signalled through the LVT error entry. */
static void error(struct apic *a, uint32_t bits)
{
	uint32_t lvt = a->lvt[LVT_ERROR];

	a->esr_pending |= bits;
	if (!(lvt & APIC_LVT_MASKED) && sw_enabled(a)) {
		if ((lvt & 0xff) < 16)
			a->esr_pending |= APIC_ESR_RECV_ILLEGAL; /* no recursion: not delivered */
		else
			accept(a, (uint8_t)lvt, false);
	}
}

/* Into IRR; TMR says edge or level (SDM: set for level on acceptance). */
static void accept(struct apic *a, uint8_t vector, bool level)
{
	if (vector < 16) {
		error(a, APIC_ESR_RECV_ILLEGAL);
		return;
	}
	set_bit(a->irr, vector);
	if (level)
		set_bit(a->tmr, vector);
	else
		clear_bit(a->tmr, vector);
}

static bool dest_matches(const struct apic *a, uint8_t dest, bool logical)
{
	if (!logical)
		return dest == 0xff || dest == (uint8_t)(a->id >> 24);
	if (dest == 0xff)
		return true;
	uint8_t ldr = (uint8_t)(a->ldr >> 24);
	if ((a->dfr >> 28) == 0xf) /* flat model: a bit per CPU */
		return (ldr & dest) != 0;
	/* cluster model: bits 7:4 the cluster, 3:0 a bit per CPU in it */
	return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0xf);
}

bool apic_deliver(struct apic *a, uint8_t vector, bool level, uint8_t dest, bool dest_logical)
{
	/* KVM drops fixed interrupts at a software-disabled APIC; so do we. */
	if (!a->hw_enabled || !sw_enabled(a) || !dest_matches(a, dest, dest_logical))
		return false;
	if (vector < 16) {
		error(a, APIC_ESR_RECV_ILLEGAL);
		return false;
	}
	accept(a, vector, level);
	return true;
}

bool apic_has_interrupt(const struct apic *a)
{
	int irrv = highest(a->irr);

	if (!a->hw_enabled || irrv < 0)
		return false;
	return ((uint32_t)irrv & 0xf0) > (apic_ppr(a) & 0xf0u);
}

int apic_ack(struct apic *a)
{
	if (!apic_has_interrupt(a))
		return (int)(a->svr & 0xff);
	uint8_t v = (uint8_t)highest(a->irr);
	clear_bit(a->irr, v);
	set_bit(a->isr, v);
	return v;
}

bool apic_irr_has(const struct apic *a, uint8_t v)
{
	return test_bit(a->irr, v);
}

void apic_request_vector(struct apic *a, uint8_t v)
{
	set_bit(a->irr, v);
}

void apic_ack_vector(struct apic *a, uint8_t v)
{
	clear_bit(a->irr, v);
	set_bit(a->isr, v);
}

static void eoi(struct apic *a)
{
	int v = highest(a->isr);

	if (v < 0)
		return;
	clear_bit(a->isr, (uint8_t)v);
	if (test_bit(a->tmr, (uint8_t)v) && a->eoi_fn)
		a->eoi_fn(a->eoi_opaque, (uint8_t)v);
}

bool apic_extint_open(const struct apic *a)
{
	uint32_t l = a->lvt[LVT_LINT0];

	if (!a->hw_enabled)
		return true;
	return !(l & APIC_LVT_MASKED) && ((l >> 8) & 7) == APIC_DM_EXTINT;
}

bool apic_quiet(const struct apic *a)
{
	if (!a->hw_enabled)
		return true;
	if (apic_has_interrupt(a))
		return false;
	return !a->timer_running || (a->lvt[LVT_TIMER] & APIC_LVT_MASKED) || !sw_enabled(a);
}

void apic_set_hw_enabled(struct apic *a, bool on)
{
	if (on && !a->hw_enabled)
		apic_reset(a); /* re-enabled: as after reset (KVM does the same) */
	a->hw_enabled = on;
}

bool apic_hw_enabled(const struct apic *a)
{
	return a->hw_enabled;
}

uint8_t apic_get_tpr(const struct apic *a)
{
	return (uint8_t)a->tpr;
}

void apic_set_tpr(struct apic *a, uint8_t tpr)
{
	a->tpr = tpr;
}

/* ---- timer ---- */

static uint32_t divisor(uint32_t tdcr)
{
	uint32_t v = (tdcr & 3) | ((tdcr >> 1) & 4);

	return v == 7 ? 1 : 2u << v;
}

/* Bus cycles are 1 ns (APIC_BUS_HZ); one count is divisor() cycles. */
static uint64_t count_ns(const struct apic *a)
{
	return (uint64_t)divisor(a->tdcr) * (1000000000ull / APIC_BUS_HZ);
}

static uint32_t current_count(const struct apic *a, uint64_t now)
{
	if (!a->timer_running || now < a->timer_base)
		return a->timer_running ? a->timer_count : 0;
	uint64_t t = (now - a->timer_base) / count_ns(a);
	if (t < a->timer_count)
		return (uint32_t)(a->timer_count - t);
	if ((a->lvt[LVT_TIMER] & APIC_LVT_PERIODIC) && a->tmict)
		return (uint32_t)(a->tmict - (t - a->timer_count) % a->tmict);
	return 0;
}

/* Start counting from count at now. */
static void timer_load(struct apic *a, uint32_t count, uint64_t now)
{
	a->timer_base = now;
	a->timer_count = count;
	a->timer_running = count != 0;
	a->timer_next = count ? now + count * count_ns(a) : UINT64_MAX;
}

uint64_t apic_timer(void *opaque, uint64_t now)
{
	struct apic *a = opaque;

	if (!a->timer_running || a->timer_next == UINT64_MAX)
		return UINT64_MAX;
	if (now < a->timer_next)
		return a->timer_next;
	uint32_t lvt = a->lvt[LVT_TIMER];
	if (!(lvt & APIC_LVT_MASKED) && a->hw_enabled && sw_enabled(a))
		accept(a, (uint8_t)lvt, false);
	if ((lvt & APIC_LVT_PERIODIC) && a->tmict) {
		/* Missed periods are dropped: one interrupt however late. */
		uint64_t period = a->tmict * count_ns(a);
		uint64_t first = a->timer_base + a->timer_count * count_ns(a);
		a->timer_next = first + ((now - first) / period + 1) * period;
	} else {
		a->timer_running = false;
		a->timer_next = UINT64_MAX;
	}
	return a->timer_next;
}

/* ---- registers ---- */

static void send_ipi(struct apic *a)
{
	uint32_t lo = a->icr_lo;
	uint8_t vector = (uint8_t)lo;
	unsigned mode = (lo >> 8) & 7, shorthand = (lo >> 18) & 3;
	bool self;

	switch (shorthand) {
	case 1: /* self */
	case 2: /* all including self */
		self = true;
		break;
	case 3: /* all excluding self: there is no other CPU */
		self = false;
		break;
	default:
		self = dest_matches(a, (uint8_t)(a->icr_hi >> 24), lo & (1u << 11));
		break;
	}
	/* Fixed and lowest priority only: NMI, SMI, INIT and SIPI have no
	 * other CPU to go to, and ttvm injects no NMIs. */
	if (mode != 0 && mode != 1)
		return;
	if (vector < 16) {
		error(a, APIC_ESR_SEND_ILLEGAL);
		return;
	}
	if (self && sw_enabled(a))
		accept(a, vector, false);
}

static void write_lvt(struct apic *a, int i, uint32_t v)
{
	a->lvt[i] = (a->lvt[i] & ~lvt_writable[i]) | (v & lvt_writable[i]);
	/* Software disabled: the mask bits stay set (SDM). */
	if (!sw_enabled(a))
		a->lvt[i] |= APIC_LVT_MASKED;
}

/* -1 for a reserved register. */
static int64_t reg_read(struct apic *a, uint32_t off)
{
	switch (off) {
	case APIC_ID: return a->id;
	case APIC_LVR: return APIC_VERSION;
	case APIC_TPR: return a->tpr;
	case APIC_APR: return 0;
	case APIC_PPR: return apic_ppr(a);
	case APIC_EOI: return 0;
	case APIC_RRD: return 0;
	case APIC_LDR: return a->ldr;
	case APIC_DFR: return a->dfr;
	case APIC_SVR: return a->svr;
	case APIC_ESR: return a->esr;
	case APIC_ICR_LO: return a->icr_lo;
	case APIC_ICR_HI: return a->icr_hi;
	case APIC_TMICT: return a->tmict;
	case APIC_TMCCT: return current_count(a, clock_now_ns(a->clk));
	case APIC_TDCR: return a->tdcr;
	default: break;
	}
	if (off >= APIC_ISR && off < APIC_ISR + 0x80)
		return a->isr[(off - APIC_ISR) >> 4];
	if (off >= APIC_TMR && off < APIC_TMR + 0x80)
		return a->tmr[(off - APIC_TMR) >> 4];
	if (off >= APIC_IRR && off < APIC_IRR + 0x80)
		return a->irr[(off - APIC_IRR) >> 4];
	if (off >= APIC_LVT_TIMER && off <= APIC_LVT_ERROR)
		return a->lvt[(off - APIC_LVT_TIMER) >> 4];
	return -1;
}

/* false for a reserved register. */
static bool reg_write(struct apic *a, uint32_t off, uint32_t v)
{
	uint64_t now;

	switch (off) {
	case APIC_ID: a->id = v & 0xff000000u; return true;
	case APIC_TPR: a->tpr = v & 0xff; return true;
	case APIC_EOI: eoi(a); return true;
	case APIC_LDR: a->ldr = v & 0xff000000u; return true;
	case APIC_DFR: a->dfr = (v & 0xf0000000u) | 0x0fffffffu; return true;
	case APIC_SVR:
		a->svr = v & 0x3ff;
		if (!sw_enabled(a))
			for (int i = 0; i < LVT_N; i++)
				a->lvt[i] |= APIC_LVT_MASKED;
		return true;
	case APIC_ESR:
		a->esr = a->esr_pending;
		a->esr_pending = 0;
		return true;
	case APIC_ICR_LO:
		a->icr_lo = v & ~(1u << 12) & 0x000cdfffu;
		send_ipi(a);
		return true;
	case APIC_ICR_HI: a->icr_hi = v & 0xff000000u; return true;
	case APIC_TMICT:
		a->tmict = v;
		timer_load(a, v, clock_now_ns(a->clk));
		return true;
	case APIC_TDCR:
		now = clock_now_ns(a->clk);
		if (a->timer_running) {
			/* Keep the count where it is; it runs on at the new rate. */
			uint32_t cur = current_count(a, now);
			a->tdcr = v & 0xb;
			if (cur)
				timer_load(a, cur, now);
			else
				a->timer_running = false, a->timer_next = UINT64_MAX;
		} else {
			a->tdcr = v & 0xb;
		}
		return true;
	default:
		break;
	}
	if (off >= APIC_LVT_TIMER && off <= APIC_LVT_ERROR) {
		write_lvt(a, (int)((off - APIC_LVT_TIMER) >> 4), v);
		return true;
	}
	/* Read-only registers ignore writes. */
	return reg_read(a, off) >= 0;
}

int apic_mmio(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
	struct apic *a = opaque;
	uint32_t v;

	/* Globally disabled, the page is not there. */
	if (!a->hw_enabled)
		return -ENOENT;
	if (len != 4 || (off & 0xf) || off >= APIC_MMIO_SIZE)
		return -EINVAL;
	if (is_write) {
		memcpy(&v, data, 4);
		if (!reg_write(a, (uint32_t)off, v))
			error(a, APIC_ESR_ILLEGAL_REG);
		return 0;
	}
	int64_t r = reg_read(a, (uint32_t)off);
	if (r < 0) {
		error(a, APIC_ESR_ILLEGAL_REG);
		r = 0;
	}
	v = (uint32_t)r;
	memcpy(data, &v, 4);
	return 0;
}

int apic_attach(struct apic *a, struct bus *bus, uint64_t base)
{
	int r = bus_register(bus, BUS_MMIO, base, APIC_MMIO_SIZE, apic_mmio, a, "local-apic");

	return r ? r : bus_add_timer(bus, apic_timer, a);
}

/* ---- snapshot ---- */

void apic_save(const struct apic *a, struct apic_state *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->irr, a->irr, sizeof(s->irr));
	memcpy(s->isr, a->isr, sizeof(s->isr));
	memcpy(s->tmr, a->tmr, sizeof(s->tmr));
	s->id = a->id;
	s->tpr = a->tpr;
	s->ldr = a->ldr;
	s->dfr = a->dfr;
	s->svr = a->svr;
	s->esr = a->esr;
	s->esr_pending = a->esr_pending;
	s->icr_lo = a->icr_lo;
	s->icr_hi = a->icr_hi;
	memcpy(s->lvt, a->lvt, sizeof(s->lvt));
	s->tmict = a->tmict;
	s->tdcr = a->tdcr;
	s->timer_count = a->timer_count;
	s->hw_enabled = a->hw_enabled;
	s->timer_running = a->timer_running;
	s->timer_base = a->timer_base;
	s->timer_next = a->timer_next;
}

int apic_load(struct apic *a, const struct apic_state *s)
{
	if (s->hw_enabled > 1 || s->timer_running > 1 || s->pad[0] || s->pad[1] || (s->id & 0x00ffffffu) ||
	    s->tpr > 0xff || (s->ldr & 0x00ffffffu) || (s->dfr & 0x0fffffffu) != 0x0fffffffu || s->svr > 0x3ff ||
	    (s->tdcr & ~0xbu) || (s->icr_hi & 0x00ffffffu) || (s->irr[0] & 0xffff) || (s->isr[0] & 0xffff) ||
	    (s->timer_running && s->timer_next == UINT64_MAX) || (!s->timer_running && s->timer_next != UINT64_MAX))
		return -EINVAL;
	for (int i = 0; i < LVT_N; i++)
		if (s->lvt[i] & ~(lvt_writable[i] | APIC_LVT_MASKED))
			return -EINVAL;
	memcpy(a->irr, s->irr, sizeof(a->irr));
	memcpy(a->isr, s->isr, sizeof(a->isr));
	memcpy(a->tmr, s->tmr, sizeof(a->tmr));
	a->id = s->id;
	a->tpr = s->tpr;
	a->ldr = s->ldr;
	a->dfr = s->dfr;
	a->svr = s->svr;
	a->esr = s->esr;
	a->esr_pending = s->esr_pending;
	a->icr_lo = s->icr_lo;
	a->icr_hi = s->icr_hi;
	memcpy(a->lvt, s->lvt, sizeof(a->lvt));
	a->tmict = s->tmict;
	a->tdcr = s->tdcr;
	a->timer_count = s->timer_count;
	a->hw_enabled = s->hw_enabled;
	a->timer_running = s->timer_running;
	a->timer_base = s->timer_base;
	a->timer_next = s->timer_next;
	return 0;
}
