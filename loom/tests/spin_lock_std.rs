//! The same spin lock (`crates/heapprof/src/spin.rs`) on std's atomics and real
//! threads, for Miri: `cargo +nightly miri test --manifest-path loom/Cargo.toml --test
//! spin_lock_std`. Miri's data-race detector and weak-memory emulation check the
//! guard's accesses to the value, and its UB checks the `UnsafeCell` handling. (Without
//! Miri it is a plain, quick test.)

/// What `crates/heapprof/src/sync.rs` gives `spin.rs`, minus the libc call, which Miri
/// need not see: a yield is a yield.
mod sync {
    pub(crate) use std::sync::atomic::{AtomicBool, Ordering};

    pub(crate) fn spin_hint() {
        std::hint::spin_loop();
    }

    pub(crate) fn yield_now() {
        std::thread::yield_now();
    }
}

#[allow(dead_code)]
#[path = "../../crates/heapprof/src/spin.rs"]
mod spin;

use std::sync::Arc;

use spin::SpinLock;

/// Three threads add to a plain (non-atomic) counter under the lock: a missed
/// exclusion or a missing Acquire/Release is a data race Miri reports.
#[test]
fn holders_are_excluded_and_ordered() {
    let lock = Arc::new(SpinLock::new(0u64));
    let per_thread = if cfg!(miri) { 50 } else { 10_000 };
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let lock = lock.clone();
            std::thread::spawn(move || {
                for _ in 0..per_thread {
                    *lock.lock() += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(*lock.lock(), 3 * per_thread);
}

/// `lock_bounded` gives up or gets in alone; `raw_lock`/`raw_unlock` hold it like a guard.
#[test]
fn bounded_and_raw_locking() {
    let lock = Arc::new(SpinLock::new(0u64));
    lock.raw_lock();
    assert!(lock.lock_bounded(0).is_none(), "a raw-held lock was taken again");
    let other = lock.clone();
    let waiter = std::thread::spawn(move || *other.lock() += 1);
    // SAFETY: taken by raw_lock on this thread just above.
    unsafe { lock.raw_unlock() };
    waiter.join().expect("thread");
    *lock.lock_bounded(16).expect("a free lock is taken at once") += 1;
    assert_eq!(*lock.lock(), 2);
}
