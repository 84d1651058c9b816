//! Faults on the receiver's side never reach the application: with the receiver
//! down at start, going down mid-run, answering 500 or 429, or answering past
//! the timeout, a fixed allocation workload still finishes (in a loose time
//! bound, stated below), the queue stays within its bound with the overflow
//! counted as dropped, nothing panics, and pushes resume once the receiver is back.

mod export_receiver;

use std::time::{Duration, Instant};

use export_receiver::{Mode, Receiver, free_port};
use heapprof::export::{Counters, Exporter, ExporterBuilder};

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

const BOUND: usize = 2;

fn exporter(url: String, timeout: Duration) -> Exporter {
    ExporterBuilder::pyroscope(url)
        .app("faulty")
        .interval(Duration::from_millis(30))
        .timeout(timeout)
        .queue_bound(BOUND)
        .max_attempts(3)
        .backoff(Duration::from_millis(60), Duration::from_millis(200))
        .start()
        .expect("start")
}

/// A fixed amount of allocation work; returns how long it took. The bound the
/// tests put on it is loose (seconds, for milliseconds of work): it only shows
/// that the application never waits for the server.
#[inline(never)]
fn workload() -> Duration {
    let start = Instant::now();
    let mut keep: Vec<Vec<u8>> = Vec::new();
    for i in 0..200_000usize {
        let v = vec![i as u8; 16 + i % 512];
        if i % 100 == 0 {
            keep.push(v);
        }
    }
    std::hint::black_box(&keep);
    start.elapsed()
}

/// Runs the workload while the exporter runs, checking the queue bound meanwhile.
fn work_while_exporting(e: &Exporter, runs: usize) {
    for _ in 0..runs {
        let took = workload();
        assert!(took < Duration::from_secs(20), "the workload took {took:?}");
        assert!(e.counters().queued <= BOUND as u64, "{:?}", e.counters());
    }
}

fn wait_until(e: &Exporter, what: &str, cond: impl Fn(&Counters) -> bool) {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if cond(&e.counters()) {
            return;
        }
        assert!(e.counters().queued <= BOUND as u64);
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{what}: {:?}", e.counters());
}

#[test]
fn receiver_down_at_start_then_up() {
    let port = free_port();
    let e = exporter(format!("http://127.0.0.1:{port}"), Duration::from_millis(500));
    work_while_exporting(&e, 3);
    wait_until(&e, "failures and drops while down", |c| c.failed > 0 && c.dropped > 0 && c.retried > 0);
    assert_eq!(e.counters().sent, 0);
    let receiver = Receiver::start_on(port);
    wait_until(&e, "pushes resume", |c| c.sent >= 2);
    work_while_exporting(&e, 1);
    let c = e.stop();
    assert!(receiver.requests().len() as u64 >= c.sent);
}

#[test]
fn receiver_going_down_mid_run_and_back() {
    let mut receiver = Receiver::start();
    let e = exporter(receiver.url(), Duration::from_millis(500));
    wait_until(&e, "first pushes", |c| c.sent >= 2);
    receiver.go_down();
    let failed = e.counters().failed;
    work_while_exporting(&e, 3);
    wait_until(&e, "failures while down", |c| c.failed > failed && c.dropped > 0);
    receiver.listen();
    let sent = e.counters().sent;
    wait_until(&e, "pushes resume", |c| c.sent >= sent + 2);
    e.stop();
}

#[test]
fn receiver_answering_500_then_429_then_200() {
    let receiver = Receiver::start();
    receiver.set_mode(Mode::Status(500));
    let e = exporter(receiver.url(), Duration::from_millis(500));
    work_while_exporting(&e, 2);
    wait_until(&e, "500 is retried then failed", |c| c.retried > 0 && c.failed > 0);
    receiver.set_mode(Mode::Status(429));
    let (retried, failed) = (e.counters().retried, e.counters().failed);
    wait_until(&e, "429 is retried then failed", |c| c.retried > retried && c.failed > failed);
    assert_eq!(e.counters().sent, 0);
    receiver.set_mode(Mode::Ok);
    wait_until(&e, "pushes resume", |c| c.sent >= 2);
    e.stop();
}

#[test]
fn receiver_answering_past_the_timeout() {
    let receiver = Receiver::start();
    receiver.set_mode(Mode::Delay(Duration::from_secs(3)));
    let e = exporter(receiver.url(), Duration::from_millis(200));
    work_while_exporting(&e, 3);
    wait_until(&e, "timeouts fail and the queue overflows", |c| c.failed > 0 && c.dropped > 0);
    assert_eq!(e.counters().sent, 0);
    receiver.set_mode(Mode::Ok);
    wait_until(&e, "pushes resume", |c| c.sent >= 2);
    let stopping = Instant::now();
    e.stop();
    assert!(stopping.elapsed() < Duration::from_secs(10), "stop took {:?}", stopping.elapsed());
}

#[test]
fn a_4xx_other_than_429_is_not_retried() {
    let receiver = Receiver::start();
    receiver.set_mode(Mode::Status(400));
    // A long timeout: a timed-out request would be retried, and timeouts are not
    // what this test is about.
    let e = exporter(receiver.url(), Duration::from_secs(10));
    wait_until(&e, "400 fails at once", |c| c.failed >= 2);
    let c = e.stop();
    assert_eq!(c.retried, 0, "{c:?}");
    assert_eq!(receiver.requests().len() as u64, c.failed, "one attempt per profile");
}

#[test]
fn retry_after_is_honoured_within_the_longest_backoff() {
    let receiver = Receiver::start();
    receiver.set_mode(Mode::RetryAfter(1));
    let e = ExporterBuilder::pyroscope(receiver.url())
        .app("polite")
        .interval(Duration::from_millis(30))
        .queue_bound(BOUND)
        .max_attempts(2)
        .backoff(Duration::from_millis(10), Duration::from_secs(5))
        .start()
        .expect("start");
    wait_until(&e, "429 retried after the server's delay", |c| c.retried >= 2 && c.failed >= 2);
    let c = e.stop();
    let at: Vec<Instant> = receiver.requests().iter().map(|r| r.at).collect();
    let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    // Each retry waits for Retry-After (1 s) rather than the 10 ms backoff.
    let long = gaps.iter().filter(|g| **g >= Duration::from_millis(900)).count();
    assert!(long as u64 >= c.retried.min(gaps.len() as u64) - 1, "{gaps:?} {c:?}");
}
