//! The atomic and the waits that the spin lock is built on, named in one place so that
//! the loom model (`tests/loom_spin.rs`) can compile `spin.rs` unchanged against
//! loom's versions: the model checks the very code that runs, not a copy of it.

pub(crate) use std::sync::atomic::{AtomicBool, Ordering};

/// One iteration of a busy wait.
#[inline(always)]
pub(crate) fn spin_hint() {
    std::hint::spin_loop();
}

/// Gives the processor to another thread.
#[inline(always)]
pub(crate) fn yield_now() {
    // SAFETY: sched_yield has no preconditions.
    unsafe { libc::sched_yield() };
}
