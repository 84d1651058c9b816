//! `Profiler`: the `GlobalAlloc` wrapper. Every call is forwarded to the wrapped
//! allocator; around it, exact counters are kept per thread and, about once per
//! sample interval, a stack is captured and recorded.

use std::alloc::{GlobalAlloc, Layout, System};
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering::*};

use crate::records::{self, MAX_DEPTH_LIMIT};
use crate::thread_state::{self, Counts, ThreadState, Totals};
use crate::{sampler, stack, stats};

/// A global allocator that profiles the heap. Wraps [`System`] by default, or any
/// other [`GlobalAlloc`] through [`Profiler::with_allocator`].
///
/// ```
/// #[global_allocator]
/// static ALLOC: heapprof::Profiler = heapprof::Profiler::new();
///
/// let v = vec![0u8; 1 << 20];
/// assert!(heapprof::stats().live_bytes >= 1 << 20);
/// # drop(v);
/// ```
#[derive(Debug, Default)]
pub struct Profiler<A = System> {
    inner: A,
}

impl Profiler<System> {
    /// A profiler over the system allocator.
    pub const fn new() -> Self {
        Profiler { inner: System }
    }
}

impl<A> Profiler<A> {
    /// A profiler over `allocator`, e.g. `Profiler::with_allocator(mimalloc::MiMalloc)`.
    pub const fn with_allocator(allocator: A) -> Self {
        Profiler { inner: allocator }
    }

    /// The wrapped allocator.
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

// SAFETY: every method forwards to the wrapped allocator with the caller's
// arguments and returns its result unchanged; the bookkeeping around it never
// touches the blocks.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Profiler<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() && !alloc_counted_fast(layout.size(), layout.size()) {
            return after_alloc_slow(p, layout.size(), layout.size());
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() && !alloc_counted_fast(layout.size(), layout.size()) {
            return after_alloc_slow(p, layout.size(), layout.size());
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !free_counted_fast(ptr, layout.size()) {
            // SAFETY: forwarded as is.
            return unsafe { self.dealloc_slow(ptr, layout) };
        }
        // SAFETY: forwarded as is.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let forgotten = before_realloc(ptr, layout.size());
        // SAFETY: forwarded as is.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if new.is_null() {
            realloc_failed(ptr, forgotten);
            return new;
        }
        after_realloc(new, layout.size(), new_size, new_size);
        new
    }
}

impl<A: GlobalAlloc> Profiler<A> {
    /// `dealloc` off its fast path. Apart, so that the fast path calls nothing
    /// before the wrapped allocator and ends in a jump to it, saving no registers.
    #[cold]
    #[inline(never)]
    unsafe fn dealloc_slow(&self, ptr: *mut u8, layout: Layout) {
        before_free_slow(ptr, layout.size());
        // SAFETY: the caller's arguments, forwarded as is.
        unsafe { self.inner.dealloc(ptr, layout) }
    }
}

// The hooks below serve both front doors. Each allocation hook takes two sizes: the
// size asked for (`requested`: what the sampler counts down and the profile records)
// and the size the exact statistics count (`accounted`). The Rust front door passes
// the layout's size as both; the C one (`heapprof::__preload`) passes the real
// allocator's usable size as `accounted`, because its `free` knows only that size.
//
// Allocation and free each have a fast path that either does all its work with no
// call (this thread may take it, the allocation window has room, the block is not
// sampled, the free window has room) or does nothing and leaves it all to the slow
// path. The fast path thus saves no registers, and `dealloc` ends in a jump to the
// wrapped allocator. Its every access but the sampled-block filter's is to the
// thread's first cache line of thread-local state.

/// After the allocator returned `p` (non-null).
#[inline(always)]
pub(crate) fn after_alloc(p: *mut u8, requested: usize, accounted: usize) {
    if !alloc_counted_fast(requested, accounted) {
        after_alloc_slow(p, requested, accounted);
    }
}

/// Counts an allocation and returns true when it needs nothing more: nearly every
/// allocation. Otherwise does nothing and returns false, for [`after_alloc_slow`].
#[inline(always)]
fn alloc_counted_fast(requested: usize, accounted: usize) -> bool {
    thread_state::with(move |st| {
        let Some(left) = st.alloc_fits(requested) else {
            return false;
        };
        st.set_allowance(left);
        Counts::bump(&st.counts.alloc_count, 1);
        Counts::bump(&st.counts.alloc_bytes, accounted as u64);
        true
    })
}

/// [`after_alloc`] off its fast path; returns `p`, so that callers end in a jump here.
#[cold]
#[inline(never)]
fn after_alloc_slow(p: *mut u8, requested: usize, accounted: usize) -> *mut u8 {
    thread_state::with(move |st| {
        if st.busy.get() {
            stats::internal_changed(accounted as i64);
            return;
        }
        run_deferred(st);
        st.count(Totals { alloc_count: 1, alloc_bytes: accounted as u64, ..Totals::default() });
        count_down(st, p, requested);
        st.settle();
    });
    p
}

/// Work for the next allocation made outside the profiler: a `fn()`, or null.
static DEFERRED: &AtomicPtr<()> = &crate::sample_line::SAMPLE_LINE.deferred;

/// Has the next allocation this thread (or any other) makes outside the profiler run
/// `f`, once, before it returns, with the busy flag set (what `f` allocates is the
/// profiler's). For a `fork` child handler, which may not start threads itself.
pub(crate) fn defer_to_next_allocation(f: fn()) {
    DEFERRED.store(f as *mut (), Release);
    thread_state::with(ThreadState::close);
}

#[inline(always)]
fn run_deferred(st: &ThreadState) {
    if DEFERRED.load(Relaxed).is_null() {
        return;
    }
    let f = DEFERRED.swap(ptr::null_mut(), Acquire);
    if !f.is_null() {
        // SAFETY: only `fn()` pointers are stored in DEFERRED.
        let f = unsafe { std::mem::transmute::<*mut (), fn()>(f) };
        let _busy = st.enter();
        f();
    }
}

/// Before `p` (non-null, `size` bytes as the statistics counted it) is freed.
#[inline(always)]
pub(crate) fn before_free(p: *mut u8, size: usize) {
    if !free_counted_fast(p, size) {
        before_free_slow(p, size);
    }
}

/// Counts the free of `p` and returns true if this thread may take the fast path,
/// `p` is certainly not sampled and the free window has room: nearly every free.
/// Otherwise does nothing and returns false, for [`before_free_slow`].
#[inline(always)]
fn free_counted_fast(p: *mut u8, size: usize) -> bool {
    thread_state::with(move |st| {
        let Some(freed) = st.free_fits(size) else {
            return false;
        };
        if records::may_be_sampled(p as usize) {
            return false;
        }
        st.counts.free_bytes.store(freed, Relaxed);
        Counts::bump(&st.counts.free_count, 1);
        true
    })
}

#[cold]
#[inline(never)]
fn before_free_slow(p: *mut u8, size: usize) {
    thread_state::with(move |st| {
        if st.busy.get() {
            stats::internal_changed(-(size as i64));
            return;
        }
        let sampled = records::may_be_sampled(p as usize);
        if sampled {
            // The live-table lines are rarely cached (a sampled block lives long): start
            // loading them while the counters below are kept.
            records::prefetch_live_lines(p as usize);
            // And the block's first line, where allocators keep their bookkeeping
            // (glibc's size field sits just before it, its tcache link in it): its
            // free reads it after the table is done.
            crate::sync::prefetch(p.wrapping_sub(8));
        }
        st.count(Totals { free_count: 1, free_bytes: size as u64, ..Totals::default() });
        if sampled {
            let _busy = st.enter();
            records::forget(p as usize, size);
        }
        st.settle();
    });
}

/// Before `p` (non-null, `size` bytes as the statistics counted it) is passed to
/// `realloc`: a sampled block leaves the live table before the allocator may hand
/// its address to another thread. Returns what [`realloc_failed`] puts back.
#[inline(always)]
pub(crate) fn before_realloc(p: *mut u8, size: usize) -> Option<records::Forgotten> {
    thread_state::with(|st| {
        if st.busy.get() || !records::may_be_sampled(p as usize) {
            return None;
        }
        let _busy = st.enter();
        records::forget(p as usize, size)
    })
}

/// `realloc` of `p` returned null: `p` is still live, and so is its record.
pub(crate) fn realloc_failed(p: *mut u8, forgotten: Option<records::Forgotten>) {
    if let Some(f) = forgotten {
        thread_state::with(|st| {
            let _busy = st.enter();
            records::restore(p as usize, f);
        });
    }
}

/// After `realloc` moved or resized a block of `old_accounted` bytes to `p`
/// (non-null): counted as the free of the old block and the allocation of the new.
#[inline(always)]
pub(crate) fn after_realloc(p: *mut u8, old_accounted: usize, requested: usize, accounted: usize) {
    thread_state::with(move |st| {
        if st.busy.get() {
            stats::internal_changed(accounted as i64 - old_accounted as i64);
            return;
        }
        st.count(Totals {
            alloc_count: 1,
            alloc_bytes: accounted as u64,
            free_count: 1,
            free_bytes: old_accounted as u64,
            realloc_count: 1,
        });
        count_down(st, p, requested);
        st.settle();
    });
}

/// Takes an allocation of `size` bytes off the distance to the next sample, and
/// samples it if it reaches the sample point; while a `testing` measurement runs,
/// records it instead.
#[inline(always)]
fn count_down(st: &ThreadState, p: *mut u8, size: usize) {
    if st.measure_tag.get() != 0 {
        let _busy = st.enter();
        crate::testing::measured_allocation(st, p, size);
    } else if st.count_down(size) < 0 {
        sample(st, p, size);
    }
}

/// Frames of the profiler kept beyond the requested depth, so that dropping them
/// at symbolization still leaves the depth the user asked for.
const OWN_FRAMES_SLACK: usize = 8;

#[cold]
#[inline(never)]
fn sample(st: &ThreadState, p: *mut u8, size: usize) {
    let _busy = st.enter();
    crate::fork::ensure_handlers();
    if !sampler::on_countdown_exhausted(st, size) || st.is_quiet() {
        return;
    }
    capture_and_record(st, p, size, sampler::sample_rate(), 0);
}

/// Captures the stack of the allocation of `size` bytes at `p` and records it;
/// returns the bucket it went to (None when dropped). The caller holds the busy flag.
#[inline(always)]
pub(crate) fn capture_and_record(
    st: &ThreadState,
    p: *mut u8,
    size: usize,
    rate: u64,
    tag: u32,
) -> Option<&'static records::Bucket> {
    records::prefetch_live_lines(p as usize);
    stack::prefetch_rules();
    let want = (records::max_stack_depth() + OWN_FRAMES_SLACK).min(MAX_DEPTH_LIMIT + OWN_FRAMES_SLACK);
    let mut storage = [MaybeUninit::<usize>::uninit(); MAX_DEPTH_LIMIT + OWN_FRAMES_SLACK];
    let captured = stack::capture_uninit(&mut storage[..want]);
    if captured.len == 0 {
        records::count_drop();
        return None;
    }
    // SAFETY: the walk wrote the first `captured.len` elements, and MaybeUninit<usize>
    // has the layout of usize.
    let frames = unsafe { &*(std::ptr::from_ref(&storage[..captured.len]) as *const [usize]) };
    records::record_sample(p as usize, size, rate, frames, captured.truncated(), tag, st.bucket_stripe())
}
