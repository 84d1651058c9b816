//! `heapprof web` through a real HTTP client: the page and its assets, the
//! views' data, and 4xx for bad requests (path traversal, unknown ids, malformed
//! queries). Browser tests (Chromium) are not here yet.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

/// A running `heapprof web`, stopped when dropped.
struct Web {
    child: Child,
    base: String,
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Web {
    let mut child = Command::new(env!("CARGO_BIN_EXE_heapprof"))
        .arg("web")
        .args(args)
        .current_dir(common::go_heap())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start heapprof web");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout).read_line(&mut line).expect("read the URL line");
    let base = line.trim().strip_prefix("heapprof: serving ").expect("URL line").to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    Web { child, base }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// (status, content type, body) of GET `path`.
fn get(web: &Web, path: &str) -> (u16, String, String) {
    let mut r = agent().get(format!("{}{}", web.base, path.trim_start_matches('/'))).call().expect("GET");
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, ct, r.body_mut().read_to_string().expect("body"))
}

/// The status line of a raw request: no client normalizes the path on the way.
fn raw_status(web: &Web, request_line: &str) -> String {
    let addr = web.base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(s, "{request_line}\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    answer.lines().next().unwrap_or("").to_string()
}

#[test]
fn serves_the_page_and_the_views() {
    let web = start(&["default/full.pb.gz", "rate1/full.pb.gz"]);
    let (status, ct, html) = get(&web, "/");
    assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
    assert!(html.contains("<script src=\"/app.js\""), "{html}");
    assert!(!html.contains("http://") && !html.contains("https://"), "the page refers to another origin");
    for asset in ["/app.js", "/style.css"] {
        let (status, _, text) = get(&web, asset);
        assert_eq!(status, 200, "{asset}");
        assert!(!text.contains("http://") && !text.contains("https://"), "{asset} refers to another origin");
    }

    let (status, _, info) = get(&web, "/api/info");
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&info).expect("JSON");
    assert_eq!(info["default_sample_type"], "inuse_space");
    assert_eq!(info["profiles"].as_array().map(Vec::len), Some(3));

    let (status, _, top) = get(&web, "/api/top?p=0&si=alloc_space");
    assert_eq!(status, 200);
    let top: serde_json::Value = serde_json::from_str(&top).expect("JSON");
    assert_eq!(top["schema"], "heapprof.top.v1");
    assert_eq!(top["header"]["sample_type"], "alloc_space");
    // The same rows as `heapprof top --format json`.
    let cli =
        common::heapprof(&["top", "--format", "json", "--sample-index", "alloc_space", "default/full.pb.gz"]);
    let cli: serde_json::Value = serde_json::from_str(&common::stdout(&cli)).expect("JSON");
    assert_eq!(top["rows"], cli["rows"]);

    let (status, ct, svg) = get(&web, "/flamegraph.svg?p=0&focus=fillCache");
    assert_eq!((status, ct.as_str()), (200, "image/svg+xml"));
    assert!(svg.contains("main.fillCache") && !svg.contains("main.bigBuffers"));
}

#[test]
fn peek_matches_the_peek_command() {
    let web = start(&["default/full.pb.gz"]);
    let (status, _, peek) = get(&web, "/api/peek?re=main%5C.main");
    assert_eq!(status, 200, "{peek}");
    let peek: serde_json::Value = serde_json::from_str(&peek).expect("JSON");
    let cli = common::heapprof(&["peek", "--format", "json", "main\\.main", "default/full.pb.gz"]);
    let cli: serde_json::Value = serde_json::from_str(&common::stdout(&cli)).expect("JSON");
    assert_eq!(peek["entries"], cli["entries"]);
    assert_eq!(get(&web, "/api/peek").0, 400);
    assert_eq!(get(&web, "/api/peek?re=nothing.matches.this").0, 404);
    assert_eq!(get(&web, "/api/peek?re=(").0, 400);
}

#[test]
fn differential_views_with_a_base() {
    let web = start(&["--base", "default/cache.pb.gz", "default/full.pb.gz"]);
    let (_, _, info) = get(&web, "/api/info");
    assert!(info.contains("\"base\":true"), "{info}");
    let (status, _, svg) = get(&web, "/flamegraph.svg");
    assert_eq!(status, 200);
    assert!(svg.contains("inuse_space: 62.93MB → 140.23MB (+77.30MB)"));
    let (status, _, top) = get(&web, "/api/top");
    assert_eq!(status, 200);
    assert!(top.contains("main.bigBuffers"));
}

#[test]
fn bad_requests_answer_4xx() {
    let web = start(&["default/full.pb.gz"]);
    for (path, status) in [
        ("/api/top?p=9", 404),
        ("/api/top?p=../../etc/passwd", 404),
        ("/flamegraph.svg?p=x", 404),
        ("/api/top?si=nope", 400),
        ("/api/top?focus=(", 400),
        ("/api/top?focus=%zz", 400),
        ("/api/top?file=/etc/passwd", 400),
        ("/etc/passwd", 404),
        ("/app.js/../../../etc/passwd", 404),
    ] {
        assert_eq!(get(&web, path).0, status, "{path}");
    }
    for line in [
        "GET /../../etc/passwd HTTP/1.1",
        "GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1",
        "GET /..%2f..%2fetc%2fpasswd HTTP/1.1",
        "GET //etc/passwd HTTP/1.1",
    ] {
        let status = raw_status(&web, line);
        assert!(status.starts_with("HTTP/1.1 4"), "{line}: {status}");
    }
    assert!(raw_status(&web, "POST / HTTP/1.1").starts_with("HTTP/1.1 405"));
}

#[test]
fn unreadable_source_fails_before_serving() {
    let out = common::heapprof(&["web", "nonexistent.pb.gz"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(common::stderr(&out), "heapprof: nonexistent.pb.gz: no such file\n");
}
