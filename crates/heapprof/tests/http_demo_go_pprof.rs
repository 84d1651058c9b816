//! `go tool pprof` against the running demo service: `/heap` and `/allocs` over
//! HTTP list the demo's allocating functions, and the `?debug=1` text is accepted.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the demo example on a free port; returns it and its `/debug/pprof` base URL.
fn start_demo() -> (Demo, String) {
    let exe = std::env::current_exe().expect("current exe");
    let demo = exe.parent().and_then(|d| d.parent()).expect("target dir").join("examples/demo");
    assert!(demo.is_file(), "{} is not built: run `cargo test` for the whole crate", demo.display());
    let mut child = Command::new(&demo)
        .args(["--addr", "127.0.0.1:0", "--duration", "120s"])
        // A finer rate than the default, so that a 3-second run samples every site.
        .env("HEAPPROF_RATE", "16KiB")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the demo");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a first line").expect("utf-8");
    // Keep reading, so the demo never writes into a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .trim_end_matches('/')
        .to_owned();
    (Demo(child), base)
}

fn pprof_top(go: &std::path::Path, source: &str, sample_index: &str) -> String {
    let out = Command::new(go)
        .args(["tool", "pprof", "-top", "-nodefraction=0", &format!("-sample_index={sample_index}"), source])
        .env("PPROF_TMPDIR", std::env::temp_dir())
        .output()
        .expect("run go tool pprof");
    assert!(out.status.success(), "go tool pprof {source}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn go_tool_pprof_reads_the_live_demo() {
    let Some(go) = common::require_tool("go") else {
        return;
    };
    let (_demo, base) = start_demo();
    std::thread::sleep(std::time::Duration::from_secs(3));

    let heap = pprof_top(&go, &format!("{base}/heap"), "alloc_space");
    for f in ["demo::handle_requests", "demo::leak_a_little"] {
        assert!(heap.contains(f), "{f} missing from /heap:\n{heap}");
    }
    let allocs = pprof_top(&go, &format!("{base}/allocs"), "alloc_space");
    assert!(allocs.contains("Type: alloc_space") && allocs.contains("demo::handle_requests"), "{allocs}");

    let text =
        ureq::get(&format!("{base}/heap?debug=1")).call().expect("GET debug=1").into_body().read_to_vec();
    let dir = common::scratch_dir("demo-debug1");
    let file = dir.join("heap.txt");
    std::fs::write(&file, text.expect("body")).unwrap();
    // Like Go's own debug=1 text, it carries addresses, not names: pprof accepts it
    // and reads the same totals.
    let from_text = pprof_top(&go, file.to_str().unwrap(), "inuse_space");
    let total = from_text.lines().find(|l| l.starts_with("Showing nodes accounting for")).unwrap_or("");
    assert!(!total.is_empty() && !total.contains("for 0,"), "{from_text}");
}
