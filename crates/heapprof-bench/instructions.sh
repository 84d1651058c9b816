#!/bin/sh
# Instructions and cache misses per allocation-and-free pair, counted by cachegrind
# (valgrind's cache simulator) on the workload binaries of `overhead`. Wall-time ratios
# within 10-20% of 1 are not resolved on a shared, noisy machine; these counts do not
# depend on the machine's load, so they show what a change to the allocation path does
# to its instructions and first-level misses from one run to the next.
#
#   sh crates/heapprof-bench/instructions.sh [BIN_DIR]            # BIN_DIR: target/release
#   ALLOCS=20000,60000 sh crates/heapprof-bench/instructions.sh   # shorter runs (smoke)
#
# Each variant runs at two lengths (ALLOCS, default 100000,300000 allocations, one
# thread); the difference of the counts over the difference of the lengths is the cost
# of one more pair, start-up and exit taken out. The simulated caches are this machine's
# first-level data cache and its L2 (`LL` in cachegrind's terms), read from sysfs.
# heapprof's sampler is seeded (HEAPPROF_SEED=1), so the samples, and the counts, are
# the same from run to run.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/target/release}
allocs=${ALLOCS:-100000,300000}
short=${allocs%,*}
long=${allocs#*,}
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is required (apt-get install valgrind)" >&2; exit 2; }
case "$allocs" in
    *[!0-9,]* | *,*,*) ok= ;;
    [0-9]*,[0-9]*) ok=yes ;;
    *) ok= ;;
esac
[ -n "$ok" ] || { echo "instructions.sh: ALLOCS must be two numbers, SHORT,LONG (got '$allocs')" >&2; exit 2; }
[ "$long" -gt "$short" ] || { echo "instructions.sh: ALLOCS: the second length must be larger (got '$allocs')" >&2; exit 2; }
for b in workload_bare workload_counting workload_heapprof; do
    [ -x "$bin/$b" ] || { echo "instructions.sh: $bin/$b: not built (cargo build --release -p heapprof-bench)" >&2; exit 2; }
done

# A cache of sysfs index $1 as cachegrind's SIZE,ASSOC,LINE; the default when unknown.
cache() {
    d=/sys/devices/system/cpu/cpu0/cache/index$1
    size=$(sed 's/K$//' "$d/size" 2>/dev/null) && ways=$(cat "$d/ways_of_associativity" 2>/dev/null) &&
        line=$(cat "$d/coherency_line_size" 2>/dev/null) && echo "$((size * 1024)),$ways,$line" || echo "$2"
}
d1=$(cache 0 32768,8,64)
l2=$(cache 2 2097152,16,64)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Instructions, first-level data misses and L2 misses of one run: $1 sizes, $2 allocations,
# $3 binary, the rest environment settings.
counts() {
    sizes=$1 n=$2 program=$3
    shift 3
    env "$@" valgrind --tool=cachegrind --cache-sim=yes --D1="$d1" --LL="$l2" \
        --cachegrind-out-file=/dev/null "$bin/$program" --allocs "$n" --threads 1 --sizes "$sizes" \
        >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; echo "instructions.sh: $program failed" >&2; exit 1; }
    awk '/ I +refs:/ { gsub(",", "", $4); i = $4 }
         / D1 +misses:/ { gsub(",", "", $4); d = $4 }
         / LL misses:/ { gsub(",", "", $4); l = $4 }
         END { if (i == "" || d == "" || l == "") exit 1; print i, d, l }' "$tmp/err" ||
        { echo "instructions.sh: no cachegrind summary from $program" >&2; exit 1; }
}

echo "cachegrind, one thread, per allocation-and-free pair: the counts of $long allocations minus those of $short, over $((long - short)); simulated first-level data cache $d1 and L2 $l2 (size, ways, line)"
echo
echo "| sizes | variant | instructions | × bare | L1d misses | × bare | L2 misses |"
echo "|---|---|---:|---:|---:|---:|---:|"
for sizes in mixed small; do
    bare=
    for variant in "glibc (bare)" "counting floor" "heapprof, rate 0" "heapprof, default" "heapprof, 64 KiB" "heapprof, rate 1"; do
        case $variant in
            "glibc (bare)") set -- workload_bare ;;
            "counting floor") set -- workload_counting ;;
            "heapprof, rate 0") set -- workload_heapprof HEAPPROF_RATE=0 ;;
            "heapprof, default") set -- workload_heapprof HEAPPROF_RATE=524288 HEAPPROF_SEED=1 ;;
            "heapprof, 64 KiB") set -- workload_heapprof HEAPPROF_RATE=65536 HEAPPROF_SEED=1 ;;
            "heapprof, rate 1") set -- workload_heapprof HEAPPROF_RATE=1 HEAPPROF_SEED=1 ;;
        esac
        a=$(counts "$sizes" "$short" "$@")
        b=$(counts "$sizes" "$long" "$@")
        row=$(echo "$a $b" | awk -v n=$((long - short)) '{ printf "%.1f %.2f %.3f", ($4 - $1) / n, ($5 - $2) / n, ($6 - $3) / n }')
        [ -n "$bare" ] || bare=$row
        echo "$row $bare" | awk -v s="$sizes" -v v="$variant" \
            '{ printf "| %s | %s | %.1f | %.3f | %.2f | %.2f | %.3f |\n", s, v, $1, $1 / $4, $2, $2 / $5, $3 }'
    done
done
