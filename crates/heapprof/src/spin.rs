//! A tiny test-and-set lock for the profiler's sharded tables. Held only for a few
//! hundred instructions, never across an allocation through the global allocator.
//! `std::sync::Mutex` would do on Linux, but its guard cannot be held across the
//! `pthread_atfork` prepare and parent/child handlers, which fork safety needs.

use std::cell::UnsafeCell;

use crate::sync::{AtomicBool, Ordering, spin_hint, yield_now};

/// A spin lock around `T`.
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised by `locked`.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub(crate) const fn new(value: T) -> Self {
        SpinLock { locked: AtomicBool::new(false), value: UnsafeCell::new(value) }
    }

    fn try_acquire(&self) -> bool {
        !self.locked.load(Ordering::Relaxed)
            && self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Locks, spinning and then yielding until the lock is free.
    #[inline]
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        if !self.try_acquire() {
            self.wait(u32::MAX);
        }
        SpinGuard { lock: self }
    }

    /// Locks unless that takes more than `max_yields` yields: callers that may drop
    /// their work (a sample) use this rather than wait behind a stalled holder.
    #[inline]
    pub(crate) fn lock_bounded(&self, max_yields: u32) -> Option<SpinGuard<'_, T>> {
        if self.try_acquire() || self.wait(max_yields) {
            return Some(SpinGuard { lock: self });
        }
        None
    }

    /// Spins, then yields, until the lock is taken (true) or `max_yields` yields went
    /// by (false; `u32::MAX`: no limit). Apart from the uncontended path: inlined, the
    /// wait had its callers load `sched_yield`'s address before their first attempt,
    /// a cold line of the GOT on every sample at the default rate.
    #[cold]
    #[inline(never)]
    fn wait(&self, max_yields: u32) -> bool {
        let mut spins = 0u32;
        while !self.try_acquire() {
            spins = spins.saturating_add(1);
            if spins < 64 {
                spin_hint();
            } else if max_yields == u32::MAX || spins - 64 < max_yields {
                yield_now();
            } else {
                return false;
            }
        }
        true
    }

    /// Takes the lock with no guard, for the fork handlers.
    pub(crate) fn raw_lock(&self) {
        std::mem::forget(self.lock());
    }

    /// The value, for the holder of a lock taken by [`SpinLock::raw_lock`].
    pub(crate) fn raw_value(&self) -> *mut T {
        self.value.get()
    }

    /// Releases a lock taken by [`SpinLock::raw_lock`].
    ///
    /// # Safety
    /// The lock must be held through `raw_lock` by this thread (or, in a forked
    /// child, by the thread that forked).
    pub(crate) unsafe fn raw_unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

/// Access to a locked value; unlocks on drop.
pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> std::ops::Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> std::ops::DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves the lock is held, exclusively.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}
