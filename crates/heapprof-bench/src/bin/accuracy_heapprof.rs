//! The accuracy workload under heapprof (rate from HEAPPROF_RATE, seed from
//! HEAPPROF_SEED): prints the exact per-site totals and heapprof's estimates from
//! its heap profile, taken while the sites' last blocks are still live.
//!
//! ```text
//! target/release/accuracy_heapprof [--divisor N]
//! ```

use heapprof_bench::accuracy;

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

fn main() {
    let flags =
        heapprof_bench::runner::Flags::from_env("accuracy_heapprof", "[--divisor N]", &["--divisor"], &[]);
    let divisor = heapprof_bench::accuracy_divisor(&flags);
    let held = accuracy::run_sites(divisor);
    let estimates = accuracy::sites_in_profile(&heapprof::heap_profile());
    let s = heapprof::stats();
    print!("{}", accuracy::format_sites("truth", &held.truth));
    print!("{}", accuracy::format_sites("heapprof", &estimates));
    println!(
        "stats rate={} live_samples={} dropped={} profiler_bytes={}",
        s.sample_rate, s.live_samples, s.dropped_samples, s.profiler_bytes
    );
    drop(held);
}
