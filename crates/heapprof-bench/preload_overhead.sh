#!/usr/bin/env bash
# The cost of `heapprof run` (the LD_PRELOAD library) next to heaptrack's, on the
# same runs: the allocation-heavy workload (workload_bare: 2M mixed-size
# allocations on glibc) and a real program (Debian's python3 building and
# encoding a JSON document). Wall-clock times by hyperfine (interleaved warm-up,
# then --runs runs each); the table is hyperfine's Markdown export.
#
#   cargo build --release -p heapprof-bench -p heapprof-cli -p heapprof-preload
#   bash crates/heapprof-bench/preload_overhead.sh [RUNS]        # default 10
#
# Needs: hyperfine, heaptrack, /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-10}
bin=target/release
for f in "$bin/heapprof" "$bin/libheapprof_preload.so" "$bin/workload_bare"; do
    [[ -e $f ]] || { echo "preload_overhead: $f is missing; build first (see the header of this script)" >&2; exit 2; }
done
for tool in hyperfine heaptrack; do
    command -v "$tool" >/dev/null || { echo "preload_overhead: $tool is not installed" >&2; exit 2; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
py='import json; d=[{"k": i, "v": str(i)*3, "l": list(range(i % 17))} for i in range(200000)]; s=json.dumps(d); print(len(s))'

for program in "workload" "python3"; do
    if [[ $program == workload ]]; then
        cmd=("$bin/workload_bare")
    else
        cmd=(/usr/bin/python3 -c "$py")
    fi
    quoted=$(printf '%q ' "${cmd[@]}")
    echo "## $program: ${cmd[*]:0:2}…"
    hyperfine --warmup 1 --runs "$runs" --style basic --export-markdown "$out/$program.md" \
        -n "glibc (no profiler)" "$quoted" \
        -n "heapprof run (default rate, 512 KiB)" "$bin/heapprof run -o $out/h.pb.gz -- $quoted" \
        -n "heapprof run --rate 1" "$bin/heapprof run --rate 1 -o $out/h1.pb.gz -- $quoted" \
        -n "heaptrack (every allocation)" "heaptrack -o $out/ht $quoted" >/dev/null
    cat "$out/$program.md"
    echo
done
