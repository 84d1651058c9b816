//! After warm-up, capturing a stack allocates nothing: a counting global allocator
//! sees no allocation from 10,000 captures with either unwinder nor from rule-cache
//! misses, and a new thread reuses the scratch space an exited thread gave back.

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
    if n == 0 { black_box(capture_with(unwinder, out)) } else { black_box(deep(n - 1, unwinder, out)) }
}

/// Call sites never seen before: their rules are not cached yet, so capturing from
/// here decodes unwind tables (a rule-cache miss).
macro_rules! fresh_call_site {
    ($name:ident) => {
        #[inline(never)]
        fn $name(out: &mut [usize]) -> heapprof::stack::Capture {
            black_box(deep(black_box(3), Unwinder::Dwarf, out))
        }
    };
}
fresh_call_site!(fresh_in_warm_thread);
fresh_call_site!(fresh_in_first_thread);
fresh_call_site!(fresh_in_second_thread);

// One test only: the check on the scratch-space pool needs no other thread to take
// it in between.
#[test]
fn capture_allocates_nothing_after_warm_up() {
    let mut out = [0usize; 256];
    // Warm-up: builds the module list and this thread's scratch space.
    assert_eq!(deep(20, Unwinder::Dwarf, &mut out).end, StackEnd::Root);
    let _ = deep(20, Unwinder::FramePointer, &mut out);

    let before = allocations();
    for i in 0..10_000u32 {
        let c = deep(i % 40, Unwinder::Dwarf, &mut out);
        assert_eq!(c.end, StackEnd::Root);
        let _ = deep(i % 40, Unwinder::FramePointer, &mut out);
    }
    // Rule-cache misses reuse the thread's scratch space.
    assert_eq!(fresh_in_warm_thread(&mut out).end, StackEnd::Root);
    let during = allocations() - before;
    assert_eq!(during, 0, "10,000 captures allocated {during} times");

    // A thread's first rule-cache miss allocates its scratch space; when the thread
    // exits it hands the space back, and the next thread's misses allocate nothing.
    let first = std::thread::spawn(|| {
        let before = allocations();
        let mut out = [0usize; 256];
        assert_eq!(fresh_in_first_thread(&mut out).end, StackEnd::Root);
        allocations() - before
    })
    .join()
    .unwrap();
    assert!(first > 0, "the first thread allocated its scratch space");
    let second = std::thread::spawn(|| {
        let before = allocations();
        let mut out = [0usize; 256];
        assert_eq!(fresh_in_second_thread(&mut out).end, StackEnd::Root);
        allocations() - before
    })
    .join()
    .unwrap();
    assert_eq!(second, 0, "the second thread reused the scratch space of the first");
}
