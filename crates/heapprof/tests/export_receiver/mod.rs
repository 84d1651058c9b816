//! A small HTTP/1.1 receiver on loopback for the export tests: it records each
//! request (method, path, query, headers, body) and answers as told (200, an
//! error status, or late), and it can stop listening and come back on the same
//! port. It implements what the servers document, nothing of ours.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use heapprof::pprof::Profile;

/// One request as received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Query parameters, percent-decoded.
    pub query: BTreeMap<String, String>,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// When it was read.
    pub at: Instant,
}

/// How the receiver answers.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Ok,
    Status(u16),
    /// 429 with `Retry-After: N` (seconds).
    RetryAfter(u64),
    /// Waits this long before answering 200.
    Delay(Duration),
}

struct Inner {
    requests: Mutex<Vec<Request>>,
    mode: Mutex<Mode>,
}

pub struct Receiver {
    pub port: u16,
    inner: Arc<Inner>,
    closed: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

// One implementation of the restartable-port helpers, shared with the CLI's tests.
#[path = "../../../heapprof-cli/tests/common/ports.rs"]
mod ports;
#[allow(unused_imports)]
pub use ports::{bind_again, restartable_port as free_port};

impl Receiver {
    pub fn start() -> Receiver {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Receiver {
        let inner = Arc::new(Inner { requests: Mutex::new(Vec::new()), mode: Mutex::new(Mode::Ok) });
        let mut r = Receiver { port, inner, closed: Arc::new(AtomicBool::new(true)), accept: None };
        r.listen();
        r
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.inner.mode.lock().unwrap() = mode;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests have arrived.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.inner.requests.lock().unwrap().len() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Closes the listener and every open connection.
    pub fn go_down(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            t.join().unwrap();
        }
    }

    /// Listens again on the same port.
    pub fn listen(&mut self) {
        let listener = bind_again(self.port);
        self.port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let closed = Arc::new(AtomicBool::new(false));
        self.closed = Arc::clone(&closed);
        let inner = Arc::clone(&self.inner);
        self.accept = Some(std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !closed.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (inner, closed) = (Arc::clone(&inner), Arc::clone(&closed));
                        conns.push(std::thread::spawn(move || serve(stream, &inner, &closed)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        }));
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.go_down();
    }
}

fn serve(stream: TcpStream, inner: &Inner, closed: &AtomicBool) {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let Some(req) = read_request(&mut reader, closed) else { return };
        let mode = *inner.mode.lock().unwrap();
        inner.requests.lock().unwrap().push(req);
        let status = match mode {
            Mode::Ok => 200,
            Mode::Status(s) => s,
            Mode::RetryAfter(_) => 429,
            Mode::Delay(d) => {
                let end = Instant::now() + d;
                while Instant::now() < end && !closed.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                200
            }
        };
        let body = if status == 200 { "" } else { "try again later" };
        let extra = if let Mode::RetryAfter(secs) = mode {
            format!("Retry-After: {secs}\r\n")
        } else {
            String::new()
        };
        let reply = format!("HTTP/1.1 {status} X\r\n{extra}Content-Length: {}\r\n\r\n{body}", body.len());
        if writer.write_all(reply.as_bytes()).is_err() || closed.load(Ordering::SeqCst) {
            return;
        }
    }
}

/// Reads one line, retrying on read timeouts until `closed`.
fn read_line(reader: &mut BufReader<TcpStream>, closed: &AtomicBool) -> Option<String> {
    let mut line = Vec::new();
    loop {
        if closed.load(Ordering::SeqCst) {
            return None;
        }
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return None,
            Ok(_) if line.ends_with(b"\n") => return String::from_utf8(line).ok(),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return None,
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>, closed: &AtomicBool) -> Option<Request> {
    let first = read_line(reader, closed)?;
    let mut parts = first.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let line = read_line(reader, closed)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers.get("content-length").map(|v| v.parse().unwrap()).unwrap_or(0);
    assert!(!headers.contains_key("transfer-encoding"), "the receiver expects Content-Length");
    let mut body = vec![0; len];
    let mut got = 0;
    while got < len {
        if closed.load(Ordering::SeqCst) {
            return None;
        }
        match reader.read(&mut body[got..]) {
            Ok(0) => return None,
            Ok(n) => got += n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return None,
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    Some(Request { method, path: path.to_string(), query, headers, body, at: Instant::now() })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("bad %XX"));
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8 query")
}

/// Pyroscope's `/ingest`: the pprof body, raw or in the multipart `profile` field.
pub fn pyroscope_profile(req: &Request) -> Profile {
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/ingest");
    let ct = req.headers.get("content-type").cloned().unwrap_or_default();
    let data = if let Some(boundary) = ct.strip_prefix("multipart/form-data; boundary=") {
        multipart_field(&req.body, boundary, "profile")
    } else {
        assert_eq!(req.query.get("format").map(String::as_str), Some("pprof"));
        req.body.clone()
    };
    heapprof::pprof::decode(&data).expect("a pprof profile")
}

/// The named field of a multipart/form-data body.
fn multipart_field(body: &[u8], boundary: &str, name: &str) -> Vec<u8> {
    let delim = format!("--{boundary}");
    let text = body;
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(pos) = find(rest, delim.as_bytes()) {
        parts.push(&rest[..pos]);
        rest = &rest[pos + delim.len()..];
    }
    for part in parts {
        let Some(split) = find(part, b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&part[..split]);
        if head.contains(&format!("name=\"{name}\"")) {
            let data = &part[split + 4..];
            return data.strip_suffix(b"\r\n").unwrap_or(data).to_vec();
        }
    }
    panic!("no field {name} in the multipart body");
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parca's `WriteRaw` through the gateway: labels and the profiles of each series.
pub fn parca_series(req: &Request) -> Vec<(BTreeMap<String, String>, Vec<Profile>)> {
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/api/profiles/writeraw");
    let v: serde_json::Value = serde_json::from_slice(&req.body).expect("JSON body");
    let series = v["series"].as_array().expect("series array");
    series
        .iter()
        .map(|s| {
            let labels = s["labels"]["labels"]
                .as_array()
                .expect("labels.labels")
                .iter()
                .map(|l| (l["name"].as_str().unwrap().to_string(), l["value"].as_str().unwrap().to_string()))
                .collect();
            let profiles = s["samples"]
                .as_array()
                .expect("samples")
                .iter()
                .map(|x| {
                    let raw = x["raw_profile"].as_str().or(x["rawProfile"].as_str()).expect("raw_profile");
                    let bytes = base64::engine::general_purpose::STANDARD.decode(raw).expect("base64");
                    heapprof::pprof::decode(&bytes).expect("a pprof profile")
                })
                .collect();
            (labels, profiles)
        })
        .collect()
}

/// The total of sample type `ty` over samples whose stack has a function containing `func`.
pub fn total_in(profile: &Profile, ty: &str, func: &str) -> i64 {
    let idx = profile
        .sample_type
        .iter()
        .position(|t| profile.string_table[t.r#type as usize] == ty)
        .unwrap_or_else(|| panic!("no sample type {ty}"));
    let funcs: std::collections::HashMap<u64, &str> =
        profile.function.iter().map(|f| (f.id, profile.string_table[f.name as usize].as_str())).collect();
    let locs: std::collections::HashMap<u64, bool> = profile
        .location
        .iter()
        .map(|l| (l.id, l.line.iter().any(|ln| funcs.get(&ln.function_id).is_some_and(|n| n.contains(func)))))
        .collect();
    profile
        .sample
        .iter()
        .filter(|s| s.location_id.iter().any(|id| locs.get(id).copied().unwrap_or(false)))
        .map(|s| s.value[idx])
        .sum()
}

/// Serializes the tests of one binary that sample every allocation: at rate 1,
/// tests running side by side contend for the profiler's locks and it may drop
/// samples (counted in `Stats::dropped_samples`), which would blur exact totals.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the profiler itself holds for `func` now (alloc totals since the start).
pub fn profiler_total(ty: &str, func: &str) -> i64 {
    total_in(&heapprof::heap_profile(), ty, func)
}

/// Nanoseconds since the Unix epoch, as profiles state their time.
pub fn now_nanos() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    i64::try_from(d.as_nanos()).expect("time")
}

impl Receiver {
    /// Waits until a profile taken at or after `t` (nanoseconds) has arrived, so
    /// that what the caller did before `t` is in it.
    pub fn wait_for_profile_after(&self, t: i64, decode: fn(&Request) -> Profile) -> bool {
        let end = Instant::now() + Duration::from_secs(30);
        let mut checked = 0;
        while Instant::now() < end {
            let reqs = self.requests();
            if reqs[checked..].iter().any(|r| decode(r).time_nanos >= t) {
                return true;
            }
            checked = reqs.len();
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

/// The one profile of a Parca request.
pub fn parca_profile(req: &Request) -> Profile {
    parca_series(req).swap_remove(0).1.swap_remove(0)
}
