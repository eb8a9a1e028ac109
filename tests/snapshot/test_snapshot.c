/* Whole-machine snapshots through real KVM (core/snapshot.h) and the shared
 * dirty-page generations (core/vm.h).
 *
 * A guest runs to the middle of its output, its state and RAM are saved, it
 * runs on to the end; the snapshot is then loaded into a fresh VM and, once
 * more, into the first one: both must print exactly the rest of the output
 * and end with the same status and the same final state digest.  Damaged
 * blobs are refused without a change.
 * usage: test_snapshot GUEST.elf   (exit 77 when the host has no /dev/kvm) */
#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/cli.h"
#include "core/exit.h"
#include "core/log.h"
#include "core/run.h"
#include "core/snapshot.h"
#include "core/vm.h"
#include "record/rr.h"
#include "storage/hash.h"
#include "kvmtest.h"
#include "testlib.h"

static const char *guest;
static char tmpdir[] = "/tmp/ttvm-snapshot-XXXXXX";

static int boot(struct vm *vm, struct run_config *cfg, const char *serial)
{
	char *argv[] = { "test", "-m", "64", "--serial", (char *)serial, "--timeout", "30", (char *)guest, NULL };

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = vm->serial_in_fd = -1;
	if (cli_parse_run(8, argv, cfg))
		return -1;
	return cli_boot(cfg, vm, NULL, NULL);
}

/* Run until the guest has caused n exits, the way vm_run dispatches them
 * (the guest takes no interrupts before it ends). */
static void run_to_exit(struct vm *vm, uint64_t n)
{
	while (!vm->stop && vm->guest_exits < n) {
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			vm_request_stop(vm, ST_HOST, "KVM_RUN: %s", strerror(errno));
			break;
		}
		vm->exits++;
		vm->irq_in_flight = false;
		exit_dispatch(vm);
	}
}

/* rr_state_digest: registers, special registers and all of RAM. */
static void digest(struct vm *vm, char *buf, size_t len)
{
	struct rr rr;

	memset(&rr, 0, sizeof(rr));
	rr_attach(vm, &rr);
	CHECK_EQ(rr_mem_digest_init(vm), 0);
	rr_state_digest(vm, buf, len);
	rr_attach(vm, NULL);
	free(rr.page_hash);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 1 << 20);
	*len = 0;
	if (f && buf)
		*len = fread(buf, 1, (1 << 20) - 1, f);
	if (f)
		fclose(f);
	return buf;
}

static void test_save_restore(void)
{
	struct run_config cfg, cfg2;
	struct vm vm1, vm2;
	char s1[256], s2[256], d_save[128], d_load[128], d_end1[128], d_end2[128], d_end3[128];
	void *blob = NULL;
	size_t blen = 0;

	snprintf(s1, sizeof(s1), "%s/serial1", tmpdir);
	snprintf(s2, sizeof(s2), "%s/serial2", tmpdir);
	CHECK_EQ(boot(&vm1, &cfg, s1), 0);
	/* Half-way through the guest's ~640 exits: mid-output, after an I/O exit. */
	run_to_exit(&vm1, 300);
	CHECK(!vm1.stop);
	CHECK_EQ(vm1.run->exit_reason, KVM_EXIT_IO);
	CHECK_EQ(vm_state_save(&vm1, &blob, &blen), 0);
	CHECK(blob && blen > 4096);
	CHECK_EQ(vm_state_check(blob, blen, NULL, 0), 0);
	uint8_t *ram = malloc(vm1.ram_size);
	memcpy(ram, vm1.ram, vm1.ram_size);
	digest(&vm1, d_save, sizeof(d_save));
	fflush(vm1.serial_out);
	long pos = ftell(vm1.serial_out);
	uint64_t exits_at_save = vm1.guest_exits;

	int st1 = vm_run(&vm1);
	digest(&vm1, d_end1, sizeof(d_end1));
	fflush(vm1.serial_out);
	long end1 = ftell(vm1.serial_out);
	size_t l1;
	char *out1 = read_all(s1, &l1);
	CHECK_EQ(st1, 1);
	CHECK(pos > 0 && (size_t)end1 == l1 && (size_t)pos < l1);
	printf("saved at guest exit %llu, serial byte %ld of %zu, blob %zu bytes; final %s\n",
	       (unsigned long long)exits_at_save, pos, l1, blen, d_end1);

	/* Into a fresh VM. */
	memset(&vm2, 0, sizeof(vm2));
	CHECK_EQ(cli_parse_run(8, (char *[]){ "test", "-m", "64", "--serial", s2, "--timeout", "30",
					      (char *)guest, NULL }, &cfg2), 0);
	CHECK_EQ(vm_create(&vm2, &cfg2.vo), 0);
	CHECK_EQ(vm2.ram_size, vm1.ram_size);
	memcpy(vm2.ram, ram, vm2.ram_size);
	CHECK_EQ(vm_state_load(&vm2, blob, blen), 0);
	CHECK_EQ(vm2.guest_exits, exits_at_save);
	digest(&vm2, d_load, sizeof(d_load));
	CHECK(!strcmp(d_load, d_save));
	int st2 = vm_run(&vm2);
	digest(&vm2, d_end2, sizeof(d_end2));
	size_t l2;
	fflush(vm2.serial_out);
	char *out2 = read_all(s2, &l2);
	CHECK_EQ(st2, st1);
	CHECK(!strcmp(d_end2, d_end1));
	CHECK_EQ(l2, l1 - (size_t)pos);
	CHECK(l2 == l1 - (size_t)pos && !memcmp(out2, out1 + pos, l2));
	CHECK_EQ(vm2.guest_exits, vm1.guest_exits);

	/* A damaged blob changes nothing. */
	uint8_t *bad = malloc(blen);
	memcpy(bad, blob, blen);
	bad[blen / 2] ^= 1;
	char before[128], after[128];
	digest(&vm2, before, sizeof(before));
	CHECK_EQ(vm_state_load(&vm2, bad, blen), -EBADMSG);
	digest(&vm2, after, sizeof(after));
	CHECK(!strcmp(before, after));
	free(bad);
	vm_destroy(&vm2);
	cli_free_run(&cfg2);

	/* Back into the first VM, which has run to its end meanwhile. */
	memcpy(vm1.ram, ram, vm1.ram_size);
	vm_mark_pages_written(&vm1, 0, vm1.ram_size / 4096);
	CHECK_EQ(vm_state_load(&vm1, blob, blen), 0);
	int st3 = vm_run(&vm1);
	digest(&vm1, d_end3, sizeof(d_end3));
	fflush(vm1.serial_out);
	size_t l3;
	char *out3 = read_all(s1, &l3);
	CHECK_EQ(st3, st1);
	CHECK(!strcmp(d_end3, d_end1));
	CHECK(l3 == l1 + (l1 - (size_t)pos) && !memcmp(out3 + l1, out1 + pos, l1 - (size_t)pos));

	vm_destroy(&vm1);
	cli_free_run(&cfg);
	free(out1);
	free(out2);
	free(out3);
	free(ram);
	free(blob);
}

/* Offset of record tag's payload in a blob (the documented TLV walk). */
static size_t find_rec(const uint8_t *b, size_t len, uint32_t tag, uint32_t *n)
{
	for (size_t off = 16; off + 8 <= len;) {
		uint32_t t, l;
		memcpy(&t, b + off, 4);
		memcpy(&l, b + off + 4, 4);
		if (t == tag) {
			*n = l;
			return off + 8;
		}
		off += 8 + l;
	}
	return 0;
}

static void reseal(uint8_t *b, size_t len)
{
	uint64_t h = hash64(b, len - 16);
	memcpy(b + len - 8, &h, 8);
}

static void test_bad_blobs(void)
{
	struct run_config cfg;
	struct vm vm;
	char s[256], err[256];
	void *blob = NULL;
	size_t blen = 0;

	snprintf(s, sizeof(s), "%s/serial3", tmpdir);
	CHECK_EQ(boot(&vm, &cfg, s), 0);
	run_to_exit(&vm, 50);
	CHECK_EQ(vm_state_save(&vm, &blob, &blen), 0);
	uint8_t *b = malloc(blen);

	/* Every truncation. */
	unsigned refused = 0;
	for (size_t n = 0; n < blen; n++) {
		int r = vm_state_check(blob, n, err, sizeof(err));
		refused += r == -EINVAL || r == -EBADMSG;
	}
	CHECK_EQ(refused, blen);
	/* Flipped bits anywhere. */
	refused = 0;
	for (size_t i = 0; i < blen; i += 7) {
		memcpy(b, blob, blen);
		b[i] ^= (uint8_t)(1u << (i % 8));
		int r = vm_state_check(b, blen, err, sizeof(err));
		refused += r == -EINVAL || r == -EBADMSG;
	}
	CHECK_EQ(refused, (blen + 6) / 7);
	/* Foreign and future blobs. */
	memcpy(b, blob, blen);
	memcpy(b, "NOTTTVM!", 8);
	CHECK_EQ(vm_state_check(b, blen, err, sizeof(err)), -EINVAL);
	memcpy(b, blob, blen);
	b[8] = VM_STATE_VERSION + 1;
	CHECK_EQ(vm_state_check(b, blen, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "version") != NULL);
	/* Intact framing and checksum, impossible device state. */
	uint32_t n = 0;
	memcpy(b, blob, blen);
	size_t off = find_rec(b, blen, VM_STATE_UART, &n);
	CHECK(off && n == 32);
	b[off + 16] = 99; /* rx_head */
	reseal(b, blen);
	CHECK_EQ(vm_state_check(b, blen, err, sizeof(err)), -EBADMSG);
	CHECK(strstr(err, "uart") != NULL);
	CHECK_EQ(vm_state_load(&vm, b, blen), -EBADMSG);
	/* A record that appears twice, a missing one. */
	memcpy(b, blob, blen);
	off = find_rec(b, blen, VM_STATE_PCI, &n);
	CHECK(off);
	uint32_t tag = VM_STATE_FWCFG; /* pci becomes a second fw_cfg (same size) */
	memcpy(b + off - 8, &tag, 4);
	reseal(b, blen);
	CHECK_EQ(vm_state_check(b, blen, err, sizeof(err)), -EBADMSG);
	CHECK(strstr(err, "twice") != NULL);
	memcpy(b, blob, blen);
	tag = VM_STATE_TAG_MAX + 1; /* an unknown tag */
	memcpy(b + off - 8, &tag, 4);
	reseal(b, blen);
	CHECK_EQ(vm_state_check(b, blen, err, sizeof(err)), -EBADMSG);
	CHECK_EQ(vm_state_check(NULL, 0, err, sizeof(err)), -EINVAL);

	/* The special registers read back out of a blob, as the vCPU has them
	 * (the guest runs in long mode with paging by now); a damaged blob
	 * gives none. */
	struct kvm_sregs live, got;
	CHECK_EQ(vcpu_get_sregs(&vm, &live), 0);
	memset(&got, 0xaa, sizeof(got));
	CHECK_EQ(vm_state_sregs(blob, blen, &got, err, sizeof(err)), 0);
	CHECK(live.cr0 >> 31 && live.cr3 != 0);
	CHECK(got.cr0 == live.cr0 && got.cr3 == live.cr3 && got.cr4 == live.cr4 && got.efer == live.efer);
	CHECK(!memcmp(&got.cs, &live.cs, sizeof(got.cs)) && got.gdt.base == live.gdt.base);
	memcpy(b, blob, blen);
	b[blen / 3] ^= 4;
	CHECK_EQ(vm_state_sregs(b, blen, &got, err, sizeof(err)), -EBADMSG);
	CHECK(err[0] != 0);
	CHECK_EQ(vm_state_sregs(blob, 10, &got, err, sizeof(err)), -EINVAL);

	/* The VM is still good: the intact blob loads. */
	CHECK_EQ(vm_state_load(&vm, blob, blen), 0);
	free(b);
	free(blob);
	vm_destroy(&vm);
	cli_free_run(&cfg);
}

struct seen {
	uint64_t n, first;
};

static void count_page(void *ctx, uint64_t i)
{
	struct seen *s = ctx;
	if (!s->n++)
		s->first = i;
}

/* Two consumers of the dirty log: neither steals the other's pages; every
 * page whose bytes changed has a newer generation; ttvm's own writes show. */
static void test_dirty_generations(void)
{
	struct run_config cfg;
	struct vm vm;
	char s[256];
	uint64_t pages;

	snprintf(s, sizeof(s), "%s/serial4", tmpdir);
	CHECK_EQ(boot(&vm, &cfg, s), 0);
	pages = vm.ram_size / 4096;
	CHECK_EQ(vm_dirty_sync(&vm), -EINVAL); /* logging is off */
	CHECK_EQ(vm_dirty_log_enable(&vm), 0);
	CHECK_EQ(vm_dirty_sync(&vm), 0);
	uint64_t gen_a = vm.dirty_gen, gen_b = vm.dirty_gen;
	uint8_t *copy = malloc(vm.ram_size);
	memcpy(copy, vm.ram, vm.ram_size);

	run_to_exit(&vm, 200);
	/* Consumer A looks. */
	CHECK_EQ(vm_dirty_sync(&vm), 0);
	struct seen a = { 0, 0 };
	uint64_t na = vm_pages_changed_since(&vm, gen_a, count_page, &a);
	CHECK_EQ(na, a.n);
	CHECK(na > 0);
	uint64_t missed = 0, changed = 0;
	for (uint64_t i = 0; i < pages; i++) {
		if (memcmp(copy + i * 4096, vm.ram + i * 4096, 4096)) {
			changed++;
			missed += vm.page_gen[i] <= gen_a;
		}
	}
	CHECK(changed > 0);
	CHECK_EQ(missed, 0);
	gen_a = vm.dirty_gen;
	CHECK_EQ(vm_pages_changed_since(&vm, gen_a, NULL, NULL), 0);

	/* B has not looked yet: A's sync took nothing from it. */
	struct seen b = { 0, 0 };
	CHECK_EQ(vm_pages_changed_since(&vm, gen_b, count_page, &b), na);
	CHECK_EQ(b.first, a.first);

	/* ttvm's own writes, which KVM's log does not see. */
	vm_mark_pages_written(&vm, pages - 3, 10); /* clipped to RAM */
	CHECK_EQ(vm_pages_changed_since(&vm, gen_a, NULL, NULL), 3);
	CHECK_EQ(vm_pages_changed_since(&vm, gen_b, NULL, NULL), na + 3);
	gen_a = vm.dirty_gen;

	/* More guest writes: A sees only those, B everything. */
	memcpy(copy, vm.ram, vm.ram_size);
	run_to_exit(&vm, 400);
	CHECK_EQ(vm_dirty_sync(&vm), 0);
	uint64_t na2 = vm_pages_changed_since(&vm, gen_a, NULL, NULL);
	missed = 0;
	for (uint64_t i = 0; i < pages; i++)
		if (memcmp(copy + i * 4096, vm.ram + i * 4096, 4096))
			missed += vm.page_gen[i] <= gen_a;
	CHECK_EQ(missed, 0);
	CHECK(na2 > 0);
	CHECK(vm_pages_changed_since(&vm, gen_b, NULL, NULL) >= na2);
	free(copy);
	vm_destroy(&vm);
	cli_free_run(&cfg);
}

static void cleanup(void)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

int main(int argc, char **argv)
{
	guest = kvm_test_start(argc, argv, "test_snapshot", "GUEST.elf");
	if (!mkdtemp(tmpdir))
		return 2;
	RUN_TEST(test_dirty_generations);
	RUN_TEST(test_save_restore);
	RUN_TEST(test_bad_blobs);
	cleanup();
	return TEST_EXIT();
}
