//! One tick of the monitor: read the figures and the sampled heap, record
//! them, run the triggers, write the profiles they ask for.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use heapprof_profile::trend::{
    LeakAssessment, Point, SeriesAnalysis, SeriesOptions, SiteVerdict, analyze_series, assess_leak, site_name,
};

use super::config::HeapMonitor;
use super::dump::DumpDir;
use super::events::{EventKind, MonitorEvent, Resource, Suspect, bytes};
use super::history::{History, Tick};
use super::large::LargeAllocations;
use super::peak;
use super::site_growth::{SiteGrowth, symbolize};
use crate::heap::HeapSnapshot;
use crate::{clock, thread_state};

/// What the monitor has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MonitorCounters {
    /// Ticks run.
    pub ticks: u64,
    /// Events reported.
    pub events: u64,
    /// Triggers that fired within the minimum time between dumps of their
    /// reason, and so were neither dumped nor reported.
    pub suppressed_events: u64,
    /// Profiles written.
    pub dumps_written: u64,
    /// Profiles that could not be written (each also logged, the first of a
    /// run of failures as an error).
    pub dump_errors: u64,
    /// Files removed by retention (and stale temporaries of dead processes).
    pub files_removed: u64,
    /// Sampled allocations at or above the large-allocation threshold.
    pub large_allocations: u64,
}

/// Everything a tick reads and updates.
pub(crate) struct MonitorState {
    config: HeapMonitor,
    start: Instant,
    start_coarse: u64,
    history: History,
    sites: SiteGrowth,
    large: Option<LargeAllocations>,
    dump: Option<DumpDir>,
    last_dump: HashMap<&'static str, Instant>,
    /// The live heap after warm-up, kept for the monitor's life.
    baseline: Option<Point>,
    /// Level that the next `new_peak` must pass (by the margin).
    peak_level: Option<u64>,
    pub(crate) counters: MonitorCounters,
    pub(crate) last_leak: Option<(SeriesAnalysis, LeakAssessment)>,
}

impl MonitorState {
    pub(crate) fn new(config: HeapMonitor) -> Self {
        let dump =
            config.profile_dir.clone().map(|dir| DumpDir::new(dir, config.max_files, config.max_bytes));
        MonitorState {
            start: Instant::now(),
            start_coarse: clock::coarse_nanos(),
            history: History::new(config.history_len),
            sites: SiteGrowth::new(config.history_len),
            large: config.large_allocation_threshold.map(LargeAllocations::new),
            dump,
            last_dump: HashMap::new(),
            baseline: None,
            peak_level: None,
            counters: MonitorCounters::default(),
            last_leak: None,
            config,
        }
    }

    pub(crate) fn history(&self) -> Vec<Tick> {
        self.history.to_vec()
    }

    /// Runs one tick; returns the events to deliver. Nothing the monitor
    /// allocates is sampled: its own memory is not the application's heap.
    pub(crate) fn tick(&mut self) -> Vec<MonitorEvent> {
        thread_state::quietly(|| self.tick_quietly())
    }

    fn tick_quietly(&mut self) -> Vec<MonitorEvent> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.start);
        let stats = crate::stats();
        let snapshot = Arc::new(crate::snapshot());
        let tick = Tick::new(&stats, snapshot.unix_nanos, elapsed, self.history.last());
        let previous_unix = self.history.last().map_or(snapshot.unix_nanos, |t| t.unix_nanos);
        self.history.push(tick);
        self.counters.ticks += 1;
        if self.baseline.is_none() && elapsed >= self.config.warmup {
            self.baseline = Some(Point::new(elapsed.as_secs_f64(), stats.live_bytes as f64));
        }
        self.sites.record(elapsed.as_secs_f64(), &snapshot);
        peak::offer(stats.live_bytes, &snapshot);

        let mut events = Vec::new();
        let thresholds = [
            (Resource::LiveHeap, stats.live_bytes, self.config.live_heap_threshold),
            (Resource::Rss, stats.rss_bytes, self.config.rss_threshold),
        ];
        for (resource, value, limit) in thresholds {
            let Some(limit) = limit.filter(|&l| value > l) else {
                continue;
            };
            if self.allowed("threshold_exceeded", now) {
                let what = match resource {
                    Resource::LiveHeap => "live heap",
                    Resource::Rss => "RSS",
                };
                let message =
                    format!("threshold_exceeded: {what} {} is above {}", bytes(value), bytes(limit));
                let kind = EventKind::ThresholdExceeded { resource, value, limit };
                events.push(self.dump_event(kind, message, &snapshot));
            }
        }
        if let Some(event) = self.check_leak(now, &snapshot) {
            events.push(event);
        }
        if let Some(event) = self.check_peak(now, stats.live_bytes, &snapshot) {
            events.push(event);
        }
        self.check_large(previous_unix, &snapshot, &mut events);
        self.counters.events += events.len() as u64;
        events
    }

    /// Whether a dump for `reason` may happen now; if so, it is counted as done.
    fn allowed(&mut self, reason: &'static str, now: Instant) -> bool {
        let min = self.config.min_dump_interval;
        if self.last_dump.get(reason).is_some_and(|&t| now.duration_since(t) < min) {
            self.counters.suppressed_events += 1;
            return false;
        }
        self.last_dump.insert(reason, now);
        true
    }

    fn check_leak(&mut self, now: Instant, snapshot: &Arc<HeapSnapshot>) -> Option<MonitorEvent> {
        let points: Vec<Point> =
            self.history.iter().map(|t| Point::new(t.elapsed.as_secs_f64(), t.live_bytes as f64)).collect();
        let opts = SeriesOptions { warmup_secs: f64::INFINITY, ..self.config.series.clone() };
        let mut series = analyze_series(&points, &opts).ok()?;
        // The baseline is the first tick after warm-up, for the monitor's life,
        // not the oldest tick the ring still holds.
        series.baseline = self.baseline;
        series.growth_ratio = self.baseline.filter(|b| b.value > 0.0).map(|b| series.last / b.value);
        let assessment = assess_leak(&series, &self.config.leak);
        self.last_leak = Some((series.clone(), assessment.clone()));
        if !assessment.potential_leak || !self.allowed("potential_leak", now) {
            return None;
        }
        let suspects = self.suspects(self.config.max_suspects);
        let mut message = format!("potential_leak: live heap {}", assessment.summary);
        if let Some(top) = suspects.first() {
            message.push_str(&format!(
                "; top suspect +{}/min (confidence {:.2}) at {}",
                bytes((top.trend.slope * 60.0).max(0.0) as u64),
                top.trend.confidence,
                site_name(&top.stack)
            ));
        }
        let kind =
            EventKind::PotentialLeak { series: Box::new(series), assessment: Box::new(assessment), suspects };
        Some(self.dump_event(kind, message, snapshot))
    }

    fn check_peak(&mut self, now: Instant, live: u64, snapshot: &Arc<HeapSnapshot>) -> Option<MonitorEvent> {
        let Some(level) = self.peak_level else {
            self.peak_level = Some(live);
            return None;
        };
        let bar = level as f64 * (1.0 + self.config.peak_margin);
        if live <= level || (live as f64) <= bar || !self.allowed("new_peak", now) {
            return None;
        }
        self.peak_level = Some(live);
        let message = format!("new_peak: live heap {}, up from {}", bytes(live), bytes(level));
        let kind = EventKind::NewPeak { live_bytes: live, previous: level };
        Some(self.dump_event(kind, message, snapshot))
    }

    fn check_large(
        &mut self,
        after_unix_nanos: u64,
        snapshot: &HeapSnapshot,
        events: &mut Vec<MonitorEvent>,
    ) {
        let Some(large) = &mut self.large else { return };
        for batch in large.scan(snapshot) {
            self.counters.large_allocations += batch.count;
            let stack = symbolize(&batch.frames, batch.truncated);
            let message = format!(
                "large_allocation: {} block(s) of {} at {}",
                batch.count,
                bytes(batch.size),
                site_name(&stack)
            );
            events.push(MonitorEvent {
                kind: EventKind::LargeAllocation {
                    size: batch.size,
                    count: batch.count,
                    stack,
                    after_unix_nanos,
                },
                unix_nanos: snapshot.unix_nanos,
                message,
                profile: None,
                dump_error: None,
            });
        }
    }

    /// The growing sites now, suspects only, fastest first.
    pub(crate) fn suspects(&mut self, max: usize) -> Vec<Suspect> {
        self.sites
            .rank(&self.config.sites, self.start_coarse)
            .into_iter()
            .filter(|t| t.verdict == SiteVerdict::Suspect)
            .take(max)
            .map(|trend| Suspect { stack: symbolize(&trend.site, false), trend })
            .collect()
    }

    /// Writes the profile of `snapshot` for the event, if there is a directory.
    fn dump_event(
        &mut self,
        kind: EventKind,
        mut message: String,
        snapshot: &Arc<HeapSnapshot>,
    ) -> MonitorEvent {
        let mut event = MonitorEvent {
            unix_nanos: snapshot.unix_nanos,
            message: String::new(),
            profile: None,
            dump_error: None,
            kind,
        };
        if let Some(dir) = &mut self.dump {
            let bytes = heapprof_profile::encode_gzip(&snapshot.to_profile());
            match dir.write(event.kind.reason(), snapshot.unix_nanos, &bytes) {
                Ok((path, removed)) => {
                    self.counters.dumps_written += 1;
                    self.counters.files_removed += removed.files as u64;
                    message.push_str(&format!("; wrote {}", path.display()));
                    event.profile = Some(path);
                }
                Err(e) => {
                    self.counters.dump_errors += 1;
                    message.push_str(&format!("; no profile written: {e}"));
                    event.dump_error = Some(e);
                }
            }
        }
        event.message = message;
        event
    }

    /// The profile directory, if any.
    pub(crate) fn profile_dir(&self) -> Option<&std::path::Path> {
        self.dump.as_ref().map(DumpDir::path)
    }

    pub(crate) fn interval(&self) -> Duration {
        self.config.interval
    }
}
