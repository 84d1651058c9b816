//! The age of live blocks (each sampled block remembers when it was made), and
//! large allocations reported from the monitor's thread with their stack, even
//! when freed before the tick. Bounded: one 300 ms pause.

use std::time::Duration;

use heapprof::monitor::{EventKind, HeapMonitor, SiteAges, live_ages, snapshot_older_than};
use heapprof::{HeapSnapshot, StackRecord};

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

const RATE: u64 = 4096;

/// The two tests share the process's tables; run one at a time, so that neither holds
/// a table lock while the other samples (a sample waits only so long for a lock, then
/// is dropped).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[inline(never)]
fn old_site(keep: &mut Vec<Vec<u8>>) {
    for _ in 0..8 {
        keep.push(vec![1u8; 64 * 1024]);
    }
}

#[inline(never)]
fn young_site(keep: &mut Vec<Vec<u8>>) {
    for _ in 0..8 {
        keep.push(vec![2u8; 64 * 1024]);
    }
}

#[inline(never)]
fn big_short_lived() -> usize {
    let block = vec![3u8; 8 << 20];
    std::hint::black_box(&block).len()
}

/// Function names of a stack, as a profile of it shows them.
fn names(frames: &[usize]) -> Vec<String> {
    let one = HeapSnapshot {
        records: vec![StackRecord {
            frames: frames.to_vec(),
            size_class: 1,
            rate: 1,
            allocs: 1,
            alloc_bytes: 1,
            frees: 0,
            free_bytes: 0,
            truncated: false,
        }],
        unix_nanos: 0,
        rate: 1,
    };
    let p = one.to_profile();
    p.location
        .iter()
        .flat_map(|l| &l.line)
        .filter_map(|line| p.function.iter().find(|f| f.id == line.function_id))
        .map(|f| p.str(f.name).to_string())
        .collect()
}

/// The live blocks allocated under `function` (an optimised loop may give
/// each iteration its own call site): (blocks, oldest, youngest, blocks under
/// a second old).
fn blocks_of(sites: &[SiteAges], function: &str) -> (u64, Duration, Duration, u64) {
    let mut out = (0, Duration::ZERO, Duration::MAX, 0);
    for s in sites.iter().filter(|s| names(&s.frames).iter().any(|n| n.ends_with(function))) {
        out.0 += s.blocks;
        out.1 = out.1.max(s.oldest);
        out.2 = out.2.min(s.youngest);
        out.3 += s.histogram[0];
    }
    // At this rate every block is sampled, unless a sample was dropped because a
    // table lock was held too long (counted; it happens on a loaded machine).
    let dropped = heapprof::stats().dropped_samples;
    assert!(out.0 >= 1 && out.0 + dropped >= 8, "{} live blocks under {function}, {dropped} dropped", out.0);
    out
}

#[test]
fn live_blocks_know_their_age() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    heapprof::set_sample_rate(RATE);
    let mut keep = Vec::with_capacity(64);
    old_site(&mut keep);
    std::thread::sleep(Duration::from_millis(500));
    young_site(&mut keep);

    // Both read before the (slow) symbolization below. The margins (250 ms for the
    // young blocks, 500 ms for the old ones to stay under a second) are for a
    // loaded machine's stalls.
    let ages = live_ages();
    let survivors = snapshot_older_than(Duration::from_millis(250));
    let old = blocks_of(&ages.sites, "old_site");
    let young = blocks_of(&ages.sites, "young_site");
    assert!(old.2 >= Duration::from_millis(500), "{old:?}");
    assert!(young.1 < Duration::from_millis(250), "{young:?}");
    // Younger than a second: the first age class.
    assert_eq!(old.3, old.0);

    let profile = survivors.to_profile();
    let inuse = heapprof::pprof::trend::site_values(&profile, 3);
    let held = |f: &str| -> i64 {
        inuse.iter().filter(|(stack, _)| stack.iter().any(|n| n.ends_with(f))).map(|(_, v)| v).sum()
    };
    assert!(held("old_site") >= 8 * 64 * 1024, "{inuse:#?}");
    assert_eq!(held("young_site"), 0);
    drop(keep);
}

#[test]
fn a_large_allocation_is_reported_with_its_stack_even_when_already_freed() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    heapprof::set_sample_rate(RATE);
    let monitor = HeapMonitor::new().large_allocation_threshold(4 << 20).start_manual().expect("start");
    monitor.tick_now();
    let dropped = heapprof::stats().dropped_samples;
    assert_eq!(big_short_lived(), 8 << 20);
    let events = monitor.tick_now();
    let dropped = heapprof::stats().dropped_samples - dropped;
    let large: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LargeAllocation { size, count, stack, .. } => Some((*size, *count, stack, &e.message)),
            _ => None,
        })
        .collect();
    assert_eq!(large.len(), 1, "{dropped} samples dropped meanwhile; events: {events:#?}");
    let (size, count, stack, message) = large[0];
    assert_eq!((size, count), (8 << 20, 1));
    assert!(stack.iter().any(|f| f.ends_with("big_short_lived")), "{stack:#?}");
    assert!(message.contains("8MB") && message.contains("big_short_lived"), "{message}");
    assert_eq!(monitor.counters().large_allocations, 1);
    let later = monitor.tick_now();
    assert!(
        !later.iter().any(|e| matches!(e.kind, EventKind::LargeAllocation { .. })),
        "reported once: {later:#?}"
    );
    monitor.stop();
}
