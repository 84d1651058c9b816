//! The monitor on a real workload: one site leaks steadily, one cache grows
//! then stays flat, one site churns. After a bounded run (60 steps of ~25 ms,
//! ticked by hand after each step) the leak is the top suspect and the only
//! one, `potential_leak` and `new_peak` profiles were written and
//! `go tool pprof` reads them, and retention kept the directory in its limit.

mod common;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use heapprof::monitor::{EventKind, HeapMonitor, MonitorError};

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

const MIB: usize = 1 << 20;
const STEPS: usize = 60;
const MAX_FILES: usize = 4;

#[inline(never)]
fn leak_step(leaked: &mut Vec<Vec<u8>>) {
    leaked.push(vec![1u8; MIB]);
}

#[inline(never)]
fn cache_step(cache: &mut Vec<Vec<u8>>, step: usize) {
    if step < 20 {
        cache.push(vec![2u8; MIB]);
    }
}

#[inline(never)]
fn churn_step(window: &mut VecDeque<Vec<u8>>, step: usize) {
    // Sizes from 256 KiB to 1 MiB, a rolling window of four blocks.
    let size = 256 * 1024 + (step * 7919 % 4) * 256 * 1024;
    window.push_back(vec![3u8; size]);
    if window.len() > 4 {
        window.pop_front();
    }
}

fn stack_has(stack: &[String], name: &str) -> bool {
    stack.iter().any(|f| f.contains(name))
}

fn go_pprof_top(go: &Path, profile: &Path) -> String {
    let out = Command::new(go)
        .args(["tool", "pprof", "-top", "-nodefraction=0"])
        .arg(profile)
        .output()
        .expect("run go tool pprof");
    assert!(
        out.status.success(),
        "go tool pprof -top {}: {}",
        profile.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_leak_is_the_top_suspect_and_the_cache_and_churn_are_not() {
    heapprof::set_sample_rate(4096);
    heapprof::set_sampling_seed(42);
    // Load the symbols of the three sites before the run (the first profile
    // that needs them parses debug info, for a second or more), so that the
    // ticks of the run are evenly spaced.
    {
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), VecDeque::new());
        leak_step(&mut a);
        cache_step(&mut b, 0);
        churn_step(&mut c, 0);
        let _ = heapprof::heap_profile();
    }

    let dir = common::scratch_dir("monitor-leak");
    let profiles = dir.join("profiles");
    let kept = dir.join("kept");
    std::fs::create_dir_all(&kept).unwrap();
    let monitor = HeapMonitor::new()
        .profile_dir(&profiles)
        .warmup(Duration::ZERO)
        .min_dump_interval(Duration::from_millis(300))
        .max_files(MAX_FILES)
        .start_manual()
        .expect("start the monitor");
    assert!(matches!(HeapMonitor::new().start(), Err(MonitorError::AlreadyRunning)));

    let mut leaked = Vec::with_capacity(STEPS);
    let mut cache = Vec::with_capacity(STEPS);
    let mut window = VecDeque::with_capacity(8);
    let mut written: Vec<(&'static str, PathBuf)> = Vec::new();
    let mut leak_events = Vec::new();
    let run = std::time::Instant::now();
    for step in 0..STEPS {
        leak_step(&mut leaked);
        cache_step(&mut cache, step);
        churn_step(&mut window, step);
        std::thread::sleep(Duration::from_millis(25));
        for event in monitor.tick_now() {
            if let Some(path) = &event.profile {
                // Copied now: retention may remove it later.
                let copy = kept.join(path.file_name().unwrap());
                std::fs::copy(path, &copy).unwrap();
                written.push((event.kind.reason(), copy));
            }
            if let EventKind::PotentialLeak { suspects, .. } = &event.kind {
                leak_events.push(suspects.clone());
            }
        }
        let files = std::fs::read_dir(&profiles).map_or(0, |d| d.count());
        assert!(files <= MAX_FILES, "{files} files after step {step}");
    }

    let suspects = monitor.suspects();
    let described: Vec<String> = suspects
        .iter()
        .map(|s| format!("{:.0} B/s conf {:.2}: {:?}", s.trend.slope, s.trend.confidence, s.stack))
        .collect();
    assert!(!suspects.is_empty(), "no suspect");
    assert!(stack_has(&suspects[0].stack, "leak_step"), "{described:#?}");
    assert!(suspects[0].trend.confidence > 0.5, "{described:#?}");
    for s in &suspects {
        for innocent in ["cache_step", "churn_step"] {
            assert!(!stack_has(&s.stack, innocent), "{innocent} suspected: {described:#?}");
        }
    }
    // The slope is about 1 MiB per step (per second of the run, as measured: a step
    // is 25 ms and a tick, longer on a loaded machine).
    let per_step = suspects[0].trend.slope * run.elapsed().as_secs_f64() / STEPS as f64;
    assert!(per_step > 0.2 * MIB as f64, "{described:#?}");

    // While the cache fills (the first 20 steps) it cannot be told from a
    // leak; once it has been flat for a while, it is no longer suspected.
    let last_event = leak_events.last().expect("a potential_leak event");
    assert!(!last_event.is_empty() && stack_has(&last_event[0].stack, "leak_step"), "{last_event:#?}");
    assert!(last_event.iter().all(|s| !stack_has(&s.stack, "cache_step")), "{last_event:#?}");
    let (series, assessment) = monitor.leak_assessment().expect("an assessment");
    assert!(assessment.potential_leak, "{}", assessment.summary);
    assert!(series.classification.is_growing());

    let counters = monitor.counters();
    assert_eq!(counters.ticks, STEPS as u64);
    assert_eq!(counters.dump_errors, 0);
    assert!(counters.files_removed > 0, "retention never acted: {counters:?}");
    assert!(counters.suppressed_events > 0, "no rate limiting: {counters:?}");
    assert_eq!(monitor.history().len(), STEPS);

    let peak = heapprof::monitor::peak_snapshot().expect("a peak was kept");
    let last = monitor.history().last().unwrap().live_bytes;
    assert!(peak.live_bytes >= last - last / 20, "peak {} last {last}", peak.live_bytes);
    assert!(heapprof::monitor::peak_profile().is_some());
    monitor.stop();

    for reason in ["potential_leak", "new_peak"] {
        assert!(written.iter().any(|(r, _)| *r == reason), "no {reason} profile among {written:?}");
    }
    for (reason, path) in &written {
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(name.starts_with(&format!("heap_{reason}_")) && name.ends_with("Z.pb.gz"), "{name}");
        let bytes = std::fs::read(path).unwrap();
        let profile = heapprof::pprof::decode(&bytes).expect("decodes");
        assert!(!profile.sample.is_empty());
    }
    let Some(go) = common::require_tool("go") else {
        return;
    };
    for reason in ["potential_leak", "new_peak"] {
        let (_, path) = written.iter().find(|(r, _)| *r == reason).unwrap();
        let top = go_pprof_top(&go, path);
        assert!(top.contains("leak_step"), "{reason}: go tool pprof -top:\n{top}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
