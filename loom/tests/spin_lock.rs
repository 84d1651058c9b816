//! Loom model of the spin lock that guards every sampled-record table
//! (`crates/heapprof/src/spin.rs`, compiled here unchanged against loom's atomic and
//! yield through `heapprof_loom::sync`, which stands in for the crate's `src/sync.rs`).
//!
//! Loom runs each model under every interleaving (up to a preemption bound) and under
//! the weak-memory orderings the C11 model allows, and reports a data race when two
//! accesses to a `loom::cell::UnsafeCell` are not ordered by happens-before: so the
//! models below fail if the lock lets two holders in, or if its Acquire/Release pair is
//! weakened so that a holder may miss the previous holder's writes. (Both were tried:
//! a Relaxed unlock, and a load-then-store instead of the compare-exchange, each make
//! all three models fail with "Causality violation".)
//!
//! `cargo test --manifest-path loom/Cargo.toml` (a few seconds after the build).

/// Loom's versions of what `src/sync.rs` gives `spin.rs`.
mod sync {
    pub(crate) use heapprof_loom::sync::*;
}

#[allow(dead_code)]
#[path = "../../crates/heapprof/src/spin.rs"]
mod spin;

use heapprof_loom::model;
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use spin::SpinLock;

/// A lock around a loom cell, used once on this thread so that its atomic exists
/// before other threads start (see `sync::AtomicBool`).
fn new_lock() -> Arc<SpinLock<UnsafeCell<u32>>> {
    let lock = Arc::new(SpinLock::new(UnsafeCell::new(0)));
    drop(lock.lock());
    lock
}

/// Adds one to the protected counter, through the guard; loom flags the access as a
/// race unless the previous holder's access happens-before it.
fn add_one(cell: &UnsafeCell<u32>) {
    // SAFETY: the caller holds the lock; loom checks that claim.
    cell.with_mut(|p| unsafe { *p += 1 });
}

fn read(cell: &UnsafeCell<u32>) -> u32 {
    // SAFETY: called with the lock held or after every other thread was joined.
    cell.with(|p| unsafe { *p })
}

/// A thread and the main one each take the lock and increment: no lost update, no
/// unordered access. (Two threads suffice for a lock's mutual exclusion and its
/// ordering; a third multiplies the interleavings of the waiters' spins.)
#[test]
fn lock_excludes_and_orders_holders() {
    model(3, || {
        let lock = new_lock();
        let other = lock.clone();
        let thread = loom::thread::spawn(move || add_one(&other.lock()));
        add_one(&lock.lock());
        thread.join().expect("thread");
        assert_eq!(read(&lock.lock()), 2);
    });
}

/// `lock_bounded` (how a sample waits for a table) either gets the lock, exclusively,
/// or gives up; it never returns a guard while another holder is inside.
#[test]
fn bounded_lock_gets_in_alone_or_gives_up() {
    model(3, || {
        let lock = new_lock();
        let other = lock.clone();
        let holder = loom::thread::spawn(move || add_one(&other.lock()));
        let got = match lock.lock_bounded(1) {
            Some(guard) => {
                add_one(&guard);
                1
            }
            None => 0,
        };
        holder.join().expect("thread");
        assert_eq!(read(&lock.lock()), 1 + got);
    });
}

/// The fork handlers' protocol: `raw_lock` in the prepare handler, `raw_unlock` in
/// the parent's, with another thread using the lock meanwhile. What the forking thread
/// writes while it holds the lock raw (here a second cell, standing for the tables'
/// state) is ordered before the next holder's reads, and nobody gets in meanwhile.
#[test]
fn raw_lock_and_unlock_exclude_like_a_guard() {
    model(3, || {
        let lock = new_lock();
        let state = Arc::new(UnsafeCell::new(0u32));
        let (other, other_state) = (lock.clone(), state.clone());
        let user = loom::thread::spawn(move || {
            let guard = other.lock();
            add_one(&guard);
            add_one(&other_state);
            drop(guard);
        });
        lock.raw_lock();
        assert!(lock.lock_bounded(0).is_none(), "a raw-held lock was taken again");
        add_one(&state);
        // SAFETY: taken by raw_lock on this thread just above.
        unsafe { lock.raw_unlock() };
        user.join().expect("thread");
        assert_eq!(read(&lock.lock()), 1);
        assert_eq!(read(&state), 2);
    });
}
