#include "core/outstream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

struct out_cookie {
	int fd;
	int owned; /* malloc'd; fd closed with the stream */
};

static ssize_t out_write(void *c, const char *buf, size_t len)
{
	struct out_cookie *oc = c;
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(oc->fd, buf + done, len - done);

		if (n > 0) {
			done += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = oc->fd, .events = POLLOUT };

			(void)poll(&p, 1, -1);
		} else {
			/* A real error (EPIPE, ENOSPC): stdio marks the
			 * stream in error; what was written stays written. */
			return done ? (ssize_t)done : -1;
		}
	}
	return (ssize_t)done;
}

static int out_close(void *c)
{
	struct out_cookie *oc = c;
	int r = 0;

	if (oc->owned) {
		r = close(oc->fd);
		free(oc);
	}
	return r;
}

static FILE *out_fdopen(struct out_cookie *oc)
{
	cookie_io_functions_t io = { .write = out_write, .close = out_close };

	return fopencookie(oc, "w", io);
}

FILE *out_stdout(void)
{
	static struct out_cookie oc = { .fd = STDOUT_FILENO, .owned = 0 };
	static FILE *f;

	if (!f) {
		/* What ttvm itself printed to stdout comes first. */
		fflush(stdout);
		f = out_fdopen(&oc);
		if (!f)
			return stdout;
		setvbuf(f, NULL, _IOLBF, BUFSIZ);
	}
	return f;
}

FILE *out_open(const char *path)
{
	struct out_cookie *oc = malloc(sizeof(*oc));
	FILE *f;
	int e;

	if (!oc)
		return NULL;
	oc->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	oc->owned = 1;
	if (oc->fd < 0) {
		e = errno;
		free(oc);
		errno = e;
		return NULL;
	}
	f = out_fdopen(oc);
	if (!f) {
		e = errno;
		close(oc->fd);
		free(oc);
		errno = e;
	}
	return f;
}
