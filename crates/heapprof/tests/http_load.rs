//! Load that bounds itself: 8 clients × 25 requests of every route while a thread
//! allocates at full speed; every request gets its answer. (The throughput figures
//! are in BENCHMARKS.md, from `heapprof-bench`'s `http_load`.)

use heapprof::http::{Options, serve_with};

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

fn status(url: &str) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent.get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let _ = r.body_mut().with_config().limit(1 << 30).read_to_vec();
    r.status().as_u16()
}

#[test]
fn concurrent_clients_all_get_answers_while_the_application_allocates() {
    // Bounded: 8 clients × 25 requests, with 4 workers and the default queue.
    let server = serve_with("127.0.0.1:0", Options::default()).expect("serve");
    let base = format!("http://{}/debug/pprof", server.addr());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn_stop = std::sync::Arc::clone(&stop);
    let churn = std::thread::spawn(move || {
        let mut n = 0u64;
        while !churn_stop.load(std::sync::atomic::Ordering::Relaxed) {
            std::hint::black_box(vec![0u8; 64 + (n % 4096) as usize]);
            n += 1;
        }
        n
    });
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let base = base.clone();
            std::thread::spawn(move || {
                let route = ["heap", "allocs", "stats", "heap?debug=1"][i % 4];
                (0..25).filter(|_| status(&format!("{base}/{route}")) != 200).count()
            })
        })
        .collect();
    let failed: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(churn.join().unwrap() > 0);
    assert_eq!(failed, 0, "requests that did not get 200");
}
