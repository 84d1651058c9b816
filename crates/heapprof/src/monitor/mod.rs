//! Continuous heap monitoring and leak detection (the `monitor` feature).
//!
//! [`HeapMonitor`] starts a thread that, every interval, reads the exact
//! statistics and the sampled heap, keeps a history of [`Tick`]s, and reports
//! [`MonitorEvent`]s to the `on_event` callbacks and to the `log` facade
//! (target `heapprof::monitor`; never stdout). Three triggers write a profile
//! named `heap_<reason>_<UTC time>.pb.gz` atomically into the profile
//! directory, at most once per reason every `min_dump_interval`:
//!
//! - `threshold_exceeded`: live heap or RSS above its threshold;
//! - `potential_leak`: the live heap grows — over its baseline after warm-up
//!   (ratio), persistently (fraction of rising intervals) and along a trend
//!   (least squares with R², Theil–Sen, classified rapid / moderate / slow /
//!   stable / decreasing; see [`heapprof_profile::trend`] for the thresholds).
//!   The event names the suspects: the sites whose in-use bytes grow steadily
//!   across the history and are still growing, ranked by slope with a
//!   confidence that also weighs how many ages their live blocks span (a cache
//!   that fills and plateaus is not a suspect, nor is churn, whose live blocks
//!   are all young);
//! - `new_peak`: the live heap passed the previous peak level by a margin. The
//!   sampled heap at the highest tick is kept in memory: [`peak_profile`].
//!
//! Large allocations (at or above a threshold) are reported too, from the
//! monitor's thread: see [`HeapMonitor::large_allocation_threshold`]. The ages
//! of live blocks can also be read on their own: [`live_ages`],
//! [`snapshot_older_than`].
//!
//! Nothing here runs, or costs the allocation path anything, until a monitor
//! is started. A forked child has no monitor thread (threads do not survive
//! `fork`): start one in the child if it should be watched. The monitor's own
//! allocations are counted in the statistics but never sampled. Retention
//! removes the oldest `heap_*.pb.gz` files of the directory, which should be
//! the monitor's own.
//!
//! ```no_run
//! use std::time::Duration;
//! use heapprof::monitor::{EventKind, HeapMonitor};
//!
//! #[global_allocator]
//! static ALLOC: heapprof::Profiler = heapprof::Profiler::new();
//!
//! fn main() -> Result<(), heapprof::monitor::MonitorError> {
//!     let monitor = HeapMonitor::new()
//!         .interval(Duration::from_secs(10))
//!         .rss_threshold(4 << 30)
//!         .profile_dir("/var/tmp/heap")
//!         .max_bytes(500 << 20)
//!         .on_event(|e| {
//!             if let EventKind::PotentialLeak { suspects, .. } = &e.kind {
//!                 for s in suspects {
//!                     eprintln!("suspect: {:?}", s.stack.first());
//!                 }
//!             }
//!         })
//!         .start()?;
//!     // ... serve ...
//!     monitor.stop();
//!     Ok(())
//! }
//! ```

mod ages;
mod config;
mod dump;
mod events;
mod history;
mod large;
mod peak;
mod site_growth;
mod thread;
mod tick;

pub use ages::{AGE_CLASS_BOUNDS, LiveAges, SiteAges, live_ages, snapshot_older_than};
pub use config::HeapMonitor;
pub use events::{EventKind, MonitorEvent, Resource, Suspect};
pub use history::Tick;
pub use peak::{PeakSnapshot, peak_profile, peak_snapshot};
pub use thread::MonitorHandle;
pub use tick::MonitorCounters;

/// Why a monitor could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// A monitor is already running in this process (stop it first).
    #[error("a heap monitor is already running in this process")]
    AlreadyRunning,
    /// The thread could not be created.
    #[error("cannot start the monitor thread: {0}")]
    Spawn(#[source] std::io::Error),
}
