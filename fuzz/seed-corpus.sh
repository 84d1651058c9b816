#!/bin/sh
# Seeds fuzz/corpus/<target> for `cargo +nightly fuzz run <target>`:
#   decode      the shared test corpus (protobuf, gzip and legacy text profiles);
#   http_head   requests as clients send them to the built-in server, and near misses;
#   http_query  request paths and query strings, valid and near-valid;
#   trend       series of points (both encodings of src/trend.rs) and series of Go's
#               heap profiles with times.
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

# http_query: a byte for the server's maximum of seconds, the path, a newline, the query.
dest=$here/corpus/http_query
mkdir -p "$dest"
i=0
for req in 'heap\n' 'heap\ndebug=1' 'allocs\ndebug=2&gc=1' 'heap\nseconds=3' 'allocs\nseconds=5&debug=0' \
    'heap\nseconds=0' 'heap\nseconds=-1' 'heap\nseconds=99999999999999999999' 'heap\nmin_age=10m' \
    'heap\nmin_age=30s&debug=1' 'allocs\nmin_age=2h' 'heap\nmin_age=18446744073709551615h' 'heap\npeak=1' \
    'heap\npeak=1&seconds=2' 'heap\ndebug=x' 'heap\ngc=&peak=&debug=' 'heap\n&&=&a=b&debug' 'stats\n' '\n' \
    'nothing\n' '/debug/pprof\n' '/elsewhere\ndebug=1'; do
    i=$((i + 1))
    printf '\007%b' "$req" > "$dest/seed-$i"
done
echo "seeded $(ls "$dest" | wc -l) inputs into $dest"

# http_head: an options byte (bit 0: token required; bits 1-2: head limit 8 KiB, 64,
# 256, 1024; bits 3-5: max seconds; bits 6-7: the stream then closes, times out, would
# block or is reset), a byte for the client's read size minus one, then the bytes sent.
# What go tool pprof and curl send, and near misses.
dest=$here/corpus/http_head
mkdir -p "$dest"
i=0
go_client='Host: 127.0.0.1:6060\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n'
curl='Host: localhost:6060\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n'
for seed in \
    "\020\377GET /debug/pprof/heap?seconds=1 HTTP/1.1\r\n$go_client" \
    "\020\377GET /debug/pprof/heap HTTP/1.1\r\n$go_client" \
    "\000\377GET /debug/pprof/allocs?debug=1&gc=1 HTTP/1.1\r\n$curl" \
    "\000\377GET /debug/pprof/ HTTP/1.1\r\n$curl" \
    "\000\377GET /debug/pprof/stats HTTP/1.1\r\n$curl" \
    "\000\000GET /debug/pprof/heap?debug=2 HTTP/1.1\r\n$curl" \
    "\001\377GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n\r\n" \
    "\001\377GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\nauthorization:   Bearer s3cret  \r\n\r\n" \
    "\001\377GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n\r\n" \
    "\000\377HEAD /debug/pprof/heap HTTP/1.0\r\n\r\n" \
    "\000\377POST /debug/pprof/heap HTTP/1.1\r\nContent-Length: 0\r\n\r\n" \
    "\000\377GET /debug/pprof/heap HTTP/2.0\r\n\r\n" \
    "\000\377GET /debug/pprof/heap\r\n\r\n" \
    "\000\377GET /elsewhere?debug=1 HTTP/1.1\r\n\r\n" \
    "\000\377GET /debug/pprof/heap?seconds=x HTTP/1.1\r\n\r\n" \
    "\002\007GET /debug/pprof/heap HTTP/1.1\r\n$go_client" \
    "\004\377GET /debug/pprof/heap HTTP/1.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n" \
    "\000\377GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\n" \
    "\100\377GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\n" \
    "\300\377GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\n" \
    "\000\377GET /debug/pprof/heap HTTP/1.1\r\nHost: \377\376\r\n\r\n" \
    "\000\377GET /debug/pprof/heap?debug=1 HTTP/1.1\nHost: x\n\n" \
    "\000\377GET http://127.0.0.1:6060/debug/pprof/allocs?debug=%31 HTTP/1.1\r\nHost: x\r\n\r\n"; do
    i=$((i + 1))
    printf '%b' "$seed" > "$dest/seed-$i"
done
echo "seeded $(ls "$dest" | wc -l) inputs into $dest"

# trend: mode byte (even: points, odd: profiles), then its input.
dest=$here/corpus/trend
mkdir -p "$dest"
# Points as (i16 seconds, i16 KiB) pairs after four option bytes: a steady rise, a
# plateau, a sawtooth.
printf '\000\000\024\000\003\000\000\001\000\074\000\002\000\170\000\003\000\264\000\004\000\360\000\005\000' > "$dest/series-rise"
printf '\000\000\024\000\003\000\000\001\000\074\000\002\000\170\000\002\000\264\000\002\000\360\000\002\000' > "$dest/series-plateau"
printf '\000\005\002\001\002\000\000\010\000\001\000\001\000\002\000\010\000\003\000\001\000\004\000\010\000' > "$dest/series-saw"
# Profiles: the same Go heap profile at three times, then two different ones.
sep='\n--heapprof-fuzz-next--\n'
for dir in "$src"/go-heap/default "$src"/go-heap/rate1; do
    [ -f "$dir/full.pb.gz" ] && [ -f "$dir/cache.pb.gz" ] || continue
    name=$(basename "$dir")
    {
        printf '\001'
        printf '\000\000\000\000\000\000\000\000'; cat "$dir/cache.pb.gz"; printf "$sep"
        printf '\000\000\000\000\016\000\000\000'; cat "$dir/full.pb.gz"; printf "$sep"
        printf '\000\000\000\000\034\000\000\000'; cat "$dir/full.pb.gz"
    } > "$dest/profiles-$name"
    {
        printf '\003'
        printf '\000\000\000\000\000\000\000\000'; cat "$dir/cache.pb.gz"; printf "$sep"
        printf '\000\000\000\000\016\000\000\000'; cat "$dir/full.pb.gz"
    } > "$dest/profiles-alloc-$name"
done
if [ -f "$src/go-heap/default/full.debug1.txt" ]; then
    {
        printf '\001'
        printf '\000\000\000\000\000\000\000\000'; cat "$src/go-heap/default/full.debug1.txt"; printf "$sep"
        printf '\000\000\000\000\016\000\000\000'; cat "$src/go-heap/default/full.debug1.txt"
    } > "$dest/profiles-legacy"
fi
echo "seeded $(ls "$dest" | wc -l) inputs into $dest"
