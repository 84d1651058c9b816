//! What each tick records, and the ring of the last ticks.

use std::collections::VecDeque;
use std::time::Duration;

use crate::Stats;

/// The heap's figures at one tick.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Tick {
    /// When, nanoseconds since the Unix epoch.
    pub unix_nanos: u64,
    /// Time since the monitor started (monotonic).
    pub elapsed: Duration,
    /// Bytes live now.
    pub live_bytes: u64,
    /// Highest live bytes since the process started.
    pub peak_live_bytes: u64,
    /// Bytes allocated since the process started.
    pub allocated_bytes: u64,
    /// Bytes freed since the process started.
    pub freed_bytes: u64,
    /// Bytes allocated per second since the previous tick (0 at the first).
    pub allocation_rate: f64,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// Virtual size, bytes.
    pub virtual_bytes: u64,
    /// Threads of the process.
    pub threads: u64,
    /// Sampled blocks live.
    pub live_samples: u64,
}

impl Tick {
    pub(crate) fn new(stats: &Stats, unix_nanos: u64, elapsed: Duration, previous: Option<&Tick>) -> Tick {
        let allocation_rate = previous.map_or(0.0, |p| {
            let dt = elapsed.saturating_sub(p.elapsed).as_secs_f64();
            if dt > 0.0 { stats.allocated_bytes.saturating_sub(p.allocated_bytes) as f64 / dt } else { 0.0 }
        });
        Tick {
            unix_nanos,
            elapsed,
            live_bytes: stats.live_bytes,
            peak_live_bytes: stats.peak_live_bytes,
            allocated_bytes: stats.allocated_bytes,
            freed_bytes: stats.freed_bytes,
            allocation_rate,
            rss_bytes: stats.rss_bytes,
            virtual_bytes: stats.virtual_bytes,
            threads: stats.threads,
            live_samples: stats.live_samples,
        }
    }
}

/// The last `capacity` ticks, oldest first.
#[derive(Debug)]
pub(crate) struct History {
    ticks: VecDeque<Tick>,
    capacity: usize,
}

impl History {
    pub(crate) fn new(capacity: usize) -> Self {
        History { ticks: VecDeque::with_capacity(capacity), capacity: capacity.max(1) }
    }

    pub(crate) fn push(&mut self, tick: Tick) {
        if self.ticks.len() == self.capacity {
            self.ticks.pop_front();
        }
        self.ticks.push_back(tick);
    }

    pub(crate) fn last(&self) -> Option<&Tick> {
        self.ticks.back()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Tick> {
        self.ticks.iter()
    }

    pub(crate) fn to_vec(&self) -> Vec<Tick> {
        self.ticks.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(secs: u64, allocated: u64) -> Tick {
        let stats = Stats { allocated_bytes: allocated, ..Stats::default() };
        Tick::new(&stats, 0, Duration::from_secs(secs), None)
    }

    #[test]
    fn the_ring_keeps_the_last_ticks() {
        let mut h = History::new(3);
        for i in 0..5 {
            h.push(tick(i, 0));
        }
        let kept: Vec<u64> = h.iter().map(|t| t.elapsed.as_secs()).collect();
        assert_eq!(kept, [2, 3, 4]);
        assert_eq!(h.to_vec().len(), 3);
    }

    #[test]
    fn the_allocation_rate_is_per_second_since_the_previous_tick() {
        let first = tick(10, 1000);
        let stats = Stats { allocated_bytes: 5000, ..Stats::default() };
        let second = Tick::new(&stats, 0, Duration::from_secs(12), Some(&first));
        assert_eq!(second.allocation_rate, 2000.0);
        let same_time = Tick::new(&stats, 0, Duration::from_secs(10), Some(&first));
        assert_eq!(same_time.allocation_rate, 0.0);
    }
}
