//! Snapshot cost: time and memory to make a heap profile with N distinct stacks, the
//! first time in the process (cold: the symbolizer loads the binary's debug info) and
//! the second (warm caches). One process per N. Prints one Markdown row per N.
//!
//! ```text
//! target/release/snapshot_cost [--stacks 1000,10000,100000] [--write heap.pb.gz]
//! ```
//! `--write` keeps the profile of the last N (the analyzer benchmark reads it).

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use heapprof_bench::runner::Flags;

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

/// Bits of a path: 2^18 = 262,144 distinct stacks at most.
const DEPTH: u32 = 18;

/// A function of the call tree.
type Level = fn(u32, &mut Vec<Vec<u8>>);

// Two functions per level, each calling one of the next level's two from its own call
// site, chosen by a bit of `path`: every path is a distinct stack. The tags make the
// twins' bodies differ, so that no pass merges them into one function.
macro_rules! level {
    ($bit:expr, $a:ident, $b:ident, $next_a:ident, $next_b:ident) => {
        #[inline(never)]
        fn $a(path: u32, out: &mut Vec<Vec<u8>>) {
            black_box(2 * $bit);
            if path >> $bit & 1 == 0 {
                $next_a(path, out)
            } else {
                $next_b(path, out)
            }
            black_box(2 * $bit);
        }
        #[inline(never)]
        fn $b(path: u32, out: &mut Vec<Vec<u8>>) {
            black_box(2 * $bit + 1);
            if path >> $bit & 1 == 0 {
                $next_a(path, out)
            } else {
                $next_b(path, out)
            }
            black_box(2 * $bit + 1);
        }
    };
}
level!(0, a0, b0, a1, b1);
level!(1, a1, b1, a2, b2);
level!(2, a2, b2, a3, b3);
level!(3, a3, b3, a4, b4);
level!(4, a4, b4, a5, b5);
level!(5, a5, b5, a6, b6);
level!(6, a6, b6, a7, b7);
level!(7, a7, b7, a8, b8);
level!(8, a8, b8, a9, b9);
level!(9, a9, b9, a10, b10);
level!(10, a10, b10, a11, b11);
level!(11, a11, b11, a12, b12);
level!(12, a12, b12, a13, b13);
level!(13, a13, b13, a14, b14);
level!(14, a14, b14, a15, b15);
level!(15, a15, b15, a16, b16);
level!(16, a16, b16, leaf_a, leaf_b);

#[inline(never)]
fn leaf_a(_path: u32, out: &mut Vec<Vec<u8>>) {
    black_box(-1);
    out.push(black_box(Vec::with_capacity(64)));
}

#[inline(never)]
fn leaf_b(_path: u32, out: &mut Vec<Vec<u8>>) {
    black_box(-2);
    out.push(black_box(Vec::with_capacity(64)));
}

fn main() {
    let flags = Flags::from_env(
        "snapshot_cost",
        "[--stacks 1000,10000,100000] [--write PATH]",
        &["--stacks", "--write", "--child"],
        &[],
    );
    let write = flags.text("--write");
    if flags.text("--child").is_some() {
        child(flags.number("--child", 1000), write);
        return;
    }
    let stacks = flags.numbers("--stacks", "1000,10000,100000");
    let me = std::env::current_exe().unwrap_or_else(|e| fail(&format!("cannot locate myself: {e}")));
    println!(
        "| distinct stacks | stack records | profile | cold: heap_profile | cold: encode + gzip | warm: heap_profile | warm: encode + gzip | profiler metadata before → after | RSS growth | dropped samples |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (i, n) in stacks.iter().enumerate() {
        let mut cmd = Command::new(&me);
        cmd.args(["--child", &n.to_string()]).env("HEAPPROF_RATE", "1");
        if let (Some(w), true) = (&write, i + 1 == stacks.len()) {
            cmd.args(["--write", w]);
        }
        let out = cmd.output().unwrap_or_else(|e| fail(&format!("cannot run myself: {e}")));
        if !out.status.success() {
            fail(&String::from_utf8_lossy(&out.stderr));
        }
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

fn child(n: usize, write: Option<&str>) {
    let n = n.min(1 << DEPTH);
    let roots: [Level; 2] = [a0, b0];
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(n);
    for path in 0..n as u32 {
        roots[(path >> (DEPTH - 1)) as usize & 1](path, &mut out);
    }
    let before = heapprof::stats();
    let rss_before = before.rss_bytes / 1024;

    // A profile, its sample count and gzipped bytes, and the time to make and to encode it.
    let snapshot = || {
        let t = Instant::now();
        let profile = heapprof::heap_profile();
        let made = t.elapsed();
        let t = Instant::now();
        let bytes = heapprof::pprof::encode_gzip(&profile);
        (profile.sample.len(), bytes, made, t.elapsed())
    };
    let (_, bytes, cold_profile, cold_encode) = snapshot();
    let (samples, warm_bytes, warm_profile, warm_encode) = snapshot();
    let after = heapprof::stats();
    let rss_growth = heapprof_bench::peak_rss_kib().unwrap_or(0).saturating_sub(rss_before);
    if let Some(path) = write {
        if let Err(e) = heapprof::write_atomically(std::path::Path::new(path), &warm_bytes) {
            fail(&e.to_string());
        }
    }
    println!(
        "| {n} | {} | {samples} samples, {:.1} KiB gzipped | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} → {:.1} MiB | {:.1} MiB | {} |",
        before.stack_records,
        bytes.len() as f64 / 1024.0,
        ms(cold_profile),
        ms(cold_encode),
        ms(warm_profile),
        ms(warm_encode),
        before.profiler_bytes as f64 / 1048576.0,
        after.profiler_bytes as f64 / 1048576.0,
        rss_growth as f64 / 1024.0,
        after.dropped_samples,
    );
    drop(out);
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn fail(msg: &str) -> ! {
    eprintln!("snapshot_cost: {msg}");
    std::process::exit(2);
}
