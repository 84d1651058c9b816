#!/bin/sh
# Regenerates the reference outputs in this folder with `go tool pprof` (Go 1.19,
# Debian's golang-go), from the shared corpus. Each file is named
# <case>.txt and its first line is not part of pprof's output: it is the heapprof
# command line (after `heapprof`) that must print the same thing. Paths in
# commands are relative to the corpus's go-heap/ folder.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
corpus=${CORPUS:-$here/../../../../../shared/corpus}
cd "$corpus/go-heap"

gen() { # gen NAME "heapprof args" pprof args...
    name=$1; ours=$2; shift 2
    { echo "$ours"; go tool pprof "$@" 2>/dev/null; } > "$here/$name.txt"
}

gen top-default            "top rate1/full.pb.gz"                                   -top rate1/full.pb.gz
gen top-cum                "top --cum rate1/full.pb.gz"                             -top -cum rate1/full.pb.gz
gen top-nodecount          "top --nodecount 5 --sample-index alloc_space rate1/full.pb.gz" -top -nodecount=5 -sample_index=alloc_space rate1/full.pb.gz
gen top-lines              "top --lines --sample-index alloc_space rate1/full.pb.gz" -top -lines -sample_index=alloc_space rate1/full.pb.gz
gen top-files              "top --files --sample-index alloc_space rate1/full.pb.gz" -top -files -sample_index=alloc_space rate1/full.pb.gz
gen top-addresses          "top --addresses --nodefraction 0.001 rate1/full.pb.gz"  -top -addresses -nodefraction=0.001 rate1/full.pb.gz
gen top-focus              "top --focus json --sample-index alloc_space rate1/full.pb.gz" -top -focus=json -sample_index=alloc_space rate1/full.pb.gz
gen top-ignore             "top --ignore json|flate --sample-index alloc_space rate1/full.pb.gz" -top '-ignore=json|flate' -sample_index=alloc_space rate1/full.pb.gz
gen top-hide               "top --hide ^main\\. --sample-index alloc_space rate1/full.pb.gz" '-top' '-hide=^main\.' -sample_index=alloc_space rate1/full.pb.gz
gen top-show               "top --show encoding --sample-index alloc_space rate1/full.pb.gz" -top -show=encoding -sample_index=alloc_space rate1/full.pb.gz
gen top-diff-base          "top --diff-base rate1/cache.pb.gz --sample-index alloc_space rate1/full.pb.gz" -top -diff_base=rate1/cache.pb.gz -sample_index=alloc_space rate1/full.pb.gz
gen top-normalize          "top --base default/full.pb.gz --normalize rate1/full.pb.gz" -top -base=default/full.pb.gz -normalize rate1/full.pb.gz
gen top-merged             "top default/full.pb.gz rate1/full.pb.gz"               -top default/full.pb.gz rate1/full.pb.gz
gen top-normalize-merged   "top --base rate1/full.pb.gz --normalize --sample-index 0 default/full.pb.gz rate1/cache.pb.gz" -top -base=rate1/full.pb.gz -normalize -sample_index=0 default/full.pb.gz rate1/cache.pb.gz
gen top-diff-normalize     "top --diff-base rate1/cache.pb.gz --normalize --sample-index alloc_objects rate1/full.pb.gz" -top -diff_base=rate1/cache.pb.gz -normalize -sample_index=alloc_objects rate1/full.pb.gz
gen top-filters            "top --focus base64 --ignore flate --show json|base64 --sample-index alloc_space rate1/full.pb.gz" -top -focus=base64 -ignore=flate '-show=json|base64' -sample_index=alloc_space rate1/full.pb.gz
gen top-hide-inlined-caller "top --hide Marshal --sample-index alloc_space --nodefraction 0 rate1/full.pb.gz" -top -hide=Marshal -sample_index=alloc_space -nodefraction=0 rate1/full.pb.gz
gen top-cum-lines-count    "top --cum --nodecount 7 --lines rate1/full.pb.gz"       -top -cum -nodecount=7 -lines rate1/full.pb.gz
gen top-edgefraction       "top --edgefraction 0.2 --sample-index alloc_space rate1/full.pb.gz" -top -edgefraction=0.2 -sample_index=alloc_space rate1/full.pb.gz
gen top-nodefraction-high  "top --nodefraction 0.9 rate1/full.pb.gz"                -top -nodefraction=0.9 rate1/full.pb.gz
gen peek-lines             "peek --lines --sample-index alloc_space Marshal rate1/full.pb.gz" -peek Marshal -lines -sample_index=alloc_space rate1/full.pb.gz
gen peek-addresses         "peek --addresses --sample-index alloc_space NewEncoder rate1/full.pb.gz" -peek NewEncoder -addresses -sample_index=alloc_space rate1/full.pb.gz
gen traces-diff-base       "traces --diff-base default/cache.pb.gz default/full.pb.gz" -traces -diff_base=default/cache.pb.gz default/full.pb.gz
gen tags-focus             "tags --focus json --sample-index alloc_space rate1/full.pb.gz" -tags -focus=json -sample_index=alloc_space rate1/full.pb.gz
gen tags-base              "tags --base rate1/cache.pb.gz rate1/full.pb.gz"         -tags -base=rate1/cache.pb.gz rate1/full.pb.gz
gen tags-cpp-legacy        "tags ../pprof-testdata/cppbench.heap"                   -tags ../pprof-testdata/cppbench.heap
gen peek                   "peek json.Marshal|main.main rate1/full.pb.gz"          -peek 'json.Marshal|main.main' rate1/full.pb.gz
gen peek-alloc             "peek --sample-index alloc_space flate rate1/full.pb.gz" -peek flate -sample_index=alloc_space rate1/full.pb.gz
gen tags                   "tags rate1/full.pb.gz"                                  -tags rate1/full.pb.gz
gen tags-objects           "tags --sample-index alloc_objects default/full.pb.gz"   -tags -sample_index=alloc_objects default/full.pb.gz
gen traces-lines           "traces --lines default/full.pb.gz"                      -traces -lines default/full.pb.gz
gen top-cpp-legacy         "top ../pprof-testdata/cppbench.heap"                    -top ../pprof-testdata/cppbench.heap
gen top-go-legacy          "top --nodefraction 0 ../pprof-testdata/gobench.heap"    -top -nodefraction=0 ../pprof-testdata/gobench.heap
gen top-java-legacy        "top ../pprof-testdata/java.heap"                        -top ../pprof-testdata/java.heap
gen traces-java-legacy     "traces ../pprof-testdata/java.heap"                     -traces ../pprof-testdata/java.heap
# Call graphs: pprof's -dot without what heapprof does not draw (the nodelets of
# the `bytes` label, which also shift edges with minlen=2, and the help line).
gen_dot() { # gen_dot NAME "heapprof args" pprof args...
    name=$1; ours=$2; shift 2
    { echo "$ours"; go tool pprof -dot "$@" 2>/dev/null | grep -v -e '^NN' -e '-> NN' \
        | sed -e 's/ minlen=2//' -e 's|\\l\\lSee https://git.io/JfYMW for how to read the graph||'; } > "$here/$name.txt"
}
gen_dot graph-default      "graph -o - default/full.pb.gz"                          default/full.pb.gz
gen_dot graph-lines        "graph -o - --lines --sample-index alloc_space rate1/full.pb.gz" -lines -sample_index=alloc_space rate1/full.pb.gz
gen_dot graph-addresses    "graph -o - --addresses rate1/full.pb.gz"                -addresses rate1/full.pb.gz
gen_dot graph-files        "graph -o - --files rate1/full.pb.gz"                    -files rate1/full.pb.gz
gen_dot graph-diff-base    "graph -o - --diff-base rate1/cache.pb.gz --sample-index alloc_space rate1/full.pb.gz" -diff_base=rate1/cache.pb.gz -sample_index=alloc_space rate1/full.pb.gz
gen_dot graph-focus        "graph -o - --focus json --sample-index alloc_space rate1/full.pb.gz" -focus=json -sample_index=alloc_space rate1/full.pb.gz
gen_dot graph-edgefraction "graph -o - --edgefraction 0.2 --sample-index alloc_space rate1/full.pb.gz" -edgefraction=0.2 -sample_index=alloc_space rate1/full.pb.gz
gen_dot graph-cpp-legacy   "graph -o - ../pprof-testdata/cppbench.heap"             ../pprof-testdata/cppbench.heap
gen_dot graph-go-legacy    "graph -o - ../pprof-testdata/gobench.heap"              ../pprof-testdata/gobench.heap
gen_dot graph-java-legacy  "graph -o - --nodecount 0 ../pprof-testdata/java.heap"   -nodecount=0 ../pprof-testdata/java.heap

# {src} stands for a folder holding heapcorpus/main.go (the corpus's main.go).
src=$(mktemp -d); mkdir -p "$src/heapcorpus"; cp main.go "$src/heapcorpus/"
gen list                   "list --source-path {src} main.fillCache|encodeAll rate1/full.pb.gz" -list 'main.fillCache|encodeAll' -source_path="$src" rate1/full.pb.gz
gen list-alloc             "list --source-path {src} --sample-index alloc_space main. default/full.pb.gz" -list 'main.' -sample_index=alloc_space -source_path="$src" default/full.pb.gz
rm -r "$src"
