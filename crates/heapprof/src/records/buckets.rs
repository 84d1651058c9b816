//! The records: one bucket per (call stack, size class, rate), in a sharded hash
//! table for lookup and a lock-free list for snapshots. Buckets live in arenas
//! from the kernel and are never freed.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};

use super::add_plain;
use crate::rawmem;
use crate::spin::SpinLock;

/// Buckets per (stack, size class, rate): each thread records into the one of its
/// stripe (`thread_state`), so that threads allocating at the same sites do not pass
/// one bucket's line and shard lock between their cores on every sample. Snapshots
/// add a site's stripes together. Rate 1, small objects, 2 threads: 9.7× the bare run
/// with one bucket per site, 7.4× with four. The cost: a site that many threads
/// allocate at takes up to four buckets' memory.
pub(crate) const STRIPES: usize = 4;

/// One (stack, size class, rate, stripe) record. Never freed once made.
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
    stripe: u8,
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
pub(super) static BUCKET_COUNT: AtomicUsize = AtomicUsize::new(0);

const BUCKET_SHARDS: usize = 16;

struct BucketShard {
    heads: *mut *mut Bucket,
    capacity: usize,
    len: usize,
    arena: Arena,
}

// SAFETY: only used under its lock.
unsafe impl Send for BucketShard {}

/// A shard alone in its cache lines (see `live::PaddedShard`).
#[repr(align(128))]
struct PaddedShard(SpinLock<BucketShard>);

static BUCKET_TABLE: [PaddedShard; BUCKET_SHARDS] = [const {
    PaddedShard(SpinLock::new(BucketShard {
        heads: ptr::null_mut(),
        capacity: 0,
        len: 0,
        arena: Arena::new(),
    }))
}; BUCKET_SHARDS];

/// Hashes a bucket's key. The frames go through four independent lanes, each taking
/// every fourth frame: one lane's chain of multiplies over a whole stack (13 frames in
/// the benchmark) was a wait of over 50 cycles on every sample.
fn stack_hash(frames: &[usize], size: u64, rate: u64, stripe: u8) -> u64 {
    const MUL: u64 = 0x9e37_79b9_7f4a_7c15;
    let step = |lane: u64, frame: usize| (lane ^ frame as u64).wrapping_mul(MUL).rotate_left(23);
    let seed = size ^ rate.rotate_left(32) ^ (u64::from(stripe) << 56) ^ frames.len() as u64;
    let mut lanes = [seed, seed ^ 0xcbf2_9ce4_8422_2325, seed ^ 0x8422_2325_cbf2_9ce4, !seed];
    let mut quads = frames.chunks_exact(4);
    for quad in &mut quads {
        for (lane, &frame) in lanes.iter_mut().zip(quad) {
            *lane = step(*lane, frame);
        }
    }
    for (lane, &frame) in lanes.iter_mut().zip(quads.remainder()) {
        *lane = step(*lane, frame);
    }
    let h = lanes[0] ^ lanes[1].rotate_left(16) ^ lanes[2].rotate_left(32) ^ lanes[3].rotate_left(48);
    let h = (h ^ (h >> 31)).wrapping_mul(MUL);
    h ^ (h >> 29)
}

/// Finds or makes the bucket of stripe `stripe` (below [`STRIPES`]) and counts one
/// allocation of `bytes` in it, under the bucket's shard lock.
pub(super) fn find_or_insert_bucket(
    frames: &[usize],
    size: u64,
    rate: u64,
    truncated: bool,
    bytes: u64,
    patience: u32,
    stripe: u8,
) -> Option<&'static Bucket> {
    let hash = stack_hash(frames, size, rate, stripe);
    let mut shard = BUCKET_TABLE[(hash as usize) % BUCKET_SHARDS].0.lock_bounded(patience)?;
    let count = |b: &'static Bucket| {
        add_plain(&b.alloc_count, 1);
        add_plain(&b.alloc_bytes, bytes);
        b
    };
    if let Some(b) = shard.find(hash, frames, size, rate, stripe) {
        return Some(count(b));
    }
    if shard.len >= shard.capacity && !shard.grow() && shard.capacity == 0 {
        return None;
    }
    let bucket = shard.arena.make_bucket(hash, frames, size, rate, truncated, stripe)?;
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
    fn find(&self, hash: u64, frames: &[usize], size: u64, rate: u64, stripe: u8) -> Option<&'static Bucket> {
        if self.capacity == 0 {
            return None;
        }
        // SAFETY: index < capacity; chains hold live buckets.
        let mut p = unsafe { *self.heads.add((hash as usize >> 8) & (self.capacity - 1)) };
        while !p.is_null() {
            // SAFETY: buckets are never freed.
            let b = unsafe { &*p };
            if b.hash == hash
                && b.size == size
                && b.rate == rate
                && b.stripe == stripe
                && b.frames() == frames
            {
                return Some(b);
            }
            p = b.next_in_chain;
        }
        None
    }

    /// Doubles the head array (keeping chains under two per head on average).
    fn grow(&mut self) -> bool {
        let new_capacity = (self.capacity * 2).max(256);
        let heads = rawmem::map_populated(new_capacity * size_of::<*mut Bucket>()).cast::<*mut Bucket>();
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
        stripe: u8,
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
                stripe,
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

/// Takes back one allocation of `bytes` that `find_or_insert_bucket` counted.
pub(super) fn uncount(bucket: &Bucket, bytes: u64) {
    let _shard = BUCKET_TABLE[(bucket.hash as usize) % BUCKET_SHARDS].0.lock();
    add_plain(&bucket.alloc_count, u64::MAX);
    add_plain(&bucket.alloc_bytes, bytes.wrapping_neg());
}

/// Fork safety: see [`super::lock_all_for_fork`].
pub(super) fn lock_all() {
    for s in &BUCKET_TABLE {
        s.0.raw_lock();
    }
}

/// Undoes [`lock_all`].
pub(super) fn unlock_all() {
    for s in BUCKET_TABLE.iter().rev() {
        // SAFETY: taken by lock_all on this thread (or its pre-fork self).
        unsafe { s.0.raw_unlock() };
    }
}
