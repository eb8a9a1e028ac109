# Shared by cli-test and cli-nokvm-test (sourced): counters and checks of a
# ttvm command's exit status and output, printing "ok"/"FAIL" lines.
fails=0
pass=0

check() { # name expected-status actual-status output-file [grep-pattern]
	name=$1 want=$2 got=$3 errf=$4 pat=$5
	if [ "$got" != "$want" ]; then
		echo "FAIL $name: status $got, want $want"; sed 's/^/  | /' "$errf"; fails=$((fails + 1)); return
	fi
	if [ -n "$pat" ] && ! grep -Eq "$pat" "$errf"; then
		echo "FAIL $name: output lacks /$pat/"; sed 's/^/  | /' "$errf"; fails=$((fails + 1)); return
	fi
	echo "ok   $name"; pass=$((pass + 1))
}
# Errors are exactly one line on stderr.
one_line() {
	n=$(wc -l < "$2")
	if [ "$n" != 1 ]; then echo "FAIL $1: $n lines on stderr, want 1"; sed 's/^/  | /' "$2"; fails=$((fails + 1)); fi
}
