//! Live profile endpoints compatible with Go's `net/http/pprof`:
//! `go tool pprof http://127.0.0.1:6060/debug/pprof/heap` works against a Rust
//! process as it does against a Go one.
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOC: heapprof::Profiler = heapprof::Profiler::new();
//!
//! let server = heapprof::http::serve("127.0.0.1:6060").expect("bind");
//! println!("profiles at http://{}/debug/pprof/", server.addr());
//! // ... the application runs; dropping `server` stops it.
//! ```
//!
//! Routes: `/debug/pprof/` (an index), `/debug/pprof/heap` (gzipped pprof, in-use
//! space by default), `/debug/pprof/allocs` (the same with `alloc_space` as the
//! default view), `?debug=1` on both (Go's legacy text, then `# heapprof.Stats`),
//! `?seconds=N` on both (a delta over the next N seconds: allocations made in that
//! time, in-use values at its end), `?gc=1` (accepted; a no-op in Rust), and
//! `/debug/pprof/stats` (the exact statistics as JSON, fields named as in
//! [`Stats`](crate::Stats)). Anything else is 404 with the list of routes; a bad
//! query is 400 with a one-line reason. Query keys and values are percent-decoded, and
//! of a repeated parameter the first counts, as in Go.
//!
//! The server's threads do not sample their own allocations, nor does [`respond`]:
//! serving a profile does not change the next one (the exact statistics do count that
//! memory, as they count all).
//!
//! Security: the server binds loopback unless [`Options::allow_non_loopback`] is
//! set, can require a bearer token, and bounds request size, time and concurrency.
//! Profiles hold function names, file paths and allocation sizes, never heap contents.

#[cfg(feature = "axum")]
mod axum_router;
mod routes;
mod server;

#[cfg(feature = "axum")]
pub use axum_router::router;
use std::net::{TcpListener, ToSocketAddrs};
use std::time::Duration;

pub use routes::{Response, decode_query_component, respond, stats_json};
pub use server::Server;

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct Options {
    /// Longest `?seconds=N` accepted (default 300).
    pub max_seconds: u64,
    /// When set, requests need `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Bind addresses other than loopback (default false: refuse them).
    pub allow_non_loopback: bool,
    /// Requests served at once (default 4).
    pub workers: usize,
    /// Connections waiting for a worker (default 32); more get 503 at once.
    pub queue: usize,
    /// Time allowed to receive the request head (default 5 s).
    pub read_timeout: Duration,
    /// Time allowed for each write of the response (default 30 s).
    pub write_timeout: Duration,
    /// Largest request head accepted (default 8 KiB).
    pub max_request_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_seconds: 300,
            token: None,
            allow_non_loopback: false,
            workers: 4,
            queue: 32,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(30),
            max_request_bytes: 8 * 1024,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address does not resolve or cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A non-loopback address without [`Options::allow_non_loopback`].
    #[error(
        "refusing to serve profiles on non-loopback address {0} (set Options::allow_non_loopback to allow it)"
    )]
    NotLoopback(String),
    /// An option is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(&'static str),
}

/// Serves the routes on `addr` (e.g. `"127.0.0.1:6060"`, or port 0 for any free
/// port) from background threads, with default [`Options`].
pub fn serve(addr: impl ToSocketAddrs + std::fmt::Display) -> Result<Server, ServeError> {
    serve_with(addr, Options::default())
}

/// Serves the routes on `addr` with `options`.
pub fn serve_with(
    addr: impl ToSocketAddrs + std::fmt::Display,
    options: Options,
) -> Result<Server, ServeError> {
    if options.workers == 0 || options.queue == 0 {
        return Err(ServeError::InvalidOption("workers and queue must be at least 1"));
    }
    let name = addr.to_string();
    let bind_error = |source| ServeError::Bind { addr: name.clone(), source };
    let addrs: Vec<_> = addr.to_socket_addrs().map_err(bind_error)?.collect();
    if addrs.is_empty() {
        return Err(bind_error(std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address")));
    }
    if !options.allow_non_loopback {
        if let Some(a) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            return Err(ServeError::NotLoopback(a.to_string()));
        }
    }
    let listener = TcpListener::bind(&addrs[..]).map_err(bind_error)?;
    server::start(listener, options).map_err(bind_error)
}

/// The built-in server's handling of one connection without a socket, for the fuzz
/// target `http_head` (`fuzz/` in the repository); not part of the API.
#[doc(hidden)]
pub mod __fuzz {
    use std::io::Read;
    use std::time::Duration;

    use super::Options;

    /// Reads a request from `request` as a worker reads its connection, answers it,
    /// and returns the bytes it would write back (status line, headers, body). An
    /// error is a read error on which the worker gives up without answering; `wait` is
    /// how a `?seconds=N` delta waits.
    pub fn serve_request(
        request: &mut impl Read,
        options: &Options,
        wait: &dyn Fn(Duration),
    ) -> std::io::Result<Vec<u8>> {
        let (response, send_body) = super::server::answer(request, options, wait)?;
        let mut out = Vec::new();
        super::server::write_response(&mut out, &response, send_body)?;
        Ok(out)
    }
}
