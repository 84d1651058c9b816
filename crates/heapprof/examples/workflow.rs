//! The classic heap-profiling workflow: a profile at start, one after allocating
//! test data, one after dropping it. Prints each profile's path with a summary.
//!
//! ```text
//! cargo run --release --example workflow [-- OUT_DIR]
//! go tool pprof -top OUT_DIR/2-allocated.pb.gz
//! ```

use std::collections::BTreeMap;
use std::path::Path;

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

/// Test data: a map of records with byte buffers of varying sizes.
#[inline(never)]
fn make_test_data(n: usize) -> BTreeMap<u64, Vec<u8>> {
    (0..n as u64).map(|i| (i, vec![(i % 251) as u8; 1024 + (i as usize * 37) % 9216])).collect()
}

/// Strings built in a loop: a second, distinct allocation site.
#[inline(never)]
fn make_labels(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("label-{i:08}-{}", "x".repeat(i % 64))).collect()
}

fn write_and_summarize(dir: &Path, name: &str) -> Result<(), heapprof::Error> {
    let path = dir.join(name);
    heapprof::write_heap_profile(&path)?;
    let s = heapprof::stats();
    let p = heapprof::heap_profile();
    let inuse: i64 = p.sample.iter().map(|x| x.value[3]).sum();
    println!(
        "{}: live {} in {} blocks (exact); sampled in-use estimate {}; {} stacks; peak {}",
        path.display(),
        human(s.live_bytes),
        s.live_objects,
        human(inuse.max(0) as u64),
        p.sample.len(),
        human(s.peak_live_bytes)
    );
    Ok(())
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.2} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.2} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "heapprof-workflow".to_owned());
    let dir = Path::new(&dir);
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("workflow: cannot create {}: {e}", dir.display());
        std::process::exit(2);
    }
    let run = || -> Result<(), heapprof::Error> {
        write_and_summarize(dir, "1-start.pb.gz")?;
        let data = make_test_data(20_000);
        let labels = make_labels(200_000);
        write_and_summarize(dir, "2-allocated.pb.gz")?;
        drop((data, labels));
        write_and_summarize(dir, "3-dropped.pb.gz")?;
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("workflow: {e}");
        std::process::exit(2);
    }
    println!("inspect with: go tool pprof -top {}", dir.join("2-allocated.pb.gz").display());
}
