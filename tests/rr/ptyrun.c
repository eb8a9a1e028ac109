/* ptyrun [-a] OUT CMD [ARG...]: run CMD with its stderr (with -a also its
 * stdout) on a new pseudo-terminal, 160 columns wide, and copy everything
 * written there, as the terminal received it, to the file OUT.  Exits with
 * CMD's status (128 + N when signal N ended it), 125 when it cannot set up.
 *
 * For the status line's test (rr-status-test): ttvm draws it only when
 * stderr is a terminal.  `script` (util-linux) would do, but the SVM test
 * host has busybox alone, and without /dev/pts mounted there: where the
 * system's /dev/ptmx cannot give a terminal, ptyrun (as root) mounts a
 * private devpts instance in a temporary directory, takes a terminal from
 * it and detaches the mount at once (PTYRUN_PRIVATE=1 forces that path). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* The terminal's other end, by the master alone (Linux 4.13 on) or by name. */
static int open_peer(int m)
{
#ifdef TIOCGPTPEER
	int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (s >= 0)
		return s;
#endif
	const char *name = ptsname(m);
	return name ? open(name, O_RDWR | O_NOCTTY) : -1;
}

/* A terminal pair from the devpts instance whose ptmx is at path. 0 or -1. */
static int pair_at(const char *path, int *m, int *s)
{
	*m = open(path, O_RDWR | O_NOCTTY);
	if (*m < 0)
		return -1;
	if (grantpt(*m) || unlockpt(*m) || (*s = open_peer(*m)) < 0) {
		close(*m);
		return -1;
	}
	return 0;
}

static int private_pair(int *m, int *s)
{
	char dir[] = "/tmp/ptyrun.XXXXXX", ptmx[64];
	int r = -1;

	if (!mkdtemp(dir))
		return -1;
	if (mount("devpts", dir, "devpts", 0, "newinstance,ptmxmode=0666,mode=0620") == 0) {
		snprintf(ptmx, sizeof(ptmx), "%s/ptmx", dir);
		r = pair_at(ptmx, m, s);
		umount2(dir, MNT_DETACH); /* the open terminal keeps the instance */
	}
	rmdir(dir);
	return r;
}

int main(int argc, char **argv)
{
	int all = 0, m, s, out, st;
	const char *force = getenv("PTYRUN_PRIVATE");
	struct winsize ws = { .ws_row = 40, .ws_col = 160 };
	char buf[4096];

	if (argc > 1 && !strcmp(argv[1], "-a")) {
		all = 1;
		argv++;
		argc--;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: ptyrun [-a] OUT CMD [ARG...]\n");
		return 125;
	}
	if ((force && *force == '1') || pair_at("/dev/ptmx", &m, &s)) {
		if (private_pair(&m, &s)) {
			fprintf(stderr, "ptyrun: no pseudo-terminal (/dev/ptmx, nor a devpts of its own): %s\n",
				strerror(errno));
			return 125;
		}
	}
	ioctl(m, TIOCSWINSZ, &ws);
	out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0) {
		fprintf(stderr, "ptyrun: %s: %s\n", argv[1], strerror(errno));
		return 125;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("ptyrun: fork");
		return 125;
	}
	if (pid == 0) {
		if (dup2(s, STDERR_FILENO) < 0 || (all && dup2(s, STDOUT_FILENO) < 0))
			_exit(125);
		close(s);
		close(m);
		close(out);
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	close(s);
	/* Until every holder of the other end closed it: then read() fails
	 * with EIO (or returns 0). */
	for (;;) {
		ssize_t n = read(m, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(out, buf + done, (size_t)(n - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				perror("ptyrun: write");
				break;
			}
			done += w;
		}
	}
	close(out);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 125;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
