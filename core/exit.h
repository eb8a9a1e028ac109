/* The exit dispatcher: what to do with one KVM exit.
 *
 * Apart from the KVM_RUN call on purpose: it reads only vm->run (and, for
 * reports, the registers), so unit tests and the replay engine can feed it
 * made-up exits. */
#ifndef TTVM_CORE_EXIT_H
#define TTVM_CORE_EXIT_H

struct vm;

enum exit_action {
	EXIT_CONTINUE, /* re-enter the guest */
	EXIT_HALT,     /* guest executed HLT: wait for an interrupt */
	EXIT_STOP,     /* the run ends: vm->status and vm->stop_msg are set */
};

/* Handle the exit described by vm->run. */
enum exit_action exit_dispatch(struct vm *vm);
/* Name of a KVM exit reason for messages ("IO", "MMIO", ...). */
const char *exit_reason_name(unsigned reason);

#endif
