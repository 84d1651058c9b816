//! The exporter against a receiver implementing Pyroscope's `/ingest`: path,
//! query (`name=app{labels}`, `from`, `until`, `format`), headers (tenant,
//! auth), bodies that decode as heap profiles, `alloc_*` deltas that add up to
//! exactly what was allocated (rate 1), and `inuse_*` as snapshots.

mod export_receiver;

use std::time::Duration;

use base64::Engine as _;
use export_receiver::{Receiver, now_nanos, profiler_total, pyroscope_profile, serial, total_in};
use heapprof::export::{Auth, ExporterBuilder, PyroscopeBody};

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

const ROUNDS: usize = 3;
const BLOCKS: usize = 1000;
const SIZE: usize = 100;

#[inline(never)]
fn pyroscope_raw_site(kept: &mut Vec<Vec<u8>>) {
    // Distinct bodies: identical functions would be merged in release builds.
    std::hint::black_box(1u32);
    for _ in 0..BLOCKS {
        kept.push(Vec::with_capacity(SIZE));
    }
}

#[inline(never)]
fn pyroscope_multipart_site(kept: &mut Vec<Vec<u8>>) {
    std::hint::black_box(2u32);
    for _ in 0..BLOCKS {
        kept.push(Vec::with_capacity(SIZE));
    }
}

/// Allocates `ROUNDS` times, each time waiting for a profile taken after the
/// round, so that every round is seen whole by some push.
fn run_rounds(receiver: &Receiver, site: fn(&mut Vec<Vec<u8>>)) -> Vec<Vec<u8>> {
    let mut kept = Vec::with_capacity(ROUNDS * BLOCKS);
    for _ in 0..ROUNDS {
        site(&mut kept);
        assert!(receiver.wait_for_profile_after(now_nanos(), pyroscope_profile), "no push arrived");
    }
    kept
}

#[test]
fn raw_pushes_carry_labels_auth_and_exact_deltas() {
    let _serial = serial();
    heapprof::set_sample_rate(1);
    let dropped = heapprof::stats().dropped_samples;
    let receiver = Receiver::start();
    let exporter = ExporterBuilder::pyroscope(receiver.url() + "/")
        .app("shop.api")
        .version("1.2.3")
        .label("env", "test")
        .org_id("tenant-7")
        .auth(Auth::Basic { user: "u".into(), password: "p w".into() })
        .interval(Duration::from_millis(100))
        .start()
        .expect("start");
    let kept = run_rounds(&receiver, pyroscope_raw_site);
    let counters = exporter.stop();
    let requests = receiver.requests();
    assert!(requests.len() > ROUNDS);
    assert_eq!(counters.sent as usize, requests.len(), "{counters:?}");
    assert_eq!((counters.failed, counters.dropped, counters.queued), (0, 0, 0));

    let pid = std::process::id();
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("u:p w"));
    let (mut alloc_space, mut alloc_objects, mut last_until) = (0, 0, 0u64);
    let mut inuse_seen = Vec::new();
    for req in &requests {
        let name = &req.query["name"];
        assert!(name.starts_with("shop.api{") && name.ends_with('}'), "{name}");
        for label in ["service_name=shop.api", "env=test", "version=1.2.3", &format!("pid={pid}")] {
            assert!(name.contains(label), "{label} missing from {name}");
        }
        assert!(name.contains("host="), "{name}");
        let from: u64 = req.query["from"].parse().unwrap();
        let until: u64 = req.query["until"].parse().unwrap();
        assert!(from <= until && from >= last_until.saturating_sub(1), "{from}..{until} after {last_until}");
        last_until = until;
        assert_eq!(req.headers.get("x-scope-orgid").map(String::as_str), Some("tenant-7"));
        assert_eq!(req.headers.get("authorization"), Some(&basic));
        assert_eq!(req.headers.get("content-type").map(String::as_str), Some("application/octet-stream"));

        let p = pyroscope_profile(req);
        let types: Vec<&str> =
            p.sample_type.iter().map(|t| p.string_table[t.r#type as usize].as_str()).collect();
        assert_eq!(types, ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"]);
        assert_eq!(p.period, 1);
        alloc_space += total_in(&p, "alloc_space", "pyroscope_raw_site");
        alloc_objects += total_in(&p, "alloc_objects", "pyroscope_raw_site");
        inuse_seen.push(total_in(&p, "inuse_space", "pyroscope_raw_site"));
        // Nothing is freed here: live bytes now are all the bytes allocated so far,
        // so a snapshot equals the running sum of the deltas (a delta would not).
        assert_eq!(inuse_seen.last().copied(), Some(alloc_space), "inuse_space is a snapshot");
    }
    // Deltas: over all pushes, what the profiler counted since the start, to the byte.
    assert_eq!(alloc_space, profiler_total("alloc_space", "pyroscope_raw_site"));
    assert_eq!(alloc_objects, profiler_total("alloc_objects", "pyroscope_raw_site"));
    // Snapshots: the last push shows what is live now.
    assert_eq!(inuse_seen.last().copied(), Some(profiler_total("inuse_space", "pyroscope_raw_site")));
    assert!(inuse_seen.windows(2).all(|w| w[0] <= w[1]), "{inuse_seen:?}");
    if heapprof::stats().dropped_samples != dropped {
        eprintln!("note: the profiler dropped samples under contention; checked against its own totals");
        return;
    }
    // And at rate 1 with nothing dropped, exactly what was allocated, round by round.
    assert_eq!(alloc_space, (ROUNDS * BLOCKS * SIZE) as i64);
    assert_eq!(alloc_objects, (ROUNDS * BLOCKS) as i64);
    let round = (BLOCKS * SIZE) as i64;
    assert_eq!(inuse_seen.last().copied(), Some(ROUNDS as i64 * round));
    assert!(inuse_seen.contains(&round) && inuse_seen.contains(&(2 * round)), "{inuse_seen:?}");
    drop(kept);
}

#[test]
fn multipart_pushes_with_bearer_token() {
    let _serial = serial();
    heapprof::set_sample_rate(1);
    let dropped = heapprof::stats().dropped_samples;
    let receiver = Receiver::start();
    let exporter = ExporterBuilder::pyroscope(receiver.url())
        .app("batch")
        .process_labels(false)
        .auth(Auth::Bearer("s3cret".into()))
        .pyroscope_body(PyroscopeBody::Multipart)
        .interval(Duration::from_millis(100))
        .start()
        .expect("start");
    let kept = run_rounds(&receiver, pyroscope_multipart_site);
    exporter.stop();
    let mut alloc_space = 0;
    for req in receiver.requests() {
        assert_eq!(req.query["name"], "batch{service_name=batch}");
        assert!(!req.query.contains_key("format"), "multipart goes without format, as Pyroscope's Go client");
        assert_eq!(req.headers.get("authorization").map(String::as_str), Some("Bearer s3cret"));
        assert!(!req.headers.contains_key("x-scope-orgid"));
        alloc_space += total_in(&pyroscope_profile(&req), "alloc_space", "pyroscope_multipart_site");
    }
    assert_eq!(alloc_space, profiler_total("alloc_space", "pyroscope_multipart_site"));
    if heapprof::stats().dropped_samples == dropped {
        assert_eq!(alloc_space, (ROUNDS * BLOCKS * SIZE) as i64);
    }
    drop(kept);
}

#[test]
fn bad_settings_are_refused_before_start() {
    use heapprof::export::ExportError;
    let err = |b: ExporterBuilder| b.start().expect_err("refused");
    assert!(matches!(err(ExporterBuilder::pyroscope("localhost:4040").app("a")), ExportError::Url(_)));
    assert!(matches!(err(ExporterBuilder::pyroscope("http://h")), ExportError::LabelValue { .. }));
    let bad_label = ExporterBuilder::pyroscope("http://h").app("a").label("a-b", "x");
    assert!(matches!(err(bad_label), ExportError::LabelName(_)));
    let bad_value = ExporterBuilder::pyroscope("http://h").app("a").label("k", "x}y");
    assert!(matches!(err(bad_value), ExportError::LabelValue { .. }));
    assert!(matches!(
        err(ExporterBuilder::pyroscope("http://h").app("a").queue_bound(0)),
        ExportError::Setting(_)
    ));
}

#[inline(never)]
fn pyroscope_trigger_site(kept: &mut Vec<Vec<u8>>) {
    std::hint::black_box(3u32);
    for _ in 0..BLOCKS {
        kept.push(Vec::with_capacity(SIZE));
    }
}

#[test]
fn a_trigger_pushes_before_the_interval() {
    let _serial = serial();
    heapprof::set_sample_rate(1);
    let dropped = heapprof::stats().dropped_samples;
    let receiver = Receiver::start();
    let exporter = ExporterBuilder::pyroscope(receiver.url())
        .app("triggered")
        .interval(Duration::from_secs(3600))
        .start()
        .expect("start");
    let trigger = exporter.trigger();
    let mut kept = Vec::with_capacity(2 * BLOCKS);
    pyroscope_trigger_site(&mut kept);
    trigger.push_now();
    assert!(receiver.wait_for(1, Duration::from_secs(30)), "no push after push_now");
    pyroscope_trigger_site(&mut kept);
    trigger.clone().push_now();
    assert!(receiver.wait_for(2, Duration::from_secs(30)), "no second push");
    exporter.stop();
    trigger.push_now(); // after stop: nothing, no panic
    let profiles: Vec<_> = receiver.requests().iter().map(pyroscope_profile).collect();
    assert_eq!(profiles.len(), 3, "two triggered pushes and the last one on stop");
    let alloc: Vec<i64> =
        profiles.iter().map(|p| total_in(p, "alloc_space", "pyroscope_trigger_site")).collect();
    let inuse: Vec<i64> =
        profiles.iter().map(|p| total_in(p, "inuse_space", "pyroscope_trigger_site")).collect();
    assert_eq!(alloc.iter().sum::<i64>(), profiler_total("alloc_space", "pyroscope_trigger_site"));
    assert_eq!(alloc[2], 0, "nothing allocated after the second trigger");
    assert_eq!(inuse[1], inuse[2]);
    if heapprof::stats().dropped_samples == dropped {
        let round = (BLOCKS * SIZE) as i64;
        assert_eq!(alloc, [round, round, 0]);
        assert_eq!(inuse, [round, 2 * round, 2 * round]);
    }
    drop(kept);
}
