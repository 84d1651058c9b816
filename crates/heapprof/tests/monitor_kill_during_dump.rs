//! A process killed with SIGKILL while its monitor writes profiles never leaves
//! a truncated `.pb.gz` under a final name: every `heap_*.pb.gz` decodes, and
//! the temporaries it left are hidden, named as such, and removed by the next
//! monitor. The child is this test binary run again (`dump_loop_child`), which
//! dumps a profile as fast as it can until it is killed: half the time while a
//! temporary file exists (mid-write), half at varied points of its cycle.
//! Bounded: six children, each killed within seconds.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use heapprof::monitor::HeapMonitor;

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

/// Set in the child: the directory to dump into.
const CHILD_DIR: &str = "HEAPPROF_TEST_DUMP_LOOP_DIR";

/// Allocates `size` bytes `depth` calls deep: distinct stacks make a larger
/// profile.
#[inline(never)]
fn nested(depth: usize, size: usize, keep: &mut Vec<Vec<u8>>) {
    if depth == 0 {
        keep.push(vec![0u8; size]);
    } else {
        nested(depth - 1, size, keep);
    }
    std::hint::black_box(depth);
}

/// The child: dumps until killed (a no-op in the parent's test run).
#[test]
fn dump_loop_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    heapprof::set_sample_rate(1);
    let mut keep = Vec::new();
    for depth in 0..12 {
        for size in (1..2000).step_by(7) {
            nested(depth, size, &mut keep);
        }
    }
    let _monitor = HeapMonitor::new()
        .interval(Duration::from_millis(1))
        .live_heap_threshold(0)
        .min_dump_interval(Duration::ZERO)
        .max_files(30)
        .profile_dir(&dir)
        .start()
        .expect("start the monitor");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

fn profiles(dir: &Path) -> Vec<String> {
    names(dir).into_iter().filter(|n| n.ends_with(".pb.gz")).collect()
}

#[test]
fn a_process_killed_while_dumping_leaves_no_truncated_profile() {
    if std::env::var_os(CHILD_DIR).is_some() {
        return;
    }
    let dir = common::scratch_dir("monitor-kill");
    let exe = std::env::current_exe().expect("test binary");
    let mut mid_write_kills = 0;
    for round in 0..6u64 {
        let before = profiles(&dir).len();
        let mut child = Command::new(&exe)
            .args(["--exact", "dump_loop_child", "--nocapture"])
            .env(CHILD_DIR, &dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the child");
        let deadline = Instant::now() + Duration::from_secs(60);
        // Three dumps in: the child is in its steady loop.
        while profiles(&dir).len() < (before + 3).min(30) {
            assert!(Instant::now() < deadline, "the child wrote no profile");
            assert!(child.try_wait().unwrap().is_none(), "the child exited");
            std::thread::sleep(Duration::from_millis(2));
        }
        if round % 2 == 0 {
            // Kill while a temporary exists: in the middle of a write.
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && !names(&dir).iter().any(|n| n.contains(".tmp.")) {
                std::hint::spin_loop();
            }
        } else {
            // Kill at varied points of the dump cycle.
            std::thread::sleep(Duration::from_millis(round * 17 % 80));
        }
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        // A temporary left behind: the writer died mid-write (the next child
        // removes it when it starts dumping).
        if names(&dir).iter().any(|n| n.contains(".tmp.")) {
            mid_write_kills += 1;
        }
    }

    let all = names(&dir);
    let temporaries: Vec<&String> = all.iter().filter(|n| n.contains(".tmp.")).collect();
    let finals = profiles(&dir);
    assert!(finals.len() >= 6, "{all:?}");
    for name in &finals {
        assert!(name.starts_with("heap_"), "{name}");
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let profile = heapprof::pprof::decode(&bytes)
            .unwrap_or_else(|e| panic!("{name} ({} bytes) does not decode: {e}", bytes.len()));
        assert!(!profile.sample.is_empty(), "{name}");
    }
    for t in &temporaries {
        assert!(t.starts_with(".heap_") && !t.ends_with(".pb.gz"), "{t}");
    }
    eprintln!("{} profiles decode; {mid_write_kills} of 6 kills landed mid-write", finals.len());
    assert!(mid_write_kills >= 1, "no kill landed during a write");

    // The next monitor removes what dead writers left.
    let monitor = HeapMonitor::new()
        .live_heap_threshold(0)
        .profile_dir(&dir)
        .max_files(None)
        .start_manual()
        .expect("start");
    monitor.tick_now();
    assert_eq!(monitor.counters().files_removed, temporaries.len() as u64);
    monitor.stop();
    assert!(names(&dir).iter().all(|n| !n.contains(".tmp.")));
    let _ = std::fs::remove_dir_all(&dir);
}
