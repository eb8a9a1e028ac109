/* Output streams for the guest's serial output whose writes survive
 * signals.
 *
 * The run loop's SIGALRM (the virtual clock's deadlines) is installed
 * without SA_RESTART, so that it breaks KVM_RUN and ppoll at once.  It
 * then also interrupts a write() that blocks on a full pipe or terminal:
 * stdio treats the EINTR as an error and drops what it had buffered (a
 * slow reader of `ttvm run | ...` lost up to 43% of the guest's lines).
 * These streams keep stdio's buffering but write through a loop that
 * retries after EINTR and waits out EAGAIN, so no byte is lost. */
#ifndef TTVM_CORE_OUTSTREAM_H
#define TTVM_CORE_OUTSTREAM_H
#include <stdio.h>

/* The process's stdout (fd 1) as such a stream, line-buffered; one for
 * the whole process, never closed (fclose of it is not allowed). */
FILE *out_stdout(void);
/* path opened for writing (created, truncated) as such a stream; NULL
 * with errno set on failure.  fclose closes it. */
FILE *out_open(const char *path);

#endif
