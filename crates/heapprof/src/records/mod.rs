//! What the sampler recorded: one bucket per (call stack, block size, rate) with
//! its allocation and free counts, and the table of sampled blocks still live.
//!
//! Only sampled allocations and frees of sampled blocks come here. Frees of
//! unsampled blocks (nearly all) stop at a counting filter indexed by address:
//! a zero there proves the block was never sampled, with one load.

mod buckets;
mod filter;
mod live;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};

pub(crate) use buckets::{Bucket, STRIPES, for_each_bucket};
pub(crate) use filter::may_be_sampled;
#[cfg(feature = "monitor")]
pub(crate) use live::for_each_live;
pub(crate) use live::prefetch_live_lines;
use live::{LiveEntry, UNRECORDED_SIZE, insert_live, live_shard};

/// Default and largest number of frames kept per stack.
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// The largest depth [`set_max_stack_depth`] accepts.
pub const MAX_DEPTH_LIMIT: usize = 256;

static MAX_DEPTH: &AtomicUsize = &crate::sample_line::SAMPLE_LINE.max_depth;

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

static DROPPED: AtomicU64 = AtomicU64::new(0);

/// How many times a sample waits (yielding) for a table lock before it is dropped.
const SAMPLE_LOCK_YIELDS: u32 = 256;

/// Records a sampled allocation. Returns false (and counts a drop) when the sample
/// could not be recorded: no memory for metadata, or a lock held too long.
/// `tag` marks blocks made inside a `heapprof::testing` measurement (0: none).
/// Returns the bucket the sample went to.
///
/// Inlined into `sample` (its one call on the allocation path): as a call of its own it
/// cost 36 more instructions per sample (cachegrind, rate 1), in saved registers and
/// arguments passed.
#[inline(always)]
pub(crate) fn record_sample(
    addr: usize,
    size: usize,
    rate: u64,
    frames: &[usize],
    truncated: bool,
    tag: u32,
    stripe: u8,
) -> Option<&'static Bucket> {
    let class = size_class(size as u64);
    // A measurement of `heapprof::testing` and a profile at rate 1 must be exact: they
    // wait for the locks rather than drop the sample. Waiting cannot deadlock (the busy
    // flag keeps this thread out of the tables while it holds a lock); the bound only
    // caps the latency a sampled allocation may add when exactness was not asked for.
    let patience = if tag == 0 && rate != 1 { SAMPLE_LOCK_YIELDS } else { u32::MAX };
    let Some(bucket) =
        buckets::find_or_insert_bucket(frames, class, rate, truncated, size as u64, patience, stripe)
    else {
        DROPPED.fetch_add(1, Relaxed);
        return None;
    };
    if insert_live(addr, size, bucket, tag, patience) {
        if tag != 0 {
            crate::testing::tagged_block_changed(tag, size as i64);
        }
        return Some(bucket);
    }
    // Take the allocation back out of the bucket: a sample is all or nothing.
    buckets::uncount(bucket, size as u64);
    DROPPED.fetch_add(1, Relaxed);
    None
}

/// A sampled block that [`forget`] took out of the live table.
#[derive(Clone, Copy)]
pub(crate) struct Forgotten {
    bucket: *const Bucket,
    time: u64,
    size: usize,
    tag: u32,
}

/// Removes `addr` from the live table if it is there, counting the free on its
/// bucket at the size recorded at allocation (`size` only for blocks of 4 GiB or
/// more, whose size was not recorded: the Rust front door passes the same size it
/// allocated with, the C one only knows the usable size). Must run before the block
/// is given back to the allocator, so that a new block at the same address cannot
/// be confused with it.
pub(crate) fn forget(addr: usize, size: usize) -> Option<Forgotten> {
    let entry = live_shard(addr).lock().remove(addr)?;
    let size = if entry.size == UNRECORDED_SIZE { size } else { entry.size as usize };
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
    let size = u32::try_from(f.size).ok().filter(|&s| s != UNRECORDED_SIZE).unwrap_or(UNRECORDED_SIZE);
    if live_shard(addr).lock().insert(LiveEntry { addr, bucket: f.bucket, time: f.time, tag: f.tag, size }) {
        bucket.free_count.fetch_sub(1, Relaxed);
        bucket.free_bytes.fetch_sub(f.size as u64, Relaxed);
        if f.tag != 0 {
            crate::testing::tagged_block_changed(f.tag, f.size as i64);
        }
    } else {
        DROPPED.fetch_add(1, Relaxed);
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
        buckets: buckets::BUCKET_COUNT.load(Relaxed),
        live_samples: live::live_len(),
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
    buckets::lock_all();
    live::lock_all();
}

/// Undoes [`lock_all_for_fork`] in the parent and in the child.
pub(crate) fn unlock_all_after_fork() {
    live::unlock_all();
    buckets::unlock_all();
}

#[cfg(test)]
mod tests {
    use super::size_class;

    /// A second sample at an address still in the live table (its free went unseen):
    /// the old block's free is counted and its entry replaced, not duplicated.
    #[test]
    fn a_sample_at_a_live_address_counts_the_unseen_free() {
        use super::{buckets, forget, live};
        use std::sync::atomic::Ordering::Relaxed;
        // Far below any heap of this process, in a region no other test uses.
        let addr = 0x10_0200_0040usize;
        let frames = [0x7f00_dead_0001usize, 0x7f00_dead_0002];
        let bucket = buckets::find_or_insert_bucket(&frames, 64, 1, false, 64, u32::MAX, 0).unwrap();
        assert!(live::insert_live(addr, 64, bucket, 0, u32::MAX));
        let again = buckets::find_or_insert_bucket(&frames, 64, 1, false, 64, u32::MAX, 0).unwrap();
        assert!(std::ptr::eq(bucket, again));
        assert!(live::insert_live(addr, 64, bucket, 0, u32::MAX));
        assert_eq!((bucket.alloc_count.load(Relaxed), bucket.free_count.load(Relaxed)), (2, 1));
        assert!(forget(addr, 64).is_some(), "the replacing entry is live");
        assert!(forget(addr, 64).is_none(), "a second entry was left behind");
        assert_eq!((bucket.free_count.load(Relaxed), bucket.free_bytes.load(Relaxed)), (2, 128));
        assert!(!super::may_be_sampled(addr), "the filter still counts the address");
    }

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

    mod filter {
        use crate::records::filter::*;

        #[test]
        fn a_region_shares_one_line_and_one_shard_and_regions_spread_over_the_shards() {
            let region = 0x7f12_3440_0000usize;
            let line = filter_slots(region)[0] >> LINE_BITS;
            for addr in (region..region + (1 << REGION_SHIFT)).step_by(16) {
                assert_eq!(filter_slots(addr)[0] >> LINE_BITS, line, "{addr:#x} left its region's line");
                assert_eq!(shard_index(addr), shard_index(region), "{addr:#x} left its region's shard");
            }
            let next = filter_slots(region + (1 << REGION_SHIFT))[0] >> LINE_BITS;
            assert_ne!(next, line, "two neighbouring regions share a line");
            // Consecutive regions, as threads allocate through their heaps.
            let mut shards = [0usize; LIVE_SHARDS];
            for r in 0..64 * LIVE_SHARDS {
                shards[shard_index(0x7f00_0000_0000 + (r << REGION_SHIFT))] += 1;
            }
            assert!(shards.iter().all(|&n| n > 64 / 2 && n < 64 * 2), "{shards:?}");
        }

        #[test]
        fn a_block_is_reported_only_when_both_its_bits_are_set() {
            // Far below any heap of this process, in a region no other test uses.
            let addr = (0x10_0300_0000usize..)
                .step_by(16)
                .find(|&a| filter_slots(a)[0] != filter_slots(a)[1])
                .unwrap();
            let [first, second] = filter_slots(addr);
            let region = addr >> REGION_SHIFT << REGION_SHIFT;
            let shares_one = |a: usize| {
                let [f, s] = filter_slots(a);
                (f == first || s == first) && f != second && s != second
            };
            let other = (region..region + (1 << REGION_SHIFT)).step_by(16).find(|&a| shares_one(a)).unwrap();
            filter_count(addr, true);
            assert!(may_be_sampled(addr));
            assert!(!may_be_sampled(other), "one bit of two answered maybe");
            filter_count(addr, false);
            assert!(!may_be_sampled(addr));
        }

        #[test]
        fn bits_follow_counts_through_saturation() {
            // Far below any heap this test process has.
            let addr = 0x10_0000_1230usize;
            for _ in 0..300 {
                filter_count(addr, true);
            }
            assert!(may_be_sampled(addr));
            for _ in 0..300 {
                filter_count(addr, false);
            }
            // A saturated slot never comes back down: it answers "maybe" from then on.
            assert!(may_be_sampled(addr));
            let other = 0x10_0100_2340usize;
            assert!(filter_slots(other).iter().all(|s| !filter_slots(addr).contains(s)));
            filter_count(other, true);
            assert!(may_be_sampled(other));
            filter_count(other, false);
            assert!(!may_be_sampled(other));
        }
    }
}
