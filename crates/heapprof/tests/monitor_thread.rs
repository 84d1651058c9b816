//! The monitor's thread: it ticks until stopped, stop joins it, dropping the
//! handle stops it, a second monitor is refused while one runs; an unwritable
//! profile directory gives one logged error, counted, and the monitor goes on.
//! Bounded in time: each test runs its monitor for well under a second.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use heapprof::monitor::{HeapMonitor, MonitorError};

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

/// One monitor per process: the tests of this file take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records what the monitor logs.
struct Recorder;

static LOGGED: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

impl log::Log for Recorder {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target().starts_with("heapprof")
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let mut logged = LOGGED.lock().unwrap_or_else(|e| e.into_inner());
            logged.push((r.level(), r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

static RECORDER: Recorder = Recorder;

fn logged(level: log::Level, containing: &str) -> usize {
    let logged = LOGGED.lock().unwrap_or_else(|e| e.into_inner());
    logged.iter().filter(|(l, m)| *l == level && m.contains(containing)).count()
}

/// Waits until `done` holds, for at most 60 s (a debug build symbolizes a first dump
/// for seconds on a loaded machine).
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_thread_ticks_until_stopped_and_only_one_monitor_runs() {
    let _turn = serial();
    let events = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&events);
    let monitor = HeapMonitor::new()
        .interval(Duration::from_millis(10))
        .live_heap_threshold(0)
        .min_dump_interval(Duration::ZERO)
        .on_event(move |_| {
            seen.fetch_add(1, Ordering::Relaxed);
        })
        .start()
        .expect("start");
    assert!(matches!(HeapMonitor::new().start(), Err(MonitorError::AlreadyRunning)));
    assert!(matches!(HeapMonitor::new().start_manual(), Err(MonitorError::AlreadyRunning)));
    wait_for("five ticks", || monitor.history().len() >= 5);
    assert!(events.load(Ordering::Relaxed) >= 4, "one threshold event per tick");
    let ticks = monitor.history();
    assert!(ticks.windows(2).all(|w| w[0].elapsed < w[1].elapsed));
    assert!(ticks.iter().all(|t| t.live_bytes > 0 && t.rss_bytes > 0 && t.threads >= 2));

    monitor.stop();
    let after_stop = events.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(events.load(Ordering::Relaxed), after_stop, "ticks after stop");

    // Stopped, a monitor may start again; dropping its handle stops it too.
    let again = HeapMonitor::new().interval(Duration::from_millis(10)).start().expect("start after stop");
    wait_for("a tick", || !again.history().is_empty());
    drop(again);
    HeapMonitor::new().start().expect("start after drop").stop();
}

#[test]
fn an_unwritable_directory_is_one_logged_error_and_the_monitor_goes_on() {
    let _turn = serial();
    let _ = log::set_logger(&RECORDER);
    log::set_max_level(log::LevelFilter::Debug);
    let dir = common::scratch_dir("monitor-unwritable");
    // A directory below a regular file cannot be made, even by root.
    let blocker = dir.join("profiles");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let profiles = blocker.join("heap");

    let monitor = HeapMonitor::new()
        .interval(Duration::from_millis(10))
        .live_heap_threshold(0)
        .min_dump_interval(Duration::ZERO)
        .profile_dir(&profiles)
        .start()
        .expect("start");
    wait_for("three failed dumps", || monitor.counters().dump_errors >= 3);
    let c = monitor.counters();
    assert_eq!(c.dumps_written, 0);
    assert_eq!(
        logged(log::Level::Error, "cannot create profile directory"),
        1,
        "{:?}",
        LOGGED.lock().unwrap()
    );
    assert!(logged(log::Level::Debug, "cannot create profile directory") >= 2);

    // Once the directory can be made, profiles are written again.
    std::fs::remove_file(&blocker).unwrap();
    wait_for("a written profile", || monitor.counters().dumps_written >= 1);
    let ticks = monitor.counters().ticks;
    wait_for("more ticks", || monitor.counters().ticks > ticks + 2);
    monitor.stop();
    assert_eq!(logged(log::Level::Info, "written again"), 1);
    assert_eq!(logged(log::Level::Error, "cannot create profile directory"), 1);
    let written = std::fs::read_dir(&profiles).unwrap().count();
    assert!((1..=20).contains(&written), "{written} files: retention keeps 20");
    let _ = std::fs::remove_dir_all(&dir);
}
