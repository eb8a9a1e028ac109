/* The Intel MultiProcessor Specification 1.4 tables that tell an
 * APIC-aware kernel (Linux's mpparse, hobby kernels) where the local APIC
 * and the IOAPIC are and how the ISA interrupts are wired: a floating
 * pointer at MPTABLE_ADDR (in the BIOS area 0xf0000-0xfffff, which Linux
 * scans and the memory map reserves) and the configuration table after it:
 * one processor (APIC ID 0, BSP), an ISA bus, the IOAPIC (ID 1 at
 * 0xfec00000), I/O interrupt entries (8259A INTR as ExtINT on pin 0, ISA
 * IRQ0 on pin 2, IRQ n on pin n for 1 and 3-15; polarity and trigger as
 * the ISA bus has them: active high, edge), and LINT0 ExtINT, LINT1 NMI.
 * ACPI is not offered (no RSDP): the MP table is what Linux finds. */
#ifndef TTVM_CORE_MPTABLE_H
#define TTVM_CORE_MPTABLE_H
#include <stddef.h>
#include <stdint.h>

struct vm;

#define MPTABLE_ADDR 0xf0000ull

/* Build the floating pointer and configuration table for vm (CPU signature
 * and features from vm->cpuid) into buf (at most len bytes), as they lie
 * at MPTABLE_ADDR.  Returns the size, or 0 when len is too small. */
size_t mptable_build(const struct vm *vm, uint8_t *buf, size_t len);
/* Write them into guest RAM at MPTABLE_ADDR.  0 or -ENOMEM (message printed). */
int mptable_put(struct vm *vm);

#endif
