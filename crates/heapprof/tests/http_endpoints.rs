//! The `/debug/pprof` routes over a real socket with a real HTTP client: every
//! route, content types, headers, status codes, delta semantics, limits.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use heapprof::http::{Options, serve_with};

mod common;

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

struct Reply {
    status: u16,
    content_type: String,
    disposition: String,
    body: Vec<u8>,
}

fn get(url: &str, token: Option<&str>) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.get(url);
    if let Some(t) = token {
        request = request.header("Authorization", &format!("Bearer {t}"));
    }
    let mut response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let header =
        |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (content_type, disposition) = (header("content-type"), header("content-disposition"));
    let status = response.status().as_u16();
    let body = response.body_mut().with_config().limit(1 << 30).read_to_vec().expect("read body");
    Reply { status, content_type, disposition, body }
}

fn server(options: Options) -> (heapprof::http::Server, String) {
    let s = serve_with("127.0.0.1:0", options).expect("serve");
    let base = format!("http://{}/debug/pprof", s.addr());
    (s, base)
}

#[inline(never)]
fn allocated_before_window(kept: &mut Vec<Vec<u8>>) {
    kept.push(vec![1u8; 300_000]);
}

#[inline(never)]
fn allocated_during_window(kept: &mut Vec<Vec<u8>>) {
    kept.push(vec![2u8; 200_000]);
}

#[test]
fn routes_answer_like_go() {
    heapprof::set_sample_rate(1);
    let (_server, base) = server(Options::default());

    let index = get(&format!("{base}/"), None);
    assert_eq!(index.status, 200);
    assert!(index.content_type.starts_with("text/html"));
    let html = String::from_utf8(index.body).unwrap();
    for link in ["href=\"heap\"", "href=\"allocs\"", "href=\"heap?debug=1\"", "href=\"stats\""] {
        assert!(html.contains(link), "index lacks {link}");
    }

    let heap = get(&format!("{base}/heap"), None);
    assert_eq!(heap.status, 200);
    assert_eq!(heap.content_type, "application/octet-stream");
    assert_eq!(heap.disposition, "attachment; filename=\"heap\"");
    let p = heapprof::pprof::decode(&heap.body).expect("heap decodes");
    assert_eq!(p.default_sample_type, 0, "heap leaves the default unset: readers take inuse_space, the last");
    assert_eq!(p.str(p.sample_type[3].r#type), "inuse_space");

    let allocs = get(&format!("{base}/allocs?gc=1"), None);
    assert_eq!(allocs.status, 200);
    assert_eq!(allocs.disposition, "attachment; filename=\"allocs\"");
    let p = heapprof::pprof::decode(&allocs.body).expect("allocs decodes");
    assert_eq!(p.str(p.default_sample_type), "alloc_space");

    let text = get(&format!("{base}/heap?debug=1"), None);
    assert_eq!(text.status, 200);
    assert!(text.content_type.starts_with("text/plain"));
    let body = String::from_utf8(text.body.clone()).unwrap();
    assert!(body.starts_with("heap profile: "), "{}", &body[..body.len().min(200)]);
    assert!(body.contains("\n# heapprof.Stats\n# allocated_objects = "));
    heapprof::pprof::decode(&text.body).expect("the legacy text parses back");

    let stats = get(&format!("{base}/stats"), None);
    assert_eq!(stats.status, 200);
    assert_eq!(stats.content_type, "application/json");
    let json: serde_json::Value = serde_json::from_slice(&stats.body).expect("stats is JSON");
    assert!(json["live_bytes"].as_u64().unwrap() > 0);
    assert_eq!(json["sample_rate"].as_u64(), Some(1));
}

/// Regression: the server's threads sampled their own allocations, so at rate 1 every
/// request for a profile added the server's work to the application's profile.
#[test]
fn serving_profiles_adds_nothing_to_the_profile() {
    heapprof::set_sample_rate(1);
    let (_server, base) = server(Options::default());
    for route in ["", "heap", "allocs", "heap?debug=1", "stats", "heap?seconds=1"] {
        assert_eq!(get(&format!("{base}/{route}"), None).status, 200, "{route}");
    }
    let p = heapprof::heap_profile();
    assert!(common::through(&p, "ureq", 1) > 0, "the test's own client is profiled");
    for server_side in ["heapprof::http::server::work", "heapprof::http::routes::respond"] {
        assert_eq!(common::through(&p, server_side, 1), 0, "allocations under {server_side} were sampled");
    }
}

#[test]
fn delta_counts_only_what_was_allocated_in_the_window() {
    heapprof::set_sample_rate(1);
    let (_server, base) = server(Options::default());
    let mut kept = Vec::with_capacity(2);
    allocated_before_window(&mut kept);
    let url = format!("{base}/heap?seconds=4");
    let fetch = std::thread::spawn(move || get(&url, None));
    // Well inside the window, and long after the server's first snapshot even on a
    // loaded machine.
    std::thread::sleep(Duration::from_millis(2000));
    allocated_during_window(&mut kept);
    let reply = fetch.join().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.disposition, "attachment; filename=\"heap-delta\"");
    let p = heapprof::pprof::decode(&reply.body).unwrap();
    assert_eq!(common::through(&p, "allocated_during_window", 1), 200_000, "alloc_space of the window");
    assert_eq!(common::through(&p, "allocated_before_window", 1), 0, "allocated before the window");
    assert_eq!(
        common::through(&p, "allocated_before_window", 3),
        300_000,
        "in-use values are the later snapshot's"
    );
    assert!(p.duration_nanos >= 3_900_000_000, "duration {}", p.duration_nanos);
}

#[test]
fn bad_requests_get_one_line_reasons() {
    let (_server, base) = server(Options { max_seconds: 5, ..Options::default() });
    for (query, fragment) in [
        ("heap?seconds=1&debug=1", "cannot be combined"),
        ("heap?seconds=abc", "bad seconds"),
        ("heap?seconds=0", "must be positive"),
        ("heap?seconds=-3", "must be positive"),
        ("heap?seconds=1.5", "bad seconds"),
        ("allocs?seconds=6", "maximum of 5"),
        ("heap?debug=x", "bad debug"),
        ("heap?debug=-1", "non-negative"),
        ("heap?debug=%zz", "bad escape"),
        ("heap?min_age=%ff", "not UTF-8"),
    ] {
        let r = get(&format!("{base}/{query}"), None);
        let body = String::from_utf8(r.body).unwrap();
        assert_eq!(r.status, 400, "{query}: {body}");
        assert!(body.contains(fragment) && body.trim_end().lines().count() == 1, "{query}: {body}");
    }
    let r = get(&format!("{base}/goroutine"), None);
    assert_eq!(r.status, 404);
    let body = String::from_utf8(r.body).unwrap();
    assert!(body.contains("heap") && body.contains("allocs") && body.contains("stats"), "{body}");
    let r = get(
        &format!("http://{}/elsewhere", base.trim_start_matches("http://").split('/').next().unwrap()),
        None,
    );
    assert_eq!(r.status, 404);
}

/// Clients percent-encode queries; of a repeated parameter the first counts, as in Go.
#[test]
fn encoded_and_repeated_parameters_read_as_go_reads_them() {
    let (_server, base) = server(Options::default());
    let is_text = |query: &str| {
        let r = get(&format!("{base}/{query}"), None);
        assert_eq!(r.status, 200, "{query}: {}", String::from_utf8_lossy(&r.body));
        r.body.starts_with(b"heap profile:")
    };
    assert!(is_text("heap?debug=%31"));
    assert!(is_text("heap?%64ebug=1"));
    assert!(is_text("heap?debug=1&debug=0"));
    assert!(!is_text("heap?debug=0&debug=1"));
    assert!(is_text("heap?min_age=0%73&debug=1"));
}

#[test]
fn token_is_required_when_configured() {
    let (_server, base) = server(Options { token: Some("s3cret".into()), ..Options::default() });
    assert_eq!(get(&format!("{base}/heap"), None).status, 401);
    assert_eq!(get(&format!("{base}/heap"), Some("wrong")).status, 401);
    assert_eq!(get(&format!("{base}/heap"), Some("s3cret")).status, 200);
}

#[test]
fn non_loopback_addresses_need_an_explicit_opt_in() {
    let err = heapprof::http::serve("0.0.0.0:0").unwrap_err().to_string();
    assert!(err.contains("non-loopback") && !err.contains('\n'), "{err}");
    let err = heapprof::http::serve("not an address").unwrap_err().to_string();
    assert!(err.starts_with("cannot listen on not an address"), "{err}");
}

fn raw(addr: &str, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn methods_oversized_and_slow_requests_are_refused() {
    let (server, _) =
        server(Options { read_timeout: Duration::from_secs(5), workers: 2, ..Options::default() });
    let addr = server.addr().to_string();
    assert!(raw(&addr, b"POST /debug/pprof/heap HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    assert!(raw(&addr, b"garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
    let huge = format!("GET /debug/pprof/heap HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "a".repeat(20_000));
    assert!(raw(&addr, huge.as_bytes()).starts_with("HTTP/1.1 431"));
    // A client that connects and says nothing ties up one worker until the read
    // timeout, then gets 408; meanwhile the other worker serves.
    let mut silent = TcpStream::connect(&addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    assert!(raw(&addr, b"GET /debug/pprof/stats HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200"));
    // Half the read timeout: a loaded machine's stalls, but not the silent client's wait.
    assert!(start.elapsed() < Duration::from_millis(2500), "a silent client delayed another request");
    let mut answer = String::new();
    silent.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = silent.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[test]
fn busy_workers_turn_new_connections_away_with_503() {
    let (server, base) = server(Options { workers: 1, queue: 1, ..Options::default() });
    let addr = server.addr().to_string();
    let url = format!("{base}/heap?seconds=10");
    let long = std::thread::spawn(move || get(&url, None).status);
    std::thread::sleep(Duration::from_millis(300));
    // The one worker is busy and the queue holds one connection: among more
    // connections made now, some are refused at once rather than left waiting. (Until
    // the long request has reached the worker, connections are served: keep trying.)
    let mut held = Vec::new();
    let mut refused = false;
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET /debug/pprof/stats HTTP/1.1\r\n\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut head = [0u8; 12];
        if s.read_exact(&mut head).is_ok() && &head == b"HTTP/1.1 503" {
            refused = true;
            break;
        }
        held.push(s);
    }
    assert!(refused, "no connection was turned away while the worker was busy");
    drop(held);
    assert_eq!(long.join().unwrap(), 200);
}
