//! Allocation failure under the profiler: the wrapped allocator returns null on about
//! one `alloc`, `alloc_zeroed` or `realloc` in four of the test's own thread (chosen by
//! a hash of the call number, so that every kind of call fails). heapprof must
//! return that null unchanged (no abort, no panic), count nothing for the failed call,
//! and, at rate 1 where every block is sampled, keep exactly the surviving blocks in
//! the live table — a failed `realloc` leaves its old block recorded and live.
//!
//! Runs without libtest (`harness = false`) so that nothing but the workload
//! allocates between the readings of the statistics; bounded (a few thousand calls).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};

/// `System`, failing about one call in four made on the armed thread.
struct FailingAlloc;

/// The `pthread_self` of the thread whose calls may fail; 0: none.
static ARMED_THREAD: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);
static FAILURES: AtomicU64 = AtomicU64::new(0);

impl FailingAlloc {
    fn fail_now(&self) -> bool {
        // SAFETY: pthread_self has no preconditions and does not allocate.
        let me = unsafe { libc::pthread_self() } as usize;
        if ARMED_THREAD.load(Relaxed) != me {
            return false;
        }
        // Two bits of splitmix64's finalizer: a fixed, well-mixed quarter of the
        // calls (a plain "every Nth", or a bare multiplicative hash, stays in step with
        // the workload's alloc-then-realloc cycle and never fails a realloc).
        let mut z = CALLS.fetch_add(1, Relaxed).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let fail = (z ^ (z >> 31)) & 3 == 0;
        if fail {
            FAILURES.fetch_add(1, Relaxed);
        }
        fail
    }
}

// SAFETY: forwards to System, or returns null, which GlobalAlloc allows for
// alloc, alloc_zeroed and realloc (realloc then leaves the old block untouched).
unsafe impl GlobalAlloc for FailingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.fail_now() {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if self.fail_now() {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if self.fail_now() {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: heapprof::Profiler<FailingAlloc> = heapprof::Profiler::with_allocator(FailingAlloc);

const ROUNDS: usize = 2000;

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).expect("valid layout")
}

/// What the workload saw succeed, to compare with heapprof's statistics.
#[derive(Default, Debug)]
struct Seen {
    allocs: u64,
    alloc_bytes: u64,
    frees: u64,
    free_bytes: u64,
    reallocs: u64,
    null_allocs: u64,
    null_reallocs: u64,
}

/// Allocates, zero-allocates and reallocates through the global allocator while
/// failures are armed, keeping every block that survives in `kept`. Not inlined: the
/// profile is checked by this function's name.
#[inline(never)]
fn workload(seen: &mut Seen, kept: &mut Vec<(usize, usize)>) {
    for i in 0..ROUNDS {
        let size = 16 + (i * 37) % 3000;
        let zeroed = i % 2 == 1;
        // SAFETY: nonzero size, valid alignment.
        let p = unsafe {
            if zeroed { std::alloc::alloc_zeroed(layout(size)) } else { std::alloc::alloc(layout(size)) }
        };
        if p.is_null() {
            seen.null_allocs += 1;
            continue;
        }
        seen.allocs += 1;
        seen.alloc_bytes += size as u64;
        if zeroed {
            // SAFETY: `p` holds `size` bytes.
            assert!(unsafe { std::slice::from_raw_parts(p, size) }.iter().all(|&b| b == 0));
        }
        // SAFETY: `p` holds `size` >= 16 bytes.
        unsafe { p.write_bytes(0x5a, 16) };
        let new_size = size * 2 + 8;
        // SAFETY: `p` was allocated with `layout(size)`; new_size is nonzero.
        let q = unsafe { std::alloc::realloc(p, layout(size), new_size) };
        if q.is_null() {
            // The old block is still the caller's, intact.
            seen.null_reallocs += 1;
            // SAFETY: `p` is still valid with `size` bytes.
            assert!(unsafe { std::slice::from_raw_parts(p, 16) }.iter().all(|&b| b == 0x5a));
            kept.push((p as usize, size));
        } else {
            seen.reallocs += 1;
            seen.frees += 1;
            seen.free_bytes += size as u64;
            seen.allocs += 1;
            seen.alloc_bytes += new_size as u64;
            kept.push((q as usize, new_size));
        }
        // Free every other block now, so the table sees frees among the failures.
        if i % 2 == 0
            && let Some((b, s)) = kept.pop()
        {
            // SAFETY: allocated above with `layout(s)`, freed once.
            unsafe { std::alloc::dealloc(b as *mut u8, layout(s)) };
            seen.frees += 1;
            seen.free_bytes += s as u64;
        }
    }
}

fn main() {
    heapprof::set_sample_rate(1);
    let mut kept: Vec<(usize, usize)> = Vec::with_capacity(ROUNDS);
    let mut seen = Seen::default();
    let before = heapprof::stats();
    // SAFETY: pthread_self has no preconditions.
    ARMED_THREAD.store(unsafe { libc::pthread_self() } as usize, Relaxed);
    workload(&mut seen, &mut kept);
    ARMED_THREAD.store(0, Relaxed);
    let after = heapprof::stats();

    let failures = FAILURES.load(Relaxed);
    assert_eq!(failures, seen.null_allocs + seen.null_reallocs, "every injected failure reached the caller");
    assert!(seen.null_allocs > 100 && seen.null_reallocs > 100, "{seen:?}");
    // Exact statistics count only what succeeded.
    assert_eq!(after.allocated_objects - before.allocated_objects, seen.allocs, "{seen:?}");
    assert_eq!(after.allocated_bytes - before.allocated_bytes, seen.alloc_bytes);
    assert_eq!(after.freed_objects - before.freed_objects, seen.frees);
    assert_eq!(after.freed_bytes - before.freed_bytes, seen.free_bytes);
    assert_eq!(after.reallocations - before.reallocations, seen.reallocs);
    let kept_bytes: u64 = kept.iter().map(|&(_, s)| s as u64).sum();
    assert_eq!(after.live_bytes - before.live_bytes, kept_bytes);
    // At rate 1 every surviving block is a live sample, a failed realloc's old
    // block included; nothing was dropped for lack of memory.
    assert_eq!(after.dropped_samples, before.dropped_samples, "no sample dropped");
    assert_eq!(after.live_samples - before.live_samples, kept.len() as u64, "live table = surviving blocks");

    // The profile agrees: the in-use space of the workload's stacks is what is kept.
    let profile = heapprof::heap_profile();
    let inuse_space = profile.sample_type.iter().position(|t| profile.str(t.r#type) == "inuse_space");
    let inuse_space = inuse_space.expect("inuse_space");
    let in_workload: i64 = profile
        .sample
        .iter()
        .filter(|s| {
            s.location_id.iter().any(|&id| {
                profile.location[id as usize - 1].line.iter().any(|l| {
                    profile.str(profile.function[l.function_id as usize - 1].name).contains("workload")
                })
            })
        })
        .map(|s| s.value[inuse_space])
        .sum();
    assert_eq!(in_workload as u64, kept_bytes, "in-use space of the workload's stacks");

    let mid = heapprof::stats();
    for &(b, s) in &kept {
        // SAFETY: each kept block was allocated with `layout(s)` and is freed once.
        unsafe { std::alloc::dealloc(b as *mut u8, layout(s)) };
    }
    let end = heapprof::stats();
    assert_eq!(
        mid.live_samples - end.live_samples,
        kept.len() as u64,
        "each kept block leaves the table once"
    );
    assert_eq!(mid.live_bytes - end.live_bytes, kept_bytes);
    println!(
        "fault_alloc_null: {} allocations and {} reallocations failed and were passed through; {} succeeded; counts exact",
        seen.null_allocs, seen.null_reallocs, seen.allocs
    );
}
