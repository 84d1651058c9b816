//! The atomics and the waits that the spin lock and the live table's filter are built
//! on, named in one place so that the loom models (`loom/tests/`) can compile `spin.rs`
//! and `records/filter.rs` unchanged against loom's versions: the models check the very
//! code that runs, not a copy of it.

pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

/// Starts loading the cache line at `p`, for a read soon after. Never faults, whatever
/// the address.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

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
