//! Exact statistics: the `runtime.MemStats` of heapprof. Counters live in each
//! thread's thread-local block and are summed when read, so the allocation path
//! touches no shared cache line; the peak is kept from live-byte changes that threads
//! fold into a global counter before they exceed [`FLUSH_BYTES`].

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use crate::thread_state;

/// A thread folds its live-byte change into the global counter before it exceeds
/// this many bytes either way, so the peak is exact to within this figure per thread.
/// The fast path does not test for it: it runs in windows of allocated and of freed
/// bytes, whose ends send it to the slow path, which folds when the change passes
/// half this figure (see `thread_state::ThreadState::settle`). The slow path then runs
/// after 0.5 to 1.5 MiB allocated or freed; at a quarter of this figure (four times as
/// often) it cost an allocation-heavy workload about 2 points more at rate 0.
pub const FLUSH_BYTES: i64 = 1024 * 1024;

static LIVE: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);
static PEAK_UNIX_NANOS: AtomicU64 = AtomicU64::new(0);
/// Bytes the profiler itself holds through the wrapped allocator (symbol caches,
/// unwinder caches): allocations made while the thread is inside the profiler.
static INTERNAL_BYTES: AtomicI64 = AtomicI64::new(0);

/// Exact allocation statistics, never sampled. Read with [`stats`].
///
/// The allocation figures are the application's: the profiler's own tables and its
/// symbolizer's caches are counted apart, in `profiler_bytes`, so that taking the first
/// profile does not show as the application's growth. (The profile a call returns, and
/// the buffers of its encoding, are the application's.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Blocks allocated since start (a `realloc` counts as one allocation and one free).
    pub allocated_objects: u64,
    /// Bytes allocated since start.
    pub allocated_bytes: u64,
    /// Blocks freed since start.
    pub freed_objects: u64,
    /// Bytes freed since start.
    pub freed_bytes: u64,
    /// Calls to `realloc`.
    pub reallocations: u64,
    /// Blocks live now (`allocated_objects - freed_objects`).
    pub live_objects: u64,
    /// Bytes live now (`allocated_bytes - freed_bytes`).
    pub live_bytes: u64,
    /// Highest live bytes seen, exact to within [`FLUSH_BYTES`] per thread.
    pub peak_live_bytes: u64,
    /// When the peak was reached, nanoseconds since the Unix epoch (0 if never).
    pub peak_unix_nanos: u64,
    /// Threads of the process now (from `/proc/self/status`; 0 if unreadable).
    pub threads: u64,
    /// Resident set size of the process, bytes (0 if unreadable).
    pub rss_bytes: u64,
    /// Virtual size of the process, bytes (0 if unreadable).
    pub virtual_bytes: u64,
    /// The current sample rate, bytes (0 = sampling off).
    pub sample_rate: u64,
    /// Sampled blocks still live.
    pub live_samples: u64,
    /// Records of (stack, size class): one per site and thread stripe, so a site that
    /// several threads allocate at has up to four (profiles add them together).
    pub stack_records: u64,
    /// Samples that could not be recorded (no memory for metadata, contention).
    pub dropped_samples: u64,
    /// Memory the profiler holds: its tables plus its caches (symbols, unwinding), exact
    /// (the bytes it holds through the wrapped allocator and those it mapped itself).
    pub profiler_bytes: u64,
}

/// Reads the exact statistics. Costs a walk over the threads' counters (under the
/// lock of the registry of threads, which a thread takes only at its first allocation
/// and at its exit) and two small reads of `/proc/self`: cheap enough to call every
/// second.
pub fn stats() -> Stats {
    let t = thread_state::totals();
    let mut s = Stats {
        allocated_objects: t.alloc_count,
        allocated_bytes: t.alloc_bytes,
        freed_objects: t.free_count,
        freed_bytes: t.free_bytes,
        reallocations: t.realloc_count,
        ..Stats::default()
    };
    s.live_objects = s.allocated_objects.saturating_sub(s.freed_objects);
    s.live_bytes = s.allocated_bytes.saturating_sub(s.freed_bytes);
    s.peak_live_bytes = PEAK.load(Relaxed).max(s.live_bytes);
    s.peak_unix_nanos = PEAK_UNIX_NANOS.load(Relaxed);
    if s.peak_live_bytes == s.live_bytes && PEAK.load(Relaxed) < s.live_bytes {
        s.peak_unix_nanos = crate::clock::unix_nanos();
    }
    let proc = crate::procfs::read_self();
    s.threads = proc.threads;
    s.rss_bytes = proc.rss_bytes;
    s.virtual_bytes = proc.virtual_bytes;
    s.sample_rate = crate::sampler::sample_rate();
    let counts = crate::records::counts();
    s.live_samples = counts.live_samples as u64;
    s.stack_records = counts.buckets as u64;
    s.dropped_samples = counts.dropped_samples;
    s.profiler_bytes = crate::rawmem::mapped_bytes() as u64 + INTERNAL_BYTES.load(Relaxed).max(0) as u64;
    s
}

/// Adds a thread's change of live bytes to the global counter and updates the peak.
#[cold]
pub(crate) fn fold(delta: i64) {
    if delta == 0 {
        return;
    }
    let live = LIVE.fetch_add(delta, Relaxed) + delta;
    if live > 0 && PEAK.fetch_max(live as u64, Relaxed) < live as u64 {
        PEAK_UNIX_NANOS.store(crate::clock::unix_nanos(), Relaxed);
    }
}

/// Counts memory the profiler allocated (positive) or freed (negative) through
/// the wrapped allocator.
#[inline]
pub(crate) fn internal_changed(delta: i64) {
    INTERNAL_BYTES.fetch_add(delta, Relaxed);
}
