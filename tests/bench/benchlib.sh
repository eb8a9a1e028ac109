# Shared by the benchmark scripts (sourced).
# Nanoseconds; busybox's date (the SVM test host) may lack %N: /proc/uptime.
now() {
	n=$(date +%s%N)
	case $n in *N) n=$(awk '{ printf "%.0f", $1 * 1000000000 }' /proc/uptime) ;; esac
	echo "$n"
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (!NR) print 0; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
