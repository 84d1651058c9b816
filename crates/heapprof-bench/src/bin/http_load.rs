//! The application's allocation throughput while the profile endpoints are under
//! load: 2,000 requests from 8 concurrent clients on loopback, against the same
//! allocation loop with no clients. Prints a Markdown table.
//!
//! ```text
//! cargo run --release -p heapprof-bench --bin http_load [-- --requests 2000 --clients 8]
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use heapprof_bench::runner::Flags;

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

/// Allocates and frees until told to stop; returns allocations made.
fn churn(stop: &AtomicBool, count: &AtomicU64) {
    let mut ring: Vec<Vec<u8>> = (0..1024).map(|_| Vec::new()).collect();
    let mut n = 0u64;
    while !stop.load(Relaxed) {
        for slot in ring.iter_mut() {
            *slot = vec![1u8; 16 + (n as usize * 37) % 8192];
            n += 1;
        }
        count.store(n, Relaxed);
    }
}

/// Allocations per second of one churning thread over `window`, while `during` runs.
fn throughput(
    window: Duration,
    during: impl FnOnce() -> (usize, Vec<Duration>),
) -> (f64, usize, Vec<Duration>) {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let (s, c) = (Arc::clone(&stop), Arc::clone(&count));
    let worker = std::thread::spawn(move || churn(&s, &c));
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    let before = count.load(Relaxed);
    let (failed, latencies) = during();
    let elapsed = start.elapsed().max(window);
    if start.elapsed() < window {
        std::thread::sleep(window - start.elapsed());
    }
    let made = count.load(Relaxed) - before;
    stop.store(true, Relaxed);
    let _ = worker.join();
    (made as f64 / elapsed.as_secs_f64(), failed, latencies)
}

fn main() {
    let flags =
        Flags::from_env("http_load", "[--requests N] [--clients N]", &["--requests", "--clients"], &[]);
    let (requests, clients) = (flags.number("--requests", 2000), flags.number("--clients", 8).max(1));
    let server = heapprof::http::serve("127.0.0.1:0").unwrap_or_else(|e| {
        eprintln!("http_load: {e}");
        std::process::exit(2);
    });
    let base = format!("http://{}/debug/pprof", server.addr());
    // Warm the symbolizer so both phases see the steady state.
    let _ = ureq::get(&format!("{base}/heap")).call();

    let (quiet, _, _) = throughput(Duration::from_secs(3), || (0, vec![]));
    let load_start = Instant::now();
    let (loaded, failed, mut latencies) = throughput(Duration::from_secs(3), || {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let base = base.clone();
                std::thread::spawn(move || {
                    let agent: ureq::Agent =
                        ureq::Agent::config_builder().http_status_as_error(false).build().into();
                    let mut failed = 0;
                    let mut latencies = Vec::new();
                    for k in 0..requests / clients {
                        let route = ["heap", "allocs", "stats", "heap?debug=1"][(i + k) % 4];
                        let t = Instant::now();
                        let ok = agent
                            .get(&format!("{base}/{route}"))
                            .call()
                            .ok()
                            .filter(|r| r.status().as_u16() == 200)
                            .and_then(|mut r| r.body_mut().with_config().limit(1 << 30).read_to_vec().ok())
                            .is_some();
                        latencies.push(t.elapsed());
                        failed += usize::from(!ok);
                    }
                    (failed, latencies)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or((usize::MAX, vec![]))).fold(
            (0, vec![]),
            |(f, mut l), (f2, l2)| {
                l.extend(l2);
                (f + f2, l)
            },
        )
    });
    let load_seconds = load_start.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
    };
    let ms = |d: Option<&Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    println!("| phase | allocations/s (1 thread) | ratio | requests | failed | latency p50 / p99 / max |");
    println!("|---|---|---|---|---|---|");
    println!("| no clients | {quiet:.0} | 1.000 | 0 | 0 | |");
    println!(
        "| {clients} clients, {} requests in {load_seconds:.1} s | {loaded:.0} | {:.3} | {} | {failed} | {:.1} / {:.1} / {:.1} ms |",
        latencies.len(),
        loaded / quiet,
        latencies.len(),
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(latencies.last())
    );
}
