//! A small HTTP/1.1 server for the profile routes, on std's TCP sockets. Written
//! here rather than taken from a crate because what matters is how it fails: every
//! connection has read and write timeouts and a bounded request size, requests are
//! served by a fixed number of workers, and when they are all busy a new
//! connection is turned away at once with 503, so a slow or stuck client can delay
//! neither the application nor other requests for long. It answers one request per
//! connection (`Connection: close`), enough for `curl` and `go tool pprof`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::Options;
use super::routes::{Response, respond};
use crate::thread_state::quietly;

/// A running server; dropping it stops it (see [`Server::stop`]).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// The address it listens on (useful after binding port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets requests in progress finish, and joins the threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the accept loop with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub(super) fn start(listener: TcpListener, options: Options) -> std::io::Result<Server> {
    let addr = listener.local_addr()?;
    let stopping = Arc::new(AtomicBool::new(false));
    let options = Arc::new(options);
    let (queue, jobs) = std::sync::mpsc::sync_channel::<TcpStream>(options.queue);
    let jobs = Arc::new(Mutex::new(jobs));
    let mut threads = Vec::with_capacity(options.workers + 1);
    for i in 0..options.workers {
        let (jobs, options) = (Arc::clone(&jobs), Arc::clone(&options));
        threads.push(
            std::thread::Builder::new()
                .name(format!("heapprof-http-{i}"))
                .spawn(move || quietly(|| work(&jobs, &options)))?,
        );
    }
    let accept_stopping = Arc::clone(&stopping);
    let accept_options = Arc::clone(&options);
    threads.push(
        std::thread::Builder::new()
            .name("heapprof-http-accept".into())
            .spawn(move || quietly(|| accept(&listener, &queue, &accept_stopping, &accept_options)))?,
    );
    Ok(Server { addr, stopping, threads })
}

fn accept(listener: &TcpListener, queue: &SyncSender<TcpStream>, stopping: &AtomicBool, options: &Options) {
    for conn in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return; // dropping `queue` ends the workers
        }
        let Ok(stream) = conn else { continue };
        match queue.try_send(stream) {
            Ok(()) => {}
            Err(TrySendError::Full(mut stream)) => {
                let _ = stream.set_write_timeout(Some(options.write_timeout));
                let busy = Response {
                    status: 503,
                    content_type: "text/plain; charset=utf-8",
                    headers: vec![("Retry-After", "1".into())],
                    body: b"all profile workers are busy; try again\n".to_vec(),
                };
                let _ = write_response(&mut stream, &busy, true);
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

fn work(jobs: &Mutex<Receiver<TcpStream>>, options: &Options) {
    loop {
        let next = jobs.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(mut stream) = next else { return };
        let _ = serve_connection(&mut stream, options);
    }
}

fn serve_connection(stream: &mut TcpStream, options: &Options) -> std::io::Result<()> {
    stream.set_read_timeout(Some(options.read_timeout))?;
    stream.set_write_timeout(Some(options.write_timeout))?;
    let (response, send_body) = answer(stream, options, &std::thread::sleep)?;
    write_response(stream, &response, send_body)?;
    let _ = stream.shutdown(std::net::Shutdown::Both);
    Ok(())
}

/// Reads a request head from `stream` and answers it: a worker's job minus the socket's
/// options, so that the fuzz target `http_head` can drive it with arbitrary bytes.
/// `wait` is how a `?seconds=N` delta waits. Also says whether the body is sent (not
/// for `HEAD`, whose answer still states the length `GET`'s would have).
pub(super) fn answer(
    stream: &mut impl Read,
    options: &Options,
    wait: &dyn Fn(Duration),
) -> std::io::Result<(Response, bool)> {
    Ok(match read_head(stream, options.max_request_bytes) {
        Ok(head) => route(&head, options, wait),
        Err(HeadError::Io(e)) => return Err(e),
        Err(HeadError::Bad(status, reason)) => (
            Response {
                status,
                content_type: "text/plain; charset=utf-8",
                headers: vec![],
                body: format!("{reason}\n").into_bytes(),
            },
            true,
        ),
    })
}

fn route(head: &str, options: &Options, wait: &dyn Fn(Duration)) -> (Response, bool) {
    let plain = |status, body: &str| Response {
        status,
        content_type: "text/plain; charset=utf-8",
        headers: vec![],
        body: format!("{body}\n").into_bytes(),
    };
    // Lines end in CRLF, or in a bare LF, which Go's server also accepts.
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return (plain(400, "malformed request line"), true);
    };
    // No control characters in a request line (RFC 9112): a bare CR in the target
    // would otherwise reach the routes and be echoed into a one-line error.
    if request_line.contains(|c: char| c.is_ascii_control()) {
        return (plain(400, "malformed request line"), true);
    }
    if !version.starts_with("HTTP/1.") {
        return (plain(505, "only HTTP/1.x is served"), true);
    }
    if method != "GET" && method != "HEAD" {
        let mut r = plain(405, "only GET is served");
        r.headers.push(("Allow", "GET, HEAD".into()));
        return (r, true);
    }
    if let Some(token) = &options.token {
        let authorized = lines.any(|l| {
            l.split_once(':').is_some_and(|(name, value)| {
                name.eq_ignore_ascii_case("authorization")
                    && value.trim().strip_prefix("Bearer ") == Some(token)
            })
        });
        if !authorized {
            let mut r = plain(401, "a bearer token is required (Authorization: Bearer ...)");
            r.headers.push(("WWW-Authenticate", "Bearer".into()));
            return (r, true);
        }
    }
    let target = origin_form(target);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    (respond(path, query, options.max_seconds, wait), method != "HEAD")
}

/// The path and query of a request target: servers must accept the absolute form
/// (`http://host/path`, RFC 9112 3.2.2) as well as the usual `/path`.
fn origin_form(target: &str) -> &str {
    let Some(rest) = target.strip_prefix("http://").or_else(|| target.strip_prefix("https://")) else {
        return target;
    };
    rest.find(['/', '?']).map_or("/", |i| &rest[i..])
}

enum HeadError {
    Io(std::io::Error),
    Bad(u16, String),
}

/// Reads up to the blank line that ends the request head.
fn read_head(stream: &mut impl Read, max: usize) -> Result<String, HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(HeadError::Bad(400, "connection closed before the request ended".into()));
            }
            Ok(n) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(HeadError::Bad(408, "request not received in time".into()));
            }
            Err(e) => return Err(HeadError::Io(e)),
        };
        // The blank line can newly end at most 3 bytes before this read: looking from
        // there keeps a client that sends a byte at a time from costing quadratic time.
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        let too_large = || HeadError::Bad(431, format!("request head larger than {max} bytes"));
        if let Some(end) = blank_line(&buf[from..]).map(|i| from + i) {
            // The read that brought the blank line may have brought the head past `max`.
            if end > max {
                return Err(too_large());
            }
            buf.truncate(end);
            return String::from_utf8(buf)
                .map_err(|_| HeadError::Bad(400, "request head is not UTF-8".into()));
        }
        // Past `max` and the blank line's 4 bytes: the head cannot fit any more.
        if buf.len().saturating_sub(3) > max {
            return Err(too_large());
        }
    }
}

/// Where the blank line that ends a head starts in `bytes` (its line break before it
/// included), with CRLF or bare LF line ends.
fn blank_line(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len()).find(|&i| {
        let rest = &bytes[i..];
        rest.starts_with(b"\r\n\r\n") || rest.starts_with(b"\n\n") || rest.starts_with(b"\n\r\n")
    })
}

pub(super) fn write_response(stream: &mut impl Write, r: &Response, send_body: bool) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
         X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    for (name, value) in &r.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if send_body {
        stream.write_all(&r.body)?;
    }
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_bytes(request: &[u8], options: &Options) -> Response {
        answer(&mut &request[..], options, &|_| {}).expect("a slice reads without error").0
    }

    /// A client that sends one byte per read.
    struct ByteAtATime<'a>(&'a [u8]);

    impl Read for ByteAtATime<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(1);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// Regression (fuzz target `http_head`): a bare LF in the request target reached
    /// the routes, and the 404 that echoed the target was two lines.
    #[test]
    fn control_characters_in_the_request_line_are_malformed() {
        for request in [
            &b"GET /debug/pprof/hX\n\r1eap HTTP/1.1\r\n\r\n"[..],
            b"GET /debug/pprof/heap\r HTTP/1.1\r\n\r\n",
            b"GET /debug/pprof/heap\t HTTP/1.1\r\n\r\n",
            b"GET /debug/pprof/\x7f HTTP/1.1\r\n\r\n",
        ] {
            let r = answer_bytes(request, &Options::default());
            assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(request));
            assert_eq!(r.body, b"malformed request line\n");
        }
        assert_eq!(answer_bytes(b"GET /debug/pprof/ HTTP/1.1\r\n\r\n", &Options::default()).status, 200);
    }

    /// As Go's server: bare LF line ends and the absolute form of the target are read;
    /// `HEAD` states the length of what `GET` would send, and sends nothing.
    #[test]
    fn lenient_heads_and_head_requests_are_answered_as_go_answers_them() {
        let options = Options::default();
        for request in [
            &b"GET /debug/pprof/ HTTP/1.1\nHost: x\n\n"[..],
            b"GET /debug/pprof/ HTTP/1.1\r\nHost: x\n\r\n",
            b"GET http://127.0.0.1:6060/debug/pprof/ HTTP/1.1\r\n\r\n",
            b"GET https://example.com/debug/pprof/?debug=1 HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(answer_bytes(request, &options).status, 200, "{:?}", String::from_utf8_lossy(request));
        }
        assert_eq!(answer_bytes(b"GET http://example.com HTTP/1.1\r\n\r\n", &options).status, 404);
        let wire = |request: &[u8]| {
            let (r, send_body) = answer(&mut &request[..], &options, &|_| {}).unwrap();
            let mut out = Vec::new();
            write_response(&mut out, &r, send_body).unwrap();
            String::from_utf8(out).unwrap()
        };
        let get = wire(b"GET /debug/pprof/ HTTP/1.1\r\n\r\n");
        let head = wire(b"HEAD /debug/pprof/ HTTP/1.1\r\n\r\n");
        let (get_head, body) = get.split_once("\r\n\r\n").unwrap();
        assert!(!body.is_empty());
        assert!(get_head.contains(&format!("Content-Length: {}\r\n", body.len())), "{get_head}");
        assert_eq!(head, format!("{get_head}\r\n\r\n"), "HEAD: GET's head, no body");
    }

    /// Regression (fuzz target `http_head`): a head whose blank line arrived in the read
    /// that took it past `max_request_bytes` was served, up to 1,023 bytes over.
    #[test]
    fn a_head_over_the_limit_is_refused_however_it_arrives() {
        let line = b"GET /debug/pprof/ HTTP/1.1\r\nX-Padding: ";
        for len in [60, 64, 65, 67, 68, 227, 1100] {
            let mut request = line.to_vec();
            request.resize(len, b'a');
            let head_len = request.len();
            request.extend_from_slice(b"\r\n\r\n");
            let options = Options { max_request_bytes: 64, ..Options::default() };
            let want = if head_len <= 64 { 200 } else { 431 };
            assert_eq!(answer_bytes(&request, &options).status, want, "a {head_len}-byte head");
            let (r, _) = answer(&mut ByteAtATime(&request), &options, &|_| {}).expect("read");
            assert_eq!(r.status, want, "a {head_len}-byte head, a byte at a time");
        }
    }
}
