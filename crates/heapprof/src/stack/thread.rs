//! Per-thread state of stack capture: the thread's stack bounds and its scratch space
//! for evaluating unwind tables (used only when the shared rule cache misses).
//!
//! Everything here is reachable from a `const`-initialised thread-local without `Drop`,
//! so it works in threads not created by Rust, while thread-local destructors run, and
//! in forked children. A thread's scratch space is handed back to a pool by a pthread key
//! destructor when the thread exits, and the next new thread takes it from there.

use core::cell::Cell;
use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};

use super::cfi::CfiContext;
use super::memo::Memo;

/// What a walk needs beyond the shared rule cache, one per thread.
pub(super) struct Scratch {
    /// For evaluating unwind tables on a rule-cache miss.
    pub(super) context: CfiContext,
    /// The thread's previous walk.
    pub(super) memo: Memo,
}

/// A thread's scratch space, and the link that chains it in the pool while no thread owns it.
pub(super) struct ScratchSlot {
    scratch: Scratch,
    next: AtomicPtr<ScratchSlot>,
}

/// `ThreadStack::slot` while the slot is in use: a re-entrant call finds it and gives up.
const BUSY: *mut ScratchSlot = ptr::without_provenance_mut(1);
/// `ThreadStack::slot` after the thread gave its slot back (thread teardown).
const RETIRED: *mut ScratchSlot = ptr::without_provenance_mut(2);

/// `ThreadStack::hi` when the stack bounds could not be read.
const BOUNDS_UNKNOWN: usize = 1;

/// What capture keeps per thread. No `Drop`: see the module documentation.
pub(super) struct ThreadStack {
    /// Lowest address of the thread's stack (0 until read).
    lo: Cell<usize>,
    /// One past the highest address of the thread's stack; 0 until read, `BOUNDS_UNKNOWN`
    /// if it could not be read.
    hi: Cell<usize>,
    /// Null (none yet), `BUSY`, `RETIRED`, or the thread's own scratch slot.
    slot: Cell<*mut ScratchSlot>,
    /// The rule-cache slots the last walk on this thread looked up (those of its first
    /// `RECENT_RULES` frames), and how many: see [`super::prefetch_rules`].
    recent_rules: [Cell<u16>; RECENT_RULES],
    recent_len: Cell<u8>,
}

/// How many rule-cache slots a thread remembers from its last walk.
pub(super) const RECENT_RULES: usize = 32;

thread_local! {
    static THREAD: ThreadStack = const {
        ThreadStack {
            lo: Cell::new(0),
            hi: Cell::new(0),
            slot: Cell::new(ptr::null_mut()),
            recent_rules: [const { Cell::new(0) }; RECENT_RULES],
            recent_len: Cell::new(0),
        }
    };
}

/// Runs `f` with the calling thread's state; `None` if thread-local storage is unavailable.
#[inline(always)]
pub(super) fn with_thread<R>(f: impl FnOnce(&ThreadStack) -> R) -> Option<R> {
    THREAD.try_with(f).ok()
}

impl ThreadStack {
    /// The bounds `[lo, hi)` of the calling thread's stack, read once per thread.
    #[inline(always)]
    pub(super) fn bounds(&self) -> Option<(usize, usize)> {
        match self.hi.get() {
            0 => self.read_bounds(),
            BOUNDS_UNKNOWN => None,
            hi => Some((self.lo.get(), hi)),
        }
    }

    /// Remembers the rule-cache slots a walk looked up.
    #[inline(always)]
    pub(super) fn set_recent_rules(&self, slots: &[u16]) {
        let n = slots.len().min(RECENT_RULES);
        for (cell, &slot) in self.recent_rules.iter().zip(&slots[..n]) {
            cell.set(slot);
        }
        self.recent_len.set(n as u8);
    }

    /// The rule-cache slots the last walk looked up.
    #[inline(always)]
    pub(super) fn recent_rules(&self) -> impl Iterator<Item = u16> + '_ {
        // The clamp keeps the allocation path free of a slicing panic.
        self.recent_rules[..usize::from(self.recent_len.get()).min(RECENT_RULES)].iter().map(Cell::get)
    }

    #[cold]
    fn read_bounds(&self) -> Option<(usize, usize)> {
        match thread_stack_bounds() {
            Some((lo, hi)) => {
                self.lo.set(lo);
                self.hi.set(hi);
                Some((lo, hi))
            }
            None => {
                self.hi.set(BOUNDS_UNKNOWN);
                None
            }
        }
    }

    /// Runs `f` with exclusive use of scratch space: the thread's own (made on first use),
    /// or during thread teardown one borrowed from the pool. `None` on re-entry (a capture
    /// interrupted by a signal handler that captures) or when no scratch space could be had.
    #[inline(always)]
    pub(super) fn with_scratch<R>(&self, f: impl FnOnce(&mut Scratch) -> R) -> Option<R> {
        let current = self.slot.get();
        if current == BUSY {
            return None;
        }
        let (slot, borrowed) = if current.is_null() || current == RETIRED {
            self.take_slot(current == RETIRED)?
        } else {
            (current, false)
        };
        self.slot.set(BUSY);
        // SAFETY: `slot` points to a live `ScratchSlot` (slots are never freed) that nobody
        // else uses: either this thread owns it (and `BUSY` keeps re-entrant calls away
        // from it until it is restored below), or it was just taken out of the pool.
        let result = f(unsafe { &mut (*slot).scratch });
        if borrowed {
            self.slot.set(RETIRED);
            pool_push(slot);
        } else {
            self.slot.set(slot);
        }
        Some(result)
    }

    #[cold]
    fn take_slot(&self, retired: bool) -> Option<(*mut ScratchSlot, bool)> {
        let slot = match pool_pop() {
            Some(slot) => {
                // SAFETY: popped from the pool, so no other thread uses it; another
                // thread's walk is no use to this one.
                unsafe { (*slot).scratch.memo.clear() };
                slot
            }
            None => new_slot(),
        };
        if retired {
            return Some((slot, true));
        }
        // Hand the slot back to the pool when the thread exits. Without a key the slot
        // leaks at thread exit.
        if let Some(key) = slot_key() {
            // SAFETY: `key` was created by `pthread_key_create`; the value is only read
            // back by `release_slot`.
            unsafe { libc::pthread_setspecific(key, slot.cast::<c_void>().cast_const()) };
        }
        Some((slot, false))
    }
}

/// Allocates a new scratch slot (through the global allocator: the caller's re-entrancy
/// guard sends it to the system allocator).
fn new_slot() -> *mut ScratchSlot {
    Box::into_raw(Box::new(ScratchSlot {
        scratch: Scratch { context: CfiContext::new_in(), memo: Memo::new() },
        next: AtomicPtr::new(ptr::null_mut()),
    }))
}

/// Reads the calling thread's stack range with `pthread_getattr_np` (for the main
/// thread glibc derives it from `/proc/self/maps` and the stack rlimit).
fn thread_stack_bounds() -> Option<(usize, usize)> {
    // SAFETY: `attr` is initialised by `pthread_getattr_np` before it is read, and
    // destroyed exactly once after a successful initialisation.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut c_void = ptr::null_mut();
        let mut size: libc::size_t = 0;
        let rc = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        if rc != 0 {
            return None;
        }
        let lo = addr as usize;
        let hi = lo.checked_add(size)?;
        (hi > lo.saturating_add(BOUNDS_UNKNOWN)).then_some((lo, hi))
    }
}

// The pool of scratch slots given back by exited threads: a Treiber stack with lock-free
// pushes and pops serialised by a try-lock (which makes it safe from ABA: only one
// thread at a time reads a node's `next` and unlinks it, and nodes are never freed).

static POOL: AtomicPtr<ScratchSlot> = AtomicPtr::new(ptr::null_mut());
static POOL_POP_LOCK: AtomicBool = AtomicBool::new(false);

fn pool_push(slot: *mut ScratchSlot) {
    let mut head = POOL.load(Ordering::Relaxed);
    loop {
        // SAFETY: the caller owns `slot`, a live `ScratchSlot`.
        unsafe { (*slot).next.store(head, Ordering::Relaxed) };
        match POOL.compare_exchange_weak(head, slot, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => head = actual,
        }
    }
}

fn pool_pop() -> Option<*mut ScratchSlot> {
    if POOL_POP_LOCK.swap(true, Ordering::Acquire) {
        return None;
    }
    let mut head = POOL.load(Ordering::Acquire);
    let popped = loop {
        if head.is_null() {
            break None;
        }
        // SAFETY: `head` is a live slot in the pool; no other thread can unlink it while
        // we hold the pop lock, so its `next` stays what it was when it was pushed.
        let next = unsafe { (*head).next.load(Ordering::Relaxed) };
        match POOL.compare_exchange_weak(head, next, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => break Some(head),
            Err(actual) => head = actual,
        }
    };
    POOL_POP_LOCK.store(false, Ordering::Release);
    popped
}

/// The pthread key whose destructor gives a thread's slot back (u32::MAX: none).
static SLOT_KEY: AtomicU32 = AtomicU32::new(u32::MAX);

fn slot_key() -> Option<libc::pthread_key_t> {
    let key = SLOT_KEY.load(Ordering::Acquire);
    (key != u32::MAX).then_some(key)
}

/// Creates the pthread key and the fork handler; the first call does it, later ones
/// return at once (a thread racing the first may start without the key: its scratch space then
/// leaks when it exits).
pub(super) fn init_process_hooks() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::AcqRel) {
        return;
    }
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: plain libc calls with valid pointers; `release_slot` and `after_fork_child`
    // are `extern "C"` functions that live for the whole process.
    unsafe {
        if libc::pthread_key_create(&mut key, Some(release_slot)) == 0 && key != u32::MAX {
            SLOT_KEY.store(key, Ordering::Release);
        }
        libc::pthread_atfork(None, None, Some(after_fork_child));
    }
}

/// Thread-exit destructor of `SLOT_KEY`: gives the slot back to the pool and marks the
/// thread retired, so that captures later in its teardown borrow a slot instead.
unsafe extern "C" fn release_slot(slot: *mut c_void) {
    let slot = slot.cast::<ScratchSlot>();
    let _ = with_thread(|t| t.slot.set(RETIRED));
    if !slot.is_null() {
        pool_push(slot);
    }
}

/// In a forked child only the forking thread survives: a try-lock that another thread
/// held at the fork would stay held forever, so reset them.
extern "C" fn after_fork_child() {
    POOL_POP_LOCK.store(false, Ordering::Release);
    super::snapshot::after_fork_child();
}
