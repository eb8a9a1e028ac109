#!/bin/busybox sh
# PID 1 of the SVM test host (busybox sh, inside QEMU with -cpu EPYC,+svm,+npt).
# Loads kvm-amd, checks /dev/kvm and `ttvm --version`, runs its share of the
# tests (/svm/batch.N, N from svm.batch=N on the kernel command line; each
# test is a script /svm/t/NAME.sh written by tests/svm-host/run), and powers
# off.
#
# Results go to the second serial port (ttyS1), which carries nothing else,
# in lines the host script parses:
#   @@svm begin
#   @@begin NAME            a test starts
#   |TEXT                   one line of its output
#   @@end NAME RC SECONDS   it finished with exit status RC
#   @@svm end               every test ran; the host is powering off
# The console (ttyS0) gets the kernel's messages and one line per result.
. /svm/config
# gdb and gdbserver, when present, keep their Debian paths (/usr/bin).
export PATH=/bin:/usr/bin HOME=/tmp TMPDIR=/tmp
# The guest kernel of tests/linux, when the run put it in (--with-linux).
[ ! -d /svm/linux ] || export TTVM_LINUX_DIR=/svm/linux

now() { cut -d' ' -f1 /proc/uptime; }

# run_one NAME TIMEOUT COMMAND...: runs COMMAND in a fresh directory, in its
# own process group so that the time limit TIMEOUT (seconds) ends all of it
# (the runners defer SIGTERM until their ttvm child is done), and reports it
# under NAME.
run_one() {
	name=$1 limit=$2
	shift 2
	dir=/tmp/run.$name
	mkdir -p "$dir"
	rm -f /tmp/timed-out
	echo "@@begin $name" >&3
	t0=$(now)
	# Not a group leader (no job control here), setsid execs in place: $! is
	# the new group's id.
	(cd "$dir" && exec setsid "$@") >/tmp/out 2>&1 </dev/null &
	pid=$!
	setsid sh -c "sleep $limit; touch /tmp/timed-out; kill -TERM -$pid
		sleep 5; kill -KILL -$pid" >/dev/null 2>&1 &
	watchdog=$!
	wait "$pid"
	rc=$?
	kill -KILL -"$watchdog" 2>/dev/null
	t1=$(now)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	if [ -e /tmp/timed-out ]; then
		echo "svm-host: timed out after ${limit}s (exit $rc)" >>/tmp/out
		rc=1
	fi
	head -n "$SVM_LOG_LINES" /tmp/out | sed 's/^/|/' >&3
	echo "@@end $name $rc $secs" >&3
	case $rc in
	0) word=pass ;;
	77) word=skip ;;
	*) word="FAIL (exit $rc)" ;;
	esac
	echo "svm-host: $name: $word (${secs}s)"
	rm -rf "$dir"
}

kvm_check() {
	for m in $(cat /svm/modules); do
		insmod "/svm/mods/$m" || { echo "insmod $m failed"; return 1; }
	done
	ls -l /dev/kvm || return 1
	ls -d /sys/module/kvm_amd || return 1
	/svm/kvm-smoke
}

version_check() {
	/bin/ttvm --version || return 1
	/bin/ttvm --version | grep -q '^kvm: SVM' || {
		echo "ttvm --version does not report 'kvm: SVM'"
		return 1
	}
}

# The checks run as child processes (so that the time limit holds for them):
# `SVM_CHECK=kvm sh /init` runs one of them.
case ${SVM_CHECK:-} in
kvm) kvm_check; exit ;;
version) version_check; exit ;;
esac

/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm /tmp
mount -t tmpfs tmpfs /dev/shm
# /tmp stays on the initramfs' own root (writable): a build tree mirrored
# under /tmp (a clone in /tmp) must stay visible.
dmesg -n 1
# Loopback, for gdb sessions over TCP (127.0.0.1).
ip link set lo up
stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec 3>/dev/ttyS1

# Which share of the tests this QEMU instance runs (tests/svm-host/run
# --batches): svm.batch=N on the kernel command line.
batch=0
for w in $(cat /proc/cmdline); do
	case $w in svm.batch=*) batch=${w#svm.batch=} ;; esac
done

echo "@@svm begin" >&3
echo "svm-host: batch $batch up after $(now)s, kernel $(uname -r)"
run_one host:kvm-smoke 60 env SVM_CHECK=kvm sh /init
run_one host:ttvm-version 60 env SVM_CHECK=version sh /init
if [ -f /svm/exec ]; then
	# run --exec CMD: one ad-hoc command instead of the tests.
	# Also on the console (RESULTS/console.0.log), line by line as it
	# comes: a long command can be watched.
	run_one exec 3600 sh -c "cd /guests && { . /svm/exec; } 2>&1 | tee /dev/console"
else
	# "NAME TIMEOUT" lines; /svm/t/NAME.sh changes to the test's directory,
	# sets its environment and execs its command.
	while read -r t limit; do
		run_one "$t" "$limit" sh "/svm/t/$t.sh"
	done <"/svm/batch.$batch"
fi
echo "@@svm end" >&3
# Closing the tty waits until the UART has sent everything.
exec 3>&-
echo "svm-host: done after $(now)s"
sync
poweroff -f
