//! Stress: 8 threads × 1,000,000 allocations of mixed sizes, a quarter of them
//! freed by another thread, threads exiting while others allocate, and a `fork`
//! in the middle. Nothing deadlocks or crashes, and the exact statistics agree
//! with the test's own count.
//!
//! Threads are raw pthreads and blocks change hands through preallocated atomic
//! slots, so that between the two readings of the statistics nothing allocates
//! but the workload itself. Runs without libtest (`harness = false`) for the same
//! reason. Bounds itself in time: a watchdog aborts the process after 300 s.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

const THREADS: usize = 8;
const ALLOCS_PER_THREAD: usize = 1_000_000;
const MAILBOX: usize = 4096;

/// Blocks waiting to be freed by another thread; each block holds its size in its
/// first 8 bytes, so one swap moves a block and its size together.
static MAILBOXES: [AtomicPtr<u8>; MAILBOX] = [const { AtomicPtr::new(std::ptr::null_mut()) }; MAILBOX];
static SHORT_LIVED_THREADS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED_OBJECTS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);
static FREED_OBJECTS: AtomicU64 = AtomicU64::new(0);
static FREED_BYTES: AtomicU64 = AtomicU64::new(0);
static FORKED: AtomicBool = AtomicBool::new(false);

fn layout(size: usize) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(size, 8).expect("valid layout")
}

fn free_block(p: *mut u8, size: usize) {
    // SAFETY: `p` was allocated by `thread_main` with this layout and is freed once.
    unsafe { std::alloc::dealloc(p, layout(size)) };
    FREED_OBJECTS.fetch_add(1, Relaxed);
    FREED_BYTES.fetch_add(size as u64, Relaxed);
}

extern "C" fn thread_main(arg: *mut libc::c_void) -> *mut libc::c_void {
    let index = arg as usize;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (index as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let mut local: [(usize, usize); 64] = [(0, 0); 64];
    let mut allocs = 0;
    while allocs < ALLOCS_PER_THREAD {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Sizes 16 B to 64 KiB, most of them small.
        let size = 16usize << (rng % 13);
        let size = size + (rng >> 40) as usize % size;
        // SAFETY: nonzero size, valid alignment.
        let p = unsafe { std::alloc::alloc(layout(size)) };
        assert!(!p.is_null());
        // SAFETY: the block has `size` >= 16 bytes.
        unsafe { p.write_bytes(0xab, 16) };
        ALLOCATED_OBJECTS.fetch_add(1, Relaxed);
        ALLOCATED_BYTES.fetch_add(size as u64, Relaxed);
        allocs += 1;
        if rng % 4 == 0 {
            // Hand it to whoever takes this mailbox next; free what was there.
            // SAFETY: blocks are at least 16 bytes and 8-aligned.
            unsafe { p.cast::<usize>().write(size) };
            let old = MAILBOXES[(rng >> 20) as usize % MAILBOX].swap(p, AcqRel);
            if !old.is_null() {
                // SAFETY: the sender wrote the size before publishing the block.
                free_block(old, unsafe { old.cast::<usize>().read() });
            }
        } else {
            let k = (rng >> 32) as usize % local.len();
            let (old, old_size) = std::mem::replace(&mut local[k], (p as usize, size));
            if old != 0 {
                free_block(old as *mut u8, old_size);
            }
        }
        if index == 0 && allocs == ALLOCS_PER_THREAD / 2 {
            fork_and_check_child();
        }
        if index < 8 && allocs % 100_000 == 0 {
            // A thread that allocates, frees and exits while the others run.
            let mut t: libc::pthread_t = 0;
            // SAFETY: valid out pointer and start routine.
            let rc =
                unsafe { libc::pthread_create(&mut t, std::ptr::null(), short_lived, std::ptr::null_mut()) };
            assert_eq!(rc, 0);
            // SAFETY: joined once.
            unsafe { libc::pthread_join(t, std::ptr::null_mut()) };
        }
    }
    for (p, size) in local {
        if p != 0 {
            free_block(p as *mut u8, size);
        }
    }
    std::ptr::null_mut()
}

extern "C" fn short_lived(_: *mut libc::c_void) -> *mut libc::c_void {
    let mut blocks = [(0usize, 0usize); 100];
    for (i, b) in blocks.iter_mut().enumerate() {
        let size = 32 + i * 40;
        // SAFETY: nonzero size, valid alignment.
        let p = unsafe { std::alloc::alloc(layout(size)) };
        assert!(!p.is_null());
        ALLOCATED_OBJECTS.fetch_add(1, Relaxed);
        ALLOCATED_BYTES.fetch_add(size as u64, Relaxed);
        *b = (p as usize, size);
    }
    for (p, size) in blocks {
        free_block(p as *mut u8, size);
    }
    SHORT_LIVED_THREADS.fetch_add(1, Relaxed);
    std::ptr::null_mut()
}

fn fork_and_check_child() {
    // SAFETY: the child only allocates, writes a profile and exits with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: alarm has no preconditions; a hung child is killed by SIGALRM.
        unsafe { libc::alarm(60) };
        let v: Vec<Vec<u8>> = (0..10_000).map(|i| vec![1u8; 16 + i % 4096]).collect();
        let profile = heapprof::heap_profile();
        let ok = !v.is_empty() && heapprof::stats().live_bytes > 0 && !profile.sample.is_empty();
        // SAFETY: _exit ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child failed: status {status}");
    FORKED.store(true, Relaxed);
}

fn main() {
    static WATCHDOG_UP: AtomicBool = AtomicBool::new(false);
    std::thread::spawn(|| {
        WATCHDOG_UP.store(true, Release);
        std::thread::sleep(std::time::Duration::from_secs(300));
        eprintln!("stress test did not finish in 300 s: deadlock?");
        std::process::abort();
    });
    // The watchdog's own start-up allocates: let it finish before counting.
    while !WATCHDOG_UP.load(Acquire) {
        std::thread::yield_now();
    }
    heapprof::set_sample_rate(64 * 1024);
    let before = heapprof::stats();
    // Two waves: the second wave's threads start while the first wave's exit.
    let mut threads = [0 as libc::pthread_t; THREADS];
    for (i, t) in threads.iter_mut().enumerate() {
        // SAFETY: `t` is a valid out pointer; thread_main is a valid start routine.
        let rc = unsafe { libc::pthread_create(t, std::ptr::null(), thread_main, i as *mut libc::c_void) };
        assert_eq!(rc, 0);
    }
    for t in threads {
        // SAFETY: joining threads created above, once each.
        unsafe { libc::pthread_join(t, std::ptr::null_mut()) };
    }
    for slot in &MAILBOXES {
        let p = slot.swap(std::ptr::null_mut(), Acquire);
        if !p.is_null() {
            // SAFETY: the sender wrote the size before publishing the block.
            free_block(p, unsafe { p.cast::<usize>().read() });
        }
    }
    let after = heapprof::stats();
    assert!(FORKED.load(Relaxed));
    let allocated = after.allocated_objects - before.allocated_objects;
    let allocated_bytes = after.allocated_bytes - before.allocated_bytes;
    let freed = after.freed_objects - before.freed_objects;
    let freed_bytes = after.freed_bytes - before.freed_bytes;
    assert_eq!(allocated, ALLOCATED_OBJECTS.load(Relaxed));
    assert_eq!(allocated_bytes, ALLOCATED_BYTES.load(Relaxed));
    assert_eq!(freed, FREED_OBJECTS.load(Relaxed));
    assert_eq!(freed_bytes, FREED_BYTES.load(Relaxed));
    let short_lived = SHORT_LIVED_THREADS.load(Relaxed);
    assert_eq!(short_lived, THREADS * (ALLOCS_PER_THREAD / 100_000));
    assert_eq!(allocated, (THREADS * ALLOCS_PER_THREAD + short_lived * 100) as u64);
    assert_eq!(after.live_bytes, before.live_bytes, "everything allocated was freed");
    println!(
        "stress: {allocated} allocations, {freed} frees, {} samples dropped, {} stack records: ok",
        after.dropped_samples, after.stack_records
    );
}
