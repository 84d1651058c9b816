//! `?peak=1` serves the heap at its highest as kept by the monitor, and says why
//! when there is none.

use heapprof::http::respond;
use heapprof::monitor::HeapMonitor;

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
