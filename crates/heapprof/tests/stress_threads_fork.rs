//! Stress: 8 threads × 1,000,000 allocations of 16 B–64 KiB, a quarter of them freed by
//! another thread, short-lived threads exiting while others allocate, and a `fork` in
//! the middle. Nothing deadlocks or crashes, and the exact statistics agree with the
//! test's own count. The workload and its checks are `stress_support/mod.rs`'s; a
//! watchdog aborts the process after 300 s.

mod stress_support;

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

fn main() {
    let load = stress_support::Load::Counted { threads: 8, allocs_per_thread: 1_000_000 };
    stress_support::run("stress_threads_fork", Some(64 * 1024), load);
}
