//! What the monitor reports: to the `on_event` callbacks and to the `log`
//! facade (target `heapprof::monitor`), never to stdout.

use std::path::PathBuf;

use heapprof_profile::trend::{LeakAssessment, SeriesAnalysis, SiteTrend};

use super::config::Callback;

/// Which figure passed its threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// Live heap bytes ([`crate::Stats::live_bytes`]).
    LiveHeap,
    /// Resident set size ([`crate::Stats::rss_bytes`]).
    Rss,
}

/// A leak suspect: an allocation site whose in-use bytes grow steadily.
#[derive(Clone, Debug, PartialEq)]
pub struct Suspect {
    /// Function names, leaf first, without the profiler's frames.
    pub stack: Vec<String>,
    /// The figures: slope (bytes per second), confidence, R², first and last
    /// in-use bytes in the window, the ages of its live blocks. `site` holds
    /// the raw return addresses.
    pub trend: SiteTrend<Vec<usize>>,
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// The live heap or the RSS is above its threshold.
    ThresholdExceeded {
        /// Which one.
        resource: Resource,
        /// Its value now, bytes.
        value: u64,
        /// The threshold, bytes.
        limit: u64,
    },
    /// The live heap looks like it leaks.
    PotentialLeak {
        /// The live-heap series over the history.
        series: Box<SeriesAnalysis>,
        /// The three detectors' findings.
        assessment: Box<LeakAssessment>,
        /// The fastest-growing sites, fastest first.
        suspects: Vec<Suspect>,
    },
    /// The live heap passed the previous peak level by the margin. The sampled
    /// heap at this moment is kept: see [`peak_profile`](super::peak_profile).
    NewPeak {
        /// Live bytes now.
        live_bytes: u64,
        /// The level it was compared with (the previous peak event, or the
        /// first tick).
        previous: u64,
    },
    /// Sampled allocations of at least the large-allocation threshold were
    /// made at one site since the previous tick.
    LargeAllocation {
        /// Their average size, bytes.
        size: u64,
        /// How many were sampled.
        count: u64,
        /// Function names, leaf first.
        stack: Vec<String>,
        /// They were made after this time (the previous tick), nanoseconds
        /// since the Unix epoch.
        after_unix_nanos: u64,
    },
}

impl EventKind {
    /// The reason in file names and logs: `threshold_exceeded`,
    /// `potential_leak`, `new_peak`, `large_allocation`.
    pub fn reason(&self) -> &'static str {
        match self {
            EventKind::ThresholdExceeded { .. } => "threshold_exceeded",
            EventKind::PotentialLeak { .. } => "potential_leak",
            EventKind::NewPeak { .. } => "new_peak",
            EventKind::LargeAllocation { .. } => "large_allocation",
        }
    }
}

/// One event, as the callbacks receive it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MonitorEvent {
    /// What happened, with the figures behind it.
    pub kind: EventKind,
    /// When, nanoseconds since the Unix epoch.
    pub unix_nanos: u64,
    /// The event on one line, as logged.
    pub message: String,
    /// The profile written for it, if any.
    pub profile: Option<PathBuf>,
    /// Why the profile could not be written, if it could not.
    pub dump_error: Option<String>,
}

/// Logs an event and hands it to every callback; a panicking callback is
/// caught and logged, and the others still run.
pub(crate) fn deliver(event: &MonitorEvent, callbacks: &[Callback]) {
    log::warn!(target: "heapprof::monitor", "{}", event.message);
    for callback in callbacks {
        let call = std::panic::AssertUnwindSafe(|| callback(event));
        if std::panic::catch_unwind(call).is_err() {
            log::error!(target: "heapprof::monitor", "an on_event callback panicked on a {} event", event.kind.reason());
        }
    }
}

/// `1.50GB`-style sizes for messages.
pub(crate) fn bytes(n: u64) -> String {
    heapprof_profile::report::units::scaled_label(n.min(i64::MAX as u64) as i64, "bytes", "auto")
}
