//! Large allocations, found on the monitor's thread from the sampler's records
//! (never from inside the allocator): records of blocks at least the threshold
//! whose sampled allocation count went up since the previous tick. A block of
//! `size` bytes is sampled with probability `1 - exp(-size / rate)`, so with a
//! threshold of 64 MiB at the default rate (512 KiB) none is missed in
//! practice (e^-128); with sampling off, none is seen.

use std::collections::HashMap;

use crate::heap::HeapSnapshot;

/// Sampled large allocations made at one stack since the previous tick.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LargeBatch {
    pub(crate) frames: Vec<usize>,
    pub(crate) truncated: bool,
    pub(crate) count: u64,
    /// Average size, bytes.
    pub(crate) size: u64,
}

/// Counts of large records at the previous tick.
#[derive(Debug)]
pub(crate) struct LargeAllocations {
    threshold: u64,
    seen: HashMap<(Vec<usize>, u64, u64), (u64, u64)>,
    primed: bool,
}

impl LargeAllocations {
    pub(crate) fn new(threshold: u64) -> Self {
        LargeAllocations { threshold, seen: HashMap::new(), primed: false }
    }

    /// The new large allocations since the last call; the first call only
    /// notes what is there (made before the monitor started).
    pub(crate) fn scan(&mut self, snapshot: &HeapSnapshot) -> Vec<LargeBatch> {
        let mut out = Vec::new();
        for r in snapshot.records.iter().filter(|r| r.size_class >= self.threshold) {
            let key = (r.frames.clone(), r.size_class, r.rate);
            let (allocs, bytes) = self.seen.insert(key, (r.allocs, r.alloc_bytes)).unwrap_or((0, 0));
            let (count, added) = (r.allocs.saturating_sub(allocs), r.alloc_bytes.saturating_sub(bytes));
            if !self.primed || count == 0 || added / count < self.threshold {
                continue;
            }
            out.push(LargeBatch {
                frames: r.frames.clone(),
                truncated: r.truncated,
                count,
                size: added / count,
            });
        }
        self.primed = true;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::StackRecord;

    fn snapshot(allocs: u64, size: u64) -> HeapSnapshot {
        HeapSnapshot {
            records: vec![
                StackRecord {
                    frames: vec![1, 2],
                    size_class: 1 << 27,
                    rate: 1,
                    allocs,
                    alloc_bytes: allocs * size,
                    frees: 0,
                    free_bytes: 0,
                    truncated: false,
                },
                StackRecord {
                    frames: vec![3],
                    size_class: 64,
                    rate: 1,
                    allocs: allocs * 100,
                    alloc_bytes: allocs * 6400,
                    frees: 0,
                    free_bytes: 0,
                    truncated: false,
                },
            ],
            unix_nanos: 0,
            rate: 1,
        }
    }

    #[test]
    fn only_new_large_allocations_are_reported() {
        let mut large = LargeAllocations::new(64 << 20);
        assert!(large.scan(&snapshot(2, 100 << 20)).is_empty(), "made before the monitor");
        let batches = large.scan(&snapshot(5, 100 << 20));
        assert_eq!(batches, [LargeBatch { frames: vec![1, 2], truncated: false, count: 3, size: 100 << 20 }]);
        assert!(large.scan(&snapshot(5, 100 << 20)).is_empty());
    }

    #[test]
    fn blocks_below_the_threshold_in_a_large_class_are_not_reported() {
        let mut large = LargeAllocations::new(110 << 20);
        large.scan(&snapshot(0, 0));
        assert!(large.scan(&snapshot(1, 100 << 20)).is_empty());
    }
}
