/* Exit-rate benchmark: ttvm's run loop against a bare KVM_RUN loop.
 *
 * Both run the same real-mode guest: N `out %al,$0x80` exits, then a write to
 * the debug-exit port.  The bare loop does the least a monitor can do (no
 * devices, no timers); the ratio of exits per second is ttvm's dispatch
 * overhead.  Each side runs REPS times, interleaved, and the medians of the
 * per-exit cost (time(N) - time(0)) / N are compared; time(0) of ttvm is the
 * start-up cost (process start to guest exit, an upper bound for the time to
 * the guest's first instruction).
 *
 * usage: exit_rate TTVM [N] [REPS]
 *        exit_rate --write-guest FILE N   (the guest alone, for other benchmarks) */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOAD 0x7c00

static size_t make_guest(uint8_t *g, uint32_t n)
{
	size_t i = 0;
	g[i++] = 0x66; g[i++] = 0xb9; /* mov $n, %ecx */
	memcpy(g + i, &n, 4); i += 4;
	g[i++] = 0x66; g[i++] = 0x85; g[i++] = 0xc9; /* test %ecx,%ecx */
	g[i++] = 0x74; g[i++] = 0x06;                /* jz done */
	g[i++] = 0xe6; g[i++] = 0x80;                /* loop: out %al,$0x80 */
	g[i++] = 0x66; g[i++] = 0x49;                /* dec %ecx */
	g[i++] = 0x75; g[i++] = 0xfa;                /* jnz loop */
	g[i++] = 0x31; g[i++] = 0xc0;                /* done: xor %ax,%ax */
	g[i++] = 0xe6; g[i++] = 0xf4;                /* out %al,$0xf4 */
	g[i++] = 0xf4;                               /* hlt */
	return i;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "exit_rate: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The bare loop, including VM creation (as ttvm's time includes its own). */
static double bare_run(uint32_t n)
{
	uint8_t code[64];
	size_t len = make_guest(code, n);
	double t0 = now_s();
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	int vmfd = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vmfd < 0)
		die("KVM_CREATE_VM");
	size_t memsz = 1 << 20;
	uint8_t *mem = mmap(NULL, memsz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memcpy(mem + LOAD, code, len);
	struct kvm_userspace_memory_region reg = { .slot = 0, .memory_size = memsz, .userspace_addr = (uintptr_t)mem };
	if (ioctl(vmfd, KVM_SET_USER_MEMORY_REGION, &reg) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	int vcpu = ioctl(vmfd, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	int rsz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(NULL, (size_t)rsz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	struct kvm_sregs s;
	ioctl(vcpu, KVM_GET_SREGS, &s);
	s.cs.base = 0;
	s.cs.selector = 0;
	ioctl(vcpu, KVM_SET_SREGS, &s);
	struct kvm_regs r = { .rip = LOAD, .rflags = 2 };
	ioctl(vcpu, KVM_SET_REGS, &r);
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			die("KVM_RUN");
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0x80)
			continue;
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0xf4)
			break;
		fprintf(stderr, "exit_rate: unexpected exit %u\n", run->exit_reason);
		exit(1);
	}
	munmap(run, (size_t)rsz);
	close(vcpu);
	close(vmfd);
	munmap(mem, memsz);
	close(kvm);
	return now_s() - t0;
}

static double ttvm_run(const char *ttvm, const char *image)
{
	double t0 = now_s();
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execl(ttvm, ttvm, "run", "--flat", "0x7c00", image, (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	double t = now_s() - t0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 1) {
		fprintf(stderr, "exit_rate: ttvm did not end with status 1 (got %d)\n", WEXITSTATUS(st));
		exit(1);
	}
	return t;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: exit_rate TTVM [N] [REPS]\n");
		return 2;
	}
	if (!strcmp(argv[1], "--write-guest") && argc == 4) {
		uint8_t g[64];
		size_t l = make_guest(g, (uint32_t)strtoul(argv[3], NULL, 0));
		FILE *f = fopen(argv[2], "wb");
		if (!f || fwrite(g, 1, l, f) != l || fclose(f))
			die(argv[2]);
		return 0;
	}
	uint32_t n = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 0) : 100000;
	int reps = argc > 3 ? atoi(argv[3]) : 5;
	if (reps < 1 || reps > 100 || n == 0)
		return 2;
	char img0[] = "/tmp/ttvm-bench0-XXXXXX", imgn[] = "/tmp/ttvm-benchn-XXXXXX";
	uint8_t code[64];
	int fd0 = mkstemp(img0), fdn = mkstemp(imgn);
	size_t l0 = make_guest(code, 0);
	if (write(fd0, code, l0) != (ssize_t)l0)
		die("write");
	size_t ln = make_guest(code, n);
	if (write(fdn, code, ln) != (ssize_t)ln)
		die("write");
	close(fd0);
	close(fdn);

	double b0[100], bn[100], t0[100], tn[100], bper[100], tper[100];
	for (int i = 0; i < reps; i++) {
		b0[i] = bare_run(0);
		t0[i] = ttvm_run(argv[1], img0);
		bn[i] = bare_run(n);
		tn[i] = ttvm_run(argv[1], imgn);
		bper[i] = (bn[i] - b0[i]) / n;
		tper[i] = (tn[i] - t0[i]) / n;
	}
	double bp = median(bper, reps), tp = median(tper, reps);
	printf("exit_rate: %u PIO exits, %d interleaved repetitions (medians)\n", n, reps);
	printf("  bare KVM_RUN loop : %8.0f exits/s  (%.2f us/exit)\n", 1 / bp, bp * 1e6);
	printf("  ttvm run loop     : %8.0f exits/s  (%.2f us/exit)\n", 1 / tp, tp * 1e6);
	printf("  ratio ttvm/bare (time per exit): %.3f  (goal <= 1.10)\n", tp / bp);
	printf("  ttvm start-up to guest exit (N=0): %.1f ms (bare loop VM setup: %.1f ms; goal < 20 ms)\n",
	       median(t0, reps) * 1e3, median(b0, reps) * 1e3);
	unlink(img0);
	unlink(imgn);
	return 0;
}
