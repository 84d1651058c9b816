//! `?peak=1` serves the heap at its highest as kept by the monitor, and says why
//! when there is none.

use heapprof::http::respond;
use heapprof::monitor::HeapMonitor;

mod common;

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

#[inline(never)]
fn big_then_gone() {
    let v = vec![7u8; 32 << 20];
    std::hint::black_box(&v);
    // The monitor ticks while the 32 MiB are live, then they go.
    MONITOR.with(|m| m.borrow().as_ref().map(|h| h.tick_now()));
}

thread_local! {
    static MONITOR: std::cell::RefCell<Option<heapprof::monitor::MonitorHandle>> = const { std::cell::RefCell::new(None) };
}

#[test]
fn peak_profile_is_served_once_a_monitor_kept_one() {
    let none = respond("/debug/pprof/heap", "peak=1", 10, &std::thread::sleep);
    assert_eq!(none.status, 404);
    assert!(String::from_utf8_lossy(&none.body).contains("HeapMonitor"));

    heapprof::set_sample_rate(64 * 1024);
    let handle = HeapMonitor::new().start_manual().expect("start the monitor");
    MONITOR.with(|m| *m.borrow_mut() = Some(handle));
    big_then_gone();
    let r = respond("/debug/pprof/heap", "peak=1", 10, &std::thread::sleep);
    assert_eq!(r.status, 200);
    assert_eq!(r.headers[0].1, "attachment; filename=\"heap-peak\"");
    let p = heapprof::pprof::decode(&r.body).expect("decodes");
    let inuse: i64 = p.sample.iter().map(|s| s.value[3]).sum();
    assert!(inuse >= 30 << 20, "the peak holds the 32 MiB block: {inuse}");
    assert_eq!(respond("/debug/pprof/heap", "peak=1&seconds=1", 10, &std::thread::sleep).status, 400);
    MONITOR.with(|m| m.borrow_mut().take());
}

#[inline(never)]
fn old_block() -> Vec<u8> {
    vec![1u8; 3 << 20]
}

#[inline(never)]
fn young_block() -> Vec<u8> {
    vec![2u8; 3 << 20]
}

#[test]
fn min_age_keeps_only_what_survived() {
    heapprof::set_sample_rate(1);
    let old = old_block();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let young = young_block();
    let r = respond("/debug/pprof/heap", "min_age=1s", 10, &std::thread::sleep);
    assert_eq!(r.status, 200);
    assert_eq!(r.headers[0].1, "attachment; filename=\"heap-old\"");
    let p = heapprof::pprof::decode(&r.body).expect("decodes");
    assert_eq!(common::through(&p, "old_block", 3), 3 << 20);
    assert_eq!(common::through(&p, "young_block", 3), 0);
    for bad in ["min_age=abc", "min_age=5d", "min_age=10m&seconds=1"] {
        assert_eq!(respond("/debug/pprof/heap", bad, 10, &std::thread::sleep).status, 400, "{bad}");
    }
    drop((old, young));
}
