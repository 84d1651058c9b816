//! The profiler never allocates through the allocator it wraps: after warm-up, the
//! wrapped allocator sees exactly the application's calls, at rate 0, at the
//! default rate and at rate 1 (where every allocation is sampled).
//!
//! Runs without libtest (`harness = false`) so that nothing but the workload
//! allocates between the readings: one CI run under load counted 4 allocations too
//! many, with no thread but libtest's beside the workload.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

struct Counting;

static INNER_ALLOCS: AtomicU64 = AtomicU64::new(0);
static INNER_FREES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to System unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INNER_ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        INNER_FREES.fetch_add(1, Relaxed);
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: heapprof::Profiler<Counting> = heapprof::Profiler::with_allocator(Counting);

#[inline(never)]
fn churn(n: usize) {
    for i in 0..n {
        std::hint::black_box(vec![0u8; 16 + (i * 97) % 8192]);
    }
}

fn main() {
    profiler_makes_no_allocations_of_its_own();
    println!("profiler_makes_no_allocations_of_its_own: ok");
}

fn profiler_makes_no_allocations_of_its_own() {
    for rate in [0u64, 512 * 1024, 1] {
        heapprof::set_sample_rate(rate);
        churn(10_000); // warm-up: per-thread caches, module list, tables
        let (a0, f0) = (INNER_ALLOCS.load(Relaxed), INNER_FREES.load(Relaxed));
        let s0 = heapprof::stats();
        churn(100_000);
        let s1 = heapprof::stats();
        let (a1, f1) = (INNER_ALLOCS.load(Relaxed), INNER_FREES.load(Relaxed));
        assert_eq!(a1 - a0, 100_000, "rate {rate}: the wrapped allocator saw extra allocations");
        assert_eq!(f1 - f0, 100_000, "rate {rate}: the wrapped allocator saw extra frees");
        assert_eq!(s1.allocated_objects - s0.allocated_objects, 100_000, "rate {rate}");
        assert_eq!(s1.freed_objects - s0.freed_objects, 100_000, "rate {rate}");
    }
}
