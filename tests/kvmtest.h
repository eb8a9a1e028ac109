/* What the KVM unit tests share (tests/core, tests/snapshot): their one
 * argument, the skip where the host has no KVM device at all, and one
 * KVM_RUN to the guest's next exit. */
#ifndef TTVM_TESTS_KVMTEST_H
#define TTVM_TESTS_KVMTEST_H
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/vm.h"

/* The single argument (named what in the usage line), or exit 2; exit 77
 * ("SKIP: no /dev/kvm") where no KVM device exists.  A device that
 * exists but cannot be opened is the test's to fail on. */
static inline const char *kvm_test_start(int argc, char **argv, const char *name, const char *what)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s %s\n", name, what);
		exit(2);
	}
	if (access(kvm_device_path(), F_OK) != 0) {
		printf("SKIP: no %s\n", kvm_device_path());
		exit(77);
	}
	return argv[1];
}

/* One KVM_RUN (again after a signal): the exit reason, or -1. */
static inline int kvm_test_run(struct vm *vm)
{
	while (vcpu_run(vm) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "KVM_RUN: %s\n", strerror(errno));
			return -1;
		}
	}
	return (int)vm->run->exit_reason;
}

#endif
