/* Seed corpus for fuzz_state: structurally valid machine-state blobs built
 * without KVM (device states from freshly made models, zeroed vCPU
 * records), in both of the harness's modes.  usage: fuzz_state_seed DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include "devices/clock.h"
#include "core/snapshot.h"
#include "devices/cmos.h"
#include "devices/fwcfg.h"
#include "devices/i8042.h"
#include "devices/pci.h"
#include "devices/pic.h"
#include "devices/pit.h"
#include "devices/uart.h"
#include "storage/hash.h"

static uint8_t buf[1 << 16];
static size_t len;

static void rec(uint32_t tag, const void *p, uint32_t n)
{
	memcpy(buf + len, &tag, 4);
	memcpy(buf + len + 4, &n, 4);
	memcpy(buf + len + 8, p, n);
	len += 8 + n;
}

static int write_file(const char *dir, const char *name, uint8_t mode, const uint8_t *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(&mode, 1, 1, f) != 1 || fwrite(p, 1, n, f) != n) {
		perror(path);
		return 1;
	}
	return fclose(f) != 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_state_seed DIR\n");
		return 2;
	}
	struct ttvm_clock *clk = clock_new_manual(1700000000);
	struct irq_line none = { NULL, NULL, 0 };
	struct dev_stop nostop = { NULL, NULL };
	struct pic *pic = pic_new();
	struct pit *pit = pit_new(clk, none);
	struct uart *uart = uart_new(none, NULL, NULL);
	struct cmos *cmos = cmos_new(clk, 256 << 20);
	struct i8042 *kbd = i8042_new(nostop);
	struct pci *pci = pci_new(nostop);
	struct fwcfg *fw = fwcfg_new(256 << 20);
	struct pic_state pics;
	struct pit_state pits;
	struct uart_state us;
	struct cmos_state cs;
	struct i8042_state ks;
	struct pci_state ps;
	struct fwcfg_state fs;
	pic_save(pic, &pics);
	pit_save(pit, &pits);
	uart_save(uart, &us);
	cmos_save(cmos, &cs);
	i8042_save(kbd, &ks);
	pci_save(pci, &ps);
	fwcfg_save(fw, &fs);

	uint32_t hdr[2] = { VM_STATE_VERSION, 0 };
	memcpy(buf, VM_STATE_MAGIC, 8);
	memcpy(buf + 8, hdr, 8);
	len = 16;
	struct kvm_regs regs = { .rip = 0x100000, .rflags = 2 };
	struct kvm_sregs2 sregs2 = { .cr0 = 0x11 };
	struct vm_state_run run = { .guest_exits = 5, .exits = 7, .if_flag = 1 };
	struct kvm_msr_entry msrs[2] = { { .index = 0x10, .data = 1 }, { .index = 0xc0000080, .data = 0x500 } };
	struct { uint32_t nent, pad; struct kvm_cpuid_entry2 e[1]; } cpuid = { 1, 0, { { .function = 0 } } };
	static uint8_t xsave[4096];
	rec(VM_STATE_CPUID, &cpuid, sizeof(cpuid));
	rec(VM_STATE_REGS, &regs, sizeof(regs));
	rec(VM_STATE_SREGS2, &sregs2, sizeof(sregs2));
	rec(VM_STATE_XSAVE, xsave, sizeof(xsave));
	rec(VM_STATE_MSRS, msrs, sizeof(msrs));
	rec(VM_STATE_RUN, &run, sizeof(run));
	rec(VM_STATE_PIC, &pics, sizeof(pics));
	rec(VM_STATE_PIT, &pits, sizeof(pits));
	rec(VM_STATE_UART, &us, sizeof(us));
	rec(VM_STATE_CMOS, &cs, sizeof(cs));
	rec(VM_STATE_I8042, &ks, sizeof(ks));
	rec(VM_STATE_PCI, &ps, sizeof(ps));
	rec(VM_STATE_FWCFG, &fs, sizeof(fs));
	int r = write_file(argv[1], "open", 1, buf, len);
	uint64_t h = hash64(buf, len);
	rec(VM_STATE_END, &h, sizeof(h));
	r |= write_file(argv[1], "sealed", 0, buf, len);
	r |= vm_state_check(buf, len, NULL, 0) != 0;

	fwcfg_free(fw);
	pci_free(pci);
	i8042_free(kbd);
	cmos_free(cmos);
	uart_free(uart);
	pit_free(pit);
	pic_free(pic);
	clock_free(clk);
	return r;
}
