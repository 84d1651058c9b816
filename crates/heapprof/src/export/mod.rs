//! Pushing heap profiles to continuous-profiling servers: Grafana Pyroscope and
//! Parca (feature `export`, off by default).
//!
//! An [`Exporter`] runs on its own threads: every interval it takes a
//! [`snapshot`](crate::snapshot), encodes `alloc_*` as the allocations made
//! since the previous push and `inuse_*` as the heap now (the servers do not
//! compute deltas for pushed memory profiles), and delivers it from a bounded
//! queue. A slow or absent server never blocks or slows the application: the
//! oldest queued profiles are dropped (and counted), failed requests are retried
//! with exponential backoff and jitter, each request has a timeout, and
//! `https://` URLs are verified with rustls (Mozilla's roots, or only the CA
//! certificates given with [`ExporterBuilder::ca_cert_pem`]).
//!
//! ```no_run
//! # fn main() -> Result<(), heapprof::export::ExportError> {
//! use std::time::Duration;
//! let exporter = heapprof::export::ExporterBuilder::pyroscope("http://localhost:4040")
//!     .app("checkout")
//!     .version(env!("CARGO_PKG_VERSION"))
//!     .label("env", "staging")
//!     .interval(Duration::from_secs(15))
//!     .start()?;
//! // ... the application runs ...
//! let c = heapprof::export::counters();
//! println!("sent {} failed {} dropped {}", c.sent, c.failed, c.dropped);
//! exporter.stop(); // pushes the last interval, then joins the threads
//! # Ok(()) }
//! ```

mod config;
mod request;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::thread_state::quietly;
use config::Config;
pub use config::{Auth, PyroscopeBody, Target};
use request::{Payload, Sender};
use worker::Shared;

/// What can go wrong when configuring an exporter or pushing a profile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The server URL is not an `http://` or `https://` URL without query or fragment.
    #[error("bad server URL {0:?}: expected http://HOST[:PORT][/PATH] or https://…")]
    Url(String),
    /// A label name outside `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("bad label name {0:?}: expected letters, digits and '_', not starting with a digit")]
    LabelName(String),
    /// A label value (or the application name) that is empty or holds `{ } , = "` or control characters.
    #[error(
        "bad value {value:?} for {name}: must not be empty or contain {{ }} , = \" or control characters"
    )]
    LabelValue {
        /// The label (or `app`).
        name: String,
        /// The value given.
        value: String,
    },
    /// A value sent as an HTTP header (the org id, the bearer token) holds control
    /// characters such as a line break. The value is not repeated: it may be a secret.
    #[error("bad {0}: must not contain control characters such as line breaks")]
    Header(&'static str),
    /// A numeric setting out of range.
    #[error("bad setting: {0}")]
    Setting(&'static str),
    /// The CA certificate PEM could not be used.
    #[error("bad CA certificate: {0}")]
    CaCert(String),
    /// The server answered with a status other than 2xx.
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        /// The request URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body, on one line.
        body: String,
        /// The server's `Retry-After`, in seconds (429 and 503 answers carry it).
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused, timeout, TLS failure, …
    #[error("{url}: {message}")]
    Transport {
        /// The request URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// The exporter's threads could not be started.
    #[error("cannot start the exporter thread: {0}")]
    Spawn(#[source] std::io::Error),
}

impl ExportError {
    /// Whether trying again later may succeed: no answer, 408, 429 or 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            ExportError::Transport { .. } => true,
            ExportError::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
            _ => false,
        }
    }
}

/// The exporter's counters: for one [`Exporter`] ([`Exporter::counters`]) or
/// for all exporters of the process ([`counters`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Profiles the server accepted (2xx).
    pub sent: u64,
    /// Profiles given up on: a status that retrying cannot fix, or every attempt failed.
    pub failed: u64,
    /// Profiles dropped unsent: the oldest, when the queue was full, or left when stopping.
    pub dropped: u64,
    /// Attempts repeated after a retryable failure.
    pub retried: u64,
    /// Profiles waiting in the queue now.
    pub queued: u64,
}

impl Counters {
    /// The counters as `name value` pairs in a fixed order, named as in the
    /// `/debug/pprof/stats` JSON (`export_sent`, `export_failed`, …).
    pub fn fields(&self) -> [(&'static str, u64); 5] {
        [
            ("export_sent", self.sent),
            ("export_failed", self.failed),
            ("export_dropped", self.dropped),
            ("export_retried", self.retried),
            ("export_queued", self.queued),
        ]
    }
}

/// Counters that also feed the process-wide totals.
#[derive(Debug, Default)]
pub(crate) struct CounterSet {
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    retried: AtomicU64,
    queued: AtomicU64,
}

static GLOBAL: CounterSet = CounterSet {
    sent: AtomicU64::new(0),
    failed: AtomicU64::new(0),
    dropped: AtomicU64::new(0),
    retried: AtomicU64::new(0),
    queued: AtomicU64::new(0),
};

impl CounterSet {
    fn bump(&self, field: fn(&CounterSet) -> &AtomicU64) {
        field(self).fetch_add(1, Relaxed);
        field(&GLOBAL).fetch_add(1, Relaxed);
    }
    pub(crate) fn sent(&self) {
        self.bump(|c| &c.sent)
    }
    pub(crate) fn failed(&self) {
        self.bump(|c| &c.failed)
    }
    pub(crate) fn dropped(&self) {
        self.bump(|c| &c.dropped)
    }
    pub(crate) fn retried(&self) {
        self.bump(|c| &c.retried)
    }
    pub(crate) fn queued_add(&self, n: u64) {
        self.queued.fetch_add(n, Relaxed);
        GLOBAL.queued.fetch_add(n, Relaxed);
    }
    pub(crate) fn queued_sub(&self, n: u64) {
        self.queued.fetch_sub(n, Relaxed);
        GLOBAL.queued.fetch_sub(n, Relaxed);
    }
    pub(crate) fn get(&self) -> Counters {
        Counters {
            sent: self.sent.load(Relaxed),
            failed: self.failed.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            retried: self.retried.load(Relaxed),
            queued: self.queued.load(Relaxed),
        }
    }
}

/// The counters of all exporters of this process since it started.
pub fn counters() -> Counters {
    GLOBAL.get()
}

/// Settings for an [`Exporter`] (or a one-shot [`Pusher`]); `start()` checks them and runs it.
#[derive(Clone, Debug)]
pub struct ExporterBuilder {
    config: Config,
}

impl ExporterBuilder {
    /// Pushes to a Pyroscope server at `url` (such as `http://localhost:4040`).
    pub fn pyroscope(url: impl Into<String>) -> Self {
        Self::new(Target::Pyroscope { url: url.into(), body: PyroscopeBody::Raw })
    }

    /// Pushes to a Parca server at `url` (such as `http://localhost:7070`).
    pub fn parca(url: impl Into<String>) -> Self {
        Self::new(Target::Parca { url: url.into() })
    }

    /// Pushes to `target`.
    pub fn new(target: Target) -> Self {
        ExporterBuilder { config: Config::new(target) }
    }

    /// The application name (required): Pyroscope's `name`, and the `service_name` label.
    pub fn app(mut self, name: impl Into<String>) -> Self {
        self.config.app = name.into();
        self
    }

    /// Adds a label (or replaces a default one: `service_name`, `host`, `pid`, `version`).
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.labels.push((name.into(), value.into()));
        self
    }

    /// The `version` label.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.config.version = Some(version.into());
        self
    }

    /// Whether to add the `host` and `pid` labels (default: yes).
    pub fn process_labels(mut self, on: bool) -> Self {
        self.config.process_labels = on;
        self
    }

    /// How often a profile is pushed (default 15 s).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.config.interval = interval;
        self
    }

    /// The most one request may take, connection to last byte (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// Sends `X-Scope-OrgID: id` (the tenant, for multi-tenant servers).
    pub fn org_id(mut self, id: impl Into<String>) -> Self {
        self.config.org_id = Some(id.into());
        self
    }

    /// The credentials sent with each request.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.config.auth = auth;
        self
    }

    /// How Pyroscope receives the profile (ignored for Parca): raw body (default) or multipart.
    pub fn pyroscope_body(mut self, body: PyroscopeBody) -> Self {
        if let Target::Pyroscope { body: b, .. } = &mut self.config.target {
            *b = body;
        }
        self
    }

    /// How many profiles may wait to be sent; beyond that the oldest is dropped (default 8).
    pub fn queue_bound(mut self, bound: usize) -> Self {
        self.config.queue_bound = bound;
        self
    }

    /// Attempts per profile before it counts as failed (default 4).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.config.max_attempts = attempts;
        self
    }

    /// The first retry delay and the most it doubles to (default 500 ms and 30 s),
    /// each delay drawn between half and all of it.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.config.backoff_base = first;
        self.config.backoff_max = max.max(first);
        self
    }

    /// Trusts only the CA certificates in this PEM data for `https://`, instead
    /// of Mozilla's roots (for a private CA or a self-signed server).
    pub fn ca_cert_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.config.ca_pem = Some(pem.into());
        self
    }

    /// A client for pushing profiles one at a time, on the caller's thread.
    pub fn pusher(self) -> Result<Pusher, ExportError> {
        Ok(Pusher { sender: Sender::new(self.config)? })
    }

    /// Checks the settings and starts the exporter's threads.
    pub fn start(self) -> Result<Exporter, ExportError> {
        let (interval, attempts) = (self.config.interval, self.config.max_attempts);
        let backoff = (self.config.backoff_base, self.config.backoff_max);
        let shared = Arc::new(Shared::new(self.config.queue_bound, Arc::default()));
        let sender = Sender::new(self.config)?;
        let s = Arc::clone(&shared);
        // Taken here, not on the thread, so that the first push counts every
        // allocation made after `start()` returns.
        let baseline = crate::snapshot();
        let collector = std::thread::Builder::new()
            .name("heapprof-export-collect".into())
            .spawn(move || quietly(|| worker::collect(&s, interval, baseline)))
            .map_err(ExportError::Spawn)?;
        let s = Arc::clone(&shared);
        let delivery = std::thread::Builder::new()
            .name("heapprof-export-send".into())
            .spawn(move || quietly(|| worker::deliver(&s, &sender, attempts, backoff)));
        let delivery = match delivery {
            Ok(d) => d,
            Err(e) => {
                shared.request_stop();
                let _ = collector.join();
                return Err(ExportError::Spawn(e));
            }
        };
        Ok(Exporter { shared, threads: Some((collector, delivery)) })
    }
}

/// Pushes profiles on the caller's thread, without queue or retries (what `heapprof push` uses).
#[derive(Debug)]
pub struct Pusher {
    sender: Sender,
}

impl Pusher {
    /// Sends one gzipped (or plain) pprof profile covering `from_nanos..until_nanos`
    /// (nanoseconds since the Unix epoch).
    pub fn push(&self, profile: &[u8], from_nanos: u64, until_nanos: u64) -> Result<(), ExportError> {
        self.sender.send(&Payload { gz: profile.to_vec(), from_nanos, until_nanos })
    }

    /// The timeout each request has.
    pub fn timeout(&self) -> Duration {
        self.sender.timeout()
    }
}

/// A running exporter. [`stop`](Exporter::stop) (or dropping it) pushes the
/// last interval and joins its threads.
#[derive(Debug)]
pub struct Exporter {
    shared: Arc<Shared>,
    threads: Option<(JoinHandle<()>, JoinHandle<()>)>,
}

impl Exporter {
    /// This exporter's counters.
    pub fn counters(&self) -> Counters {
        self.shared.counters.get()
    }

    /// A handle that asks for a push before the interval is up, from any
    /// thread: for instance from a `heapprof::monitor::HeapMonitor`
    /// event callback, so that pushes follow the monitor's clock or its alerts.
    pub fn trigger(&self) -> PushTrigger {
        PushTrigger(Arc::downgrade(&self.shared))
    }

    /// Takes a last profile, makes one attempt for each queued profile (dropping the
    /// rest after a failure), and joins the threads: when the server is down,
    /// at most about two request timeouts (one request in flight, one last try).
    pub fn stop(mut self) -> Counters {
        self.finish();
        self.counters()
    }

    fn finish(&mut self) {
        self.shared.request_stop();
        if let Some((collector, delivery)) = self.threads.take() {
            let _ = collector.join();
            let _ = delivery.join();
        }
    }
}

/// Asks an [`Exporter`] for a push now (see [`Exporter::trigger`]). Does
/// nothing once the exporter has stopped. Cheap: a lock and a notification.
#[derive(Clone, Debug)]
pub struct PushTrigger(std::sync::Weak<Shared>);

impl PushTrigger {
    /// Takes and queues a profile now, on the exporter's thread; the interval
    /// schedule goes on unchanged.
    pub fn push_now(&self) {
        if let Some(shared) = self.0.upgrade() {
            shared.request_push();
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.finish();
    }
}
