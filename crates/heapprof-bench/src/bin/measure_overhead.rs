//! What `heapprof::testing::measure` costs on an allocation-heavy closure: the same
//! closure run bare (under the profiler at the default rate) and inside `measure`,
//! interleaved, median of several runs. Inside `measure` every allocation of the
//! closure is recorded with its stack (that is how failures name their sites).
//!
//! ```text
//! cargo run --release -p heapprof-bench --bin measure_overhead [-- --runs N]
//! ```

use std::time::Instant;

use heapprof_bench::runner::Flags;

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

#[inline(never)]
fn allocation_heavy() -> usize {
    let mut kept = Vec::with_capacity(1024);
    let mut total = 0;
    for i in 0..200_000usize {
        let v = vec![(i % 251) as u8; 16 + (i * 37) % 2048];
        total += v.len();
        if i % 200 == 0 {
            kept.push(v);
        }
    }
    total + kept.len()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let runs = Flags::from_env("measure_overhead", "[--runs N]", &["--runs"], &[]).number("--runs", 7).max(1);
    let (mut bare, mut measured) = (Vec::new(), Vec::new());
    let mut allocations = 0;
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(allocation_heavy());
        bare.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let m = heapprof::testing::measure(allocation_heavy);
        measured.push(t.elapsed().as_secs_f64());
        allocations = m.allocations;
    }
    let (b, m) = (median(bare), median(measured));
    println!("| closure | plain (profiler at default rate) | inside measure | ratio | per allocation |");
    println!("|---|---|---|---|---|");
    println!(
        "| {allocations} allocations of 16 B–2 KiB | {:.1} ms | {:.1} ms | {:.2}× | +{:.0} ns |",
        b * 1e3,
        m * 1e3,
        m / b,
        (m - b) * 1e9 / allocations.max(1) as f64
    );
}
