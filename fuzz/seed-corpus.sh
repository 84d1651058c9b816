#!/bin/sh
# Fills fuzz/corpus/decode with the shared test corpus (protobuf, gzip and legacy text
# profiles), the starting point for `cargo +nightly fuzz run decode`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=${1:-$here/../../shared/corpus}
dest=$here/corpus/decode
mkdir -p "$dest"
for f in "$src"/pprof-testdata/* "$src"/go-heap/*/*.pb.gz "$src"/go-heap/*/*.debug1.txt; do
    [ -f "$f" ] || continue
    case $f in *.string) continue ;; esac
    name=$(printf '%s' "${f#"$src"/}" | tr '/' '_')
    cp "$f" "$dest/$name"
done
echo "seeded $(ls "$dest" | wc -l) inputs into $dest"
