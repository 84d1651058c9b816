//! A sampling heap profiler cut down to what none can do without, for `alternating` to
//! run beside heapprof: what a sample costs on the benchmark workload whatever the
//! design around it.
//!
//! Per allocation and free, a thread-local countdown and four counters. At a sample
//! (an exponential distance, mean 512 KiB, as heapprof draws): the stack by heapprof's
//! own capture (DWARF, with its memo of the previous walk), then one cache line for the
//! bucket (found by a 64-bit hash of the stack and the size class, trusted: no frames
//! compared), one for the live entry and one for the filter's count of the block's slot;
//! the entry's slot and the count are prefetched before the walk. Every free checks the
//! filter's bit; the free of a flagged block reads the entry's line, the bucket's and the
//! count's. No locks, no time stamp, no measurement tag, one filter bit a block.
//!
//! One thread only: its tables are updated with plain loads and stores, so two threads
//! would lose updates (`alternating` refuses more). The tables are fixed in size; the
//! workload's 60 or so live samples and 100-odd buckets fit them many times over. A
//! sample that would fill one past its load limit is dropped, so that every probe meets
//! an empty slot and ends (blocks sampled here but freed by another path stay behind).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Mean bytes between samples: heapprof's default.
const MEAN: f64 = 512.0 * 1024.0;
/// Fibonacci hashing's multiplier.
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

#[repr(C, align(64))]
struct Bucket {
    hash: AtomicU64,
    alloc_count: AtomicU64,
    alloc_bytes: AtomicU64,
    free_count: AtomicU64,
    free_bytes: AtomicU64,
}

const BUCKETS: usize = 4096;
static BUCKET_TABLE: [Bucket; BUCKETS] = [const {
    Bucket {
        hash: AtomicU64::new(0),
        alloc_count: AtomicU64::new(0),
        alloc_bytes: AtomicU64::new(0),
        free_count: AtomicU64::new(0),
        free_bytes: AtomicU64::new(0),
    }
}; BUCKETS];

/// A live sampled block: its address (0: empty) and its bucket's index and size.
#[repr(C, align(16))]
struct LiveSlot {
    addr: AtomicUsize,
    bucket_and_size: AtomicU64,
}

const LIVE: usize = 1024;
static LIVE_TABLE: [LiveSlot; LIVE] =
    [const { LiveSlot { addr: AtomicUsize::new(0), bucket_and_size: AtomicU64::new(0) } }; LIVE];

/// Entries in use in each table, kept at most three quarters of its slots.
static BUCKETS_USED: AtomicU64 = AtomicU64::new(0);
static LIVE_USED: AtomicU64 = AtomicU64::new(0);

fn below_limit(used: &AtomicU64, slots: usize) -> bool {
    used.load(Relaxed) * 4 < slots as u64 * 3
}

/// The filter, laid out as heapprof's: a 4 MiB region picks a line of 512 slots.
const SLOTS: usize = 1 << 18;
static COUNTS: [AtomicU8; SLOTS] = [const { AtomicU8::new(0) }; SLOTS];
static BITS: [AtomicU64; SLOTS / 64] = [const { AtomicU64::new(0) }; SLOTS / 64];
static IN_USE: AtomicBool = AtomicBool::new(false);

static SAMPLING: AtomicBool = AtomicBool::new(true);

/// Turns the samples on or off (off: the fast paths alone, the filter still checked
/// once a sample was taken), from the next thread on.
pub fn set_sampling(on: bool) {
    SAMPLING.store(on, Relaxed);
}

/// Samples taken and sampled blocks freed so far.
pub fn sample_counts() -> (u64, u64) {
    BUCKET_TABLE
        .iter()
        .fold((0, 0), |(a, f), b| (a + b.alloc_count.load(Relaxed), f + b.free_count.load(Relaxed)))
}

struct ThreadState {
    countdown: Cell<i64>,
    alloc_count: Cell<u64>,
    alloc_bytes: Cell<u64>,
    free_count: Cell<u64>,
    free_bytes: Cell<u64>,
    rng: Cell<u64>,
    busy: Cell<bool>,
}

thread_local! {
    static STATE: ThreadState = const {
        ThreadState {
            countdown: Cell::new(0),
            alloc_count: Cell::new(0),
            alloc_bytes: Cell::new(0),
            free_count: Cell::new(0),
            free_bytes: Cell::new(0),
            rng: Cell::new(0x1234_5678_9abc_def1),
            busy: Cell::new(false),
        }
    };
}

fn filter_slot(addr: usize) -> usize {
    let line = (((addr as u64) >> 22).wrapping_mul(SPREAD) >> 55) as usize;
    (line << 9) | (((addr as u64) >> 4).wrapping_mul(SPREAD) >> 55) as usize
}

fn live_home(addr: usize) -> usize {
    (((addr as u64) >> 4).wrapping_mul(SPREAD) >> 54) as usize & (LIVE - 1)
}

fn prefetch<T>(p: &T) {
    // SAFETY: a prefetch has no effect but on the caches.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(std::ptr::from_ref(p).cast())
    };
}

/// heapprof's size classes: exact up to 128 bytes, then eight per power of two.
fn size_class(size: u64) -> u64 {
    if size <= 128 {
        return size;
    }
    let shift = 63 - size.leading_zeros() - 3;
    (((size - 1) >> shift) + 1) << shift
}

/// The next distance: `-ln(u) * MEAN`, with `u` from xorshift64*.
fn next_distance(st: &ThreadState) -> i64 {
    let mut x = st.rng.get();
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    st.rng.set(x);
    let u = ((x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) + 1) as f64 / (1u64 << 53) as f64;
    (-u.ln() * MEAN) as i64
}

#[cold]
#[inline(never)]
fn sample(st: &ThreadState, p: usize, size: usize) {
    if !SAMPLING.load(Relaxed) {
        st.countdown.set(i64::MAX / 2);
        return;
    }
    st.countdown.set(next_distance(st));
    if !below_limit(&LIVE_USED, LIVE) {
        return;
    }
    let slot = filter_slot(p);
    prefetch(&LIVE_TABLE[live_home(p)]);
    prefetch(&COUNTS[slot]);
    st.busy.set(true);
    let mut frames = [0usize; 72];
    let depth = heapprof::stack::capture(&mut frames).len;
    st.busy.set(false);
    let mut hash = size_class(size as u64) ^ (depth as u64) << 48;
    for &frame in &frames[..depth] {
        hash = (hash ^ frame as u64).wrapping_mul(SPREAD).rotate_left(23);
    }
    hash |= 1;
    let mut b = (hash >> 52) as usize & (BUCKETS - 1);
    loop {
        let bucket = &BUCKET_TABLE[b];
        let h = bucket.hash.load(Relaxed);
        if h == 0 {
            if !below_limit(&BUCKETS_USED, BUCKETS) {
                return;
            }
            bucket.hash.store(hash, Relaxed);
            bump(&BUCKETS_USED, 1);
        }
        if h == 0 || h == hash {
            bump(&bucket.alloc_count, 1);
            bump(&bucket.alloc_bytes, size as u64);
            break;
        }
        b = (b + 1) & (BUCKETS - 1);
    }
    let mut i = live_home(p);
    loop {
        let entry = &LIVE_TABLE[i];
        let addr = entry.addr.load(Relaxed);
        if addr == p {
            // A block whose free went another path: its entry is this block's now.
            entry.bucket_and_size.store((b as u64) << 32 | size as u32 as u64, Relaxed);
            return;
        }
        if addr == 0 {
            entry.addr.store(p, Relaxed);
            entry.bucket_and_size.store((b as u64) << 32 | size as u32 as u64, Relaxed);
            bump(&LIVE_USED, 1);
            break;
        }
        i = (i + 1) & (LIVE - 1);
    }
    let count = COUNTS[slot].load(Relaxed);
    if count < u8::MAX {
        COUNTS[slot].store(count + 1, Relaxed);
    }
    let word = &BITS[slot >> 6];
    word.store(word.load(Relaxed) | 1 << (slot & 63), Relaxed);
    IN_USE.store(true, Relaxed);
}

/// The free of a block whose filter bit is set: out of the live table if it is there.
#[cold]
#[inline(never)]
fn forget(p: usize) {
    let mut i = live_home(p);
    loop {
        let addr = LIVE_TABLE[i].addr.load(Relaxed);
        if addr == 0 {
            return;
        }
        if addr == p {
            break;
        }
        i = (i + 1) & (LIVE - 1);
    }
    let packed = LIVE_TABLE[i].bucket_and_size.load(Relaxed);
    let bucket = &BUCKET_TABLE[(packed >> 32) as usize];
    bump(&bucket.free_count, 1);
    bump(&bucket.free_bytes, packed & 0xffff_ffff);
    // Backward-shift deletion, as heapprof's live table.
    let mut hole = i;
    let mut j = i;
    loop {
        j = (j + 1) & (LIVE - 1);
        let addr = LIVE_TABLE[j].addr.load(Relaxed);
        if addr == 0 {
            break;
        }
        let home = live_home(addr);
        if j.wrapping_sub(home) & (LIVE - 1) >= j.wrapping_sub(hole) & (LIVE - 1) {
            LIVE_TABLE[hole].addr.store(addr, Relaxed);
            LIVE_TABLE[hole].bucket_and_size.store(LIVE_TABLE[j].bucket_and_size.load(Relaxed), Relaxed);
            hole = j;
        }
    }
    LIVE_TABLE[hole].addr.store(0, Relaxed);
    LIVE_USED.store(LIVE_USED.load(Relaxed) - 1, Relaxed);
    let slot = filter_slot(p);
    let count = COUNTS[slot].load(Relaxed);
    if count != u8::MAX && count != 0 {
        COUNTS[slot].store(count - 1, Relaxed);
        if count == 1 {
            let word = &BITS[slot >> 6];
            word.store(word.load(Relaxed) & !(1 << (slot & 63)), Relaxed);
        }
    }
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed) + n, Relaxed);
}

/// The cut-down profiler over [`System`] (see the module documentation).
#[derive(Debug)]
pub struct Minimal;

// SAFETY: forwards every call to System unchanged; the bookkeeping never touches the blocks.
unsafe impl GlobalAlloc for Minimal {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let _ = STATE.try_with(|st| {
                if st.busy.get() {
                    return;
                }
                st.alloc_count.set(st.alloc_count.get() + 1);
                st.alloc_bytes.set(st.alloc_bytes.get() + layout.size() as u64);
                let left = st.countdown.get() - layout.size() as i64;
                st.countdown.set(left);
                if left < 0 {
                    sample(st, p as usize, layout.size());
                }
            });
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = STATE.try_with(|st| {
            st.free_count.set(st.free_count.get() + 1);
            st.free_bytes.set(st.free_bytes.get() + layout.size() as u64);
            if IN_USE.load(Relaxed) && !st.busy.get() {
                let slot = filter_slot(ptr as usize);
                if BITS[slot >> 6].load(Relaxed) & 1 << (slot & 63) != 0 {
                    forget(ptr as usize);
                }
            }
        });
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}
