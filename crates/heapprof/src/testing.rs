//! Heap budgets in tests: exact allocation figures of a closure on the current
//! thread, and assertions whose failure shows the allocating sites.
//!
//! The figures come from the thread's own exact counters, so tests running in
//! parallel threads do not see each other's allocations, and they do not depend on
//! the sample rate. While a closure is measured, every allocation it makes on its
//! thread is also recorded with its stack (at rate 1, so the heap profile stays
//! unbiased): that is how a failing assertion names the functions that allocated.
//!
//! ```
//! #[global_allocator]
//! static ALLOC: heapprof::Profiler = heapprof::Profiler::new();
//!
//! use heapprof::testing::{assert_no_alloc, measure};
//!
//! let m = measure(|| vec![0u8; 1000].len());
//! assert_eq!(m.result, 1000);
//! assert_eq!((m.allocations, m.bytes_allocated, m.bytes_freed, m.leaked_bytes), (1, 1000, 1000, 0));
//!
//! let mut buffer = Vec::with_capacity(64);
//! assert_no_alloc(|| {
//!     for i in 0..64 {
//!         buffer.push(i); // reuses the capacity: no allocation
//!     }
//! });
//!
//! heapprof::assert_allocations!(|| String::from("hello"), max_count = 1, max_bytes = 5);
//! ```

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, Ordering::*};

use crate::records::Bucket;
use crate::thread_state::{self, ThreadState};

/// What a measured closure did on its thread.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Measurement<R> {
    /// What the closure returned.
    pub result: R,
    /// Blocks allocated (a `realloc` counts as one allocation and one free).
    pub allocations: u64,
    /// Blocks freed, including blocks allocated before the closure ran.
    pub deallocations: u64,
    /// Calls to `realloc`.
    pub reallocations: u64,
    /// Bytes allocated.
    pub bytes_allocated: u64,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// The most the closure held at once: the peak of bytes allocated minus bytes
    /// freed since it started (0 if it only freed).
    pub peak_live_bytes: u64,
    /// Bytes the closure allocated that are still live at its end, wherever they were
    /// freed (other threads included).
    pub leaked_bytes: u64,
    /// Blocks behind `leaked_bytes`.
    pub leaked_blocks: u64,
    /// Where the closure allocated, most bytes first (at most 16 sites kept).
    pub sites: Vec<Site>,
}

/// One allocation site of a measured closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Allocations made there.
    pub allocations: u64,
    /// Bytes allocated there.
    pub bytes: u64,
    /// A few frames of its stack, the allocating function first, as `name (file:line)`.
    pub stack: Vec<String>,
}

/// Sites kept per measurement; the rest are counted in the totals only.
const SITES: usize = 16;
/// Measurements that can run at once (one per thread at a time).
const SLOTS: usize = 255;

struct SiteSlot {
    bucket: AtomicPtr<Bucket>,
    allocations: AtomicU64,
    bytes: AtomicU64,
}

/// A running measurement: reached from the allocation path by its tag, so it lives
/// in a static table, not on the measuring thread's stack.
struct MeasureSlot {
    in_use: AtomicBool,
    generation: AtomicU32,
    /// Changed by frees on any thread: atomic read-modify-write.
    live_bytes: AtomicI64,
    live_blocks: AtomicI64,
    /// Written by the measuring thread only.
    sites: [SiteSlot; SITES],
}

static MEASURES: [MeasureSlot; SLOTS] = [const {
    MeasureSlot {
        in_use: AtomicBool::new(false),
        generation: AtomicU32::new(0),
        live_bytes: AtomicI64::new(0),
        live_blocks: AtomicI64::new(0),
        sites: [const {
            SiteSlot {
                bucket: AtomicPtr::new(std::ptr::null_mut()),
                allocations: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
            }
        }; SITES],
    }
}; SLOTS];

/// A tag is (generation << 8) | (slot index + 1): a block freed after its slot was
/// reused by a later measurement does not count against that one.
fn slot_of(tag: u32) -> Option<&'static MeasureSlot> {
    let index = ((tag & 0xff) as usize).checked_sub(1)?;
    let slot = MEASURES.get(index)?;
    (slot.generation.load(Relaxed) == tag >> 8).then_some(slot)
}

/// A tagged block was recorded (positive) or freed (negative).
pub(crate) fn tagged_block_changed(tag: u32, bytes: i64) {
    if let Some(slot) = slot_of(tag) {
        slot.live_bytes.fetch_add(bytes, Relaxed);
        slot.live_blocks.fetch_add(bytes.signum(), Relaxed);
    }
}

/// The allocation path of a thread being measured (busy flag held).
pub(crate) fn measured_allocation(st: &ThreadState, p: *mut u8, size: usize) {
    let held = st.net_bytes() - st.measure_start.get();
    if held > st.measure_peak.get() {
        st.measure_peak.set(held);
    }
    let tag = st.measure_tag.get();
    let Some(bucket) = crate::profiler::capture_and_record(st, p, size, 1, tag) else {
        return;
    };
    let Some(slot) = slot_of(tag) else { return };
    let bucket_ptr = std::ptr::from_ref(bucket).cast_mut();
    for site in &slot.sites {
        let current = site.bucket.load(Relaxed);
        if current.is_null() {
            site.bucket.store(bucket_ptr, Relaxed);
        } else if current != bucket_ptr {
            continue;
        }
        site.allocations.store(site.allocations.load(Relaxed) + 1, Relaxed);
        site.bytes.store(site.bytes.load(Relaxed) + size as u64, Relaxed);
        return;
    }
}

/// Runs `f` and returns what it allocated and freed on this thread, exactly.
///
/// Nested measurements are allowed; the inner one sees only its own closure.
pub fn measure<R>(f: impl FnOnce() -> R) -> Measurement<R> {
    let index = claim_slot();
    let slot = &MEASURES[index];
    let generation = slot.generation.load(Relaxed);
    let tag = (generation << 8) | (index as u32 + 1);
    let (saved, before) = thread_state::with(|st| {
        let saved = (st.measure_tag.get(), st.measure_start.get(), st.measure_peak.get());
        (saved, st.counts.read())
    });
    thread_state::with(|st| {
        st.measure_start.set(st.net_bytes());
        st.measure_peak.set(0);
        st.measure_tag.set(tag);
        // Every allocation takes the slow path, which records it.
        st.close();
    });
    // Restore the thread's state even if `f` panics.
    struct Restore((u32, i64, i64));
    impl Drop for Restore {
        fn drop(&mut self) {
            let (tag, start, peak) = self.0;
            thread_state::with(|st| {
                st.measure_tag.set(tag);
                st.measure_start.set(start);
                st.measure_peak.set(peak);
                st.settle();
            });
        }
    }
    let restore = Restore(saved);
    let result = f();
    let (after, net_end, peak) = thread_state::with(|st| {
        (st.counts.read(), st.net_bytes() - st.measure_start.get(), st.measure_peak.get())
    });
    drop(restore);
    let raw_sites: Vec<(usize, u64, u64)> = slot
        .sites
        .iter()
        .filter(|s| !s.bucket.load(Relaxed).is_null())
        .map(|s| (s.bucket.load(Relaxed) as usize, s.allocations.load(Relaxed), s.bytes.load(Relaxed)))
        .collect();
    let (leaked_bytes, leaked_blocks) = (slot.live_bytes.load(Relaxed), slot.live_blocks.load(Relaxed));
    release_slot(index);
    let mut sites: Vec<Site> = raw_sites
        .into_iter()
        .map(|(bucket, allocations, bytes)| {
            // SAFETY: buckets are never freed.
            let frames = unsafe { &*(bucket as *const Bucket) }.frames();
            Site { allocations, bytes, stack: crate::heap::describe_stack(frames, 4) }
        })
        .collect();
    sites.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.stack.cmp(&b.stack)));
    Measurement {
        result,
        allocations: after.alloc_count - before.alloc_count,
        deallocations: after.free_count - before.free_count,
        reallocations: after.realloc_count - before.realloc_count,
        bytes_allocated: after.alloc_bytes - before.alloc_bytes,
        bytes_freed: after.free_bytes - before.free_bytes,
        peak_live_bytes: peak.max(net_end).max(0) as u64,
        leaked_bytes: leaked_bytes.max(0) as u64,
        leaked_blocks: leaked_blocks.max(0) as u64,
        sites,
    }
}

/// Runs `f` and returns the process-wide figures: what every thread allocated and
/// freed while it ran (for code that spawns work). Not isolated: other tests
/// running at the same time count too. Peak, leak and sites are per-thread
/// notions and are left at zero here, except `leaked_bytes`, the growth of live bytes.
pub fn measure_all_threads<R>(f: impl FnOnce() -> R) -> Measurement<R> {
    let before = crate::stats();
    let result = f();
    let after = crate::stats();
    Measurement {
        result,
        allocations: after.allocated_objects - before.allocated_objects,
        deallocations: after.freed_objects - before.freed_objects,
        reallocations: after.reallocations - before.reallocations,
        bytes_allocated: after.allocated_bytes - before.allocated_bytes,
        bytes_freed: after.freed_bytes - before.freed_bytes,
        peak_live_bytes: 0,
        leaked_bytes: after.live_bytes.saturating_sub(before.live_bytes),
        leaked_blocks: after.live_objects.saturating_sub(before.live_objects),
        sites: Vec::new(),
    }
}

fn claim_slot() -> usize {
    loop {
        for (i, slot) in MEASURES.iter().enumerate() {
            if !slot.in_use.load(Relaxed)
                && slot.in_use.compare_exchange(false, true, Acquire, Relaxed).is_ok()
            {
                slot.live_bytes.store(0, Relaxed);
                slot.live_blocks.store(0, Relaxed);
                for site in &slot.sites {
                    site.bucket.store(std::ptr::null_mut(), Relaxed);
                    site.allocations.store(0, Relaxed);
                    site.bytes.store(0, Relaxed);
                }
                return i;
            }
        }
        // More than 255 measurements at once: wait for one to end.
        std::thread::yield_now();
    }
}

fn release_slot(index: usize) {
    let slot = &MEASURES[index];
    // A new generation: frees of this measurement's blocks no longer count.
    slot.generation.store((slot.generation.load(Relaxed) + 1) & 0x00ff_ffff, Relaxed);
    slot.in_use.store(false, Release);
}

/// Limits for [`Measurement::check`]; `None` means no limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Budget {
    /// Most allocations allowed.
    pub max_allocations: Option<u64>,
    /// Most bytes allocated allowed.
    pub max_bytes: Option<u64>,
    /// Most bytes held at once allowed.
    pub max_peak_bytes: Option<u64>,
    /// Most bytes left live at the end allowed.
    pub max_leaked_bytes: Option<u64>,
}

/// A budget that was exceeded; its `Display` shows the figures and the sites.
#[derive(Debug, Clone)]
pub struct OverBudget {
    message: String,
}

impl fmt::Display for OverBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OverBudget {}

impl<R> Measurement<R> {
    /// Checks the figures against `budget`.
    pub fn check(&self, budget: &Budget) -> Result<(), OverBudget> {
        let limits = [
            ("allocations", self.allocations, budget.max_allocations, false),
            ("bytes allocated", self.bytes_allocated, budget.max_bytes, true),
            ("peak bytes held", self.peak_live_bytes, budget.max_peak_bytes, true),
            ("bytes leaked", self.leaked_bytes, budget.max_leaked_bytes, true),
        ];
        let over: Vec<String> = limits
            .iter()
            .filter_map(|&(what, value, max, bytes)| {
                let max = max?;
                (value > max).then(|| {
                    if bytes {
                        format!("{what}: {} (max {})", human(value), human(max))
                    } else {
                        format!("{what}: {value} (max {max})")
                    }
                })
            })
            .collect();
        if over.is_empty() {
            return Ok(());
        }
        Err(OverBudget { message: format!("heap budget exceeded: {}\n{}", over.join(", "), self.report()) })
    }

    /// The figures and the sites, as the failure messages show them.
    pub fn report(&self) -> String {
        let mut out = format!(
            "  {} allocations ({}), {} frees ({}), {} reallocs, peak {}, leaked {} in {} blocks\n",
            self.allocations,
            human(self.bytes_allocated),
            self.deallocations,
            human(self.bytes_freed),
            self.reallocations,
            human(self.peak_live_bytes),
            human(self.leaked_bytes),
            self.leaked_blocks
        );
        if !self.sites.is_empty() {
            out.push_str("  allocated at:\n");
        }
        for site in self.sites.iter().take(5) {
            let _ = writeln!(
                out,
                "  {:>6} × {:>10}  {}",
                site.allocations,
                human(site.bytes),
                site.stack.join("\n                       ← ")
            );
        }
        out
    }
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// Runs `f`, panicking with the figures and sites if it allocated at all.
#[track_caller]
pub fn assert_no_alloc<R>(f: impl FnOnce() -> R) -> R {
    check_or_panic(measure(f), &Budget { max_allocations: Some(0), ..Budget::default() })
}

/// Runs `f`, panicking with the figures and sites if it left anything it allocated live.
#[track_caller]
pub fn assert_no_leak<R>(f: impl FnOnce() -> R) -> R {
    check_or_panic(measure(f), &Budget { max_leaked_bytes: Some(0), ..Budget::default() })
}

/// Runs `f`, panicking with the figures and sites if it exceeds `budget`.
#[track_caller]
pub fn assert_within<R>(budget: &Budget, f: impl FnOnce() -> R) -> R {
    check_or_panic(measure(f), budget)
}

#[track_caller]
fn check_or_panic<R>(m: Measurement<R>, budget: &Budget) -> R {
    if let Err(e) = m.check(budget) {
        panic!("{e}");
    }
    m.result
}

/// Asserts that a closure stays within an allocation budget, on its thread:
/// `assert_allocations!(|| parse(doc), max_count = 3, max_bytes = 40 * 1024)`.
/// Keys: `max_count`, `max_bytes`, `max_peak`, `max_leaked`. Returns the closure's result.
#[macro_export]
macro_rules! assert_allocations {
    ($f:expr $(, $key:ident = $value:expr)* $(,)?) => {{
        #[allow(unused_mut)]
        let mut budget = $crate::testing::Budget::default();
        $( $crate::assert_allocations!(@set budget, $key, $value); )*
        $crate::testing::assert_within(&budget, $f)
    }};
    (@set $b:ident, max_count, $v:expr) => { $b.max_allocations = Some($v) };
    (@set $b:ident, max_bytes, $v:expr) => { $b.max_bytes = Some($v) };
    (@set $b:ident, max_peak, $v:expr) => { $b.max_peak_bytes = Some($v) };
    (@set $b:ident, max_leaked, $v:expr) => { $b.max_leaked_bytes = Some($v) };
}
