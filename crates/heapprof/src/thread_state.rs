//! Per-thread state of the allocation path: the re-entrancy flag, the sampler's
//! countdown, and the thread's exact counters.
//!
//! The thread-local is `const`-initialised and has no destructor, so it is usable
//! at any point of a thread's life (before `main`, during TLS teardown) and costs
//! one segment-relative access. The counters live in it, beside the countdown, so
//! the fast path touches one cache line found from the thread pointer and nothing
//! else.
//!
//! Readers find the counters through a registry of live threads: a list under a lock
//! that readers, starting threads and exiting threads take, never the fast path. A
//! thread joins at its first allocation or free. Before its thread-local block is
//! freed, an exiting thread adds its counts to the totals of exited threads and
//! leaves the list; a forked child does the same for the threads that did not follow
//! it. So totals are the exited threads' plus the sum over the list.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering::*};

use crate::spin::SpinLock;
use crate::stats::FLUSH_BYTES;

/// Exact counters of one thread, written by that thread only and read by any.
pub(crate) struct Counts {
    pub(crate) alloc_count: AtomicU64,
    pub(crate) alloc_bytes: AtomicU64,
    pub(crate) free_count: AtomicU64,
    pub(crate) free_bytes: AtomicU64,
    pub(crate) realloc_count: AtomicU64,
}

/// A sum of [`Counts`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Totals {
    pub(crate) alloc_count: u64,
    pub(crate) alloc_bytes: u64,
    pub(crate) free_count: u64,
    pub(crate) free_bytes: u64,
    pub(crate) realloc_count: u64,
}

impl Counts {
    const fn new() -> Self {
        Counts {
            alloc_count: AtomicU64::new(0),
            alloc_bytes: AtomicU64::new(0),
            free_count: AtomicU64::new(0),
            free_bytes: AtomicU64::new(0),
            realloc_count: AtomicU64::new(0),
        }
    }

    /// Adds `n` to a counter with a single writer: a plain load and store, no
    /// locked instruction.
    #[inline(always)]
    pub(crate) fn bump(counter: &AtomicU64, n: u64) {
        counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Each counter with what `t` adds to it. Callers skip the zeros: inlined with
    /// a constant `t`, those tests go away.
    #[inline(always)]
    fn with_additions(&self, t: Totals) -> [(&AtomicU64, u64); 5] {
        [
            (&self.alloc_count, t.alloc_count),
            (&self.alloc_bytes, t.alloc_bytes),
            (&self.free_count, t.free_count),
            (&self.free_bytes, t.free_bytes),
            (&self.realloc_count, t.realloc_count),
        ]
    }

    /// Adds `t` to a thread's own counters (single writer).
    #[inline(always)]
    fn add_own(&self, t: Totals) {
        for (counter, n) in self.with_additions(t) {
            if n != 0 {
                Counts::bump(counter, n);
            }
        }
    }

    pub(crate) fn read(&self) -> Totals {
        Totals {
            alloc_count: self.alloc_count.load(Relaxed),
            alloc_bytes: self.alloc_bytes.load(Relaxed),
            free_count: self.free_count.load(Relaxed),
            free_bytes: self.free_bytes.load(Relaxed),
            realloc_count: self.realloc_count.load(Relaxed),
        }
    }

    /// Adds `t` with atomic read-modify-writes: for counters several threads write.
    fn add_shared(&self, t: Totals) {
        for (counter, n) in self.with_additions(t) {
            if n != 0 {
                counter.fetch_add(n, Relaxed);
            }
        }
    }
}

impl Totals {
    fn add(&mut self, t: Totals) {
        self.alloc_count = self.alloc_count.wrapping_add(t.alloc_count);
        self.alloc_bytes = self.alloc_bytes.wrapping_add(t.alloc_bytes);
        self.free_count = self.free_count.wrapping_add(t.free_count);
        self.free_bytes = self.free_bytes.wrapping_add(t.free_bytes);
        self.realloc_count = self.realloc_count.wrapping_add(t.realloc_count);
    }
}

/// Counts of threads no longer in the registry: exited ones, and the operations of
/// threads that could not join or already left (see [`Membership::Shared`]).
static EXITED: Counts = Counts::new();

#[derive(Clone, Copy, PartialEq, Eq)]
enum Membership {
    /// Not in the registry yet: the next allocation or free joins it.
    Outside,
    /// In the registry: the counters are this thread's own.
    Member,
    /// Left the registry (exiting) or could not join: each operation is added to
    /// [`EXITED`] and to the global live bytes at once.
    Shared,
}

/// `countdown` while the thread may not take the fast path: far enough below zero
/// that no allocation size brings it back up.
const CLOSED: i64 = i64::MIN / 2;

/// The thread-local state of the allocation path. The fast path's fields come first,
/// in one cache line.
///
/// The fast path has two allowances, which are also its only tests: `countdown`, the
/// bytes it may allocate, and `free_window_end`, how far `counts.free_bytes` may go.
/// While the thread may not take it (busy, not a member of the registry, measured by
/// `testing`), both are closed: every operation takes the slow path.
#[repr(C, align(64))]
pub(crate) struct ThreadState {
    /// Bytes the fast path may allocate before the slow path runs: the distance to
    /// the next sample, cut to the allocation window (see [`ThreadState::settle`]);
    /// [`CLOSED`] while the thread may not take the fast path.
    countdown: Cell<i64>,
    pub(crate) counts: Counts,
    /// The fast path frees while `counts.free_bytes` stays below this; 0 when closed.
    free_window_end: Cell<u64>,
    /// Set while this thread runs profiler code that may allocate. Set and cleared
    /// by [`ThreadState::enter`] only, which closes the fast path until the thread
    /// next settles (at the end of the slow path).
    pub(crate) busy: Cell<bool>,
    /// The distance to the next sample beyond `countdown` (all of it while closed).
    beyond: Cell<i64>,
    /// Net bytes (allocated minus freed) already added to the global live bytes.
    folded: Cell<i64>,
    /// Sampling is off on this thread (its allocations are the profiler's own work).
    quiet: Cell<bool>,
    membership: Cell<Membership>,
    /// The stripe of the sampled-record buckets this thread records into (see
    /// `records::buckets::STRIPES`): members take the stripes in turn.
    stripe: Cell<u8>,
    /// Whether the sampler has drawn this thread's first distance.
    pub(crate) sampler_ready: Cell<bool>,
    pub(crate) rng: Cell<u64>,
    /// The `heapprof::testing` measurement running on this thread, or 0. While one
    /// runs, `countdown` stays far below zero so every allocation takes the slow path.
    pub(crate) measure_tag: Cell<u32>,
    /// This thread's net allocated bytes when the measurement started.
    pub(crate) measure_start: Cell<i64>,
    /// The highest net allocated bytes seen since then.
    pub(crate) measure_peak: Cell<i64>,
    /// Neighbours in the registry; read and written only under its lock.
    prev: Cell<*const ThreadState>,
    next: Cell<*const ThreadState>,
}

thread_local! {
    static STATE: ThreadState = const {
        ThreadState {
            countdown: Cell::new(CLOSED),
            counts: Counts::new(),
            free_window_end: Cell::new(0),
            busy: Cell::new(false),
            beyond: Cell::new(0),
            folded: Cell::new(0),
            quiet: Cell::new(false),
            membership: Cell::new(Membership::Outside),
            stripe: Cell::new(0),
            sampler_ready: Cell::new(false),
            rng: Cell::new(0),
            measure_tag: Cell::new(0),
            measure_start: Cell::new(0),
            measure_peak: Cell::new(0),
            prev: Cell::new(ptr::null()),
            next: Cell::new(ptr::null()),
        }
    };
}

/// Runs `f` with this thread's state. `f` runs in the caller's frame, not inside
/// `LocalKey::with`, which the compiler keeps out of line when `f` is large: a sampled
/// stack would then be one frame deeper to walk.
#[inline(always)]
pub(crate) fn with<R>(f: impl FnOnce(&ThreadState) -> R) -> R {
    let st = STATE.with(ptr::from_ref);
    // SAFETY: a `const` thread-local without destructor lives as long as its thread,
    // and the reference does not leave this call.
    f(unsafe { &*st })
}

/// Runs `f` with sampling off on this thread: for the profiler's own work (its threads,
/// symbolization, encoding), whose memory is not the application's heap. Its
/// allocations are still counted in the exact statistics.
pub(crate) fn quietly<R>(f: impl FnOnce() -> R) -> R {
    with(|st| {
        let _quiet = st.suppress_sampling();
        f()
    })
}

/// Runs `f` as the profiler's own work: what it allocates and frees is counted in
/// `Stats::profiler_bytes` instead of the application's figures, and never sampled.
/// Nothing allocated inside may be freed outside, nor the reverse, or the two counts
/// drift apart: a result that leaves must be made in [`as_application`].
pub(crate) fn as_profiler<R>(f: impl FnOnce() -> R) -> R {
    with(|st| {
        let _busy = st.enter();
        f()
    })
}

/// Runs `f`, inside [`as_profiler`], as the application's work again: for results that
/// leave the profiler's region and are freed by the application.
pub(crate) fn as_application<R>(f: impl FnOnce() -> R) -> R {
    with(|st| {
        let _back = BusyGuard { state: st, previous: st.busy.replace(false) };
        f()
    })
}

impl ThreadState {
    /// The fast path's test for an allocation of `size` bytes: the allowance left
    /// after it, or None for the slow path.
    #[inline(always)]
    pub(crate) fn alloc_fits(&self, size: usize) -> Option<i64> {
        let left = self.countdown.get().wrapping_sub(size as i64);
        (left >= 0).then_some(left)
    }

    /// Takes a fitting allocation off the allowance (see [`ThreadState::alloc_fits`]).
    #[inline(always)]
    pub(crate) fn set_allowance(&self, left: i64) {
        self.countdown.set(left);
    }

    /// The fast path's test for a free of `size` bytes: `counts.free_bytes` after it,
    /// or None for the slow path.
    #[inline(always)]
    pub(crate) fn free_fits(&self, size: usize) -> Option<u64> {
        let freed = self.counts.free_bytes.load(Relaxed).wrapping_add(size as u64);
        (freed < self.free_window_end.get()).then_some(freed)
    }

    /// Sends this thread to the slow path until it next settles, keeping the
    /// distance to the next sample.
    pub(crate) fn close(&self) {
        let countdown = self.countdown.replace(CLOSED);
        if countdown >= 0 {
            self.beyond.set(self.beyond.get().saturating_add(countdown));
        }
        self.free_window_end.set(0);
    }

    /// Whether the sample point is reached while sampling is off on this thread.
    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet.get()
    }

    /// The stripe this thread records samples into.
    pub(crate) fn bucket_stripe(&self) -> u8 {
        self.stripe.get()
    }

    /// Bytes this thread allocated minus bytes it freed, since it started.
    pub(crate) fn net_bytes(&self) -> i64 {
        let c = &self.counts;
        c.alloc_bytes.load(Relaxed).wrapping_sub(c.free_bytes.load(Relaxed)) as i64
    }

    /// Counts an allocation, a free, or both (a `realloc`) on the slow path.
    #[inline(always)]
    pub(crate) fn count(&self, t: Totals) {
        if self.membership.get() != Membership::Member && !self.join() {
            self.count_shared(t);
            return;
        }
        self.counts.add_own(t);
    }

    #[cold]
    fn count_shared(&self, t: Totals) {
        // Kept in the thread's own counters too, for `testing`'s per-thread figures.
        self.counts.add_own(t);
        EXITED.add_shared(t);
        crate::stats::fold(t.alloc_bytes.wrapping_sub(t.free_bytes) as i64);
    }

    /// Sets the distance in bytes to the next sample point (closing the fast path
    /// until the thread next settles).
    pub(crate) fn set_sample_distance(&self, bytes: i64) {
        self.close();
        self.beyond.set(bytes);
    }

    /// The distance to the next sample point, the allowance included.
    #[inline(always)]
    fn distance(&self) -> i64 {
        let countdown = self.countdown.get();
        let beyond = self.beyond.get();
        if countdown >= 0 { beyond.saturating_add(countdown) } else { beyond }
    }

    /// On the slow path: takes an allocation of `size` bytes off the distance to the
    /// next sample and returns what is left, below zero when the sample point is
    /// reached. Closes the allocation allowance until the thread settles.
    #[inline(always)]
    pub(crate) fn count_down(&self, size: usize) -> i64 {
        let left = self.distance().wrapping_sub(size as i64);
        self.countdown.set(CLOSED);
        self.beyond.set(left);
        left
    }

    /// After a slow-path operation: a member adds its net bytes to the global live
    /// bytes if they moved more than half of [`FLUSH_BYTES`] since last added, and, if
    /// it may take the fast path, opens the allowances for the next operations so that
    /// they never move more than [`FLUSH_BYTES`] unadded.
    #[inline(always)]
    pub(crate) fn settle(&self) {
        if self.membership.get() != Membership::Member {
            return;
        }
        let net = self.net_bytes();
        let mut unadded = net.wrapping_sub(self.folded.get());
        if !(-FLUSH_BYTES / 2..=FLUSH_BYTES / 2).contains(&unadded) {
            crate::stats::fold(unadded);
            self.folded.set(net);
            unadded = 0;
        }
        if self.busy.get() || self.measure_tag.get() != 0 {
            self.close();
            return;
        }
        let distance = self.distance();
        let allowance = if distance >= 0 { distance.min(FLUSH_BYTES - unadded) } else { CLOSED };
        self.countdown.set(allowance);
        self.beyond.set(if distance >= 0 { distance - allowance } else { distance });
        let free_bytes = self.counts.free_bytes.load(Relaxed);
        self.free_window_end.set(free_bytes.wrapping_add((FLUSH_BYTES + unadded) as u64));
    }

    /// Stops sampling on this thread until the guard drops (the counters go on): for
    /// the profiler's own work on ordinary threads, such as symbolization.
    pub(crate) fn suppress_sampling(&self) -> SamplingSuppressed<'_> {
        SamplingSuppressed { state: self, previous: self.quiet.replace(true) }
    }

    /// Sets the busy flag; the returned guard restores the previous value, also
    /// when unwinding.
    pub(crate) fn enter(&self) -> BusyGuard<'_> {
        let previous = self.busy.replace(true);
        self.close();
        BusyGuard { state: self, previous }
    }

    /// Joins the registry; false if that is not possible (then the thread shares
    /// [`EXITED`] for good).
    #[cold]
    #[inline(never)]
    fn join(&self) -> bool {
        if self.membership.get() == Membership::Shared {
            return false;
        }
        let _busy = self.enter();
        // Before the registry lock: `pthread_atfork` takes glibc's fork lock, which a
        // forking thread holds while its prepare handler waits for the registry.
        crate::fork::ensure_handlers();
        if !register_exit_handler(self) {
            // No way to learn of this thread's exit, and its block must not be read after it.
            self.membership.set(Membership::Shared);
            return false;
        }
        let mut registry = REGISTRY.lock();
        static JOINED: AtomicU64 = AtomicU64::new(0);
        self.stripe.set((JOINED.fetch_add(1, Relaxed) % crate::records::STRIPES as u64) as u8);
        self.prev.set(ptr::null());
        self.next.set(registry.head);
        if let Some(head) = registry.get(registry.head) {
            head.prev.set(self);
        }
        registry.head = self;
        self.membership.set(Membership::Member);
        true
    }
}

/// The members' thread-local blocks, newest first.
struct Registry {
    head: *const ThreadState,
}

// SAFETY: the pointers are only followed under the registry's lock, while the
// blocks they point to are alive (members leave before their block is freed).
unsafe impl Send for Registry {}

impl Registry {
    fn get(&self, p: *const ThreadState) -> Option<&ThreadState> {
        // SAFETY: see `Send` above.
        unsafe { p.as_ref() }
    }

    /// Takes `st` out of the list, adding its counts to [`EXITED`] and its net bytes
    /// not yet added to the global live bytes.
    fn remove(&mut self, st: &ThreadState) {
        let net = st.net_bytes();
        crate::stats::fold(net.wrapping_sub(st.folded.get()));
        st.folded.set(net);
        EXITED.add_shared(st.counts.read());
        match self.get(st.prev.get()) {
            Some(prev) => prev.next.set(st.next.get()),
            None => self.head = st.next.get(),
        }
        if let Some(next) = self.get(st.next.get()) {
            next.prev.set(st.prev.get());
        }
        st.membership.set(Membership::Shared);
        st.close();
    }
}

static REGISTRY: SpinLock<Registry> = SpinLock::new(Registry { head: ptr::null() });

/// The sum of every thread's counters, exited threads included.
pub(crate) fn totals() -> Totals {
    // Busy: an allocation in a signal handler meanwhile must not try to join.
    with(|me| {
        let _busy = me.enter();
        // Under the lock, so that a thread leaving meanwhile is counted once: in the
        // list or in the exited totals.
        let registry = REGISTRY.lock();
        let mut sum = EXITED.read();
        let mut p = registry.head;
        while let Some(st) = registry.get(p) {
            sum.add(st.counts.read());
            p = st.next.get();
        }
        sum
    })
}

/// Holds the registry across `fork` (see `fork.rs`).
pub(crate) fn lock_for_fork() {
    REGISTRY.raw_lock();
}

/// In the parent after `fork`.
pub(crate) fn unlock_after_fork_in_parent() {
    // SAFETY: taken by `lock_for_fork` in this thread.
    unsafe { REGISTRY.raw_unlock() };
}

/// In the child after `fork`: only the forking thread lives on, so the others leave
/// the registry (their counts stay, in the exited totals) before their blocks, now
/// free stacks to glibc, can be reused.
pub(crate) fn unlock_after_fork_in_child() {
    // SAFETY: the lock is held (taken by `lock_for_fork` in the forking thread, this
    // thread), so nothing else touches the registry; the child has no other thread.
    let registry = unsafe { &mut *REGISTRY.raw_value() };
    let me: *const ThreadState = STATE.with(ptr::from_ref);
    let mut p = registry.head;
    while let Some(st) = registry.get(p) {
        let next = st.next.get();
        if p != me {
            // SAFETY: a block of a thread gone with the fork, still mapped in the child.
            registry.remove(unsafe { &*p });
        }
        p = next;
    }
    // SAFETY: as above.
    unsafe { REGISTRY.raw_unlock() };
}

/// Restores the sampling flag on drop.
pub(crate) struct SamplingSuppressed<'a> {
    state: &'a ThreadState,
    previous: bool,
}

impl Drop for SamplingSuppressed<'_> {
    fn drop(&mut self) {
        self.state.quiet.set(self.previous);
    }
}

/// Restores the busy flag on drop (set by [`ThreadState::enter`], or cleared by
/// [`as_application`]).
pub(crate) struct BusyGuard<'a> {
    state: &'a ThreadState,
    previous: bool,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        // The fast path stays closed: the slow path that set the flag settles at its
        // end, and any other caller's thread reopens at its next slow operation. Back
        // to busy after `as_application`, whose allocations may have opened it, it is
        // closed again.
        if self.previous {
            self.state.close();
        }
        self.state.busy.set(self.previous);
    }
}

/// A pthread key whose destructor takes the thread out of the registry when it
/// exits. pthread keys, unlike Rust's thread-locals with destructors, allocate
/// nothing through the global allocator when set, and their destructors run after
/// Rust's, so later frees of the thread are still counted (as shared ones).
///
/// A thread that first allocates or frees inside another key's destructor joins then,
/// and glibc runs the destructors again for the keys set meanwhile, ours included, up
/// to four rounds. Only a thread whose very first allocation came in the fourth round
/// would stay in the registry after its exit; no allocation path we know of does that.
static EXIT_KEY: AtomicU64 = AtomicU64::new(u64::MAX);

fn register_exit_handler(st: &ThreadState) -> bool {
    let mut key = EXIT_KEY.load(Acquire);
    if key == u64::MAX {
        let mut k: libc::pthread_key_t = 0;
        // SAFETY: `k` is a valid out pointer; the destructor is an extern "C" fn.
        if unsafe { libc::pthread_key_create(&mut k, Some(leave_registry)) } != 0 {
            return false;
        }
        match EXIT_KEY.compare_exchange(u64::MAX, u64::from(k), AcqRel, Acquire) {
            Ok(_) => key = u64::from(k),
            Err(existing) => {
                // Another thread won the race; ours is not needed.
                // SAFETY: `k` was created above and never used.
                unsafe { libc::pthread_key_delete(k) };
                key = existing;
            }
        }
    }
    // SAFETY: the key is valid; the value is this thread's state, non-null.
    unsafe { libc::pthread_setspecific(key as libc::pthread_key_t, ptr::from_ref(st).cast()) == 0 }
}

extern "C" fn leave_registry(value: *mut libc::c_void) {
    // SAFETY: set by `register_exit_handler` to this thread's state, alive until after
    // the pthread key destructors have run.
    let st = unsafe { &*value.cast::<ThreadState>() };
    REGISTRY.lock().remove(st);
}
