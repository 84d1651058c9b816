#!/usr/bin/env bash
# Reproduces the figures of BENCHMARKS.md, printing Markdown to stdout:
#
#   bash crates/heapprof-bench/run.sh            # full sizes (about 55 minutes here)
#   bash crates/heapprof-bench/run.sh --smoke    # small sizes: checks every figure is produced
#   bash crates/heapprof-bench/run.sh --smoke --profile checked   # with the tests' build (.ci/run)
#
# Figures are measured with the release profile. The smoke run checks only that every figure
# is produced, so CI runs it with the tests' `checked` profile (release with debug
# assertions) and builds nothing again.
#
# Needs: heaptrack, libjemalloc2 and jeprof (libjemalloc-dev), google-perftools
# (tcmalloc, HEAPPROFILE), valgrind, golang-go (`go tool pprof`), zstd, time
# (/usr/bin/time). A peer that is missing is reported on stderr and its rows left out.
set -euo pipefail
cd "$(dirname "$0")/../.."
smoke=
profile=release
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) smoke=--smoke ;;
        --profile) [ $# -ge 2 ] || { echo "run.sh: --profile needs a cargo profile name" >&2; exit 2; }; profile=$2; shift ;;
        *) echo "run.sh: unknown argument '$1' (expected --smoke, --profile NAME)" >&2; exit 2 ;;
    esac
    shift
done
full() { [ "$smoke" != --smoke ]; }
# cargo puts the dev profile under target/debug.
bin=target/$([ "$profile" = dev ] && echo debug || echo "$profile")

# The build of the README's test command, which makes this crate's binaries too (its
# tests run them): in CI nothing is built again. `--all-targets` selects the tests, so
# the dev-dependencies' features are unified as in `cargo test`; a plain `cargo build`
# would build anew. The features beyond the defaults (axum, export) add modules, not
# allocator-path code.
cargo build --quiet --profile "$profile" --workspace --all-features --all-targets
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

echo "## Machine"
echo
echo "- $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), $(rustc --version)"
echo "- peers: $(heaptrack --version 2>/dev/null || echo 'no heaptrack'); $(valgrind --version 2>/dev/null || echo 'no valgrind');" \
    "$(go version 2>/dev/null | cut -d' ' -f3 || echo 'no go'); jemalloc $(dpkg-query -W -f '${Version}' libjemalloc2 2>/dev/null || echo '?');" \
    "gperftools $(dpkg-query -W -f '${Version}' libgoogle-perftools4 2>/dev/null || echo '?');" \
    "dhat-rs, mimalloc $(grep -A1 -E '^name = "(dhat|mimalloc)"' Cargo.lock | awk -F'"' '/version/ {printf "%s ", $2}')"
echo "- heapprof built ($profile profile) from $(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
    "$(git diff --quiet HEAD -- crates/heapprof/src 2>/dev/null && echo '(crates/heapprof/src as committed)' || echo "with uncommitted changes in crates/heapprof/src (diff $(git diff HEAD -- crates/heapprof/src | sha1sum | cut -c1-8))")"
echo "- run started $(date -u '+%Y-%m-%d %H:%M UTC'), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "## Allocation overhead ($bin/overhead)"
echo
if full; then
    $bin/overhead --runs 7 --allocs 2000000 --threads 1,2
    echo
    $bin/overhead --runs 7 --allocs 2000000 --threads 1 --sizes small
    echo
    $bin/overhead --runs 7 --allocs 200000 --threads 1 --sizes large
    echo
    echo "### Slow peers, reduced size ($bin/overhead --set slow)"
    echo
    $bin/overhead --set slow --runs 7 --allocs 200000 --threads 1
    echo
    # The targets a few percent over bare need far more rounds than the tables above:
    # a round's ratio spreads over ±10% here, and the median of 7 moves by as much.
    echo "### The default rate and rate 0, 500 rounds ($bin/overhead --runs 500 --allocs 500000 --only ...)"
    echo
    $bin/overhead --runs 500 --allocs 500000 --threads 1,2 --only 'heapprof, rate 0;heapprof, default'
    echo
    # The same targets in one process whose phases alternate between the allocators,
    # with glibc keeping its heap: a program's steady state, without the machine's drift
    # from one process to the next. Rate 0 runs apart from the sampled phases, which
    # would leave every later free checking the sampled-block filter.
    echo "### The same, in one process's steady state ($bin/alternating --rounds 1000)"
    echo
    for threads in 1 2; do
        $bin/alternating --rounds 1000 --threads $threads --modes bare,counting,rate0
        $bin/alternating --rounds 1000 --threads $threads --modes bare,default | tail -n +2
    done
    echo
    # A sample costs more over a larger heap, but the allocator's own calls slow down more
    # (they miss the cache), so the default rate's share of a run shrinks.
    echo "### The default rate by live heap size, steady state ($bin/alternating --window N)"
    echo
    for window in 512 4096 16384; do
        $bin/alternating --rounds 300 --window $window --modes bare,default
    done
    echo
    # The tables above write two bytes of each block: nearly all of a phase is the
    # allocator's. A program that fills its blocks spends five times as long per block,
    # so the samples are a smaller share of its time.
    echo "### The default rate when the program fills its blocks, steady state ($bin/alternating --fill)"
    echo
    for threads in 1 2; do
        $bin/alternating --rounds 300 --fill --threads $threads --modes bare,default
    done
    echo
    # A sampler cut down to its stack capture and three cache lines each way, beside
    # heapprof: what a sample costs this workload whatever the design around it. Rate 0 runs
    # after sampled phases here, so its frees check the filter, as the default rate's do.
    echo "### A cut-down sampler beside heapprof, steady state ($bin/alternating --modes ...,minimal-off,minimal)"
    echo
    $bin/alternating --rounds 1000 --threads 1 --modes bare,counting,minimal-off,minimal,rate0,default
else
    $bin/overhead --smoke
    echo
    $bin/overhead --smoke --allocs 20000 --threads 1 --sizes small
    echo
    $bin/overhead --smoke --allocs 5000 --threads 1 --sizes large
    echo
    $bin/overhead --set slow --runs 1 --allocs 10000 --threads 1
    echo
    $bin/overhead --runs 8 --allocs 20000 --threads 1 --only 'heapprof, default'
    echo
    $bin/alternating --rounds 8 --allocs 20000 --threads 2 --modes bare,counting,rate0,default
    $bin/alternating --rounds 4 --allocs 20000 --window 512 --modes bare,default
    $bin/alternating --rounds 2 --allocs 5000 --window 512 --fill --modes bare,default
    $bin/alternating --rounds 2 --allocs 5000 --modes bare,minimal-off,minimal,default
fi
echo
echo "### Instructions and cache misses per allocation (crates/heapprof-bench/instructions.sh)"
echo
if ! command -v valgrind >/dev/null; then
    echo "run.sh: valgrind not installed: the instruction counts are left out" >&2
elif full; then
    sh crates/heapprof-bench/instructions.sh "$bin"
else
    ALLOCS=20000,60000 sh crates/heapprof-bench/instructions.sh "$bin"
fi
echo
echo "## Accuracy ($bin/accuracy)"
echo
if full; then $bin/accuracy --seeds 20; else $bin/accuracy --seeds 2 --divisor 20; fi
echo
echo "## Snapshot cost ($bin/snapshot_cost)"
echo
stacks=1000,10000,100000; full || stacks=1000,10000
$bin/snapshot_cost --stacks "$stacks" --write "$scratch/heapprof-stacks.pb.gz"
echo
echo "### Symbolization off (HEAPPROF_SYMBOLIZE=0), then heapprof symbolize offline"
echo
HEAPPROF_SYMBOLIZE=0 $bin/snapshot_cost --stacks "$stacks" --write "$scratch/heapprof-stacks-raw.pb.gz"
echo
/usr/bin/time -f '%e %M' -o "$scratch/symbolize.time" $bin/heapprof symbolize \
    "$scratch/heapprof-stacks-raw.pb.gz" -o "$scratch/heapprof-stacks-symbolized.pb.gz" 2>/dev/null
read -r wall rss < "$scratch/symbolize.time"
echo "| \`heapprof symbolize\` of the last row's profile | wall | peak RSS |"
echo "|---|---:|---:|"
echo "| from the unstripped binary at the mapping's path | $wall s | $((rss / 1024)) MiB |"
echo
echo "## A real program ($bin/real_program)"
echo
if full; then $bin/real_program --records 200000 --runs 5; else $bin/real_program --records 5000 --runs 1; fi
echo
echo "## Stack capture ($bin/unwind_bench)"
echo
if full; then $bin/unwind_bench; else $bin/unwind_bench --iterations 200; fi
echo
echo "## Profile endpoints under load ($bin/http_load)"
echo
if full; then
    $bin/http_load --requests 2000 --clients 8
else
    $bin/http_load --requests 80 --clients 8
fi
echo
echo "## Heap budgets in tests ($bin/measure_overhead)"
echo
if full; then $bin/measure_overhead --runs 7; else $bin/measure_overhead --runs 1; fi
echo
echo "## Analyzer (crates/heapprof-bench/analyzer.sh)"
echo
# The Go corpus profile (262,144 stacks) and the profile snapshot_cost wrote (its
# largest row), each diffed against itself.
if full; then
    sh crates/heapprof-bench/analyzer.sh ../shared/corpus/large/go-262k-stacks.pb.gz "$scratch/heapprof-stacks.pb.gz"
else
    RUNS=1 sh crates/heapprof-bench/analyzer.sh "$scratch/heapprof-stacks.pb.gz"
fi
