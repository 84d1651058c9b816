#!/bin/sh
# Analyzer speed and memory: `heapprof top`, `diff`, `flamegraph`, `traces` and `graph`
# (to SVG and to DOT) against `go tool pprof -top`, `-top -base`, `-raw` (the stacks a
# flame graph is drawn from), `-traces`, `-svg` and `-dot`, on each profile given
# (default: the large corpus profile, 262,144 distinct stacks). Runs each pair RUNS times (default 5), the two tools interleaved, and
# prints a Markdown table of the median wall time (with min–max) and the largest
# peak RSS of the whole process, as measured by `/usr/bin/time -f '%e %M'`.
#
#   sh crates/heapprof-bench/analyzer.sh                      # from the repository root
#   RUNS=9 sh crates/heapprof-bench/analyzer.sh a.pb.gz b.pb.gz
#   BASE=base.pb.gz sh crates/heapprof-bench/analyzer.sh new.pb.gz
#   TASKS="top traces" sh crates/heapprof-bench/analyzer.sh   # a subset of the tasks
#
# Tasks: top diff flamegraph traces graph (heapprof graph -o x.svg, pprof -svg; both
# run Graphviz's `dot`) dot (heapprof graph -o x.dot, pprof -dot).
#
# `diff` needs a base profile: BASE if set, else the profile itself (every
# difference is then zero, but both tools still decode, match and sort both).
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -gt 0 ] || set -- "$root/../shared/corpus/large/go-262k-stacks.pb.gz"
runs=${RUNS:-5}
tasks=${TASKS:-top diff flamegraph traces graph dot}
[ -x /usr/bin/time ] || { echo "analyzer.sh: /usr/bin/time is required (apt-get install time)" >&2; exit 2; }
command -v go >/dev/null || { echo "analyzer.sh: go is required (apt-get install golang-go)" >&2; exit 2; }
case " $tasks " in *" graph "*)
    command -v dot >/dev/null || { echo "analyzer.sh: graph needs Graphviz (apt-get install graphviz)" >&2; exit 2; } ;;
esac
for p in "$@"; do [ -f "$p" ] || { echo "analyzer.sh: $p: no such file" >&2; exit 2; }; done

(cd "$root" && cargo build --quiet --release -p heapprof-cli)
heapprof=$root/target/release/heapprof
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# median, min and max wall seconds, and the largest RSS (MB) of files $1.*
summary() {
    cat "$1".* | awk '{ print $1 }' | sort -n |
        awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
                                  printf "%.2f %.2f %.2f", m, v[1], v[NR] }'
    printf ' '
    cat "$1".* | awk '{ if ($2 > max) max = $2 } END { printf "%.0f\n", max / 1024 }'
}

echo "$runs runs of each, the two tools interleaved, $(nproc) cores; wall time median (min–max), peak RSS the largest of the runs"
echo
echo "| profile | task | heapprof | go tool pprof | heapprof wall | pprof wall | time ratio | heapprof RSS | pprof RSS | RSS ratio |"
echo "|---|---|---|---|---:|---:|---:|---:|---:|---:|"
for profile in "$@"; do
    base=${BASE:-$profile}
    name=$(basename "$profile")
    for task in $tasks; do
        case $task in
            top) h="top" p="-top" ;;
            diff) h="diff" p="-top -base" ;;
            flamegraph) h="flamegraph -o $tmp/out.svg" p="-raw" ;;
            traces) h="traces" p="-traces" ;;
            graph) h="graph -o $tmp/out.svg" p="-svg" ;;
            dot) h="graph -o $tmp/out.dot" p="-dot" ;;
            *) echo "analyzer.sh: unknown task $task" >&2; exit 2 ;;
        esac
        rm -f "$tmp"/h.* "$tmp"/p.*
        i=1
        while [ "$i" -le "$runs" ]; do
            case $task in
                diff)
                    /usr/bin/time -f '%e %M' -o "$tmp/h.$i" "$heapprof" diff "$base" "$profile" >/dev/null
                    /usr/bin/time -f '%e %M' -o "$tmp/p.$i" sh -c \
                        'HOME=$0 PPROF_TMPDIR=$0 go tool pprof -top -base "$1" "$2"' "$tmp" "$base" "$profile" \
                        >/dev/null 2>&1
                    ;;
                *)
                    # shellcheck disable=SC2086 # $h and $p are word lists
                    /usr/bin/time -f '%e %M' -o "$tmp/h.$i" "$heapprof" $h "$profile" >/dev/null
                    # shellcheck disable=SC2086
                    /usr/bin/time -f '%e %M' -o "$tmp/p.$i" sh -c \
                        'HOME=$0 PPROF_TMPDIR=$0 go tool pprof "$@"' "$tmp" $p "$profile" >/dev/null 2>&1
                    ;;
            esac
            i=$((i + 1))
        done
        hs=$(summary "$tmp/h") ps=$(summary "$tmp/p")
        echo "$hs $ps" | awk -v n="$name" -v t="$task" -v h="heapprof $h" -v p="go tool pprof $p" -v tmp="$tmp/" '{
            gsub(tmp, "", h);
            printf "| %s | %s | `%s` | `%s` | %.2f s (%.2f–%.2f) | %.2f s (%.2f–%.2f) | **%.1f×** | %d MB | %d MB | **%.1f×** |\n",
                n, t, h, p, $1, $2, $3, $5, $6, $7, ($1 > 0 ? $5 / $1 : 0), $4, $8, ($4 > 0 ? $8 / $4 : 0) }'
    done
done
