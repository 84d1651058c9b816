//! A series of heap profiles written by Go's runtime: a Go program (built by
//! the test) leaks through `main.leak`, fills a cache that then stops growing
//! (`main.fillCache`) and churns (`main.churn`), writing a heap profile after
//! each of 18 steps, 25 ms apart, at `runtime.MemProfileRate = 1`; the profiles'
//! time stamps are then set to those steps.
#![allow(dead_code)] // each test binary uses a part of it

use std::path::Path;
use std::process::Command;

const PROGRAM: &str = r#"package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"
)

var leaked [][]byte
var cache = map[int][]byte{}
var sink []byte

//go:noinline
func leak() { leaked = append(leaked, make([]byte, 256<<10)) }

//go:noinline
func fillCache(i int) {
	if len(cache) < 6 {
		cache[i] = make([]byte, 256<<10)
	}
}

//go:noinline
func churn() {
	for j := 0; j < 4; j++ {
		sink = make([]byte, (64+j*64)<<10)
	}
}

func main() {
	runtime.MemProfileRate = 1
	leaked = make([][]byte, 0, 64)
	start := time.Now()
	for i := 0; i < 18; i++ {
		leak()
		fillCache(i)
		churn()
		runtime.GC()
		// Regular steps, as a periodic profiler takes them: with steps a GC apart,
		// the jitter of the profiles' timestamps alone lowered the leak's confidence.
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * 25 * time.Millisecond)))
		f, err := os.Create(filepath.Join(os.Args[1], fmt.Sprintf("step-%02d.heap.pb.gz", i)))
		if err != nil {
			panic(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			panic(err)
		}
		f.Close()
	}
}
"#;

/// Builds and runs the Go program; its profiles land in `out`.
pub fn write_leaky_series(go: &Path, work: &Path, out: &Path) {
    std::fs::write(work.join("leaky.go"), PROGRAM).unwrap();
    // Offline and self-contained: no module, no proxy, a cache of our own.
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-build-cache");
    let go_cmd = |args: &[&str]| {
        let out = Command::new(go)
            .args(args)
            .current_dir(work)
            .env("GO111MODULE", "off")
            .env("GOFLAGS", "")
            .env("GOPROXY", "off")
            .env("GOCACHE", &cache)
            .env("HOME", work)
            .output()
            .expect("run go");
        assert!(out.status.success(), "go {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    go_cmd(&["build", "-o", "leaky", "leaky.go"]);
    let status = Command::new(work.join("leaky")).arg(out).status().expect("run the Go program");
    assert!(status.success());
    // The runtime stamps each profile with the wall clock, so a stall of a loaded
    // machine bends the series (a 200 ms one took the leak's confidence below 0.9).
    // The stamps are set to the schedule, 25 ms apart; the content stays the runtime's.
    let mut files: Vec<_> = std::fs::read_dir(out).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut start = None;
    for (i, file) in files.iter().enumerate() {
        let mut p = heapprof_profile::decode(&std::fs::read(file).unwrap()).unwrap();
        let t0 = *start.get_or_insert(p.time_nanos);
        p.time_nanos = t0 + i as i64 * 25_000_000;
        std::fs::write(file, heapprof_profile::encode_gzip(&p)).unwrap();
    }
}
