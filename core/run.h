/* The run loop: KVM_RUN, timers, serial input and interrupt injection. */
#ifndef TTVM_CORE_RUN_H
#define TTVM_CORE_RUN_H

struct vm;

/* Run the guest until it ends; returns the exit status (enum ttvm_status or a
 * debug-exit value) after printing the one-line reason to stderr. */
int vm_run(struct vm *vm);

struct kvm_run;
/* Route SIGINT/SIGTERM/SIGALRM to a flag plus run->immediate_exit, so that
 * KVM_RUN returns at once.  0 or -errno. */
int run_signals_init(struct kvm_run *run);
/* The SIGINT/SIGTERM that asked to stop, or 0. */
int run_signal_stop(void);

#endif
