//! [`HeapMonitor`]: what the monitor watches, when it dumps, what it keeps.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use heapprof_profile::trend::{LeakCriteria, SeriesOptions, SiteOptions};

use super::MonitorError;
use super::events::MonitorEvent;
use super::thread::MonitorHandle;

/// A callback that receives the monitor's events, on the monitor's thread.
pub(crate) type Callback = Arc<dyn Fn(&MonitorEvent) + Send + Sync>;

/// Builds and starts the heap monitor: a thread that records the heap's figures
/// every `interval`, keeps a history, and writes a profile when the live heap or
/// RSS passes a threshold, when the heap looks like it leaks, or when it reaches
/// a new peak.
///
/// ```no_run
/// use std::time::Duration;
/// use heapprof::monitor::HeapMonitor;
///
/// #[global_allocator]
/// static ALLOC: heapprof::Profiler = heapprof::Profiler::new();
///
/// let monitor = HeapMonitor::new()
///     .interval(Duration::from_secs(10))
///     .live_heap_threshold(2 << 30)
///     .profile_dir("/var/tmp/heap-profiles")
///     .max_files(20)
///     .on_event(|e| eprintln!("{}", e.message))
///     .start()
///     .expect("no other monitor is running");
/// // ... the application runs ...
/// monitor.stop();
/// ```
#[derive(Clone)]
pub struct HeapMonitor {
    pub(crate) interval: Duration,
    pub(crate) live_heap_threshold: Option<u64>,
    pub(crate) rss_threshold: Option<u64>,
    pub(crate) profile_dir: Option<PathBuf>,
    pub(crate) min_dump_interval: Duration,
    pub(crate) history_len: usize,
    pub(crate) max_files: Option<usize>,
    pub(crate) max_bytes: Option<u64>,
    pub(crate) warmup: Duration,
    pub(crate) peak_margin: f64,
    pub(crate) large_allocation_threshold: Option<u64>,
    pub(crate) series: SeriesOptions,
    pub(crate) leak: LeakCriteria,
    pub(crate) sites: SiteOptions,
    pub(crate) max_suspects: usize,
    pub(crate) callbacks: Vec<Callback>,
}

impl Default for HeapMonitor {
    fn default() -> Self {
        HeapMonitor {
            interval: Duration::from_secs(10),
            live_heap_threshold: None,
            rss_threshold: None,
            profile_dir: None,
            min_dump_interval: Duration::from_secs(300),
            history_len: 360,
            max_files: Some(20),
            max_bytes: None,
            warmup: Duration::from_secs(60),
            peak_margin: 0.1,
            large_allocation_threshold: None,
            series: SeriesOptions { min_points: 10, ..SeriesOptions::default() },
            leak: LeakCriteria::default(),
            sites: SiteOptions::default(),
            max_suspects: 5,
            callbacks: Vec::new(),
        }
    }
}

impl fmt::Debug for HeapMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapMonitor")
            .field("interval", &self.interval)
            .field("live_heap_threshold", &self.live_heap_threshold)
            .field("rss_threshold", &self.rss_threshold)
            .field("profile_dir", &self.profile_dir)
            .field("min_dump_interval", &self.min_dump_interval)
            .field("history_len", &self.history_len)
            .field("max_files", &self.max_files)
            .field("max_bytes", &self.max_bytes)
            .field("warmup", &self.warmup)
            .field("peak_margin", &self.peak_margin)
            .field("large_allocation_threshold", &self.large_allocation_threshold)
            .field("callbacks", &self.callbacks.len())
            .finish_non_exhaustive()
    }
}

impl HeapMonitor {
    /// The defaults: a tick every 10 s, a history of 360 ticks (an hour), no
    /// thresholds, no directory (events only), at most one dump per reason
    /// every 5 minutes, 20 files kept, a 1-minute warm-up, a new peak at +10%.
    pub fn new() -> Self {
        Self::default()
    }

    /// Time between two ticks (default 10 s; at least 1 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Dumps `threshold_exceeded` when live heap bytes pass `bytes`.
    pub fn live_heap_threshold(mut self, bytes: u64) -> Self {
        self.live_heap_threshold = Some(bytes);
        self
    }

    /// Dumps `threshold_exceeded` when the resident set passes `bytes`.
    pub fn rss_threshold(mut self, bytes: u64) -> Self {
        self.rss_threshold = Some(bytes);
        self
    }

    /// Where profiles are written (created if missing). Without it, events are
    /// still reported but no file is written.
    pub fn profile_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.profile_dir = Some(dir.into());
        self
    }

    /// Least time between two dumps for the same reason (default 5 min);
    /// events in between are counted as suppressed, not reported.
    pub fn min_dump_interval(mut self, interval: Duration) -> Self {
        self.min_dump_interval = interval;
        self
    }

    /// Ticks kept in the history (default 360; at least 2). The trend and the
    /// per-site analysis look at this window, which costs about 8 bytes per
    /// tick for every call stack with live sampled blocks.
    pub fn history_len(mut self, ticks: usize) -> Self {
        self.history_len = ticks.max(2);
        self
    }

    /// Most `heap_*.pb.gz` files kept in the directory, oldest removed first
    /// (default 20; `None` for no limit).
    pub fn max_files(mut self, files: impl Into<Option<usize>>) -> Self {
        self.max_files = files.into().map(|n| n.max(1));
        self
    }

    /// Most bytes of `heap_*.pb.gz` files kept, oldest removed first (default
    /// no limit). The newest file is always kept.
    pub fn max_bytes(mut self, bytes: impl Into<Option<u64>>) -> Self {
        self.max_bytes = bytes.into();
        self
    }

    /// Time after start before the baseline is taken (default 1 min).
    pub fn warmup(mut self, warmup: Duration) -> Self {
        self.warmup = warmup;
        self
    }

    /// `new_peak` fires when the live heap exceeds the level of the previous
    /// peak event (or of the first tick) by this fraction (default 0.1).
    pub fn peak_margin(mut self, fraction: f64) -> Self {
        self.peak_margin = if fraction.is_finite() { fraction.max(0.0) } else { 0.1 };
        self
    }

    /// Reports every sampled allocation of at least `bytes` (see the module
    /// docs for how it is found: from the sampler's records, on the monitor's
    /// thread, so certain once `bytes` is many times the sample rate).
    pub fn large_allocation_threshold(mut self, bytes: u64) -> Self {
        self.large_allocation_threshold = Some(bytes.max(1));
        self
    }

    /// How the live-heap series is analysed (classes, rising window, minimum
    /// ticks — default 10). The warm-up comes from [`HeapMonitor::warmup`].
    pub fn series_options(mut self, opts: SeriesOptions) -> Self {
        self.series = opts;
        self
    }

    /// When the live heap is a potential leak (default: 1.5× the baseline,
    /// rising in 60% of the recent intervals, growing with R² ≥ 0.5).
    pub fn leak_criteria(mut self, criteria: LeakCriteria) -> Self {
        self.leak = criteria;
        self
    }

    /// What makes an allocation site a suspect. Growth below two sample
    /// periods is never counted, whatever `min_growth` says.
    pub fn site_options(mut self, opts: SiteOptions) -> Self {
        self.sites = opts;
        self
    }

    /// Most suspects reported with a `potential_leak` event (default 5).
    pub fn max_suspects(mut self, n: usize) -> Self {
        self.max_suspects = n;
        self
    }

    /// Adds a callback for every event. It runs on the monitor's thread, after
    /// the tick, without any of the monitor's locks held; a panic in it is
    /// caught and logged.
    pub fn on_event(mut self, f: impl Fn(&MonitorEvent) + Send + Sync + 'static) -> Self {
        self.callbacks.push(Arc::new(f));
        self
    }

    /// Starts the monitor's thread. Only one monitor runs at a time: starting a
    /// second is [`MonitorError::AlreadyRunning`].
    pub fn start(self) -> Result<MonitorHandle, MonitorError> {
        MonitorHandle::start(self, true)
    }

    /// Starts the monitor without a thread: it ticks only when
    /// [`MonitorHandle::tick_now`] is called (for tests, and for programs that
    /// have their own scheduler).
    pub fn start_manual(self) -> Result<MonitorHandle, MonitorError> {
        MonitorHandle::start(self, false)
    }
}
