//! Writing profiles where the file system refuses: a read-only directory, a full file
//! system (a 256 KiB tmpfs filled to the brim), a file-size limit (`RLIMIT_FSIZE`,
//! which cuts a write short after part of it landed), and, for the monitor, its
//! directory removed or replaced by a file mid-run. Each gives one clear error naming
//! the file, leaves no partial file under the final name and no temporary behind,
//! keeps the previous profile intact, and the process (and the monitor) go on.
//!
//! The read-only and full cases mount a tmpfs, which needs root (CI runs as root):
//! without it they are skipped with a printed reason, and fail under `CI=true`.
//! Bounded: small files, and the monitor cases wait at most 60 s for each step.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use heapprof::monitor::HeapMonitor;

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

/// The file-size limit is per process: the tests take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` with `options` at a fresh directory; None (skipped,
    /// with the reason printed) when this process may not mount, except under CI.
    fn mount(name: &str, options: &str) -> Option<Tmpfs> {
        let dir = common::scratch_dir(name);
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let mounted = root
            && Command::new("mount")
                .args(["-t", "tmpfs", "-o", options, "heapprof-test", &dir.to_string_lossy()])
                .status()
                .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "cannot mount a tmpfs (root: {root}): the file-system fault tests need it under CI"
            );
            eprintln!("skipped: cannot mount a tmpfs here (root: {root})");
            return None;
        }
        Some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Checks a write error: one line, naming the file and the cause.
fn assert_clear(e: &heapprof::Error, path: &Path, cause: &str) {
    let text = e.to_string();
    assert!(!text.contains('\n'), "one line: {text:?}");
    assert!(text.contains(&path.display().to_string()), "names the file: {text}");
    assert!(text.to_lowercase().contains(cause), "says why ({cause}): {text}");
}

/// Allocations that outlive the profile, so that it is not empty and has a size.
fn some_heap() -> Vec<Vec<u8>> {
    heapprof::set_sample_rate(1);
    (0..300).map(|i| vec![1u8; 64 + i * 13]).collect()
}

#[test]
fn read_only_directory_gives_one_clear_error_and_no_file() {
    let _serial = serial();
    let Some(fs) = Tmpfs::mount("ro", "ro,size=64k") else { return };
    let keep = some_heap();
    let path = fs.0.join("heap.pb.gz");
    let e = heapprof::write_heap_profile(&path).expect_err("a read-only file system refuses the file");
    assert_clear(&e, &path, "read-only");
    assert_eq!(names(&fs.0), Vec::<String>::new(), "nothing left behind");
    // The process goes on: it allocates and profiles as before.
    let more = vec![7u8; 4096];
    assert!(heapprof::stats().live_bytes >= more.len() as u64);
    assert!(!heapprof::heap_profile().sample.is_empty());
    drop(keep);
}

#[test]
fn full_file_system_keeps_the_previous_profile_whole() {
    let _serial = serial();
    let Some(fs) = Tmpfs::mount("full", "size=256k") else { return };
    let keep = some_heap();
    let path = fs.0.join("heap.pb.gz");
    heapprof::write_heap_profile(&path).expect("room for the first profile");
    let first = std::fs::read(&path).expect("read it back");
    // Fill what is left, a page at a time, until the file system says no.
    let filler = fs.0.join("filler");
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&filler).expect("filler");
        while f.write_all(&[0u8; 4096]).is_ok() {}
        let _ = f.write_all(&[0u8; 1]);
    }
    let more: Vec<Vec<u8>> = (0..200).map(|i| vec![2u8; 100 + i]).collect();
    let e = heapprof::write_heap_profile(&path).expect_err("no space left");
    assert_clear(&e, &path, "space");
    assert_eq!(names(&fs.0), ["filler", "heap.pb.gz"], "no temporary left behind");
    assert_eq!(std::fs::read(&path).expect("read"), first, "the previous profile is intact");
    heapprof_profile::decode(&first).expect("and still decodes");
    // Room again: the next write succeeds, in full.
    std::fs::remove_file(&filler).expect("remove the filler");
    if let Err(e) = heapprof::write_heap_profile(&path) {
        panic!("room again, yet: {e}");
    }
    heapprof_profile::decode(&std::fs::read(&path).expect("read")).expect("the new profile decodes");
    drop((keep, more));
}

/// Sets the soft file-size limit of this process, returning the previous one.
fn set_file_size_limit(bytes: libc::rlim_t) -> libc::rlimit {
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid out pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut old) }, 0);
    let new = libc::rlimit { rlim_cur: bytes, rlim_max: old.rlim_max };
    // SAFETY: valid pointer; lowering the soft limit is always allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &new) }, 0);
    old
}

#[test]
fn file_size_limit_cuts_the_write_short_and_leaves_no_partial_file() {
    let _serial = serial();
    let dir = common::scratch_dir("fsize");
    let keep = some_heap();
    let path = dir.join("heap.pb.gz");
    heapprof::write_heap_profile(&path).expect("first profile");
    let first = std::fs::read(&path).expect("read it back");
    assert!(first.len() > 1024, "a profile larger than the limit below: {} bytes", first.len());
    // Past the limit a write fails with EFBIG rather than killing the process.
    // SAFETY: ignoring SIGXFSZ is async-signal-safe and affects only that signal.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let old = set_file_size_limit(1024);
    let result = heapprof::write_heap_profile(&path);
    // SAFETY: restoring the soft limit saved above (at most the hard limit).
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &old) }, 0);
    let e = result.expect_err("the limit cuts the write");
    assert_clear(&e, &path, "too large");
    assert_eq!(names(&dir), ["heap.pb.gz"], "the cut temporary was removed");
    assert_eq!(std::fs::read(&path).expect("read"), first, "the previous profile is intact");
    heapprof::write_heap_profile(&path).expect("without the limit, the write succeeds");
    drop(keep);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits up to 60 s for `done`, polling (a few dumps take well under a second in a
/// release build, seconds in a debug one).
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn start_dumping(dir: &Path, errors: &Arc<Mutex<Vec<String>>>) -> heapprof::monitor::MonitorHandle {
    let errors = errors.clone();
    HeapMonitor::new()
        .interval(Duration::from_millis(10))
        .live_heap_threshold(0)
        .min_dump_interval(Duration::ZERO)
        .max_files(5)
        .profile_dir(dir)
        .on_event(move |e| {
            if let Some(reason) = &e.dump_error {
                errors.lock().unwrap_or_else(|e| e.into_inner()).push(reason.clone());
            }
        })
        .start()
        .expect("start the monitor")
}

/// Every profile in `dir` decodes, and no temporary is left.
fn assert_dir_clean(dir: &Path) {
    for name in names(dir) {
        assert!(name.starts_with("heap_") && name.ends_with(".pb.gz"), "unexpected file {name}");
        heapprof_profile::decode(&std::fs::read(dir.join(&name)).expect("read")).expect("decodes");
    }
}

#[test]
fn monitor_directory_removed_or_replaced_mid_run() {
    let _serial = serial();
    let keep = some_heap();
    let base = common::scratch_dir("monitor-removed");
    let dir = base.join("profiles");
    let errors = Arc::new(Mutex::new(Vec::new()));
    let monitor = start_dumping(&dir, &errors);
    wait_for("two dumps", || monitor.counters().dumps_written >= 2);

    // Removed: the next dump makes the directory again; nothing fails.
    // (A dump written during the removal makes it fail with "not empty": retry.)
    wait_for("the profile directory removed", || std::fs::remove_dir_all(&dir).is_ok());
    let written = monitor.counters().dumps_written;
    wait_for("dumps in the recreated directory", || {
        monitor.counters().dumps_written >= written + 2 && !names(&dir).is_empty()
    });

    // Replaced by a file: each dump fails, is counted, and reported in one line.
    // (Between the removal and the file, a dump may land: retry until a file stands.)
    wait_for("the directory replaced by a file", || {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::write(&dir, b"not a directory").is_ok()
    });
    let failed = monitor.counters().dump_errors;
    wait_for("counted dump errors", || monitor.counters().dump_errors >= failed + 3);
    {
        let errors = errors.lock().unwrap_or_else(|e| e.into_inner());
        let last = errors.last().expect("a reported dump error");
        assert!(!last.contains('\n') && last.contains(&dir.display().to_string()), "{last}");
    }
    assert_eq!(std::fs::read(&dir).expect("the file"), b"not a directory", "the file is untouched");
    let ticks = monitor.counters().ticks;
    wait_for("ticks go on", || monitor.counters().ticks > ticks + 3);

    // Fixed: dumps resume.
    std::fs::remove_file(&dir).expect("remove the file");
    let written = monitor.counters().dumps_written;
    wait_for("dumps resume", || monitor.counters().dumps_written >= written + 2);
    monitor.stop();
    assert_dir_clean(&dir);
    drop(keep);
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn monitor_read_only_directory_counts_errors_and_keeps_running() {
    let _serial = serial();
    let Some(fs) = Tmpfs::mount("monitor-ro", "ro,size=64k") else { return };
    let keep = some_heap();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let monitor = start_dumping(&fs.0, &errors);
    wait_for("counted dump errors", || monitor.counters().dump_errors >= 3);
    let c = monitor.counters();
    assert_eq!(c.dumps_written, 0);
    // The ticks go on, and every failed dump was reported (a tick may try several: the
    // threshold's, a new peak's; the last tick's are delivered before the next one).
    wait_for("ticks go on", || monitor.counters().ticks > c.ticks + 1);
    let reported = errors.lock().unwrap_or_else(|e| e.into_inner()).len() as u64;
    assert!(reported >= c.dump_errors, "{reported} errors reported, {} counted", c.dump_errors);
    let first = errors.lock().unwrap_or_else(|e| e.into_inner()).first().cloned().expect("an error");
    assert!(!first.contains('\n') && first.to_lowercase().contains("read-only"), "{first}");
    monitor.stop();
    assert_eq!(names(&fs.0), Vec::<String>::new());
    drop(keep);
}
