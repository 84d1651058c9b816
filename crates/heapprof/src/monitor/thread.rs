//! The monitor's thread and its handle: one monitor per process; stopping
//! joins the thread; dropping the handle stops it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use heapprof_profile::trend::{LeakAssessment, SeriesAnalysis};

use super::config::{Callback, HeapMonitor};
use super::events::{MonitorEvent, Suspect, deliver};
use super::history::Tick;
use super::tick::{MonitorCounters, MonitorState};
use super::{MonitorError, peak};

/// Whether a monitor is running in this process.
static ACTIVE: AtomicBool = AtomicBool::new(false);

struct Shared {
    state: Mutex<MonitorState>,
    callbacks: Vec<Callback>,
    stopping: Mutex<bool>,
    wake: Condvar,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, MonitorState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs a tick, then delivers its events with no lock held (a callback
    /// may call the handle). A panic in the tick is caught and logged.
    fn tick_and_deliver(&self) -> Vec<MonitorEvent> {
        let tick = std::panic::AssertUnwindSafe(|| self.state().tick());
        let events = match std::panic::catch_unwind(tick) {
            Ok(events) => events,
            Err(_) => {
                log::error!(target: "heapprof::monitor", "a monitor tick panicked; the monitor goes on");
                Vec::new()
            }
        };
        for event in &events {
            deliver(event, &self.callbacks);
        }
        events
    }
}

/// The running monitor. [`MonitorHandle::stop`] (or dropping it) stops the
/// thread and waits for it.
pub struct MonitorHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    released: bool,
}

impl std::fmt::Debug for MonitorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorHandle")
            .field("threaded", &self.thread.is_some())
            .field("counters", &self.counters())
            .finish()
    }
}

impl MonitorHandle {
    pub(crate) fn start(mut config: HeapMonitor, spawn: bool) -> Result<MonitorHandle, MonitorError> {
        if ACTIVE.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(MonitorError::AlreadyRunning);
        }
        peak::reset();
        let callbacks = std::mem::take(&mut config.callbacks);
        let state = MonitorState::new(config);
        let interval = state.interval();
        log::info!(
            target: "heapprof::monitor",
            "heap monitor started: a tick every {interval:?}, profiles in {}",
            state.profile_dir().map_or_else(|| "no directory".to_string(), |d| d.display().to_string())
        );
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            callbacks,
            stopping: Mutex::new(false),
            wake: Condvar::new(),
        });
        let mut handle = MonitorHandle { shared: Arc::clone(&shared), thread: None, released: false };
        if spawn {
            let spawned = std::thread::Builder::new()
                .name("heapprof-monitor".into())
                .spawn(move || run(&shared, interval));
            match spawned {
                Ok(thread) => handle.thread = Some(thread),
                Err(e) => {
                    handle.release();
                    return Err(MonitorError::Spawn(e));
                }
            }
        }
        Ok(handle)
    }

    /// Runs one tick now, on this thread, and returns its events (which the
    /// callbacks and the log also receive).
    pub fn tick_now(&self) -> Vec<MonitorEvent> {
        self.shared.tick_and_deliver()
    }

    /// A copy of the history, oldest tick first.
    pub fn history(&self) -> Vec<Tick> {
        self.shared.state().history()
    }

    /// What the monitor has done so far.
    pub fn counters(&self) -> MonitorCounters {
        self.shared.state().counters
    }

    /// The leak suspects now (sites whose in-use bytes grow steadily over the
    /// history), fastest first, symbolized. Costs a pass over the live table.
    pub fn suspects(&self) -> Vec<Suspect> {
        crate::thread_state::quietly(|| self.shared.state().suspects(usize::MAX))
    }

    /// The live-heap series and the leak detectors' findings at the last tick
    /// (`None` before there are enough ticks).
    pub fn leak_assessment(&self) -> Option<(SeriesAnalysis, LeakAssessment)> {
        self.shared.state().last_leak.clone()
    }

    /// Stops the monitor and waits for its thread to finish its tick.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        *self.shared.stopping.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // A callback that drops the handle runs on the monitor's thread,
            // which cannot wait for itself; it ends after this tick.
            if thread.thread().id() != std::thread::current().id() && thread.join().is_err() {
                log::error!(target: "heapprof::monitor", "the monitor thread panicked");
            }
        }
        self.release();
    }

    fn release(&mut self) {
        if !std::mem::replace(&mut self.released, true) {
            log::info!(target: "heapprof::monitor", "heap monitor stopped");
            ACTIVE.store(false, Ordering::Release);
        }
    }
}

impl Drop for MonitorHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// The thread: a tick every `interval` (measured from the start of one tick
/// to the start of the next) until told to stop.
fn run(shared: &Shared, interval: Duration) {
    let mut next = Instant::now();
    loop {
        if *shared.stopping.lock().unwrap_or_else(PoisonError::into_inner) {
            return;
        }
        crate::thread_state::quietly(|| shared.tick_and_deliver());
        next += interval;
        let now = Instant::now();
        if next < now {
            // A slow tick: skip the missed ticks rather than run them in a burst.
            next = now + interval;
        }
        let mut stopping = shared.stopping.lock().unwrap_or_else(PoisonError::into_inner);
        while !*stopping {
            let left = next.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            stopping = shared.wake.wait_timeout(stopping, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}
