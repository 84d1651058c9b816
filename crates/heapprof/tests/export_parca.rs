//! The exporter against a receiver implementing Parca's `WriteRaw` through its
//! gRPC gateway (`POST /api/profiles/writeraw`, JSON `WriteRawRequest`): the
//! `__name__` label and the user's labels on the series, a base64 `raw_profile`
//! that decodes as a heap profile, exact `alloc_*` deltas, `inuse_*` snapshots.

mod export_receiver;

use std::time::Duration;

use export_receiver::{Receiver, now_nanos, parca_profile, parca_series, profiler_total, serial, total_in};
use heapprof::export::{Auth, ExporterBuilder};

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

#[inline(never)]
fn parca_site(kept: &mut Vec<Vec<u8>>, n: usize) {
    for _ in 0..n {
        kept.push(Vec::with_capacity(200));
    }
}

#[test]
fn writeraw_series_carry_labels_and_exact_deltas() {
    let _serial = serial();
    heapprof::set_sample_rate(1);
    let dropped = heapprof::stats().dropped_samples;
    let receiver = Receiver::start();
    let exporter = ExporterBuilder::parca(receiver.url())
        .app("ledger")
        .version("0.9")
        .label("region", "eu_west")
        .auth(Auth::Bearer("tok".into()))
        .interval(Duration::from_millis(100))
        .start()
        .expect("start");
    let mut kept = Vec::with_capacity(500);
    let mut freed_later = Vec::with_capacity(700);
    parca_site(&mut kept, 500);
    assert!(receiver.wait_for_profile_after(now_nanos(), parca_profile));
    parca_site(&mut freed_later, 700);
    assert!(receiver.wait_for_profile_after(now_nanos(), parca_profile));
    drop(freed_later);
    let counters = exporter.stop();
    assert_eq!((counters.failed, counters.dropped), (0, 0), "{counters:?}");

    let requests = receiver.requests();
    let (mut alloc_objects, mut alloc_space) = (0, 0);
    let mut inuse = Vec::new();
    for req in &requests {
        assert_eq!(req.headers.get("content-type").map(String::as_str), Some("application/json"));
        assert_eq!(req.headers.get("authorization").map(String::as_str), Some("Bearer tok"));
        let series = parca_series(req);
        assert_eq!(series.len(), 1, "one series holding the whole profile; Parca splits it per sample type");
        let (labels, profiles) = &series[0];
        assert_eq!(labels.get("__name__").map(String::as_str), Some("memory"));
        assert_eq!(labels.get("service_name").map(String::as_str), Some("ledger"));
        assert_eq!(labels.get("version").map(String::as_str), Some("0.9"));
        assert_eq!(labels.get("region").map(String::as_str), Some("eu_west"));
        assert_eq!(labels.get("pid"), Some(&std::process::id().to_string()));
        assert_eq!(profiles.len(), 1);
        let p = &profiles[0];
        assert!(p.time_nanos > 0 && p.duration_nanos > 0);
        alloc_objects += total_in(p, "alloc_objects", "parca_site");
        alloc_space += total_in(p, "alloc_space", "parca_site");
        inuse.push(total_in(p, "inuse_objects", "parca_site"));
    }
    assert_eq!(alloc_objects, profiler_total("alloc_objects", "parca_site"));
    assert_eq!(alloc_space, profiler_total("alloc_space", "parca_site"));
    assert_eq!(inuse.last().copied(), Some(profiler_total("inuse_objects", "parca_site")));
    if heapprof::stats().dropped_samples != dropped {
        eprintln!("note: the profiler dropped samples under contention; checked against its own totals");
        return;
    }
    assert_eq!(alloc_objects, 1200);
    assert_eq!(alloc_space, 1200 * 200);
    // In use: 500 after the first round, 1200 after the second, 500 after the free.
    assert!(inuse.contains(&500) && inuse.contains(&1200), "{inuse:?}");
    assert_eq!(inuse.last().copied(), Some(500), "{inuse:?}");
    drop(kept);
}
