#!/usr/bin/env bash
# Reproduces the figures of BENCHMARKS.md, printing Markdown to stdout:
#
#   bash crates/heapprof-bench/run.sh            # full sizes (about 10 minutes here)
#   bash crates/heapprof-bench/run.sh --smoke    # small sizes: checks every figure is produced
#
# Needs: heaptrack (overhead peer), golang-go (analyzer peer), time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=${1:-}

cargo build --quiet --release -p heapprof-bench -p heapprof-cli

echo "## Machine"
echo
echo "- $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), $(rustc --version)"
echo "- run on $(date -u '+%Y-%m-%d %H:%M UTC'), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "## Allocation overhead (target/release/overhead)"
echo
if [ "$smoke" = --smoke ]; then
    target/release/overhead --smoke
else
    target/release/overhead --runs 7 --allocs 2000000
fi
echo
echo "## Stack capture (target/release/unwind_bench)"
echo
if [ "$smoke" = --smoke ]; then target/release/unwind_bench 200; else target/release/unwind_bench; fi
echo
echo "## Profile endpoints under load (target/release/http_load)"
echo
if [ "$smoke" = --smoke ]; then
    target/release/http_load --requests 80 --clients 8
else
    target/release/http_load --requests 2000 --clients 8
fi
echo
echo "## Heap budgets in tests (target/release/measure_overhead)"
echo
if [ "$smoke" = --smoke ]; then target/release/measure_overhead 1; else target/release/measure_overhead 7; fi
echo
echo "## Analyzer (crates/heapprof-bench/analyzer.sh)"
echo
if [ "$smoke" = --smoke ]; then RUNS=1 sh crates/heapprof-bench/analyzer.sh; else sh crates/heapprof-bench/analyzer.sh; fi
