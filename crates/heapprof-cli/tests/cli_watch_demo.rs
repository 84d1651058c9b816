//! `heapprof watch` against the demo service (the `demo` example of the heapprof
//! crate, which `cargo test --workspace` builds): profiles land in the directory,
//! `--keep` holds, and killing and restarting the demo is reported and survived.
//! Bounded: 14 fetches 300 ms apart.

// Not in `common`: cli_push loads this file through the export receiver too.
#[path = "common/ports.rs"]
mod ports;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn demo_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let demo = exe.parent().and_then(|d| d.parent()).expect("target dir").join("examples/demo");
    assert!(demo.is_file(), "{} is not built: run `cargo test --workspace`", demo.display());
    demo
}

fn start_demo(addr: &str) -> Demo {
    let child = Command::new(demo_binary())
        .args(["--addr", addr, "--duration", "60s"])
        .env("HEAPPROF_RATE", "16KiB")
        .stdout(Stdio::null())
        .spawn()
        .expect("start the demo");
    // Wait until it listens.
    for _ in 0..100 {
        if std::net::TcpStream::connect(addr).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Demo(child)
}

#[test]
fn watch_survives_the_demo_restarting() {
    let port = ports::restartable_port();
    let addr = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(&addr);
    let url = format!("http://{addr}/debug/pprof/heap");
    let watch = Command::new(env!("CARGO_BIN_EXE_heapprof"))
        .args(["watch", &url, "--every", "300ms", "--dir", dir.path().to_str().unwrap(), "--keep", "3"])
        .args(["--count", "14"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start heapprof watch");
    // Kill the demo once two fetches succeeded (two profiles saved). The restarted
    // demo is recognised by its program being mapped at another address (address-
    // space randomization); where randomization is off, by its allocation total
    // being below the killed one's, which waiting for two profiles makes likely.
    // Not a fixed delay: a debug build's first profile takes over a second to
    // symbolize.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(dir.path()).unwrap().count() < 2 {
        assert!(std::time::Instant::now() < deadline, "two profiles not saved in 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(demo); // killed
    std::thread::sleep(Duration::from_millis(1200));
    let _demo = start_demo(&addr);
    let out = watch.wait_with_output().expect("watch finishes");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 0, or 3 when the demo's deliberate leak raised an alert.
    assert!(matches!(out.status.code(), Some(0 | 3)), "status {:?}\n{stdout}\n{stderr}", out.status);
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("fetch failed"), "the outage is not reported:\n{all}");
    assert!(all.contains("target reachable again"), "the return is not reported:\n{all}");
    assert!(all.contains("target restarted"), "the restart is not noticed:\n{all}");
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!files.is_empty() && files.len() <= 3, "--keep 3 not held: {files:?}");
    for f in files {
        let p = heapprof_profile::decode(&std::fs::read(&f).unwrap()).expect("a kept profile decodes");
        let names: Vec<&str> = p.function.iter().map(|f| p.str(f.name)).collect();
        assert!(names.iter().any(|n| n.starts_with("demo::")), "{}: no demo function", f.display());
    }
}
