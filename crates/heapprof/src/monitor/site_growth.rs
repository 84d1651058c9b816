//! Per-site growth inside the process: each tick's snapshot gives the in-use
//! bytes of every call stack; the ages of the live blocks weigh the ranking.

use heapprof_profile::trend::{SiteHistory, SiteOptions, SiteTrend, site_values};

use super::ages::age_spread_by_stack;
use crate::heap::{HeapSnapshot, StackRecord};
use crate::sampler;

/// Parts the monitored window is cut into for the age spread.
const AGE_BINS: u32 = 8;

/// In-use bytes per call stack over the last ticks.
#[derive(Debug)]
pub(crate) struct SiteGrowth {
    history: SiteHistory<Vec<usize>>,
    capacity: usize,
}

impl SiteGrowth {
    pub(crate) fn new(capacity: usize) -> Self {
        SiteGrowth { history: SiteHistory::new(), capacity }
    }

    /// Adds a tick at `t` seconds since the monitor started.
    pub(crate) fn record(&mut self, t: f64, snapshot: &HeapSnapshot) {
        self.history.push(t, snapshot.records.iter().map(|r| (r.frames.clone(), inuse_bytes(r))));
        self.history.keep_last(self.capacity);
    }

    /// Ranks the sites (suspects first), with the spread of their live blocks
    /// over the window since `start` (coarse monotonic nanoseconds). Growth
    /// under two sample periods is never counted.
    pub(crate) fn rank(&mut self, opts: &SiteOptions, start: u64) -> Vec<SiteTrend<Vec<usize>>> {
        self.history.clear_ages();
        for (frames, spread) in age_spread_by_stack(start, AGE_BINS) {
            self.history.set_age(frames, spread);
        }
        let floor = 2.0 * sampler::sample_rate() as f64;
        let opts = SiteOptions { min_growth: opts.min_growth.max(floor), ..*opts };
        self.history.rank(&opts)
    }
}

/// A record's in-use bytes, unbiased as in its profile.
fn inuse_bytes(r: &StackRecord) -> f64 {
    let blocks = r.allocs.saturating_sub(r.frees);
    let bytes = r.alloc_bytes.saturating_sub(r.free_bytes);
    if blocks == 0 || bytes == 0 {
        return 0.0;
    }
    bytes as f64 * sampler::scale(bytes / blocks, r.rate)
}

/// Function names of a stack, leaf first, without the profiler's frames.
pub(crate) fn symbolize(frames: &[usize], truncated: bool) -> Vec<String> {
    let one = HeapSnapshot {
        records: vec![StackRecord {
            frames: frames.to_vec(),
            size_class: 1,
            rate: 1,
            allocs: 1,
            alloc_bytes: 1,
            frees: 0,
            free_bytes: 0,
            truncated,
        }],
        unix_nanos: 0,
        rate: 1,
    };
    site_values(&one.to_profile(), 0).into_keys().next().unwrap_or_default()
}
