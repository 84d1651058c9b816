//! `heapprof watch` against a real HTTP server on 127.0.0.1 that serves a
//! growing heap, goes away, and comes back as a restarted process: profiles
//! land in the directory within `--keep`, the outage is reported and
//! survived, the restart is noticed, the threshold and the leak raise alerts
//! (stderr, the hook, exit status 3), and Ctrl-C (SIGINT) stops it cleanly.
//! Bounded: about three seconds of fetches every 100 ms.

mod common;
// Not in `common`: cli_push loads this file through the export receiver too.
#[path = "common/ports.rs"]
mod ports;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use heapprof_profile::{Line, ProfileBuilder, Sample, decode, encode_gzip};

const MIB: i64 = 1 << 20;

/// The heap of the served process at its `n`th profile: `main.leak` holds
/// n+1 MiB, `main.cache` 2 MiB; `alloc_space` counts everything allocated.
fn heap_profile(n: i64) -> Vec<u8> {
    let mut b = ProfileBuilder::new(&[("alloc_space", "bytes"), ("inuse_space", "bytes")]);
    let main = b.function("main.main", "main.main", "main.go", 1);
    let mut samples = Vec::new();
    for (i, (name, inuse)) in [("main.leak", (n + 1) * MIB), ("main.cache", 2 * MIB)].into_iter().enumerate()
    {
        let f = b.function(name, name, "main.go", 10);
        let leaf =
            b.add_location(0, 0x1000 + i as u64 * 16, vec![Line { function_id: f, line: 11, column: 0 }]);
        let root = b.add_location(0, 0x2000, vec![Line { function_id: main, line: 2, column: 0 }]);
        samples.push(Sample { location_id: vec![leaf, root], value: vec![inuse * 3, inuse], label: vec![] });
    }
    let p = b.profile_mut();
    p.sample = samples;
    p.time_nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as i64;
    encode_gzip(&b.finish())
}

/// A server answering every request with the next profile of a fresh process,
/// until it has served `limit`; then it closes its socket.
struct Server {
    served: Arc<AtomicUsize>,
    thread: JoinHandle<()>,
}

fn serve(addr: SocketAddr, limit: usize) -> Server {
    let listener = ports::bind_again(addr.port());
    let served = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&served);
    let thread = std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let n = count.load(Ordering::SeqCst);
            let body = heap_profile(n as i64);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
            count.fetch_add(1, Ordering::SeqCst);
            if n + 1 >= limit {
                return;
            }
        }
    });
    Server { served, thread }
}

fn wait_for(what: &str, child: &mut Child, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(child.try_wait().unwrap().is_none(), "watch exited while waiting for {what}");
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn watch_keeps_profiles_survives_a_restart_and_alerts() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("profiles");
    let hook_log = work.path().join("alerts.txt");
    let port = SocketAddr::from(([127, 0, 0, 1], ports::restartable_port()));
    let first = serve(port, 6);
    let url = format!("http://{port}/debug/pprof/heap");
    let hook = format!("echo \"$HEAPPROF_ALERT\" >> {}", hook_log.display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_heapprof"))
        .args(["watch", &url, "--every", "100ms", "--keep", "4", "--threshold", "4MB"])
        .arg("--dir")
        .arg(&dir)
        .args(["--on-alert", &hook])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run heapprof watch");

    wait_for("the first server's six profiles", &mut child, || first.served.load(Ordering::SeqCst) >= 6);
    first.thread.join().unwrap();
    // Down for a while: several fetches fail (1.5 s: a loaded machine may stall
    // the watcher for a few hundred milliseconds).
    std::thread::sleep(Duration::from_millis(1500));
    let second = serve(port, usize::MAX);
    wait_for("eight profiles of the restarted server", &mut child, || {
        second.served.load(Ordering::SeqCst) >= 8
    });
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = format!("stdout:\n{stdout}\nstderr:\n{stderr}");

    assert_eq!(out.status.code(), Some(3), "alerts make status 3\n{context}");
    assert!(stdout.contains("fetch failed: "), "{context}");
    assert!(stdout.contains("connection refused; retrying in 100ms"), "{context}");
    assert!(stdout.contains("target reachable again after"), "{context}");
    assert!(stdout.contains("target restarted"), "{context}");
    assert!(stdout.contains("inuse_space 3MB  saved heap_watch_"), "{context}");
    assert!(stdout.contains("inuse_space 4MB  +1MB  saved heap_watch_"), "{context}");
    assert!(stderr.contains("heapprof: alert: in-use total 5MB is above the threshold 4MB"), "{context}");
    assert!(stderr.contains("heapprof: alert: leak suspect: main.leak grows"), "{context}");
    assert!(!stderr.contains("main.cache grows"), "{context}");
    assert!(
        stderr.lines().last().unwrap_or_default().starts_with("heapprof: interrupted after "),
        "{context}"
    );
    let hook_lines = std::fs::read_to_string(&hook_log).unwrap();
    let alerts = stderr.lines().filter(|l| l.starts_with("heapprof: alert: ")).count();
    assert_eq!(hook_lines.lines().count(), alerts, "{hook_lines}\n{context}");

    let kept: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert!((1..=4).contains(&kept.len()), "--keep 4: {} files", kept.len());
    for f in kept {
        let name = f.file_name().to_string_lossy().into_owned();
        assert!(name.starts_with("heap_watch_") && name.ends_with("Z.pb.gz"), "{name}");
        decode(&std::fs::read(f.path()).unwrap()).expect("a kept profile decodes");
    }
}

#[test]
fn watch_refuses_bad_usage_in_one_line() {
    let work = tempfile::tempdir().unwrap();
    let d = work.path().to_str().unwrap();
    for (args, expected) in [
        (vec!["watch", "http://127.0.0.1:9/heap", "--dir", d, "--every", "5x"], "--every: bad duration"),
        (
            vec!["watch", "http://127.0.0.1:9/heap", "--dir", d, "--threshold", "lots"],
            "--threshold: bad size",
        ),
        (vec!["watch", "heap.pb.gz", "--dir", d], "not an http:// or https:// URL"),
        (vec!["watch", "http://127.0.0.1:9/heap", "--dir", d, "--count", "0"], "--count: must be at least 1"),
        // Exists, but no file can be made in it.
        (
            vec!["watch", "http://127.0.0.1:9/heap", "--dir", "/proc/self"],
            "--dir: cannot create files in /proc/self: ",
        ),
    ] {
        let out = common::heapprof_in(work.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = common::stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(expected), "{err}");
    }
    // A sample type the target's profiles do not have: known at the first profile.
    let port = SocketAddr::from(([127, 0, 0, 1], ports::restartable_port()));
    let server = serve(port, 1);
    let url = format!("http://{port}/debug/pprof/heap");
    let args = ["watch", &url, "--dir", d, "--every", "100ms", "--count", "3", "--sample-index", "bogus"];
    let out = common::heapprof_in(work.path(), &args);
    server.thread.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(
        err.ends_with("--sample-index: the profile has no bogus (it has alloc_space, inuse_space)\n"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
