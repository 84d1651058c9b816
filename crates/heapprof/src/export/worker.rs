//! The exporter's two threads and the bounded queue between them.
//!
//! The collector takes a snapshot each interval and encodes it; the sender
//! delivers. They are separate so that a slow or absent server delays nothing
//! but the sender: the queue keeps the newest profiles, dropping (and counting)
//! the oldest, and the application's threads never wait on either.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::request::{Payload, Sender};
use super::{CounterSet, ExportError};

/// State shared by the two threads and the [`Exporter`](super::Exporter) handle.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    pub counters: Arc<CounterSet>,
    bound: usize,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Payload>,
    /// `stop()` was called.
    stopping: bool,
    /// The collector has queued its last profile.
    collector_done: bool,
    /// A push was asked for before the interval is up.
    push_now: bool,
}

/// Why the collector woke up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wake {
    Interval,
    PushNow,
    Stop,
}

impl Shared {
    pub fn new(bound: usize, counters: Arc<CounterSet>) -> Shared {
        Shared { state: Mutex::default(), wake: Condvar::new(), counters, bound }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something did, the queue is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks both threads to finish.
    pub fn request_stop(&self) {
        self.lock().stopping = true;
        self.wake.notify_all();
    }

    /// Queues a profile, dropping the oldest beyond the bound. They go first, so that
    /// the `queued` counter, read without the lock, never shows more than the bound.
    fn push(&self, payload: Payload) {
        let mut st = self.lock();
        while !st.queue.is_empty() && st.queue.len() >= self.bound {
            st.queue.pop_front();
            self.counters.queued_sub(1);
            self.counters.dropped();
        }
        st.queue.push_back(payload);
        self.counters.queued_add(1);
        drop(st);
        self.wake.notify_all();
    }

    /// Asks the collector for a profile now.
    pub fn request_push(&self) {
        self.lock().push_now = true;
        self.wake.notify_all();
    }

    /// Sleeps until `deadline` or until stopped; true if stopped.
    fn sleep_until(&self, deadline: Instant) -> bool {
        self.sleep(deadline, false) == Wake::Stop
    }

    /// Sleeps until `deadline`, a stop, or (if `push_requests`) a push request.
    fn sleep(&self, deadline: Instant, push_requests: bool) -> Wake {
        let mut st = self.lock();
        loop {
            if st.stopping {
                return Wake::Stop;
            }
            if push_requests && std::mem::take(&mut st.push_now) {
                return Wake::PushNow;
            }
            let now = Instant::now();
            if now >= deadline {
                return Wake::Interval;
            }
            st = self.wake.wait_timeout(st, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

/// Takes a snapshot every `interval` and queues the delta profile: `alloc_*`
/// since the previous snapshot (the first time, since `baseline`), `inuse_*`
/// as of now. A last one on stop.
pub(crate) fn collect(shared: &Shared, interval: Duration, baseline: crate::HeapSnapshot) {
    let mut previous = baseline;
    let mut next = Instant::now() + interval;
    loop {
        let wake = shared.sleep(next, true);
        if wake != Wake::PushNow {
            next += interval;
            // After a long stall, do not fire a burst of catch-up snapshots.
            let now = Instant::now();
            if next < now {
                next = now + interval;
            }
        }
        let current = crate::snapshot();
        let profile = current.delta_since(&previous);
        let gz = heapprof_profile::encode_gzip(&profile);
        shared.push(Payload { gz, from_nanos: previous.unix_nanos, until_nanos: current.unix_nanos });
        previous = current;
        if wake == Wake::Stop {
            break;
        }
    }
    shared.lock().collector_done = true;
    shared.wake.notify_all();
}

/// Delivers queued profiles with retries until the collector is done and the
/// queue is empty. While stopping, each remaining profile gets one attempt and
/// after the first failure the rest are dropped, so when the server is down
/// `stop()` waits for at most the request in flight and one more.
pub(crate) fn deliver(shared: &Shared, sender: &Sender, max_attempts: u32, backoff: (Duration, Duration)) {
    let mut rng = Jitter::new();
    let mut give_up = false;
    loop {
        let payload = {
            let mut st = shared.lock();
            loop {
                if let Some(p) = st.queue.pop_front() {
                    shared.counters.queued_sub(1);
                    break Some(p);
                }
                if st.collector_done {
                    break None;
                }
                st = shared.wake.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        };
        let Some(payload) = payload else { return };
        if give_up {
            shared.counters.dropped();
            continue;
        }
        let mut attempt = 1;
        loop {
            match sender.send(&payload) {
                Ok(()) => {
                    shared.counters.sent();
                    break;
                }
                Err(e) => {
                    let stopping = shared.lock().stopping;
                    if !e.is_retryable() || attempt >= max_attempts || stopping {
                        shared.counters.failed();
                        give_up = stopping;
                        break;
                    }
                    shared.counters.retried();
                    let mut delay = rng.backoff(attempt, backoff.0, backoff.1);
                    // The server's Retry-After, within our longest backoff.
                    if let ExportError::Status { retry_after: Some(wait), .. } = e {
                        delay = delay.max(wait.min(backoff.1));
                    }
                    attempt += 1;
                    if shared.sleep_until(Instant::now() + delay) {
                        // Stopping: one last attempt on the next turn of this loop.
                        attempt = max_attempts;
                    }
                }
            }
        }
    }
}

/// Exponential backoff with "equal jitter": a delay in `[d/2, d]` where `d`
/// doubles per attempt up to `max`, so many processes restarting together do
/// not retry in step. A xorshift generator is enough for that.
#[derive(Debug)]
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        let seed = crate::clock::unix_nanos() ^ (u64::from(std::process::id()) << 32) | 1;
        Jitter(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn backoff(&mut self, attempt: u32, base: Duration, max: Duration) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        let full = base.saturating_mul(factor).min(max);
        let half = full / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(self.next() % nanos.saturating_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let mut j = Jitter(12345);
        let (base, max) = (Duration::from_millis(100), Duration::from_secs(1));
        for attempt in 1..=10u32 {
            let full = (base * 2u32.pow(attempt - 1)).min(max);
            let d = j.backoff(attempt, base, max);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?} not in [{:?}, {full:?}]", full / 2);
        }
        assert!(j.backoff(u32::MAX, base, max) <= max);
    }

    #[test]
    fn the_queue_keeps_the_newest_and_counts_drops() {
        let shared = Shared::new(2, Arc::new(CounterSet::default()));
        for i in 0..5u64 {
            shared.push(Payload { gz: vec![], from_nanos: i, until_nanos: i });
        }
        let st = shared.lock();
        assert_eq!(st.queue.iter().map(|p| p.from_nanos).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(shared.counters.get().dropped, 3);
        assert_eq!(shared.counters.get().queued, 2);
    }
}
