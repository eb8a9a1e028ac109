/* Local APIC (xAPIC, one CPU) as ttvm's own device: register page, IRR/ISR/
 * TMR, task and processor priority, EOI, spurious vector and software
 * enable, the LVT (timer one-shot and periodic from the virtual clock,
 * LINT0, LINT1, error; thermal and performance entries are registers only)
 * and self-IPIs through the ICR.
 *
 * There is no in-kernel irqchip: the monitor asks apic_has_interrupt() and
 * takes the vector with apic_ack(), then injects it with KVM_INTERRUPT, so
 * every injection goes through the run loop as the 8259A's do.  LINT0 in
 * ExtINT mode passes the 8259A's INTR through (apic_extint_open()); the
 * monitor does that routing.  The timer counts at APIC_BUS_HZ (1 GHz, KVM's
 * APIC bus) divided by the divide configuration; TSC-deadline mode is not
 * offered (CPUID hides it) and its mode bit reads as 0. */
#ifndef TTVM_DEVICES_APIC_H
#define TTVM_DEVICES_APIC_H
#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/clock.h"

#define APIC_MMIO_SIZE 0x1000ull
#define APIC_DEFAULT_ADDR 0xfee00000ull
#define APIC_BUS_HZ 1000000000ull
#define APIC_VERSION 0x00050014u /* version 0x14, 6 LVT entries (max LVT 5) */

/* Register offsets (xAPIC page). */
enum {
	APIC_ID = 0x20, APIC_LVR = 0x30, APIC_TPR = 0x80, APIC_APR = 0x90, APIC_PPR = 0xa0,
	APIC_EOI = 0xb0, APIC_RRD = 0xc0, APIC_LDR = 0xd0, APIC_DFR = 0xe0, APIC_SVR = 0xf0,
	APIC_ISR = 0x100, APIC_TMR = 0x180, APIC_IRR = 0x200, APIC_ESR = 0x280,
	APIC_ICR_LO = 0x300, APIC_ICR_HI = 0x310, APIC_LVT_TIMER = 0x320, APIC_LVT_THERMAL = 0x330,
	APIC_LVT_PERF = 0x340, APIC_LVT_LINT0 = 0x350, APIC_LVT_LINT1 = 0x360, APIC_LVT_ERROR = 0x370,
	APIC_TMICT = 0x380, APIC_TMCCT = 0x390, APIC_TDCR = 0x3e0,
};
#define APIC_LVT_MASKED (1u << 16)
#define APIC_LVT_LEVEL (1u << 15)
#define APIC_LVT_PERIODIC (1u << 17)
#define APIC_SVR_ENABLE (1u << 8)
#define APIC_DM_FIXED 0u
#define APIC_DM_EXTINT 7u
/* ESR bits. */
#define APIC_ESR_SEND_ILLEGAL (1u << 5)
#define APIC_ESR_RECV_ILLEGAL (1u << 6)
#define APIC_ESR_ILLEGAL_REG (1u << 7)

struct apic;

/* Called for the EOI of a level-triggered interrupt (its TMR bit was set):
 * the IOAPIC clears the remote IRR of the entries with that vector. */
typedef void (*apic_eoi_fn)(void *opaque, uint8_t vector);

/* New APIC with ID 0 in the state QEMU's BSP reset leaves (software
 * disabled, SVR 0xff, every LVT masked but LINT0 = ExtINT: the 8259A's
 * INTR goes through, as SeaBIOS's virtual-wire set-up also leaves it), or
 * NULL on ENOMEM. */
struct apic *apic_new(struct ttvm_clock *clk);
/* Free it; NULL is ignored. */
void apic_free(struct apic *a);
/* Claim its page at base and add the timer; 0 or -errno. */
int apic_attach(struct apic *a, struct bus *bus, uint64_t base);
/* Where EOIs of level-triggered vectors go (NULL fn: nowhere). */
void apic_set_eoi_sink(struct apic *a, apic_eoi_fn fn, void *opaque);
/* Register page handler (bus_handler_fn).  32-bit aligned accesses at a
 * register's offset are the only ones the xAPIC defines; any other size or
 * offset is refused (-EINVAL: the monitor reports it and reads all-ones);
 * a reserved register reads 0, ignores writes and sets ESR bit 7. */
int apic_mmio(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
/* Timer callback (bus_timer_fn): fire the LVT timer for an expiry that fell
 * due by now_ns (one interrupt however late), return the next expiry. */
uint64_t apic_timer(void *opaque, uint64_t now_ns);

/* IA32_APIC_BASE's global enable (bit 11), as the vCPU has it: disabled,
 * the APIC neither delivers nor blocks anything (the 8259A's INTR goes
 * straight to the CPU) and is put back to its reset state when enabled
 * again, as hardware does. */
void apic_set_hw_enabled(struct apic *a, bool on);
bool apic_hw_enabled(const struct apic *a);
/* Task priority (the TPR register; CR8 is its bits 7:4). */
uint8_t apic_get_tpr(const struct apic *a);
void apic_set_tpr(struct apic *a, uint8_t tpr);
/* Processor priority: max(TPR, class of the highest in-service vector). */
uint8_t apic_ppr(const struct apic *a);

/* A message for this CPU (from the IOAPIC or an IPI): fixed or
 * lowest-priority delivery of vector, edge or level; dest_mode 0 physical
 * (dest = ID, 0xff broadcast), 1 logical (LDR/DFR).  Returns true when the
 * APIC took it (destination matched, software enabled, legal vector). */
bool apic_deliver(struct apic *a, uint8_t vector, bool level, uint8_t dest, bool dest_logical);
/* True when a vector in IRR outranks the processor priority (and the APIC
 * is enabled): the CPU's INTR from this APIC is up. */
bool apic_has_interrupt(const struct apic *a);
/* Interrupt acknowledge: the highest IRR vector moves to ISR and is
 * returned; the spurious vector (SVR bits 7:0) when nothing is deliverable. */
int apic_ack(struct apic *a);
/* Is vector v requested (in IRR)? */
bool apic_irr_has(const struct apic *a, uint8_t v);
/* Replay: the recording acknowledged vector v here: IRR to ISR as
 * apic_ack would have. */
void apic_ack_vector(struct apic *a, uint8_t v);
/* replay --go-live: the recording had vector v requested here: set it in IRR. */
void apic_request_vector(struct apic *a, uint8_t v);
/* True when the 8259A's INTR reaches the CPU through this APIC: globally
 * disabled, or LINT0 unmasked in ExtINT mode. */
bool apic_extint_open(const struct apic *a);
/* True when no source inside the APIC can raise an interrupt on its own:
 * the timer's LVT entry is masked (or software disabled) or the timer is
 * stopped, and nothing in IRR is deliverable. */
bool apic_quiet(const struct apic *a);

/* Snapshot state (raw bytes in core/snapshot.c: a change of layout is a
 * change of the snapshot format).  Timer times are virtual ns, so the
 * clock's own state must be restored with it. */
struct apic_state {
	uint32_t irr[8], isr[8], tmr[8];
	uint32_t id, tpr, ldr, dfr, svr, esr, esr_pending, icr_lo, icr_hi;
	uint32_t lvt[6]; /* timer, thermal, perf, LINT0, LINT1, error */
	uint32_t tmict, tdcr, timer_count; /* timer_count: counts left in the first period at timer_base */
	uint8_t hw_enabled, timer_running, pad[2];
	uint64_t timer_base, timer_next;
};
/* Copy the APIC's state out. */
void apic_save(const struct apic *a, struct apic_state *s);
/* Take over s.  0, or -EINVAL with a unchanged when s is inconsistent. */
int apic_load(struct apic *a, const struct apic_state *s);

#endif
