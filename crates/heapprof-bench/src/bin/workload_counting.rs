//! The workload under the least a wrapper can do to keep exact statistics: four
//! thread-local counters (objects and bytes, allocated and freed) around the system
//! allocator, nothing else — not readable by other threads, no peak, no sampling.
//! It is the floor under which no exact-statistics profiler can go; heapprof at
//! rate 0 is measured against it in BENCHMARKS.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static COUNTS: [Cell<u64>; 4] = const { [const { Cell::new(0) }; 4] };
}

fn bump(i: usize, bytes: usize) {
    let _ = COUNTS.try_with(|c| {
        c[i].set(c[i].get() + 1);
        c[i + 1].set(c[i + 1].get() + bytes as u64);
    });
}

// SAFETY: forwards every call to System unchanged; the counters never touch the blocks.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            bump(0, layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        bump(2, layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            bump(2, layout.size());
            bump(0, new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn main() {
    heapprof_bench::main_with("counting", &|| {
        COUNTS.with(|c| format!("main thread: allocated {} B, freed {} B", c[1].get(), c[3].get()))
    });
}
