//! Per-thread state of the allocation path: the re-entrancy flag, the sampler's
//! countdown, and a slot of exact counters that other threads can read.
//!
//! The thread-local is `const`-initialised and has no destructor, so it is usable
//! at any point of a thread's life (before `main`, during TLS teardown) and costs
//! one segment-relative access. Slots are never freed: a thread that exits hands
//! its slot, counts included, to the next thread that starts, so totals are the
//! plain sum over all slots.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};

use crate::rawmem;

/// Exact counters of one thread (or of the shared overflow slot).
#[repr(align(128))]
pub(crate) struct Slot {
    in_use: AtomicBool,
    /// Written by several threads at once: counters use atomic read-modify-write.
    shared: bool,
    /// The stripe of the sampled-record buckets its thread records into (see
    /// `records::buckets::STRIPES`): slots take the stripes in turn.
    stripe: u8,
    pub(crate) alloc_count: AtomicU64,
    pub(crate) alloc_bytes: AtomicU64,
    pub(crate) free_count: AtomicU64,
    pub(crate) free_bytes: AtomicU64,
    pub(crate) realloc_count: AtomicU64,
    /// Live bytes not yet folded into the global live counter (see `stats`).
    pub(crate) pending_live: AtomicI64,
    next: AtomicPtr<Slot>,
}

impl Slot {
    const fn new(shared: bool, stripe: u8) -> Self {
        Slot {
            in_use: AtomicBool::new(shared),
            shared,
            stripe,
            alloc_count: AtomicU64::new(0),
            alloc_bytes: AtomicU64::new(0),
            free_count: AtomicU64::new(0),
            free_bytes: AtomicU64::new(0),
            realloc_count: AtomicU64::new(0),
            pending_live: AtomicI64::new(0),
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Whether several threads write this slot (the overflow slot).
    #[inline(always)]
    pub(crate) fn is_shared(&self) -> bool {
        self.shared
    }

    /// Adds `n` to a counter of this slot; `shared` is [`Slot::is_shared`], given
    /// apart so that the fast path, whose slot is private, compiles without the test.
    /// A private slot has a single writer, so a plain load and store suffice and no
    /// locked instruction is paid.
    #[inline(always)]
    pub(crate) fn add(&self, counter: &AtomicU64, n: u64, shared: bool) {
        if shared {
            counter.fetch_add(n, Relaxed);
        } else {
            counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
        }
    }

    /// On a private slot: adds a signed change of live bytes and returns true, unless
    /// the pending total would then call for a flush (see `stats::flush_due`).
    #[inline(always)]
    pub(crate) fn add_live_unless_flush_due(&self, delta: i64) -> bool {
        let v = self.pending_live.load(Relaxed) + delta;
        if crate::stats::flush_due(v) {
            return false;
        }
        self.pending_live.store(v, Relaxed);
        true
    }

    /// Adds a signed change of live bytes; returns the pending total.
    #[inline(always)]
    pub(crate) fn add_live(&self, delta: i64, shared: bool) -> i64 {
        if shared {
            self.pending_live.fetch_add(delta, Relaxed) + delta
        } else {
            let v = self.pending_live.load(Relaxed) + delta;
            self.pending_live.store(v, Relaxed);
            v
        }
    }
}

/// Used by threads whose own slot is gone (after their exit handler ran) or
/// could not be mapped.
static OVERFLOW_SLOT: Slot = Slot::new(true, 0);

/// All slots ever made, newest first (the overflow slot is not in the list).
static SLOTS: AtomicPtr<Slot> = AtomicPtr::new(ptr::null_mut());

/// Runs `f` on every slot, the overflow slot included.
pub(crate) fn for_each_slot(mut f: impl FnMut(&Slot)) {
    f(&OVERFLOW_SLOT);
    let mut p = SLOTS.load(Acquire);
    while !p.is_null() {
        // SAFETY: slots are never unmapped.
        let slot = unsafe { &*p };
        f(slot);
        p = slot.next.load(Acquire);
    }
}

/// The thread-local state of the allocation path.
pub(crate) struct ThreadState {
    /// Set while this thread runs profiler code that may allocate. Set and cleared
    /// by [`ThreadState::enter`] only, which keeps `fast_slot` in step.
    pub(crate) busy: Cell<bool>,
    /// This thread's slot when the allocation path may take its fast path: not
    /// busy, and a slot of its own. Null otherwise (busy, no slot claimed yet, or the
    /// shared overflow slot), which sends the allocation path to its slow path: one
    /// test instead of three on every allocation and free.
    fast_slot: Cell<*const Slot>,
    /// Bytes left before the next sample; below zero means "sample this one".
    pub(crate) countdown: Cell<i64>,
    /// Whether `countdown` has been drawn yet on this thread.
    pub(crate) sampler_ready: Cell<bool>,
    pub(crate) rng: Cell<u64>,
    slot: Cell<*const Slot>,
    /// The `heapprof::testing` measurement running on this thread, or 0. While one
    /// runs, `countdown` stays far below zero so every allocation takes the slow path.
    pub(crate) measure_tag: Cell<u32>,
    /// This thread's net allocated bytes when the measurement started.
    pub(crate) measure_start: Cell<i64>,
    /// The highest net allocated bytes seen since then.
    pub(crate) measure_peak: Cell<i64>,
}

thread_local! {
    static STATE: ThreadState = const {
        ThreadState {
            busy: Cell::new(false),
            fast_slot: Cell::new(ptr::null()),
            countdown: Cell::new(0),
            sampler_ready: Cell::new(false),
            rng: Cell::new(0),
            slot: Cell::new(ptr::null()),
            measure_tag: Cell::new(0),
            measure_start: Cell::new(0),
            measure_peak: Cell::new(0),
        }
    };
}

/// Runs `f` with this thread's state.
#[inline(always)]
pub(crate) fn with<R>(f: impl FnOnce(&ThreadState) -> R) -> R {
    STATE.with(f)
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

impl ThreadState {
    /// This thread's own slot if the allocation path may take its fast path (see
    /// `fast_slot`).
    #[inline(always)]
    pub(crate) fn fast_slot(&self) -> Option<&'static Slot> {
        // SAFETY: slots are never unmapped.
        unsafe { self.fast_slot.get().as_ref() }
    }

    /// Sends this thread's allocations to the slow path until the busy flag next changes.
    pub(crate) fn leave_fast_path(&self) {
        self.fast_slot.set(ptr::null());
    }

    /// Sets `fast_slot` from `busy` and `slot`.
    fn refresh_fast_slot(&self) {
        let slot = self.slot.get();
        // SAFETY: slots are never unmapped.
        let private = !slot.is_null() && !unsafe { &*slot }.shared;
        self.fast_slot.set(if private && !self.busy.get() { slot } else { ptr::null() });
    }

    /// The stripe this thread records samples into: its slot's, or the first while it
    /// has none.
    pub(crate) fn bucket_stripe(&self) -> u8 {
        // SAFETY: slots are never unmapped.
        unsafe { self.slot.get().as_ref() }.map_or(0, |s| s.stripe)
    }

    /// This thread's counter slot, claiming one on first use.
    #[inline(always)]
    pub(crate) fn slot(&self) -> &'static Slot {
        let p = self.slot.get();
        if !p.is_null() {
            // SAFETY: slots are never unmapped.
            return unsafe { &*p };
        }
        self.claim_slot()
    }

    /// Bytes this thread allocated minus bytes it freed, since it started.
    pub(crate) fn net_bytes(&self) -> i64 {
        let slot = self.slot();
        slot.alloc_bytes.load(Relaxed).wrapping_sub(slot.free_bytes.load(Relaxed)) as i64
    }

    #[cold]
    fn claim_slot(&self) -> &'static Slot {
        let slot = reuse_free_slot().or_else(new_slot).unwrap_or(&OVERFLOW_SLOT);
        self.slot.set(slot);
        if !slot.shared && !register_exit_handler(slot) {
            // No way to learn of this thread's exit: share the overflow slot instead.
            slot.in_use.store(false, Release);
            self.slot.set(&OVERFLOW_SLOT);
            return &OVERFLOW_SLOT;
        }
        self.refresh_fast_slot();
        slot
    }

    /// Stops sampling on this thread until the guard drops (the counters go on): for
    /// the profiler's own work on ordinary threads, such as symbolization.
    pub(crate) fn suppress_sampling(&self) -> SamplingSuppressed<'_> {
        let countdown = self.countdown.replace(i64::MAX);
        SamplingSuppressed { state: self, countdown }
    }

    /// Sets the busy flag; the returned guard restores the previous value, also
    /// when unwinding.
    pub(crate) fn enter(&self) -> BusyGuard<'_> {
        let previous = self.busy.replace(true);
        self.fast_slot.set(ptr::null());
        BusyGuard { state: self, previous }
    }
}

/// Restores the sampling countdown on drop.
pub(crate) struct SamplingSuppressed<'a> {
    state: &'a ThreadState,
    countdown: i64,
}

impl Drop for SamplingSuppressed<'_> {
    fn drop(&mut self) {
        self.state.countdown.set(self.countdown);
    }
}

/// Restores the busy flag on drop.
pub(crate) struct BusyGuard<'a> {
    state: &'a ThreadState,
    previous: bool,
}

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.state.busy.set(self.previous);
        self.state.refresh_fast_slot();
    }
}

fn reuse_free_slot() -> Option<&'static Slot> {
    let mut p = SLOTS.load(Acquire);
    while !p.is_null() {
        // SAFETY: slots are never unmapped.
        let slot = unsafe { &*p };
        if !slot.in_use.load(Relaxed) && slot.in_use.compare_exchange(false, true, Acquire, Relaxed).is_ok() {
            return Some(slot);
        }
        p = slot.next.load(Acquire);
    }
    None
}

fn new_slot() -> Option<&'static Slot> {
    let mem = rawmem::map(size_of::<Slot>()).cast::<Slot>();
    if mem.is_null() {
        return None;
    }
    static SLOTS_MADE: AtomicUsize = AtomicUsize::new(0);
    let stripe = (SLOTS_MADE.fetch_add(1, Relaxed) % crate::records::STRIPES) as u8;
    // SAFETY: `mem` is fresh, writable, page-aligned memory large enough for a Slot.
    unsafe { mem.write(Slot::new(false, stripe)) };
    // SAFETY: just initialised; never unmapped.
    let slot = unsafe { &*mem };
    slot.in_use.store(true, Relaxed);
    let mut head = SLOTS.load(Relaxed);
    loop {
        slot.next.store(head, Relaxed);
        match SLOTS.compare_exchange_weak(head, mem, Release, Relaxed) {
            Ok(_) => return Some(slot),
            Err(h) => head = h,
        }
    }
}

/// A pthread key whose destructor releases the slot when the thread exits. pthread
/// keys, unlike Rust's thread-locals with destructors, allocate nothing through
/// the global allocator when set.
static EXIT_KEY: AtomicU64 = AtomicU64::new(u64::MAX);

fn register_exit_handler(slot: &'static Slot) -> bool {
    let mut key = EXIT_KEY.load(Acquire);
    if key == u64::MAX {
        let mut k: libc::pthread_key_t = 0;
        // SAFETY: `k` is a valid out pointer; the destructor is an extern "C" fn.
        if unsafe { libc::pthread_key_create(&mut k, Some(release_slot)) } != 0 {
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
    // SAFETY: the key is valid; the value is a non-null pointer to a static slot.
    unsafe { libc::pthread_setspecific(key as libc::pthread_key_t, ptr::from_ref(slot).cast()) == 0 }
}

extern "C" fn release_slot(value: *mut libc::c_void) {
    // SAFETY: the value was set by `register_exit_handler` to a never-unmapped slot.
    let slot = unsafe { &*value.cast::<Slot>() };
    // Later allocations of this exiting thread (other exit handlers) use the overflow slot.
    let _ = STATE.try_with(|s| {
        s.slot.set(&OVERFLOW_SLOT);
        s.refresh_fast_slot();
    });
    crate::stats::flush_pending(slot);
    slot.in_use.store(false, Release);
}
