//! The unwinder lists the loaded modules (`dl_iterate_phdr`) without allocating while
//! the loader's lock is held. An allocator that unwinds with the loader's help (heaptrack's
//! libunwind, preloaded) takes its own lock and then the loader's; allocating under the
//! loader's lock took them in the other order, and a program run under heaptrack hung at
//! start-up, one run in a few.
//!
//! The wrapped allocator here checks every allocation of the probed thread: a helper
//! thread lists the modules itself, and if that cannot finish while the allocation
//! waits, the allocating thread holds the loader's lock.
//!
//! Runs without libtest (`harness = false`), in a child started with `HEAPPROF_RATE=0`,
//! so that no sample builds the module list before the probe starts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::time::{Duration, Instant};

struct LockProbe;

#[global_allocator]
static ALLOC: heapprof::Profiler<LockProbe> = heapprof::Profiler::with_allocator(LockProbe);

/// The thread whose allocations are checked (its `gettid`), 0 for none.
static PROBED_THREAD: AtomicU64 = AtomicU64::new(0);
static REQUESTS: AtomicUsize = AtomicUsize::new(0);
static ANSWERS: AtomicUsize = AtomicUsize::new(0);
static CHECKED: AtomicUsize = AtomicUsize::new(0);
static UNDER_LOADER_LOCK: AtomicUsize = AtomicUsize::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

fn tid() -> u64 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u64 }
}

/// Whether the loader's lock is free for another thread: the helper lists the modules
/// within a second.
fn loader_lock_is_free() -> bool {
    let request = REQUESTS.fetch_add(1, SeqCst) + 1;
    let start = Instant::now();
    while ANSWERS.load(SeqCst) < request {
        if start.elapsed() > Duration::from_secs(1) {
            return false;
        }
        std::hint::spin_loop();
    }
    true
}

// SAFETY: forwards to System; the check only reads atomics and the clock.
unsafe impl GlobalAlloc for LockProbe {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if PROBED_THREAD.load(Relaxed) == tid() {
            CHECKED.fetch_add(1, Relaxed);
            if !loader_lock_is_free() {
                UNDER_LOADER_LOCK.fetch_add(1, Relaxed);
            }
        }
        // SAFETY: the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: allocated by System with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

unsafe extern "C" fn count_module(_: *mut libc::dl_phdr_info, _: usize, _: *mut libc::c_void) -> libc::c_int {
    0
}

fn helper() {
    while !STOP.load(SeqCst) {
        let requests = REQUESTS.load(SeqCst);
        if ANSWERS.load(SeqCst) < requests {
            // SAFETY: the callback ignores its arguments.
            unsafe { libc::dl_iterate_phdr(Some(count_module), std::ptr::null_mut()) };
            ANSWERS.store(requests, SeqCst);
        }
        std::hint::spin_loop();
    }
}

fn probe() {
    let helper = std::thread::spawn(helper);
    PROBED_THREAD.store(tid(), SeqCst);
    // The first capture of the process lists the modules.
    let mut frames = [0usize; 64];
    let capture = heapprof::stack::capture_with(heapprof::stack::Unwinder::Dwarf, &mut frames);
    PROBED_THREAD.store(0, SeqCst);
    STOP.store(true, SeqCst);
    helper.join().expect("the helper thread");
    let (checked, under) = (CHECKED.load(SeqCst), UNDER_LOADER_LOCK.load(SeqCst));
    println!(
        "captured {} frames; {checked} allocations checked, {under} under the loader's lock",
        capture.len
    );
    assert!(capture.len > 3, "a capture: {capture:?}");
    assert!(checked > 0, "the probe saw the module list being built");
    assert_eq!(under, 0, "allocations made while the loader's lock was held");
}

fn main() {
    if std::env::var_os("HEAPPROF_TEST_LOADER_LOCK_CHILD").is_some() {
        probe();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().expect("this test's path"))
        .env("HEAPPROF_TEST_LOADER_LOCK_CHILD", "1")
        .env("HEAPPROF_RATE", "0")
        .output()
        .expect("run the child");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    print!("{}", text(&out.stdout));
    assert!(out.status.success(), "the child failed: {}{}", text(&out.stdout), text(&out.stderr));
    println!("test stack_loader_lock ... ok");
}
