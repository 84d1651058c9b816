//! The C front door: what `heapprof-preload` (the `LD_PRELOAD` library that
//! interposes `malloc` and friends) calls around the real allocator. Not for
//! applications; re-exported as `heapprof::__preload` and hidden from the docs.
//!
//! It reuses the Rust front door's pieces — the per-thread counters, the sampler's
//! countdown, stack capture, the records — with one difference: the C API gives no
//! size to `free`. So every hook takes two sizes:
//! - `requested`, the size the program asked for: what the sampler counts down and
//!   what the profile's `alloc_space`/`inuse_space` hold (a sampled block's free is
//!   counted at the size recorded with it). At rate 1 the profile's totals are
//!   the program's requested bytes, as heaptrack reports them.
//! - `accounted`, the real allocator's `malloc_usable_size`: what the exact
//!   statistics (`heapprof::stats()`) count, on allocation and on free alike, so
//!   that their live bytes stay consistent although a free only knows this size.
//!
//! The Rust `GlobalAlloc` path does not go through here and pays nothing for it.

use crate::profiler;
use crate::records;
use crate::thread_state;

/// After the real allocator returned `p` (non-null) for a request of `requested`
/// bytes; `accounted` is its usable size.
#[inline(always)]
pub fn after_alloc(p: *mut u8, requested: usize, accounted: usize) {
    profiler::after_alloc(p, requested, accounted);
}

/// Before `p` (non-null, `accounted` usable bytes) is given back to the real allocator.
#[inline(always)]
pub fn before_free(p: *mut u8, accounted: usize) {
    profiler::before_free(p, accounted);
}

/// A sampled block taken out of the live table before a `realloc`, to be put
/// back by [`realloc_failed`] if the real `realloc` fails.
#[derive(Clone, Copy)]
pub struct ReallocGuard(Option<records::Forgotten>);

impl std::fmt::Debug for ReallocGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "ReallocGuard(sampled)" } else { "ReallocGuard" })
    }
}

/// Before `p` (non-null, `accounted` usable bytes) is passed to the real `realloc`.
#[inline(always)]
pub fn before_realloc(p: *mut u8, accounted: usize) -> ReallocGuard {
    ReallocGuard(profiler::before_realloc(p, accounted))
}

/// The real `realloc` of `p` returned null: `p` is still live.
pub fn realloc_failed(p: *mut u8, guard: ReallocGuard) {
    profiler::realloc_failed(p, guard.0);
}

/// The real `realloc` moved or resized a block of `old_accounted` usable bytes to
/// `p` (non-null), `requested` bytes asked for, `accounted` usable. Counted as the
/// free of the old block and the allocation of the new one, as the Rust front
/// door counts it.
#[inline(always)]
pub fn after_realloc(p: *mut u8, old_accounted: usize, requested: usize, accounted: usize) {
    profiler::after_realloc(p, old_accounted, requested, accounted);
}

/// Whether this thread is inside the profiler (its allocations are then the
/// profiler's own and must be forwarded untouched).
#[inline(always)]
pub fn in_profiler() -> bool {
    thread_state::with(|st| st.busy.get())
}

/// Runs `f` with sampling off on this thread: for the preload library's own work
/// (profile writers, its threads), so that it never shows in the user's profile.
/// Its allocations are still counted in the exact statistics.
pub fn quietly<R>(f: impl FnOnce() -> R) -> R {
    thread_state::quietly(f)
}

/// Has the next allocation made outside the profiler (in any thread) call `f` once,
/// before it returns; what `f` allocates is the profiler's own. For work that a `fork`
/// child handler must not do itself, such as starting the child's periodic writer: it
/// then happens when the child first allocates, and never if it `exec`s first.
pub fn at_next_allocation(f: fn()) {
    profiler::defer_to_next_allocation(f);
}

/// Registers the `pthread_atfork` handlers that keep the tables consistent in a
/// forked child (the Rust front door does this at its first sample).
pub fn ensure_fork_handlers() {
    crate::fork::ensure_handlers();
}

/// Parses a byte count as `HEAPPROF_RATE` does (`512KiB`, `64k`, `1`), without allocating.
pub fn parse_bytes(s: &[u8]) -> Option<u64> {
    crate::config::parse_bytes(s)
}

/// Parses a duration (`500ms`, `30s`, `5m`, `2h`, `1h30m`, or bare seconds) without allocating.
pub fn parse_duration(s: &[u8]) -> Option<std::time::Duration> {
    crate::config::parse_duration(s)
}

/// Which file is at a path, and which version of it: how `heapprof run` tells the
/// profiles its program wrote from those that were there before.
pub use crate::symbols::mapped_file::FileStamp;

/// Writes one line to stderr without allocating (a failure is ignored).
pub fn warn(msg: &[u8]) {
    crate::config::warn(msg);
}
