//! What the sampler recorded: one bucket per (call stack, block size, rate) with
//! its allocation and free counts, and the table of sampled blocks still live.
//!
//! Only sampled allocations and frees of sampled blocks come here. Frees of
//! unsampled blocks (nearly all) stop at a counting filter indexed by address:
//! a zero there proves the block was never sampled, with one load.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering::*};

use crate::rawmem;
use crate::spin::SpinLock;

/// Default and largest number of frames kept per stack.
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// The largest depth [`set_max_stack_depth`] accepts.
pub const MAX_DEPTH_LIMIT: usize = 256;

static MAX_DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_DEPTH);

/// Sets how many frames of each sampled stack are kept (1 to 256, default 64);
/// deeper stacks keep their leaf end and are marked truncated.
pub fn set_max_stack_depth(depth: usize) {
    MAX_DEPTH.store(depth.clamp(1, MAX_DEPTH_LIMIT), Relaxed);
}

/// The current maximum stack depth.
pub fn max_stack_depth() -> usize {
    MAX_DEPTH.load(Relaxed)
}

/// The size class a block is recorded under: exact up to 128 bytes, then eight
/// classes per power of two (each at most 12.5% wide). Rust hands the allocator
/// exact sizes, so keying records by size alone would make one record per
/// distinct size and let the tables grow without bound; Go's runtime has the same
/// bound through its size classes. Each record keeps exact byte sums.
pub(crate) fn size_class(size: u64) -> u64 {
    if size <= 128 {
        return size;
    }
    let shift = 63 - size.leading_zeros() - 3;
    (((size - 1) >> shift) + 1) << shift
}

/// One (stack, size class, rate) record. Never freed once made.
pub(crate) struct Bucket {
    next_in_list: AtomicPtr<Bucket>,
    next_in_chain: *mut Bucket,
    hash: u64,
    /// The size class (the largest block size it holds).
    pub(crate) size: u64,
    pub(crate) rate: u64,
    pub(crate) alloc_count: AtomicU64,
    pub(crate) alloc_bytes: AtomicU64,
    pub(crate) free_count: AtomicU64,
    pub(crate) free_bytes: AtomicU64,
    pub(crate) truncated: bool,
    depth: usize,
    frames: *const usize,
}

impl Bucket {
    /// Return addresses, leaf first.
    pub(crate) fn frames(&self) -> &[usize] {
        // SAFETY: `frames` points at `depth` addresses written before the bucket
        // was published and never changed after.
        unsafe { std::slice::from_raw_parts(self.frames, self.depth) }
    }
}

// SAFETY: the raw pointers are only followed under the shard lock (chain) or
// point at immutable data (frames).
unsafe impl Send for Bucket {}
// SAFETY: as above.
unsafe impl Sync for Bucket {}

/// Every bucket, newest first: snapshots walk it without taking a lock.
static BUCKETS: AtomicPtr<Bucket> = AtomicPtr::new(ptr::null_mut());
static BUCKET_COUNT: AtomicUsize = AtomicUsize::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);

const BUCKET_SHARDS: usize = 16;
const LIVE_SHARDS: usize = 64;

struct BucketShard {
    heads: *mut *mut Bucket,
    capacity: usize,
    len: usize,
    arena: Arena,
}

// SAFETY: only used under its lock.
unsafe impl Send for BucketShard {}

static BUCKET_TABLE: [SpinLock<BucketShard>; BUCKET_SHARDS] = [const {
    SpinLock::new(BucketShard { heads: ptr::null_mut(), capacity: 0, len: 0, arena: Arena::new() })
}; BUCKET_SHARDS];

#[derive(Clone, Copy)]
struct LiveEntry {
    addr: usize,
    bucket: *const Bucket,
    time: u64,
    /// The measurement of `heapprof::testing` the block was made in, or 0.
    tag: u32,
}

const EMPTY: LiveEntry = LiveEntry { addr: 0, bucket: ptr::null(), time: 0, tag: 0 };

struct LiveShard {
    entries: *mut LiveEntry,
    capacity: usize,
    len: usize,
}

// SAFETY: only used under its lock.
unsafe impl Send for LiveShard {}

static LIVE_TABLE: [SpinLock<LiveShard>; LIVE_SHARDS] =
    [const { SpinLock::new(LiveShard { entries: ptr::null_mut(), capacity: 0, len: 0 }) }; LIVE_SHARDS];

/// How many live sampled blocks hash to each slot: zero means none. One byte per
/// slot keeps the table at 64 KiB, small enough to stay in cache on the free path;
/// a slot that reaches 255 stays there (it then only answers "maybe"). Each live
/// shard owns a contiguous part of the filter and of the length counters, changed
/// only under that shard's lock, so updates are plain stores, not locked
/// instructions; the free path reads them without a lock.
static FILTER: [AtomicU8; 1 << FILTER_BITS] = [const { AtomicU8::new(0) }; 1 << FILTER_BITS];
const FILTER_BITS: u32 = 16;
static LIVE_LENS: [AtomicUsize; LIVE_SHARDS] = [const { AtomicUsize::new(0) }; LIVE_SHARDS];

#[inline(always)]
fn addr_hash(addr: usize) -> u64 {
    ((addr as u64) >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The shard is the filter slot's top bits, so a shard's slots are contiguous.
#[inline(always)]
fn filter_index(addr: usize) -> usize {
    (addr_hash(addr) >> (64 - FILTER_BITS)) as usize
}

#[inline(always)]
fn shard_index(addr: usize) -> usize {
    filter_index(addr) >> (FILTER_BITS - LIVE_SHARDS.trailing_zeros())
}

/// Counts a live block in its filter slot (`up`) or uncounts it, saturating at 255.
fn filter_count(addr: usize, up: bool) {
    let slot = &FILTER[filter_index(addr)];
    let v = slot.load(Relaxed);
    match (up, v) {
        (_, u8::MAX) => {}
        (true, _) => slot.store(v + 1, Relaxed),
        (false, 0) => {}
        (false, _) => slot.store(v - 1, Relaxed),
    }
}

/// Whether `addr` may be a live sampled block (false means certainly not).
#[inline(always)]
pub(crate) fn may_be_sampled(addr: usize) -> bool {
    FILTER[filter_index(addr)].load(Relaxed) != 0
}

fn live_shard(addr: usize) -> &'static SpinLock<LiveShard> {
    &LIVE_TABLE[shard_index(addr)]
}

/// How many times a sample waits (yielding) for a table lock before it is dropped.
const SAMPLE_LOCK_YIELDS: u32 = 64;

/// Records a sampled allocation. Returns false (and counts a drop) when the sample
/// could not be recorded: no memory for metadata, or a lock held too long.
/// `tag` marks blocks made inside a `heapprof::testing` measurement (0: none).
/// Returns the bucket the sample went to.
pub(crate) fn record_sample(
    addr: usize,
    size: usize,
    rate: u64,
    frames: &[usize],
    truncated: bool,
    tag: u32,
) -> Option<&'static Bucket> {
    let class = size_class(size as u64);
    // A measurement of `heapprof::testing` must be exact: it waits for the locks
    // rather than drop the sample.
    let patience = if tag == 0 { SAMPLE_LOCK_YIELDS } else { u32::MAX };
    let Some(bucket) = find_or_insert_bucket(frames, class, rate, truncated, size as u64, patience) else {
        DROPPED.fetch_add(1, Relaxed);
        return None;
    };
    if insert_live(addr, bucket, tag, patience) {
        if tag != 0 {
            crate::testing::tagged_block_changed(tag, size as i64);
        }
        return Some(bucket);
    }
    // Take the allocation back out of the bucket: a sample is all or nothing.
    let hash = stack_hash(frames, class, rate);
    let _shard = BUCKET_TABLE[(hash as usize) % BUCKET_SHARDS].lock();
    add_plain(&bucket.alloc_count, u64::MAX);
    add_plain(&bucket.alloc_bytes, (size as u64).wrapping_neg());
    DROPPED.fetch_add(1, Relaxed);
    None
}

/// Adds to a counter that only one thread writes at a time (under a lock): a
/// plain load and store, no locked instruction.
#[inline(always)]
fn add_plain(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

/// A sampled block that [`forget`] took out of the live table.
#[derive(Clone, Copy)]
pub(crate) struct Forgotten {
    bucket: *const Bucket,
    time: u64,
    size: usize,
    tag: u32,
}

/// Removes `addr` (a block of `size` bytes) from the live table if it is there,
/// counting the free on its bucket. Must run before the block is given back to
/// the allocator, so that a new block at the same address cannot be confused with it.
pub(crate) fn forget(addr: usize, size: usize) -> Option<Forgotten> {
    let entry = live_shard(addr).lock().remove(addr)?;
    // SAFETY: buckets are never freed.
    let bucket = unsafe { &*entry.bucket };
    bucket.free_count.fetch_add(1, Relaxed);
    bucket.free_bytes.fetch_add(size as u64, Relaxed);
    if entry.tag != 0 {
        crate::testing::tagged_block_changed(entry.tag, -(size as i64));
    }
    Some(Forgotten { bucket: entry.bucket, time: entry.time, size, tag: entry.tag })
}

/// Puts back a block that [`forget`] removed (a `realloc` that failed).
pub(crate) fn restore(addr: usize, f: Forgotten) {
    // SAFETY: buckets are never freed.
    let bucket = unsafe { &*f.bucket };
    if live_shard(addr).lock().insert(LiveEntry { addr, bucket: f.bucket, time: f.time, tag: f.tag }) {
        bucket.free_count.fetch_sub(1, Relaxed);
        bucket.free_bytes.fetch_sub(f.size as u64, Relaxed);
        if f.tag != 0 {
            crate::testing::tagged_block_changed(f.tag, f.size as i64);
        }
    } else {
        DROPPED.fetch_add(1, Relaxed);
    }
}

fn insert_live(addr: usize, bucket: &'static Bucket, tag: u32, patience: u32) -> bool {
    let Some(mut shard) = live_shard(addr).lock_bounded(patience) else {
        return false;
    };
    // A stale entry at this address means its free went unseen (a free from a signal
    // handler that interrupted the profiler): count that free now, at its class size.
    if let Some(stale) = shard.remove(addr) {
        // SAFETY: buckets are never freed.
        let b = unsafe { &*stale.bucket };
        b.free_count.fetch_add(1, Relaxed);
        b.free_bytes.fetch_add(b.size, Relaxed);
    }
    shard.insert(LiveEntry { addr, bucket, time: crate::clock::coarse_nanos(), tag })
}

fn stack_hash(frames: &[usize], size: u64, rate: u64) -> u64 {
    let mut h = size ^ rate.rotate_left(32) ^ 0xcbf2_9ce4_8422_2325;
    for &f in frames {
        h = (h ^ f as u64).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(23);
    }
    h ^ (h >> 29)
}

/// Finds or makes the bucket and counts one allocation of `bytes` in it, under
/// the bucket's shard lock.
fn find_or_insert_bucket(
    frames: &[usize],
    size: u64,
    rate: u64,
    truncated: bool,
    bytes: u64,
    patience: u32,
) -> Option<&'static Bucket> {
    let hash = stack_hash(frames, size, rate);
    let mut shard = BUCKET_TABLE[(hash as usize) % BUCKET_SHARDS].lock_bounded(patience)?;
    let count = |b: &'static Bucket| {
        add_plain(&b.alloc_count, 1);
        add_plain(&b.alloc_bytes, bytes);
        b
    };
    if let Some(b) = shard.find(hash, frames, size, rate) {
        return Some(count(b));
    }
    if shard.len >= shard.capacity && !shard.grow() && shard.capacity == 0 {
        return None;
    }
    let bucket = shard.arena.make_bucket(hash, frames, size, rate, truncated)?;
    let index = (hash as usize >> 8) & (shard.capacity - 1);
    // SAFETY: `index` < capacity; heads has `capacity` entries; bucket is fresh.
    unsafe {
        (*bucket).next_in_chain = *shard.heads.add(index);
        *shard.heads.add(index) = bucket;
    }
    shard.len += 1;
    // SAFETY: never freed.
    let bucket_ref = count(unsafe { &*bucket });
    drop(shard);
    let mut head = BUCKETS.load(Relaxed);
    loop {
        // SAFETY: the bucket is not yet reachable from the list; we own its link.
        unsafe { (*bucket).next_in_list.store(head, Relaxed) };
        match BUCKETS.compare_exchange_weak(head, bucket, Release, Relaxed) {
            Ok(_) => break,
            Err(h) => head = h,
        }
    }
    BUCKET_COUNT.fetch_add(1, Relaxed);
    Some(bucket_ref)
}

impl BucketShard {
    fn find(&self, hash: u64, frames: &[usize], size: u64, rate: u64) -> Option<&'static Bucket> {
        if self.capacity == 0 {
            return None;
        }
        // SAFETY: index < capacity; chains hold live buckets.
        let mut p = unsafe { *self.heads.add((hash as usize >> 8) & (self.capacity - 1)) };
        while !p.is_null() {
            // SAFETY: buckets are never freed.
            let b = unsafe { &*p };
            if b.hash == hash && b.size == size && b.rate == rate && b.frames() == frames {
                return Some(b);
            }
            p = b.next_in_chain;
        }
        None
    }

    /// Doubles the head array (keeping chains under two per head on average).
    fn grow(&mut self) -> bool {
        let new_capacity = (self.capacity * 2).max(256);
        let heads = rawmem::map(new_capacity * size_of::<*mut Bucket>()).cast::<*mut Bucket>();
        if heads.is_null() {
            return false;
        }
        for i in 0..self.capacity {
            // SAFETY: i < old capacity.
            let mut p = unsafe { *self.heads.add(i) };
            while !p.is_null() {
                // SAFETY: buckets are never freed; the new index is < new_capacity.
                unsafe {
                    let next = (*p).next_in_chain;
                    let index = ((*p).hash as usize >> 8) & (new_capacity - 1);
                    (*p).next_in_chain = *heads.add(index);
                    *heads.add(index) = p;
                    p = next;
                }
            }
        }
        if !self.heads.is_null() {
            // SAFETY: the old array came from rawmem::map with this size.
            unsafe { rawmem::unmap(self.heads.cast(), self.capacity * size_of::<*mut Bucket>()) };
        }
        self.heads = heads;
        self.capacity = new_capacity;
        true
    }
}

impl LiveShard {
    fn slot_of(&self, addr: usize) -> usize {
        (addr_hash(addr) >> 32) as usize & (self.capacity - 1)
    }

    /// Adds a live block, keeping its filter slot and the shard's length current.
    fn insert(&mut self, entry: LiveEntry) -> bool {
        if (self.len + 1) * 4 > self.capacity * 3 && !self.grow() {
            return false;
        }
        self.place(entry);
        filter_count(entry.addr, true);
        LIVE_LENS[shard_index(entry.addr)].store(self.len, Relaxed);
        true
    }

    /// Puts an entry in the first free slot of its probe chain (room is assured).
    fn place(&mut self, entry: LiveEntry) {
        let mut i = self.slot_of(entry.addr);
        loop {
            // SAFETY: i < capacity.
            let e = unsafe { &mut *self.entries.add(i) };
            if e.addr == 0 {
                *e = entry;
                self.len += 1;
                return;
            }
            i = (i + 1) & (self.capacity - 1);
        }
    }

    fn remove(&mut self, addr: usize) -> Option<LiveEntry> {
        if self.len == 0 {
            return None;
        }
        let mask = self.capacity - 1;
        let mut i = self.slot_of(addr);
        loop {
            // SAFETY: i < capacity.
            let e = unsafe { *self.entries.add(i) };
            if e.addr == 0 {
                return None;
            }
            if e.addr == addr {
                break;
            }
            i = (i + 1) & mask;
        }
        // SAFETY: i < capacity.
        let found = unsafe { *self.entries.add(i) };
        // Backward-shift deletion keeps probe chains intact without tombstones.
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            // SAFETY: j < capacity.
            let e = unsafe { *self.entries.add(j) };
            if e.addr == 0 {
                break;
            }
            let home = self.slot_of(e.addr);
            let distance_home_to_j = j.wrapping_sub(home) & mask;
            let distance_hole_to_j = j.wrapping_sub(hole) & mask;
            if distance_home_to_j >= distance_hole_to_j {
                // SAFETY: both indexes < capacity.
                unsafe { *self.entries.add(hole) = e };
                hole = j;
            }
        }
        // SAFETY: hole < capacity.
        unsafe { *self.entries.add(hole) = EMPTY };
        self.len -= 1;
        filter_count(addr, false);
        LIVE_LENS[shard_index(addr)].store(self.len, Relaxed);
        Some(found)
    }

    fn grow(&mut self) -> bool {
        let new_capacity = (self.capacity * 2).max(64);
        let entries = rawmem::map(new_capacity * size_of::<LiveEntry>()).cast::<LiveEntry>();
        if entries.is_null() {
            return false;
        }
        let old = std::mem::replace(self, LiveShard { entries, capacity: new_capacity, len: 0 });
        for i in 0..old.capacity {
            // SAFETY: i < old capacity.
            let e = unsafe { *old.entries.add(i) };
            if e.addr != 0 {
                self.place(e);
            }
        }
        if !old.entries.is_null() {
            // SAFETY: the old array came from rawmem::map with this size.
            unsafe { rawmem::unmap(old.entries.cast(), old.capacity * size_of::<LiveEntry>()) };
        }
        true
    }
}

/// A bump allocator for buckets and their frames, in chunks from the kernel.
struct Arena {
    next: *mut u8,
    end: *mut u8,
}

impl Arena {
    const CHUNK: usize = 64 * 1024;

    const fn new() -> Self {
        Arena { next: ptr::null_mut(), end: ptr::null_mut() }
    }

    fn take(&mut self, bytes: usize) -> *mut u8 {
        let bytes = bytes.next_multiple_of(16);
        if (self.end as usize).saturating_sub(self.next as usize) < bytes {
            let chunk = rawmem::map(bytes.max(Self::CHUNK));
            if chunk.is_null() {
                return ptr::null_mut();
            }
            self.next = chunk;
            // SAFETY: within (or one past) the chunk just mapped.
            self.end = unsafe { chunk.add(bytes.max(Self::CHUNK)) };
        }
        let p = self.next;
        // SAFETY: `bytes` fit before `end`.
        self.next = unsafe { p.add(bytes) };
        p
    }

    fn make_bucket(
        &mut self,
        hash: u64,
        frames: &[usize],
        size: u64,
        rate: u64,
        truncated: bool,
    ) -> Option<*mut Bucket> {
        let header = size_of::<Bucket>().next_multiple_of(16);
        let mem = self.take(header + size_of_val(frames));
        if mem.is_null() {
            return None;
        }
        // SAFETY: `mem` holds `header` bytes for the bucket then room for the frames;
        // chunk memory is page-aligned and `take` keeps 16-byte alignment.
        unsafe {
            let frames_ptr = mem.add(header).cast::<usize>();
            ptr::copy_nonoverlapping(frames.as_ptr(), frames_ptr, frames.len());
            let bucket = mem.cast::<Bucket>();
            bucket.write(Bucket {
                next_in_list: AtomicPtr::new(ptr::null_mut()),
                next_in_chain: ptr::null_mut(),
                hash,
                size,
                rate,
                alloc_count: AtomicU64::new(0),
                alloc_bytes: AtomicU64::new(0),
                free_count: AtomicU64::new(0),
                free_bytes: AtomicU64::new(0),
                truncated,
                depth: frames.len(),
                frames: frames_ptr,
            });
            Some(bucket)
        }
    }
}

/// Runs `f` on every bucket (no lock held; counts are read as they are now).
pub(crate) fn for_each_bucket(mut f: impl FnMut(&'static Bucket)) {
    let mut p = BUCKETS.load(Acquire);
    while !p.is_null() {
        // SAFETY: buckets are never freed.
        let b = unsafe { &*p };
        f(b);
        p = b.next_in_list.load(Acquire);
    }
}

/// Runs `f` on every live sampled block: its bucket and when it was allocated
/// (coarse monotonic nanoseconds). Holds one shard's lock at a time, so `f` must
/// neither allocate nor free: a sampled allocation or free on this thread could
/// need the same lock. Copy into storage allocated beforehand.
#[cfg(feature = "monitor")]
pub(crate) fn for_each_live(mut f: impl FnMut(&'static Bucket, u64)) {
    for shard in &LIVE_TABLE {
        let s = shard.lock();
        for i in 0..s.capacity {
            // SAFETY: i < capacity; entries are read under the shard lock.
            let e = unsafe { *s.entries.add(i) };
            if e.addr != 0 {
                // SAFETY: buckets are never freed.
                f(unsafe { &*e.bucket }, e.time);
            }
        }
    }
}

/// Counters of the recording tables, for the statistics.
pub(crate) struct RecordCounts {
    pub(crate) buckets: usize,
    pub(crate) live_samples: usize,
    pub(crate) dropped_samples: u64,
}

pub(crate) fn counts() -> RecordCounts {
    RecordCounts {
        buckets: BUCKET_COUNT.load(Relaxed),
        live_samples: LIVE_LENS.iter().map(|n| n.load(Relaxed)).sum(),
        dropped_samples: DROPPED.load(Relaxed),
    }
}

/// Counts a sample that could not even be attempted (e.g. stack capture failed).
pub(crate) fn count_drop() {
    DROPPED.fetch_add(1, Relaxed);
}

/// Fork safety: the forking thread takes every table lock so that the child
/// starts with consistent, unlocked tables.
pub(crate) fn lock_all_for_fork() {
    for s in &BUCKET_TABLE {
        s.raw_lock();
    }
    for s in &LIVE_TABLE {
        s.raw_lock();
    }
}

/// Undoes [`lock_all_for_fork`] in the parent and in the child.
pub(crate) fn unlock_all_after_fork() {
    for s in LIVE_TABLE.iter().rev() {
        // SAFETY: taken by lock_all_for_fork on this thread (or its pre-fork self).
        unsafe { s.raw_unlock() };
    }
    for s in BUCKET_TABLE.iter().rev() {
        // SAFETY: as above.
        unsafe { s.raw_unlock() };
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_are_exact_when_small_and_at_most_an_eighth_wide() {
        for s in 1..=128 {
            assert_eq!(size_class(s), s);
        }
        assert_eq!(size_class(129), 144);
        assert_eq!(size_class(144), 144);
        assert_eq!(size_class(145), 160);
        assert_eq!(size_class(4096), 4096);
        assert_eq!(size_class(4097), 4608);
        for s in [129u64, 1000, 65_537, 1 << 30, (1 << 40) + 1] {
            let c = size_class(s);
            assert!(c >= s && (c - s) * 8 <= s, "{s} -> {c}");
            assert_eq!(size_class(c), c, "classes are fixed points");
        }
    }
}
