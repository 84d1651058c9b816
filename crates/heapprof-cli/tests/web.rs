//! `heapprof web` through a real HTTP client: the page and its assets, the
//! views' data, and 4xx for bad requests (path traversal, unknown ids, malformed
//! queries). The same pages in a real browser: web_browser.rs.

mod common;
#[path = "common/web_server.rs"]
mod web_server;

use std::io::{Read, Write};
use std::net::TcpStream;

use web_server::Web;

fn start(args: &[&str]) -> Web {
    web_server::start_in(&common::go_heap(), args)
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
    for asset in ["/app.js", "/graphs.js", "/source.js", "/timeline.js", "/style.css"] {
        let (status, _, text) = get(&web, asset);
        assert_eq!(status, 200, "{asset}");
        // XML namespace names look like URLs but are never fetched.
        let text = text.replace("http://www.w3.org/2000/svg", "").replace("http://www.w3.org/1999/xlink", "");
        assert!(!text.contains("http://") && !text.contains("https://"), "{asset} refers to another origin");
    }

    let (status, _, info) = get(&web, "/api/info");
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_str(&info).expect("JSON");
    assert_eq!(info["default_sample_type"], "inuse_space");
    assert_eq!(info["profiles"].as_array().map(Vec::len), Some(3));
    // Two timed profiles are a series: the page opens on the newer one.
    let time = |id: &str| {
        let (_, _, top) = get(&web, &format!("/api/top?p={id}"));
        let top: serde_json::Value = serde_json::from_str(&top).expect("JSON");
        top["header"]["time_nanos"].as_i64().expect("a time")
    };
    let newer = if time("1") >= time("0") { "1" } else { "0" };
    assert_eq!((info["series"].as_bool(), info["default_profile"].as_str()), (Some(true), Some(newer)));

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

    // Regression: a focus matching nothing answered 500 (inferno refuses to draw no samples).
    let (status, ct, svg) = get(&web, "/flamegraph.svg?p=0&focus=zzz");
    assert_eq!((status, ct.as_str()), (200, "image/svg+xml"), "{svg}");
    assert!(svg.starts_with("<?xml") && svg.contains("No samples to draw"), "{svg}");
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

    let empty = tempfile::tempdir().unwrap();
    let out = common::heapprof_in(empty.path(), &["web", "."]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(common::stderr(&out), "heapprof: .: no profile files in this directory\n");
}

#[test]
fn call_graph_is_graphviz_svg_of_the_graph_command() {
    let web = start(&["default/full.pb.gz"]);
    let (status, ct, svg) = get(&web, "/callgraph.svg?focus=fillCache");
    if status == 501 {
        // Graphviz missing: the answer says so (CI installs it).
        assert!(svg.contains("Graphviz"), "{svg}");
        assert!(std::env::var("CI").map_or(true, |v| v != "true"), "CI must have Graphviz: {svg}");
        return;
    }
    assert_eq!((status, ct.as_str()), (200, "image/svg+xml"), "{svg}");
    assert!(svg.contains("main.fillCache (61.93MB)") && !svg.contains("main.bigBuffers"), "{svg}");
}

#[test]
fn source_listing_reads_only_inside_the_source_path() {
    // The profile names heapcorpus/main.go; with the prefix trimmed it is main.go here.
    let web = start(&["--trim-path", "heapcorpus", "default/full.pb.gz"]);
    let (status, _, list) = get(&web, "/api/list?re=main%5C.fillCache");
    assert_eq!(status, 200, "{list}");
    let list: serde_json::Value = serde_json::from_str(&list).expect("JSON");
    let cli = common::heapprof(&[
        "list",
        "--format",
        "json",
        "--trim-path",
        "heapcorpus",
        "main\\.fillCache",
        "default/full.pb.gz",
    ]);
    let cli: serde_json::Value = serde_json::from_str(&common::stdout(&cli)).expect("JSON");
    assert_eq!(list["functions"], cli["functions"]);
    assert_eq!(list["functions"][0]["source_found"], true);
    assert_eq!(get(&web, "/api/list").0, 400);
    assert_eq!(get(&web, "/api/list?re=(").0, 400);
    assert_eq!(get(&web, "/api/list?re=nothing.matches").0, 404);

    // The same listing from a directory without the file: lines with samples only.
    let web = web_server::start_in(&common::corpus(), &["go-heap/default/full.pb.gz"]);
    let (status, _, list) = get(&web, "/api/list?re=main%5C.fillCache");
    assert_eq!(status, 200, "{list}");
    let list: serde_json::Value = serde_json::from_str(&list).expect("JSON");
    assert_eq!(list["functions"][0]["source_found"], false);
    let dir = common::corpus().canonicalize().unwrap();
    assert_eq!(list["source_path"][0], dir.to_str().unwrap());
}

#[test]
fn timeline_needs_a_series_and_says_why() {
    let web = start(&["default/full.pb.gz"]);
    let (status, _, why) = get(&web, "/api/timeline");
    assert_eq!(status, 404);
    assert!(why.starts_with("no timeline: it needs a series"), "{why}");
    let (_, _, info) = get(&web, "/api/info");
    assert!(info.contains("\"series\":false"), "{info}");

    // Two profiles: a series, but too short for the trend analysis.
    let web = start(&["default/cache.pb.gz", "default/full.pb.gz"]);
    let (_, _, info) = get(&web, "/api/info");
    assert!(info.contains("\"series\":true"), "{info}");
    let (status, _, why) = get(&web, "/api/timeline");
    let cli = common::heapprof(&["trend", "default/cache.pb.gz", "default/full.pb.gz"]);
    // The same reason as `heapprof trend`, in one line.
    assert_eq!((status, cli.status.code()), (400, Some(2)), "{why}");
    let reason = common::stderr(&cli);
    let reason = reason.trim().rsplit(": ").next().unwrap_or_default().to_string();
    assert_eq!(why, format!("no timeline: {reason}\n"));
    assert_eq!(get(&web, "/api/timeline?si=nope").0, 400);
}
