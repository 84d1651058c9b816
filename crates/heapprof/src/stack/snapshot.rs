//! The process-wide, immutable view of the loaded modules that every capture reads:
//! their executable ranges and their call-frame information.
//!
//! Readers load one atomic pointer. A new snapshot is built (after a `dlopen`) by one
//! thread at a time under a try-lock and published by swapping the pointer; the old one
//! is leaked, since another thread may still be walking with it. Rebuilds happen only
//! when the loader's load/unload counters moved, so the leak is bounded by the number
//! of `dlopen`/`dlclose` calls (a few hundred bytes per module each).

use core::ops::Range;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use super::cfi::ModuleCfi;
use super::modules::{self, Lookup};
use super::{rules, thread};

/// One immutable view of the loaded modules.
pub(crate) struct Snapshot {
    /// Executable ranges of all modules, sorted, disjoint.
    texts: Vec<Range<usize>>,
    /// Call-frame information of the modules that have it, sorted by text address.
    modules: Vec<ModuleCfi>,
    /// The loader's (loads, unloads) counters when this was built.
    generation: (u64, u64),
}

impl Snapshot {
    /// Whether `return_address` follows a call instruction in a known executable range.
    #[inline(always)]
    pub(super) fn is_return_address(&self, return_address: usize) -> bool {
        let Some(call) = return_address.checked_sub(1) else {
            return false;
        };
        let after = self.texts.partition_point(|r| r.start <= call);
        match after.checked_sub(1).and_then(|i| self.texts.get(i)) {
            Some(range) => call < range.end,
            None => false,
        }
    }

    /// The call-frame information of the module whose code holds `address`.
    pub(super) fn module_for(&self, address: usize) -> Option<&ModuleCfi> {
        let after = self.modules.partition_point(|m| m.text.start <= address);
        let module = self.modules.get(after.checked_sub(1)?)?;
        module.text.contains(&address).then_some(module)
    }

    fn build(listing: modules::Enumeration) -> Snapshot {
        let mut texts = Vec::new();
        let mut cfi = Vec::new();
        for module in &listing.modules {
            texts.extend(module.texts().iter().cloned());
            let first = module.texts().iter().map(|r| r.start).min();
            let last = module.texts().iter().map(|r| r.end).max();
            if let (Some(first), Some(last), Some(hdr), Some(frame)) =
                (first, last, &module.eh_frame_hdr, &module.eh_frame)
            {
                cfi.push(ModuleCfi::new(first..last, hdr.clone(), frame.clone()));
            }
        }
        texts.sort_by_key(|r| r.start);
        cfi.sort_by_key(|m| m.text.start);
        Snapshot { texts, modules: cfi, generation: listing.generation }
    }
}

static CURRENT: &AtomicPtr<Snapshot> = &crate::sample_line::SAMPLE_LINE.snapshot;
/// Held while a snapshot is being built.
static BUILDING: AtomicBool = AtomicBool::new(false);
/// When (CLOCK_MONOTONIC_COARSE, ms) the module list was last re-read for nothing.
static LAST_FUTILE_CHECK_MS: AtomicU64 = AtomicU64::new(0);
/// Re-read the module list for an unknown address at most this often when the last
/// re-read found no change (JIT code or garbage addresses would otherwise make every
/// capture list the modules).
const FUTILE_CHECK_INTERVAL_MS: u64 = 10;

/// The current snapshot, built on first use.
#[inline(always)]
pub(super) fn current() -> Option<&'static Snapshot> {
    let p = CURRENT.load(Ordering::Acquire);
    if p.is_null() {
        return build_first();
    }
    // SAFETY: published snapshots are leaked, never freed or mutated.
    Some(unsafe { &*p })
}

/// Builds the first snapshot. Threads that get here together each build one and the
/// first to publish wins (the others drop theirs, never seen by anyone): nobody waits.
#[cold]
fn build_first() -> Option<&'static Snapshot> {
    thread::init_process_hooks();
    modules::resolve_find_object();
    let fresh = Box::into_raw(Box::new(Snapshot::build(modules::enumerate())));
    match CURRENT.compare_exchange(core::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: just published; published snapshots are never freed.
        Ok(_) => Some(unsafe { &*fresh }),
        Err(existing) => {
            // SAFETY: `fresh` was never published: this thread is its only user.
            drop(unsafe { Box::from_raw(fresh) });
            // SAFETY: published snapshots are leaked, never freed or mutated.
            Some(unsafe { &*existing })
        }
    }
}

fn load_current() -> Option<&'static Snapshot> {
    let p = CURRENT.load(Ordering::Acquire);
    // SAFETY: published snapshots are leaked, never freed or mutated.
    (!p.is_null()).then(|| unsafe { &*p })
}

fn publish(snapshot: Snapshot) -> &'static Snapshot {
    let p = Box::into_raw(Box::new(snapshot));
    // The previous snapshot is leaked on purpose (see the module documentation).
    CURRENT.store(p, Ordering::Release);
    // SAFETY: just leaked.
    unsafe { &*p }
}

/// Called when a walk met `return_address` outside every known module: if the loader
/// knows a module there (a `dlopen` since the snapshot), installs and returns a new
/// snapshot. Never blocks; rate-limited when nothing changed.
#[cold]
pub(super) fn refresh_for(return_address: usize) -> Option<&'static Snapshot> {
    match modules::find_object(return_address) {
        Lookup::NotFound => return None,
        Lookup::Found(_) | Lookup::Unsupported => {}
    }
    let now = coarse_now_ms();
    let last = LAST_FUTILE_CHECK_MS.load(Ordering::Relaxed);
    if last != 0 && now.wrapping_sub(last) < FUTILE_CHECK_INTERVAL_MS {
        return None;
    }
    let fresh = refresh_if_changed();
    if fresh.is_none() {
        LAST_FUTILE_CHECK_MS.store(now.max(1), Ordering::Relaxed);
    }
    fresh
}

/// Re-reads the module list if the loader's counters moved since the current snapshot;
/// returns the new snapshot if one was installed.
pub(super) fn refresh_if_changed() -> Option<&'static Snapshot> {
    if load_current().is_none() {
        return build_first();
    }
    let _lock = BuildLock::try_acquire()?;
    // Read under the lock: the snapshot this thread saw may have been replaced since.
    let current = load_current()?;
    modules::STALE.store(false, Ordering::Relaxed);
    if modules::load_generation() == current.generation {
        return None;
    }
    let fresh = Snapshot::build(modules::enumerate());
    if fresh.generation.1 != current.generation.1 {
        // A module was unloaded: its addresses may now hold other code.
        rules::forget_all();
    }
    Some(publish(fresh))
}

/// Whether module bytes were found unloaded during a walk (then the walk's result may be
/// wrong and the snapshot should be replaced).
#[inline(always)]
pub(super) fn stale() -> bool {
    modules::STALE.load(Ordering::Relaxed)
}

/// See `thread::after_fork_child`.
pub(super) fn after_fork_child() {
    BUILDING.store(false, Ordering::Release);
}

struct BuildLock;

impl BuildLock {
    fn try_acquire() -> Option<BuildLock> {
        (!BUILDING.swap(true, Ordering::Acquire)).then_some(BuildLock)
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        BUILDING.store(false, Ordering::Release);
    }
}

fn coarse_now_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1000).wrapping_add(ts.tv_nsec as u64 / 1_000_000)
}
