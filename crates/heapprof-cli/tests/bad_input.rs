//! Bad input through the binary: each case exits with status 2 and prints one
//! line on stderr that names the source; nothing panics.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use heapprof_profile::{Line, ProfileBuilder, Sample, encode_gzip};

/// Asserts the failure contract and returns the stderr line.
fn fails_with_one_line(args: &[&str], names: &str) -> String {
    let out = common::heapprof(args);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "heapprof {args:?}: stderr {err:?}");
    assert_eq!(err.lines().count(), 1, "heapprof {args:?}: stderr {err:?}");
    assert!(err.starts_with("heapprof: "), "{err:?}");
    assert!(err.contains(names), "{err:?} does not name {names:?}");
    assert!(!err.contains("panicked"), "{err:?}");
    assert!(out.stdout.is_empty(), "heapprof {args:?} printed to stdout");
    err
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write input");
    path.to_string_lossy().into_owned()
}

#[test]
fn unreadable_files_fail_with_one_line_naming_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let full = std::fs::read(common::go_heap().join("default/full.pb.gz")).expect("corpus");
    // Deterministic noise (an LCG), not starting with the gzip magic.
    let mut x: u32 = 12345;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8 | 0x80
        })
        .collect();
    let cases = [
        ("empty.pb.gz", Vec::new(), "empty"),
        ("truncated.pb.gz", full[..full.len() / 2].to_vec(), "gzip"),
        ("random.bin", noise, "protobuf"),
        ("notes.txt", b"hello\nthis is not a profile\n".to_vec(), "first line \"hello\""),
    ];
    for (name, bytes, problem) in cases {
        let path = write(dir.path(), name, &bytes);
        let err = fails_with_one_line(&["top", &path], &path);
        assert!(err.to_lowercase().contains(problem), "{name}: {err:?}");
    }
    fails_with_one_line(&["top", "no-such-file.pb.gz"], "no-such-file.pb.gz");
    let d = dir.path().to_string_lossy().into_owned();
    fails_with_one_line(&["traces", &d], &d);
}

#[test]
fn ids_pointing_nowhere_are_rejected() {
    let mut b = ProfileBuilder::new(&[("inuse_space", "bytes")]);
    let f = b.function("main.f", "", "main.go", 1);
    b.add_location(0, 0x1000, vec![Line { function_id: f, line: 2, column: 0 }]);
    b.profile_mut().sample.push(Sample { location_id: vec![99], value: vec![1], label: vec![] });
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "dangling.pb.gz", &encode_gzip(&b.finish()));
    let err = fails_with_one_line(&["top", &path], &path);
    assert!(err.contains("99"), "{err:?}");
    // As a base too.
    let good = common::go_heap().join("default/full.pb.gz");
    let good = good.to_string_lossy();
    fails_with_one_line(&["top", "--base", &path, &good], &path);
}

#[test]
fn unreachable_url_fails_with_one_line() {
    let url = "http://127.0.0.1:1/debug/pprof/heap";
    let err = fails_with_one_line(&["top", url], url);
    assert!(err.contains("refused") || err.contains("connect"), "{err:?}");
}

/// A one-request HTTP server on 127.0.0.1:0 answering with `status` and `body`;
/// returns its URL and a receiver for the request line it got.
fn serve_once(status: &'static str, body: Vec<u8>) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let first = String::from_utf8_lossy(&request).lines().next().unwrap_or("").to_string();
        let _ = tx.send(first);
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = conn.write_all(head.as_bytes());
        let _ = conn.write_all(&body);
    });
    (format!("http://{addr}/debug/pprof/heap"), rx)
}

#[test]
fn url_answering_404_fails_with_one_line() {
    let (url, _) = serve_once("404 Not Found", Vec::new());
    let err = fails_with_one_line(&["top", &url], &url);
    assert!(err.contains("404"), "{err:?}");
}

#[test]
fn url_profiles_are_fetched_with_seconds() {
    let body = std::fs::read(common::go_heap().join("default/full.pb.gz")).expect("corpus");
    let (url, requests) = serve_once("200 OK", body);
    let out = common::heapprof(&["top", "--seconds", "5", &url]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let expected = std::fs::read_to_string(common::go_heap().join("default/full.top.inuse_space.txt"))
        .expect("reference");
    let rows = common::top_rows(&common::stdout(&out));
    // Default trimming drops the small nodes that the reference (nodefraction 0) lists.
    assert!(common::top_rows(&expected).starts_with(&rows[..3]));
    let request = requests.recv_timeout(Duration::from_secs(10)).expect("request");
    assert_eq!(request, "GET /debug/pprof/heap?seconds=5 HTTP/1.1");
}

#[test]
fn bad_options_fail_with_one_line() {
    let p = "default/full.pb.gz";
    fails_with_one_line(&["top", "--focus", "(", p], "--focus");
    let err = fails_with_one_line(&["top", "--sample-index", "nope", p], p);
    assert!(err.contains("alloc_objects alloc_space inuse_objects inuse_space"), "{err:?}");
    fails_with_one_line(&["top", "--sample-index", "9", p], "sample_index 9");
    fails_with_one_line(&["top", "--nodefraction", "2", p], "--nodefraction");
    fails_with_one_line(&["peek", "nothing-matches-this", p], p);
    fails_with_one_line(&["top", "--no-such-flag", p], "--no-such-flag");
    fails_with_one_line(&["top", "--lines", "--files", p], "--lines");
    fails_with_one_line(&["top", "--symbolize", "always", p], "--symbolize");
    fails_with_one_line(
        &["diff", "--sample-index", "alloc_space", p, "../pprof-testdata/java.heap"],
        "java.heap",
    );
}

#[test]
fn a_gzip_bomb_stops_at_the_bound() {
    // 64 MiB of zeros gzip to about 64 KiB; the bound is set to 1 MiB here (1 GiB by default).
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        gz.write_all(&zeros).unwrap();
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "bomb.pb.gz", &gz.finish().unwrap());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_heapprof"))
        .args(["top", &path])
        .env("HEAPPROF_MAX_PROFILE_BYTES", "1048576")
        .output()
        .expect("run heapprof");
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bomb.pb.gz") && err.contains("exceeds 1048576 bytes"), "{err}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_heapprof"))
        .args(["top", &path])
        .env("HEAPPROF_MAX_PROFILE_BYTES", "lots")
        .output()
        .expect("run heapprof");
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("HEAPPROF_MAX_PROFILE_BYTES") && err.lines().count() == 1, "{err}");
}

/// Linux's O_NONBLOCK (libc is not a dependency of these tests).
const O_NONBLOCK: i32 = 0o4000;

/// `heapprof top <path>` with a 1000-byte bound, its address space capped at
/// 1 GiB (`ulimit -v`) so that an unbounded read fails fast instead of filling
/// the machine's memory.
fn top_bounded(path: &str) -> std::process::Output {
    std::process::Command::new("sh")
        .args(["-c", "ulimit -v 1048576 && exec \"$0\" top \"$1\"", env!("CARGO_BIN_EXE_heapprof"), path])
        .env("HEAPPROF_MAX_PROFILE_BYTES", "1000")
        .output()
        .expect("run heapprof")
}

fn assert_over_the_bound(out: &std::process::Output, path: &str) {
    let err = common::stderr(out);
    assert_eq!(out.status.code(), Some(2), "{path}: {err}");
    assert_eq!(err.lines().count(), 1, "{path}: {err}");
    assert!(err.contains(path) && err.contains("larger than 1000 bytes"), "{path}: {err}");
}

/// Regression: files whose length reads as 0 (devices, FIFOs, /proc) were read
/// without bound: `heapprof top /dev/zero` grew to gigabytes.
#[test]
fn devices_fifos_and_proc_files_stop_at_the_bound() {
    for path in ["/dev/zero", "/proc/self/maps"] {
        assert_over_the_bound(&top_bounded(path), path);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("zeros.fifo");
    let fifo = fifo.to_str().expect("utf-8 temp path");
    let made = std::process::Command::new("mkfifo").arg(fifo).status().expect("run mkfifo");
    assert!(made.success(), "mkfifo {fifo}");
    // 64 KiB of zeros, then the end: without a bound that is a protobuf error.
    let writer_path = fifo.to_string();
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().write(true).open(writer_path).expect("open the FIFO");
        // The reader may stop early (a broken pipe): that is its right.
        let _ = f.write_all(&[0u8; 64 << 10]);
    });
    let out = top_bounded(fifo);
    // Unblock the writer if heapprof never opened the FIFO (O_NONBLOCK: this open
    // itself never waits for a writer).
    let _ = std::fs::OpenOptions::new().read(true).custom_flags(O_NONBLOCK).open(fifo);
    writer.join().expect("writer thread");
    assert_over_the_bound(&out, fifo);
}

/// Regression: clap's error was cut to its first line, which lost the names it
/// lists under it ("the following required arguments were not provided: (see …)").
#[test]
fn usage_errors_keep_the_names_on_one_line() {
    let p = "default/full.pb.gz";
    let err = fails_with_one_line(&["top"], "top: ");
    assert!(err.contains("<SOURCE>") && err.ends_with("(see heapprof top --help)\n"), "{err:?}");
    for cmd in ["diff", "flamegraph", "merge", "list", "push", "watch", "run", "convert", "peek"] {
        let err = fails_with_one_line(&[cmd], &format!("heapprof {cmd} --help"));
        assert!(err.contains("not provided: ") && err.contains(['<', '-']), "{cmd}: {err:?}");
        assert!(!err.contains(": (see"), "{cmd}: {err:?}");
    }
    let err = fails_with_one_line(&["top", "--lines", "--files", p], "--lines");
    assert!(err.contains("cannot be used with '--files'"), "{err:?}");
    let err = fails_with_one_line(&["top", "--no-such-flag", p], "--no-such-flag");
    assert!(err.contains("(see heapprof top --help)"), "{err:?}");
    fails_with_one_line(&["no-such-command"], "no-such-command");
    fails_with_one_line(&["top", "--format", "xml", p], "xml");
    fails_with_one_line(&["top", "--nodecount", "many", p], "many");
    fails_with_one_line(&["--symbolize", "always", "top", p], "always");
    // A negative number is the option's value, refused by the option's own check.
    for (option, value) in [("--nodefraction", "-1"), ("--nodecount", "-1"), ("--edgefraction", "-0.5")] {
        let space = fails_with_one_line(&["top", option, value, p], option);
        let equals = fails_with_one_line(&["top", &format!("{option}={value}"), p], option);
        assert_eq!(space, equals);
        assert!(!space.contains("unexpected argument"), "{space:?}");
    }
}
