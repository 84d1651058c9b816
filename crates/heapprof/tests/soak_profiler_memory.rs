//! The profiler's own memory stays bounded under a steady workload: two threads churn
//! blocks from four call sites and eight sizes at rate 4 KiB (thousands of samples a
//! second) while the main thread takes a profile every half second. After a warm-up
//! third of the run, `Stats::profiler_bytes` (tables, arenas, symbolizer caches),
//! the workload's records and the live samples must not grow: a steady workload
//! reaches a steady state, whatever the run's length. (The total count of stack
//! records still creeps up for a while: the profiles' own making allocates from
//! many rarely sampled stacks. It is printed, not checked.)
//!
//! Time: 30 s (the steady state shows within a few seconds; the rest is there to catch
//! slow growth). `HEAPPROF_SOAK=1` runs 10 minutes, `HEAPPROF_SOAK_SECS=N` N seconds.
//! A watchdog aborts the process at twice the planned time plus a minute.

use std::sync::atomic::{AtomicBool, Ordering::*};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

static STOP: AtomicBool = AtomicBool::new(false);

/// The profile's records (samples) made by the churn: one per (site, size class).
fn workload_records(p: &heapprof::pprof::Profile) -> usize {
    let site = |id: u64| {
        p.location[id as usize - 1].line.iter().any(|l| {
            let name = p.str(p.function[l.function_id as usize - 1].name);
            ["site_a", "site_b", "site_c", "site_d"].iter().any(|s| name.ends_with(s))
        })
    };
    p.sample.iter().filter(|s| s.location_id.iter().any(|&id| site(id))).count()
}

fn run_time() -> Duration {
    if let Some(secs) = std::env::var("HEAPPROF_SOAK_SECS").ok().and_then(|s| s.parse().ok()) {
        return Duration::from_secs(secs);
    }
    if std::env::var("HEAPPROF_SOAK").as_deref() == Ok("1") {
        return Duration::from_secs(600);
    }
    Duration::from_secs(30)
}

const SIZES: [usize; 8] = [24, 64, 200, 512, 1500, 4096, 9000, 30_000];

#[inline(never)]
fn site_a(size: usize) -> Vec<u8> {
    std::hint::black_box(vec![1u8; size])
}
#[inline(never)]
fn site_b(size: usize) -> Vec<u8> {
    std::hint::black_box(vec![2u8; size])
}
#[inline(never)]
fn site_c(size: usize) -> Vec<u8> {
    std::hint::black_box(vec![3u8; size])
}
#[inline(never)]
fn site_d(size: usize) -> Vec<u8> {
    std::hint::black_box(vec![4u8; size])
}

/// Keeps 256 blocks live, replacing one at a time: the live set and the set of
/// (stack, size) pairs are the same all run long.
fn churn(seed: u64) {
    let mut rng = seed | 1;
    let mut live: Vec<Vec<u8>> = (0..256).map(|i| site_a(SIZES[i % SIZES.len()])).collect();
    while !STOP.load(Relaxed) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let size = SIZES[(rng >> 8) as usize % SIZES.len()];
        let block = match rng % 4 {
            0 => site_a(size),
            1 => site_b(size),
            2 => site_c(size),
            _ => site_d(size),
        };
        live[(rng >> 24) as usize % 256] = block;
    }
}

fn main() {
    let total = run_time();
    std::thread::spawn(move || {
        std::thread::sleep(total * 2 + Duration::from_secs(60));
        eprintln!("soak test did not finish in time: deadlock?");
        std::process::abort();
    });
    heapprof::set_sample_rate(4096);
    let workers: Vec<_> = (1..=2u64).map(|i| std::thread::spawn(move || churn(i * 0x9e37_79b9))).collect();
    let start = Instant::now();
    let mut warm = None;
    let mut peak = heapprof::stats();
    let mut profiles = 0;
    let mut warm_records = 0;
    while start.elapsed() < total {
        std::thread::sleep(Duration::from_millis(500));
        let profile = heapprof::heap_profile();
        let records = workload_records(&profile);
        profiles += 1;
        let s = heapprof::stats();
        if warm.is_none() && start.elapsed() >= total / 3 {
            warm = Some(s);
            warm_records = records;
            // Every (site, size) pair of the loop, and some of the initial fill's.
            assert!(records >= 4 * SIZES.len(), "{records} workload records after the warm-up");
        } else if warm.is_some() {
            assert_eq!(records, warm_records, "new records for the workload's steady stacks");
            peak.profiler_bytes = peak.profiler_bytes.max(s.profiler_bytes);
            peak.stack_records = peak.stack_records.max(s.stack_records);
            peak.live_samples = peak.live_samples.max(s.live_samples);
        }
    }
    STOP.store(true, Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    let warm = warm.expect("a warm reading");
    let end = heapprof::stats();
    println!(
        "soak: {:?}, {profiles} profiles, {} allocations; after warm-up: profiler {} -> at most {} bytes, \
         {} -> at most {} stack records, live samples at most {}",
        total,
        end.allocated_objects,
        warm.profiler_bytes,
        peak.profiler_bytes,
        warm.stack_records,
        peak.stack_records,
        peak.live_samples
    );
    // A small slack for the allocator's and the caches' granularity, none for growth
    // with time: twice this run's length must not need more.
    assert!(
        peak.profiler_bytes <= warm.profiler_bytes + warm.profiler_bytes / 20 + (256 << 10),
        "profiler memory grew after warm-up: {} -> {}",
        warm.profiler_bytes,
        peak.profiler_bytes
    );
    // 2 × 256 live blocks of at most 30,000 bytes: at rate 4 KiB at most all of them.
    assert!(peak.live_samples <= warm.live_samples.max(512) + 64, "{} live samples", peak.live_samples);
}
