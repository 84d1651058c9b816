//! Stress at sample rate 4 KiB: see `stress_support/mod.rs` for the workload, the
//! checks, the time bound and the `HEAPPROF_SOAK` switch. Its own file (and process)
//! so that its tables start empty.

mod stress_support;

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

fn main() {
    stress_support::run("stress_rate_4k", Some(4096), stress_support::Load::Timed);
}
