//! The symbolizer's caches are the profiler's memory: taking a profile, which reads
//! the program's symbols and keeps them for the next, leaves the application's live
//! bytes where they were and shows in `Stats::profiler_bytes` instead.

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

#[inline(never)]
fn keep_blocks() -> Vec<Vec<u8>> {
    (0..200).map(|i| std::hint::black_box(vec![7u8; 1000 + i])).collect()
}

fn signed_change(before: u64, after: u64) -> i64 {
    after as i64 - before as i64
}

#[test]
fn the_symbolizers_caches_count_as_the_profilers_memory() {
    heapprof::set_sample_rate(1);
    let kept = keep_blocks();
    let before = heapprof::stats();
    let profile = heapprof::heap_profile();
    let named = profile.function.iter().any(|f| profile.str(f.name).contains("keep_blocks"));
    drop(profile);
    let after = heapprof::stats();
    let live = signed_change(before.live_bytes, after.live_bytes);
    let profiler = signed_change(before.profiler_bytes, after.profiler_bytes);
    eprintln!("live bytes {live:+}, profiler bytes {profiler:+}");
    assert!(named, "the profile names keep_blocks");
    assert!(profiler > 1 << 20, "the symbolizer's caches show in profiler_bytes: {profiler:+}");
    assert!(
        live.abs() < 64 << 10,
        "live bytes moved by {live:+} over a profile (profiler bytes {profiler:+})"
    );
    drop(kept);
}
