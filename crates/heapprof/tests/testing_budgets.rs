//! `heapprof::testing`: exact per-thread figures that stay independent when tests
//! run in parallel, and assertions that name what allocated.

use heapprof::testing::{Budget, assert_no_alloc, assert_no_leak, measure};

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

#[inline(never)]
fn allocate_twice(n: usize) -> (Vec<u8>, Vec<u8>) {
    (vec![1u8; n], vec![2u8; 2 * n])
}

#[test]
fn figures_are_exact() {
    let m = measure(|| {
        let (a, b) = allocate_twice(100);
        let mut v = Vec::<u64>::with_capacity(4);
        v.extend([1, 2, 3, 4, 5]); // grows: one realloc 32 -> 64 bytes
        drop(a);
        (b, v)
    });
    assert_eq!(m.allocations, 4, "{}", m.report());
    assert_eq!(m.reallocations, 1);
    assert_eq!(m.bytes_allocated, 100 + 200 + 32 + 64);
    assert_eq!(m.deallocations, 2, "a, and the old block of the realloc");
    assert_eq!(m.bytes_freed, 100 + 32);
    assert_eq!(m.leaked_bytes, 200 + 64, "b and v outlive the closure");
    assert_eq!(m.leaked_blocks, 2);
    assert_eq!(m.peak_live_bytes, 100 + 200 + 64, "a, b and v's grown block at once");
    assert!(m.sites.iter().any(|s| s.stack[0].contains("allocate_twice")), "{:?}", m.sites);
    drop(m.result);
}

#[test]
fn a_block_freed_on_another_thread_is_not_leaked() {
    let m = measure(|| vec![0u8; 4096]);
    assert_eq!(m.leaked_bytes, 4096);
    let m2 = measure(|| std::thread::scope(|s| s.spawn(|| drop(m.result)).join().unwrap()));
    // The thread's own allocations (its start-up) are another thread's: m2 saw none of
    // them; and m's block, freed there, no longer counts as leaked for anyone.
    assert_eq!(m2.leaked_bytes, 0, "{}", m2.report());
}

#[test]
fn parallel_measurements_are_independent() {
    std::thread::scope(|s| {
        for t in 0..8usize {
            s.spawn(move || {
                for round in 0..100 {
                    let size = 64 + t * 1000 + round;
                    let m = measure(|| {
                        let keep = vec![t as u8; size];
                        let tmp = vec![0u8; 3 * size];
                        drop(tmp);
                        keep
                    });
                    assert_eq!(
                        (m.allocations, m.bytes_allocated, m.deallocations, m.bytes_freed),
                        (2, 4 * size as u64, 1, 3 * size as u64),
                        "thread {t} round {round}"
                    );
                    assert_eq!((m.leaked_bytes, m.peak_live_bytes), (size as u64, 4 * size as u64));
                }
            });
        }
    });
}

#[test]
fn exact_whatever_the_sample_rate() {
    for rate in [0, 1, 4096, 512 * 1024] {
        heapprof::set_sample_rate(rate);
        let m = measure(|| allocate_twice(1000));
        assert_eq!((m.allocations, m.bytes_allocated), (2, 3000), "rate {rate}");
    }
    heapprof::set_sample_rate(heapprof::DEFAULT_SAMPLE_RATE);
}

#[test]
fn no_alloc_passes_on_a_reused_buffer() {
    let mut buffer = Vec::with_capacity(1024);
    assert_no_alloc(|| {
        for round in 0..100u32 {
            buffer.clear();
            buffer.extend((0..1024).map(|i| (i + round) as u8));
        }
    });
}

#[test]
#[should_panic(expected = "allocations: 100 (max 0)")]
fn no_alloc_fails_on_a_fresh_buffer_each_time() {
    assert_no_alloc(|| {
        for round in 0..100u8 {
            std::hint::black_box(vec![round; 1024]);
        }
    });
}

#[test]
#[should_panic(expected = "testing_budgets::allocate_twice")]
fn a_failing_budget_names_the_allocating_function() {
    heapprof::assert_allocations!(|| allocate_twice(10_000), max_count = 1, max_bytes = 40 * 1024);
}

#[test]
fn the_failure_message_shows_figures_and_sites() {
    let m = measure(|| allocate_twice(10_000));
    let err = m.check(&Budget { max_allocations: Some(1), ..Budget::default() }).unwrap_err().to_string();
    assert!(err.starts_with("heap budget exceeded: allocations: 2 (max 1)"), "{err}");
    assert!(err.contains("2 allocations (29.3 KiB)"), "{err}");
    assert!(
        err.contains("allocate_twice (testing_budgets.rs:")
            || err.contains("allocate_twice (tests/testing_budgets.rs:"),
        "{err}"
    );
}

#[test]
#[should_panic(expected = "bytes leaked: 64 B (max 0 B)")]
fn a_leak_is_caught() {
    assert_no_leak(|| std::hint::black_box(Box::leak(std::hint::black_box(Box::new([0u8; 64])))).len());
}

#[test]
fn no_leak_passes_when_everything_is_freed() {
    assert_no_leak(|| allocate_twice(500).0.len());
}
