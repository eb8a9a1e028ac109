/* MP tables: layouts from the MultiProcessor Specification 1.4, chapter 4
 * (floating pointer structure, configuration table header, entry types 0-4). */
#include "core/mptable.h"

#include <string.h>

#include "core/loader_internal.h"
#include "core/vm.h"
#include "devices/apic.h"
#include "devices/ioapic.h"

struct mp_float {
	char sig[4]; /* "_MP_" */
	uint32_t config;
	uint8_t length; /* in 16-byte units */
	uint8_t spec_rev, checksum, features[5];
} __attribute__((packed));

struct mp_config {
	char sig[4]; /* "PCMP" */
	uint16_t length;
	uint8_t spec_rev, checksum;
	char oem[8], product[12];
	uint32_t oem_table;
	uint16_t oem_size, count;
	uint32_t lapic_addr;
	uint16_t ext_length;
	uint8_t ext_checksum, reserved;
} __attribute__((packed));

struct mp_cpu {
	uint8_t type, apic_id, apic_ver, flags;
	uint32_t signature, features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mp_bus {
	uint8_t type, id;
	char name[6];
} __attribute__((packed));

struct mp_ioapic {
	uint8_t type, id, ver, flags;
	uint32_t addr;
} __attribute__((packed));

struct mp_intr { /* types 3 (I/O interrupt) and 4 (local interrupt) */
	uint8_t type, irq_type;
	uint16_t flags;
	uint8_t src_bus, src_irq, dst_apic, dst_pin;
} __attribute__((packed));

_Static_assert(sizeof(struct mp_float) == 16, "MP floating pointer");
_Static_assert(sizeof(struct mp_config) == 44, "MP configuration table header");
_Static_assert(sizeof(struct mp_cpu) == 20, "MP processor entry");

enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return (uint8_t)-s;
}

static void leaf1(const struct vm *vm, uint32_t *eax, uint32_t *edx)
{
	*eax = 0x600;
	*edx = 0x201; /* FPU, APIC */
	for (uint32_t i = 0; vm->cpuid && i < vm->cpuid->nent; i++) {
		if (vm->cpuid->entries[i].function == 1) {
			*eax = vm->cpuid->entries[i].eax;
			*edx = vm->cpuid->entries[i].edx;
		}
	}
}

size_t mptable_build(const struct vm *vm, uint8_t *buf, size_t len)
{
	struct mp_float f;
	struct mp_config c;
	struct mp_cpu cpu;
	struct mp_bus bus = { 1, 0, { 'I', 'S', 'A', ' ', ' ', ' ' } };
	struct mp_ioapic io = { 2, IOAPIC_DEFAULT_ID, IOAPIC_VERSION, 1, (uint32_t)IOAPIC_DEFAULT_ADDR };
	struct mp_intr intr[18];
	unsigned n = 0;
	size_t off = sizeof(f) + sizeof(c);

	/* I/O interrupts: flags 0 = as the bus conforms (ISA: high, edge). */
	intr[n++] = (struct mp_intr){ 3, MP_EXTINT, 0, 0, 0, IOAPIC_DEFAULT_ID, 0 };
	intr[n++] = (struct mp_intr){ 3, MP_INT, 0, 0, 0, IOAPIC_DEFAULT_ID, 2 };
	for (uint8_t irq = 1; irq < 16; irq++)
		if (irq != 2)
			intr[n++] = (struct mp_intr){ 3, MP_INT, 0, 0, irq, IOAPIC_DEFAULT_ID, irq };
	/* Local interrupts, to every local APIC (0xff). */
	intr[n++] = (struct mp_intr){ 4, MP_EXTINT, 0, 0, 0, 0xff, 0 };
	intr[n++] = (struct mp_intr){ 4, MP_NMI, 0, 0, 0, 0xff, 1 };
	size_t total = off + sizeof(cpu) + sizeof(bus) + sizeof(io) + n * sizeof(intr[0]);
	if (len < total)
		return 0;
	memset(buf, 0, total);

	memset(&cpu, 0, sizeof(cpu));
	cpu.type = 0;
	cpu.apic_id = 0;
	cpu.apic_ver = (uint8_t)APIC_VERSION;
	cpu.flags = 3; /* enabled, bootstrap processor */
	uint32_t sig, feat;
	leaf1(vm, &sig, &feat);
	cpu.signature = sig;
	cpu.features = feat;
	memcpy(buf + off, &cpu, sizeof(cpu));
	off += sizeof(cpu);
	memcpy(buf + off, &bus, sizeof(bus));
	off += sizeof(bus);
	memcpy(buf + off, &io, sizeof(io));
	off += sizeof(io);
	memcpy(buf + off, intr, n * sizeof(intr[0]));

	memset(&c, 0, sizeof(c));
	memcpy(c.sig, "PCMP", 4);
	c.length = (uint16_t)(total - sizeof(f));
	c.spec_rev = 4;
	memcpy(c.oem, "TTVM    ", 8);
	memcpy(c.product, "TTVM MACHINE", 12);
	c.count = (uint16_t)(3 + n);
	c.lapic_addr = (uint32_t)APIC_DEFAULT_ADDR;
	memcpy(buf + sizeof(f), &c, sizeof(c));
	buf[sizeof(f) + offsetof(struct mp_config, checksum)] = checksum(buf + sizeof(f), c.length);

	memset(&f, 0, sizeof(f));
	memcpy(f.sig, "_MP_", 4);
	f.config = (uint32_t)(MPTABLE_ADDR + sizeof(f));
	f.length = 1;
	f.spec_rev = 4;
	/* features[0] = 0: a configuration table is present; features[1]
	 * bit 7 = 0: no IMCR, virtual wire mode (the 8259A through LINT0). */
	memcpy(buf, &f, sizeof(f));
	buf[offsetof(struct mp_float, checksum)] = checksum(buf, sizeof(f));
	return total;
}

int mptable_put(struct vm *vm)
{
	uint8_t buf[512];
	size_t n = mptable_build(vm, buf, sizeof(buf));

	return loader_put(vm, MPTABLE_ADDR, buf, n, n, "MP table");
}
