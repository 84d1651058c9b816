//! How old the live heap is: every sampled block remembers when it was
//! allocated, so the sampled heap can be read by age — per site, which ages
//! its live blocks span (a site that keeps accumulating holds blocks of every
//! age; churn holds only young ones), or only the blocks older than some age.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use heapprof_profile::trend::AgeSpread;

use crate::heap::{HeapSnapshot, StackRecord};
use crate::records::{self, Bucket};
use crate::{clock, sampler, thread_state};

/// Upper bounds of the age classes of [`SiteAges::histogram`]; the last class
/// holds everything older than the last bound.
pub const AGE_CLASS_BOUNDS: [Duration; 7] = [
    Duration::from_secs(1),
    Duration::from_secs(10),
    Duration::from_secs(60),
    Duration::from_secs(600),
    Duration::from_secs(3600),
    Duration::from_secs(6 * 3600),
    Duration::from_secs(24 * 3600),
];

/// The live sampled blocks of one call stack, by age.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteAges {
    /// Return addresses, leaf first (as in [`StackRecord::frames`]).
    pub frames: Vec<usize>,
    /// Live sampled blocks.
    pub blocks: u64,
    /// Their age when they were counted: the oldest.
    pub oldest: Duration,
    /// The youngest.
    pub youngest: Duration,
    /// Blocks per age class: younger than `AGE_CLASS_BOUNDS[i]` (and not younger
    /// than the bound before); the last entry counts the rest.
    pub histogram: [u64; AGE_CLASS_BOUNDS.len() + 1],
}

/// The live sampled heap by site and age. Sampled counts, not scaled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveAges {
    /// One entry per call stack, sorted by stack.
    pub sites: Vec<SiteAges>,
    /// Live blocks that appeared while the table was read and did not fit in
    /// the room set aside for it beforehand (not counted above).
    pub missed: u64,
}

/// Reads the age of every live sampled block. Cost: one pass over the live
/// table, one shard lock at a time.
pub fn live_ages() -> LiveAges {
    let (blocks, missed) = collect_live();
    let now = clock::coarse_nanos();
    let mut by_stack: HashMap<&'static [usize], SiteAges> = HashMap::new();
    for (bucket, time) in blocks {
        let age = Duration::from_nanos(now.saturating_sub(time));
        let site = by_stack.entry(bucket.frames()).or_insert_with(|| SiteAges {
            frames: bucket.frames().to_vec(),
            blocks: 0,
            oldest: age,
            youngest: age,
            histogram: [0; AGE_CLASS_BOUNDS.len() + 1],
        });
        site.blocks += 1;
        site.oldest = site.oldest.max(age);
        site.youngest = site.youngest.min(age);
        let class = AGE_CLASS_BOUNDS.iter().position(|&b| age < b).unwrap_or(AGE_CLASS_BOUNDS.len());
        site.histogram[class] += 1;
    }
    let mut sites: Vec<SiteAges> = by_stack.into_values().collect();
    sites.sort_by(|a, b| a.frames.cmp(&b.frames));
    LiveAges { sites, missed }
}

/// The sampled heap restricted to live blocks allocated at least `min_age`
/// ago: in its profile, `inuse_*` values count only those blocks, and
/// `alloc_*` values equal them (a view of what has survived, not a history).
/// Block sizes are the average of their record.
pub fn snapshot_older_than(min_age: Duration) -> HeapSnapshot {
    let (blocks, _) = collect_live();
    let now = clock::coarse_nanos();
    let min_age = min_age.as_nanos().min(u64::MAX as u128) as u64;
    let mut old: HashMap<*const Bucket, (&'static Bucket, u64)> = HashMap::new();
    for (bucket, time) in blocks {
        if now.saturating_sub(time) >= min_age {
            old.entry(bucket as *const Bucket).or_insert((bucket, 0)).1 += 1;
        }
    }
    let mut records: Vec<StackRecord> = old
        .into_values()
        .map(|(b, n)| {
            let (allocs, bytes) = (b.alloc_count.load(Relaxed), b.alloc_bytes.load(Relaxed));
            let average = bytes.checked_div(allocs).unwrap_or(b.size);
            StackRecord {
                frames: b.frames().to_vec(),
                size_class: b.size,
                rate: b.rate,
                allocs: n,
                alloc_bytes: n * average,
                frees: 0,
                free_bytes: 0,
                truncated: b.truncated,
            }
        })
        .collect();
    crate::heap::sort_and_merge_stripes(&mut records);
    HeapSnapshot { records, unix_nanos: clock::unix_nanos(), rate: sampler::sample_rate() }
}

/// Per stack, how its live blocks spread over the window from `start` to now
/// (coarse monotonic nanoseconds) cut into `bins` parts; blocks older than the
/// window fall in the first part.
pub(crate) fn age_spread_by_stack(start: u64, bins: u32) -> HashMap<Vec<usize>, AgeSpread> {
    let (blocks, _) = collect_live();
    let now = clock::coarse_nanos();
    let bins = bins.max(1);
    let width = (now.saturating_sub(start) / u64::from(bins)).max(1);
    let mut counts: HashMap<&'static [usize], Vec<u64>> = HashMap::new();
    for (bucket, time) in blocks {
        let part = (time.saturating_sub(start) / width).min(u64::from(bins) - 1) as usize;
        counts.entry(bucket.frames()).or_insert_with(|| vec![0; bins as usize])[part] += 1;
    }
    counts
        .into_iter()
        .map(|(frames, parts)| {
            let total: u64 = parts.iter().sum();
            let spread = AgeSpread {
                occupied: parts.iter().filter(|&&n| n > 0).count() as u32,
                bins,
                youngest_fraction: parts.last().map_or(0.0, |&n| n as f64 / total.max(1) as f64),
            };
            (frames.to_vec(), spread)
        })
        .collect()
}

/// Copies (bucket, allocation time) of every live sampled block into a vector
/// sized beforehand: nothing is allocated while a shard lock is held. Returns
/// the blocks and how many did not fit.
fn collect_live() -> (Vec<(&'static Bucket, u64)>, u64) {
    // The profiler's own work is not sampled (and so never needs a live table lock
    // while this thread holds one).
    thread_state::quietly(|| {
        let expected = records::counts().live_samples;
        let mut blocks = Vec::with_capacity(expected + expected / 8 + 1024);
        let mut missed = 0u64;
        records::for_each_live(|bucket, time| {
            if blocks.len() < blocks.capacity() {
                blocks.push((bucket, time));
            } else {
                missed += 1;
            }
        });
        (blocks, missed)
    })
}
