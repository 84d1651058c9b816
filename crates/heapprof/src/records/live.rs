//! The sampled blocks still live: address → (bucket, allocation time, tag), in 64
//! shards of open-addressing tables. The counting filter that lets frees of unsampled
//! blocks (nearly all) skip them with one load is in `filter.rs`.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering::*};

use super::buckets::Bucket;
use super::filter::{LIVE_SHARDS, addr_hash, filter_count, prefetch_count, shard_index};
use crate::rawmem;
use crate::spin::SpinLock;

#[derive(Clone, Copy)]
pub(super) struct LiveEntry {
    pub(super) addr: usize,
    pub(super) bucket: *const Bucket,
    pub(super) time: u64,
    /// The measurement of `heapprof::testing` the block was made in, or 0.
    pub(super) tag: u32,
    /// The block's size as recorded at allocation, or [`UNRECORDED_SIZE`] (4 GiB or
    /// more). It fills the entry's padding; it matters to the C front door, whose
    /// `free` knows only the allocator's usable size, not the size asked for.
    pub(super) size: u32,
}

// The size fits in the padding after `tag`: the live table costs no more memory.
const _: () = assert!(size_of::<LiveEntry>() == 32);

/// [`LiveEntry::size`] of a block too large to record in 32 bits: its free counts
/// the size the caller of `forget` gives.
pub(super) const UNRECORDED_SIZE: u32 = u32::MAX;

const EMPTY: LiveEntry = LiveEntry { addr: 0, bucket: ptr::null(), time: 0, tag: 0, size: 0 };

pub(super) struct LiveShard {
    entries: *mut LiveEntry,
    capacity: usize,
    len: usize,
}

// SAFETY: only used under its lock.
unsafe impl Send for LiveShard {}

/// A shard and its length, alone in their cache lines: two cores sampling into
/// neighbouring shards would otherwise take turns owning one line. 128 bytes, as
/// Intel's prefetcher fetches lines in pairs.
#[repr(align(128))]
struct PaddedShard {
    lock: SpinLock<LiveShard>,
    /// The shard's length, stored under its lock, summed without the locks by [`live_len`].
    len: AtomicUsize,
    /// The shard's array and its capacity minus one, stored under its lock when it grows
    /// and read without it by [`prefetch_live_lines`]: a stale pair only wastes a prefetch.
    entries: AtomicPtr<LiveEntry>,
    mask: AtomicUsize,
}

static LIVE_TABLE: [PaddedShard; LIVE_SHARDS] = [const {
    PaddedShard {
        lock: SpinLock::new(LiveShard { entries: ptr::null_mut(), capacity: 0, len: 0 }),
        len: AtomicUsize::new(0),
        entries: AtomicPtr::new(ptr::null_mut()),
        mask: AtomicUsize::new(0),
    }
}; LIVE_SHARDS];

pub(super) fn live_shard(addr: usize) -> &'static SpinLock<LiveShard> {
    &LIVE_TABLE[shard_index(addr)].lock
}

/// Starts loading the lines that entering or removing a block at `addr` reads: its
/// slot, so that the insert after the stack walk finds it in cache (with millions of
/// live samples, at rate 1, that line is almost never cached: waiting for it was most
/// of an insert's time), and its filter count.
#[inline(always)]
pub(crate) fn prefetch_live_lines(addr: usize) {
    prefetch_count(addr);
    let shard = &LIVE_TABLE[shard_index(addr)];
    let entries = shard.entries.load(Relaxed);
    if entries.is_null() {
        return;
    }
    let slot = (addr_hash(addr) >> 32) as usize & shard.mask.load(Relaxed);
    // wrapping_add: the pair may be stale, and a prefetch of any address is harmless.
    crate::sync::prefetch(entries.wrapping_add(slot));
}

pub(super) fn insert_live(
    addr: usize,
    size: usize,
    bucket: &'static Bucket,
    tag: u32,
    patience: u32,
) -> bool {
    let Some(mut shard) = live_shard(addr).lock_bounded(patience) else {
        return false;
    };
    let size = u32::try_from(size).ok().filter(|&s| s != UNRECORDED_SIZE).unwrap_or(UNRECORDED_SIZE);
    shard.insert(LiveEntry { addr, bucket, time: crate::clock::coarse_nanos(), tag, size })
}

impl LiveShard {
    fn slot_of(&self, addr: usize) -> usize {
        (addr_hash(addr) >> 32) as usize & (self.capacity - 1)
    }

    /// Adds a live block, keeping its filter slot and the shard's length current.
    /// False when the table is full and could not grow.
    ///
    /// An entry already at the block's address means that block's free went unseen (a
    /// free from a signal handler that interrupted the profiler): that free is counted
    /// now, at its class size, and the entry replaced. One walk of the probe chain
    /// does both: without tombstones, an entry lies before the chain's first empty slot.
    pub(super) fn insert(&mut self, entry: LiveEntry) -> bool {
        if (self.len + 1) * 4 > self.capacity * 3 {
            if !self.grow() {
                return false;
            }
            let shard = &LIVE_TABLE[shard_index(entry.addr)];
            shard.entries.store(self.entries, Relaxed);
            shard.mask.store(self.capacity - 1, Relaxed);
        }
        let mut i = self.slot_of(entry.addr);
        loop {
            // SAFETY: i < capacity.
            let e = unsafe { &mut *self.entries.add(i) };
            if e.addr == entry.addr {
                // SAFETY: buckets are never freed.
                let stale = unsafe { &*e.bucket };
                stale.free_count.fetch_add(1, Relaxed);
                stale.free_bytes.fetch_add(stale.size, Relaxed);
                *e = entry;
                return true;
            }
            if e.addr == 0 {
                *e = entry;
                self.len += 1;
                filter_count(entry.addr, true);
                LIVE_TABLE[shard_index(entry.addr)].len.store(self.len, Relaxed);
                return true;
            }
            i = (i + 1) & (self.capacity - 1);
        }
    }

    /// Puts an entry in the first free slot of its probe chain (room is assured; for
    /// rehashing, where no address is there twice).
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

    pub(super) fn remove(&mut self, addr: usize) -> Option<LiveEntry> {
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
        LIVE_TABLE[shard_index(addr)].len.store(self.len, Relaxed);
        Some(found)
    }

    fn grow(&mut self) -> bool {
        let new_capacity = (self.capacity * 2).max(64);
        let entries = rawmem::map_populated(new_capacity * size_of::<LiveEntry>()).cast::<LiveEntry>();
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

/// Runs `f` on every live sampled block: its bucket and when it was allocated
/// (coarse monotonic nanoseconds). Holds one shard's lock at a time, so `f` must
/// neither allocate nor free: a sampled allocation or free on this thread could
/// need the same lock. Copy into storage allocated beforehand.
#[cfg(feature = "monitor")]
pub(crate) fn for_each_live(mut f: impl FnMut(&'static Bucket, u64)) {
    for shard in &LIVE_TABLE {
        let s = shard.lock.lock();
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

/// Sampled blocks live now.
pub(super) fn live_len() -> usize {
    LIVE_TABLE.iter().map(|s| s.len.load(Relaxed)).sum()
}

/// Fork safety: see [`super::lock_all_for_fork`].
pub(super) fn lock_all() {
    for s in &LIVE_TABLE {
        s.lock.raw_lock();
    }
}

/// Undoes [`lock_all`].
pub(super) fn unlock_all() {
    for s in LIVE_TABLE.iter().rev() {
        // SAFETY: taken by lock_all on this thread (or its pre-fork self).
        unsafe { s.lock.raw_unlock() };
    }
}
