//! The records: one bucket per (call stack, size class, rate), found through an index
//! that samples read without a lock, and kept in a lock-free list for snapshots.
//! Buckets live in an arena from the kernel and are never freed.
//!
//! The index is a table of bucket pointers (open addressing, linear probing), published
//! in `sample_line::SAMPLE_LINE` as one word: the array's address and, in its low bits,
//! log2 of its length. A sample at the default rate finds its bucket in two cold lines,
//! the slot and the bucket; behind a lock per shard it waited on three, one after the
//! other: the shard's lock, the shard's array of chains, the bucket (`perf`: 0.8% of a
//! default-rate run in the lookup, 41% of it on the load of the chain's head). Only a
//! new bucket takes a lock, one for the whole table. A full table is copied to one
//! twice its size, published, and the old one left mapped: a reader may still be in
//! it. The arrays left behind add up to less than the live one.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};

use crate::rawmem;
use crate::sample_line::SAMPLE_LINE;
use crate::spin::SpinLock;

/// Buckets per (stack, size class, rate): each thread records into the one of its
/// stripe (`thread_state`), so that threads allocating at the same sites do not pass
/// one bucket's line (then also a shard's lock) between their cores on every sample. Snapshots
/// add a site's stripes together. Rate 1, small objects, 2 threads: 9.7× the bare run
/// with one bucket per site, 7.4× with four. The cost: a site that many threads
/// allocate at takes up to four buckets' memory.
pub(crate) const STRIPES: usize = 4;

/// One (stack, size class, rate, stripe) record. Never freed once made.
pub(crate) struct Bucket {
    next_in_list: AtomicPtr<Bucket>,
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

// SAFETY: `frames` points at immutable data; the rest is atomic or immutable.
unsafe impl Send for Bucket {}
// SAFETY: as above.
unsafe impl Sync for Bucket {}

/// Every bucket, newest first: snapshots walk it without taking a lock.
static BUCKETS: AtomicPtr<Bucket> = AtomicPtr::new(ptr::null_mut());
pub(super) static BUCKET_COUNT: AtomicUsize = AtomicUsize::new(0);

/// What only the holder of [`INSERTER`] changes: the index's array and length, and
/// the arena new buckets come from.
struct Inserter {
    slots: *mut AtomicPtr<Bucket>,
    capacity: usize,
    len: usize,
    arena: Arena,
}

// SAFETY: only used under its lock.
unsafe impl Send for Inserter {}

static INSERTER: SpinLock<Inserter> =
    SpinLock::new(Inserter { slots: ptr::null_mut(), capacity: 0, len: 0, arena: Arena::new() });

/// The smallest array of the index: 8 KiB.
const MIN_CAPACITY: usize = 1024;

/// The low bits of a published index, below its page-aligned array: log2 of its length.
const LOG2_BITS: usize = 4095;

/// The published form of an index array: its address (page-aligned) with log2 of its
/// length in the low bits.
fn pack(slots: *mut AtomicPtr<Bucket>, capacity: usize) -> usize {
    debug_assert!(capacity.is_power_of_two() && slots.addr() & LOG2_BITS == 0);
    slots.addr() | capacity.trailing_zeros() as usize
}

/// What [`pack`] packed: the array, and its length minus one.
fn unpack(index: usize) -> (*const AtomicPtr<Bucket>, usize) {
    ((index & !LOG2_BITS) as *const AtomicPtr<Bucket>, (1usize << (index & LOG2_BITS)) - 1)
}

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
/// allocation of `bytes` in it. Only a new bucket waits for a lock, for at most
/// `patience` yields.
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
    let key = Key { hash, frames, size, rate, stripe };
    let bucket = match find(SAMPLE_LINE.bucket_index.load(Acquire), &key) {
        Some(b) => b,
        None => insert(&key, truncated, patience)?,
    };
    bucket.alloc_count.fetch_add(1, Relaxed);
    bucket.alloc_bytes.fetch_add(bytes, Relaxed);
    Some(bucket)
}

/// What a bucket is found by.
struct Key<'a> {
    hash: u64,
    frames: &'a [usize],
    size: u64,
    rate: u64,
    stripe: u8,
}

/// The bucket of `key` in the published index `index` (see [`pack`]; 0: none yet).
#[inline(always)]
fn find(index: usize, key: &Key<'_>) -> Option<&'static Bucket> {
    if index == 0 {
        return None;
    }
    let (slots, mask) = unpack(index);
    let mut i = key.hash as usize & mask;
    loop {
        // SAFETY: i <= mask < the array's length; published arrays are never unmapped.
        let p = unsafe { &*slots.add(i) }.load(Acquire);
        if p.is_null() {
            return None;
        }
        // The bucket's header spans two lines and its frames follow it: ask for them
        // all at once rather than one after the other as the comparison reaches them.
        crate::sync::prefetch(p.cast::<u8>().wrapping_add(64));
        crate::sync::prefetch(p.cast::<u8>().wrapping_add(128));
        // SAFETY: buckets are never freed; the Acquire load saw the one published here.
        let b = unsafe { &*p };
        if b.hash == key.hash
            && b.size == key.size
            && b.rate == key.rate
            && b.stripe == key.stripe
            && b.frames() == key.frames
        {
            return Some(b);
        }
        i = (i + 1) & mask;
    }
}

/// Makes the bucket of `key`, unless another thread made it first.
#[cold]
#[inline(never)]
fn insert(key: &Key<'_>, truncated: bool, patience: u32) -> Option<&'static Bucket> {
    let mut ins = INSERTER.lock_bounded(patience)?;
    if let Some(b) = find(SAMPLE_LINE.bucket_index.load(Acquire), key) {
        return Some(b);
    }
    // At most half full, so that probes stay short; a table that cannot grow takes
    // buckets while one slot stays empty to end every probe.
    if (ins.len + 1) * 2 > ins.capacity && !ins.grow() && ins.len + 2 > ins.capacity {
        return None;
    }
    let bucket = ins.arena.make_bucket(key, truncated)?;
    ins.place(bucket);
    ins.len += 1;
    drop(ins);
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
    // SAFETY: never freed.
    Some(unsafe { &*bucket })
}

impl Inserter {
    /// Puts `bucket` in the first empty slot of its probe (one is assured), published
    /// to lock-free readers by the Release store.
    fn place(&mut self, bucket: *mut Bucket) {
        let mask = self.capacity - 1;
        // SAFETY: a made bucket, never freed.
        let mut i = unsafe { (*bucket).hash } as usize & mask;
        loop {
            // SAFETY: i < capacity.
            let slot = unsafe { &*self.slots.add(i) };
            if slot.load(Relaxed).is_null() {
                slot.store(bucket, Release);
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Copies the index to an array twice as long and publishes it.
    fn grow(&mut self) -> bool {
        let new_capacity = (self.capacity * 2).max(MIN_CAPACITY);
        let slots =
            rawmem::map_populated(new_capacity * size_of::<AtomicPtr<Bucket>>()).cast::<AtomicPtr<Bucket>>();
        if slots.is_null() {
            return false;
        }
        let (old, old_capacity) = (self.slots, self.capacity);
        (self.slots, self.capacity) = (slots, new_capacity);
        for i in 0..old_capacity {
            // SAFETY: i < the old array's length.
            let p = unsafe { &*old.add(i) }.load(Relaxed);
            if !p.is_null() {
                self.place(p);
            }
        }
        SAMPLE_LINE.bucket_index.store(pack(slots, new_capacity), Release);
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

    fn make_bucket(&mut self, key: &Key<'_>, truncated: bool) -> Option<*mut Bucket> {
        let frames = key.frames;
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
                hash: key.hash,
                size: key.size,
                rate: key.rate,
                alloc_count: AtomicU64::new(0),
                alloc_bytes: AtomicU64::new(0),
                free_count: AtomicU64::new(0),
                free_bytes: AtomicU64::new(0),
                truncated,
                stripe: key.stripe,
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
    bucket.alloc_count.fetch_sub(1, Relaxed);
    bucket.alloc_bytes.fetch_sub(bytes, Relaxed);
}

/// Fork safety: see [`super::lock_all_for_fork`].
pub(super) fn lock_all() {
    INSERTER.raw_lock();
}

/// Undoes [`lock_all`].
pub(super) fn unlock_all() {
    // SAFETY: taken by lock_all on this thread (or its pre-fork self).
    unsafe { INSERTER.raw_unlock() };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads making the same new buckets at once, through several doublings of the
    /// index: each key gets one bucket, found again by every thread, with every count.
    #[test]
    fn racing_threads_make_one_bucket_per_key_through_the_index_growing() {
        const KEYS: usize = 3 * MIN_CAPACITY;
        // Frames no other test uses: return addresses in no mapping of this process.
        let frames = |k: usize| [0x7e00_0000_0000 + k * 16, 0x7e00_0100_0000];
        let found: Vec<Vec<usize>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..3)
                .map(|t| {
                    s.spawn(move || {
                        (0..KEYS)
                            .map(|i| {
                                // Each thread goes through the keys in its own order
                                // (multipliers prime to KEYS, which is 3 * 2^10).
                                let k = (i * [1, 5, 7][t] + t) % KEYS;
                                let b = find_or_insert_bucket(&frames(k), 48, 1, false, 48, u32::MAX, 1);
                                (k, ptr::from_ref(b.unwrap()).addr())
                            })
                            .fold(vec![0; KEYS], |mut v, (k, b)| {
                                v[k] = b;
                                v
                            })
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        assert!(found.windows(2).all(|w| w[0] == w[1]), "threads found different buckets for one key");
        // Counted in the list, not by `BUCKET_COUNT`, which other tests running at the
        // same time move too.
        let mut made = 0;
        for_each_bucket(|b| made += usize::from(b.frames().len() == 2 && b.frames()[1] == frames(0)[1]));
        assert_eq!(made, KEYS);
        for (k, &addr) in found[0].iter().enumerate() {
            let again = find_or_insert_bucket(&frames(k), 48, 1, false, 48, u32::MAX, 1).unwrap();
            assert_eq!(ptr::from_ref(again).addr(), addr);
            assert_eq!(again.frames(), frames(k));
            assert_eq!((again.alloc_count.load(Relaxed), again.alloc_bytes.load(Relaxed)), (4, 4 * 48));
        }
    }
}
