//! After warm-up, capturing a stack allocates nothing: a counting global allocator
//! sees no allocation from 10,000 captures with either unwinder, and a new thread's
//! first capture reuses the unwind cache an exited thread gave back.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use heapprof::stack::{StackEnd, Unwinder, capture_with};

struct Counting;

thread_local! {
    /// Allocations made by this thread (const, no destructor: usable from the allocator).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(|n| n.get())
}

#[inline(never)]
fn deep(n: u32, unwinder: Unwinder, out: &mut [usize]) -> heapprof::stack::Capture {
    if n == 0 {
        black_box(capture_with(unwinder, out))
    } else {
        black_box(deep(n - 1, unwinder, out))
    }
}

// One test only: the check on the thread-cache pool needs no other thread to take
// the cache in between.
#[test]
fn capture_allocates_nothing_after_warm_up() {
    let mut out = [0usize; 256];
    // Warm-up: builds the module list and this thread's unwind cache.
    assert_eq!(deep(20, Unwinder::Dwarf, &mut out).end, StackEnd::Root);
    let _ = deep(20, Unwinder::FramePointer, &mut out);

    let before = allocations();
    for i in 0..10_000u32 {
        let c = deep(i % 40, Unwinder::Dwarf, &mut out);
        assert_eq!(c.end, StackEnd::Root);
        let _ = deep(i % 40, Unwinder::FramePointer, &mut out);
    }
    let during = allocations() - before;
    assert_eq!(during, 0, "10,000 captures allocated {during} times");

    // A thread's first capture allocates its cache; when it exits, it gives the
    // cache back, and the next thread's first capture allocates nothing.
    let first = std::thread::spawn(|| {
        let before = allocations();
        let mut out = [0usize; 256];
        assert_eq!(deep(5, Unwinder::Dwarf, &mut out).end, StackEnd::Root);
        allocations() - before
    })
    .join()
    .unwrap();
    assert!(first > 0, "the first thread allocated its cache");
    let second = std::thread::spawn(|| {
        let before = allocations();
        let mut out = [0usize; 256];
        assert_eq!(deep(5, Unwinder::Dwarf, &mut out).end, StackEnd::Root);
        allocations() - before
    })
    .join()
    .unwrap();
    assert_eq!(second, 0, "the second thread reused the cache of the first");
}
