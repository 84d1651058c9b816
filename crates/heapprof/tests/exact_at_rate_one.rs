//! At rate 1 every allocation is recorded: per allocation site, the four values of
//! the profile equal what the test allocated and freed, across sizes, reallocs and
//! frees on other threads. And a rate beyond the largest mean the sampler draws with
//! is taken as that mean, which the profile states as its period.

use heapprof::pprof::Profile;

mod common;

/// [alloc_objects, alloc_space, inuse_objects, inuse_space] through `function`.
fn site_totals(p: &Profile, function: &str) -> [i64; 4] {
    [0, 1, 2, 3].map(|i| common::through(p, function, i))
}

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

// Each site only allocates the blocks; the vectors that keep them are made by
// the caller, so they do not count for the site.

#[inline(never)]
fn site_small_blocks(kept: &mut Vec<Vec<u8>>) {
    for i in 0..1000 {
        let block = Vec::<u8>::with_capacity(100);
        if i % 5 < 2 {
            kept.push(block); // 400 kept, 600 freed at once
        }
    }
}

#[inline(never)]
fn site_large_blocks(kept: &mut Vec<Vec<u8>>) {
    for _ in 0..50 {
        kept.push(Vec::<u8>::with_capacity(64 * 1024));
    }
}

#[inline(never)]
fn site_realloc() -> Vec<u8> {
    let mut v = Vec::<u8>::with_capacity(10);
    v.reserve_exact(1000); // realloc 10 -> 1000
    v.shrink_to(500); // realloc 1000 -> 500 (in place or moved)
    v
}

#[inline(never)]
fn site_cross_thread(kept: &mut Vec<Vec<u8>>) {
    for _ in 0..300 {
        kept.push(Vec::<u8>::with_capacity(256));
    }
}

#[test]
fn per_site_values_are_exact_at_rate_one() {
    let mut small = Vec::with_capacity(1000);
    let mut large = Vec::with_capacity(50);
    let mut shared = Vec::with_capacity(300);
    let mut to_free = Vec::with_capacity(200);
    heapprof::set_sample_rate(1);
    site_small_blocks(&mut small);
    site_large_blocks(&mut large);
    let grown = std::hint::black_box(site_realloc());
    site_cross_thread(&mut shared);
    to_free.extend(shared.drain(..200));
    std::thread::spawn(move || drop(to_free)).join().unwrap();

    let p = heapprof::heap_profile();
    // [alloc_objects, alloc_space, inuse_objects, inuse_space]
    assert_eq!(site_totals(&p, "site_small_blocks"), [1000, 100_000, 400, 40_000]);
    assert_eq!(site_totals(&p, "site_large_blocks"), [50, 50 * 65536, 50, 50 * 65536]);
    assert_eq!(site_totals(&p, "site_realloc"), [3, 1510, 1, 500]);
    assert_eq!(site_totals(&p, "site_cross_thread"), [300, 300 * 256, 100, 100 * 256]);
    assert_eq!(heapprof::stats().dropped_samples, 0);
    drop((small, large, grown, shared));

    heapprof::set_sample_rate(u64::MAX);
    assert_eq!(heapprof::sample_rate(), 112 << 20);
    assert_eq!(heapprof::heap_profile().period, 112 << 20);
}
