/* The run loop: KVM_RUN, timers, serial input and interrupt injection. */
#ifndef TTVM_CORE_RUN_H
#define TTVM_CORE_RUN_H

struct vm;

/* Run the guest until it ends; returns the exit status (enum ttvm_status or a
 * debug-exit value) after printing the one-line reason to stderr. */
int vm_run(struct vm *vm);

#endif
