#!/bin/sh
# Analyzer speed: `heapprof top` against `go tool pprof -top` on the large corpus
# profile (262,144 distinct stacks). Runs each RUNS times (default 5), the two
# tools interleaved, and prints a Markdown table of the median wall time and the
# largest peak RSS, as measured by `/usr/bin/time -f '%e %M'`.
#
#   sh crates/heapprof-bench/analyzer.sh            # from the repository root
#   RUNS=9 PROFILE=other.pb.gz sh crates/heapprof-bench/analyzer.sh
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
profile=${PROFILE:-$root/../shared/corpus/large/go-262k-stacks.pb.gz}
runs=${RUNS:-5}
[ -f "$profile" ] || { echo "analyzer.sh: $profile: no such file" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "analyzer.sh: /usr/bin/time is required (apt-get install time)" >&2; exit 2; }
command -v go >/dev/null || { echo "analyzer.sh: go is required (apt-get install golang-go)" >&2; exit 2; }

(cd "$root" && cargo build --quiet --release -p heapprof-cli)
heapprof=$root/target/release/heapprof
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

i=1
while [ "$i" -le "$runs" ]; do
    /usr/bin/time -f '%e %M' -o "$tmp/heapprof.$i" "$heapprof" top "$profile" >/dev/null
    HOME=$tmp PPROF_TMPDIR=$tmp /usr/bin/time -f '%e %M' -o "$tmp/pprof.$i" \
        go tool pprof -top "$profile" >/dev/null 2>&1
    i=$((i + 1))
done

# median wall seconds and largest RSS (MB) of one tool's runs
summary() {
    cat "$tmp/$1".* | awk '{ print $1 }' | sort -n |
        awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m }'
    printf ' '
    cat "$tmp/$1".* | awk '{ if ($2 > max) max = $2 } END { printf "%.0f\n", max / 1024 }'
}
set -- $(summary heapprof) $(summary pprof)
h_time=$1 h_rss=$2 p_time=$3 p_rss=$4

echo "Analyzer: \`top\` on $(basename "$profile"), $runs runs each, interleaved ($(nproc) cores)"
echo
echo "| tool | median wall time | peak RSS |"
echo "|---|---:|---:|"
echo "| heapprof top | ${h_time} s | ${h_rss} MB |"
echo "| go tool pprof -top | ${p_time} s | ${p_rss} MB |"
awk -v ht="$h_time" -v pt="$p_time" -v hr="$h_rss" -v pr="$p_rss" 'BEGIN {
    printf "| ratio (pprof / heapprof) | %.1f× | %.1f× |\n", (ht > 0 ? pt / ht : 0), (hr > 0 ? pr / hr : 0) }'
