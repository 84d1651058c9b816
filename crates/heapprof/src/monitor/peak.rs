//! The sampled heap at the highest live heap the monitor has seen, kept in
//! memory so that one can look at what the heap held at its worst (served as
//! `/debug/pprof/heap?peak=1` by the HTTP endpoint).

use std::sync::{Arc, Mutex, PoisonError};

use heapprof_profile::Profile;

use crate::heap::HeapSnapshot;

/// The sampled heap at the monitor's highest live heap.
#[derive(Clone, Debug, PartialEq)]
pub struct PeakSnapshot {
    /// Live bytes at that tick (exact).
    pub live_bytes: u64,
    /// The sampled heap then (unsymbolized).
    pub snapshot: Arc<HeapSnapshot>,
}

static PEAK: Mutex<Option<Arc<PeakSnapshot>>> = Mutex::new(None);

/// The peak the running (or last) monitor kept, if any tick has run.
pub fn peak_snapshot() -> Option<Arc<PeakSnapshot>> {
    PEAK.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// The peak as a symbolized pprof profile (its `time_nanos` is the time of
/// the peak), if any tick has run.
pub fn peak_profile() -> Option<Profile> {
    peak_snapshot().map(|p| p.snapshot.to_profile())
}

/// Keeps `snapshot` if `live_bytes` is above the kept peak; returns whether it was.
pub(crate) fn offer(live_bytes: u64, snapshot: &Arc<HeapSnapshot>) -> bool {
    let mut kept = PEAK.lock().unwrap_or_else(PoisonError::into_inner);
    if kept.as_ref().is_some_and(|p| p.live_bytes >= live_bytes) {
        return false;
    }
    *kept = Some(Arc::new(PeakSnapshot { live_bytes, snapshot: Arc::clone(snapshot) }));
    true
}

/// Forgets the peak (a new monitor starts afresh).
pub(crate) fn reset() {
    *PEAK.lock().unwrap_or_else(PoisonError::into_inner) = None;
}
