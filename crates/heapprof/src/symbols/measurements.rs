//! Measurements, not pass/fail tests of speed: run them alone, in release, so that the heap
//! figures are this symbolizer's only:
//!
//! ```text
//! cargo test -p heapprof --release --lib symbols::measurements -- --ignored --nocapture --test-threads=1
//! ```
//!
//! `memory_estimate_tracks_the_heap` is also how the `cost` constants in `debug_info.rs`
//! were calibrated: it compares `memory_bytes()` with glibc's own count of bytes in use.

use std::time::{Duration, Instant};

use object::{Object, ObjectSymbol, SymbolKind};

use super::Symbolizer;

/// Heap bytes in use according to glibc (all arenas, including mmapped chunks).
fn heap_in_use() -> usize {
    // SAFETY: `mallinfo2` only reads allocator statistics.
    let info = unsafe { libc::mallinfo2() };
    info.uordblks + info.hblkhd
}

/// Up to `n` distinct call addresses inside functions of this test binary, spread over
/// the whole text (the worst case: every compilation unit gets parsed).
fn addresses_in_this_binary(n: usize) -> Vec<u64> {
    let mut symbolizer = Symbolizer::new(usize::MAX);
    let marker = addresses_in_this_binary as usize as u64;
    let index = symbolizer.module_of(marker).unwrap();
    let module = symbolizer.modules()[index].clone();
    let bytes = std::fs::read(&module.path).unwrap();
    let object = object::File::parse(&*bytes).unwrap();
    let mut functions: Vec<(u64, u64)> = object
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() >= 8)
        .map(|s| (s.address(), s.size()))
        .collect();
    functions.sort();
    functions.dedup_by_key(|f| f.0);
    let bias = module.bias.unwrap();
    // Several addresses per function when there are fewer functions than wanted.
    let per_function = n.div_ceil(functions.len()).max(1) as u64;
    let step = (functions.len() * per_function as usize / n).max(1);
    let mut addrs: Vec<u64> = functions
        .iter()
        .flat_map(|&(addr, size)| (1..=per_function).map(move |k| addr + bias + size * k / (per_function + 1)))
        .step_by(step)
        .collect();
    addrs.sort();
    addrs.dedup();
    addrs.truncate(n);
    addrs
}

struct Pass {
    time: Duration,
    peak_heap: usize,
}

/// Resolves every address, sampling the heap every 64 lookups for its peak.
fn pass(symbolizer: &mut Symbolizer, addrs: &[u64], heap_before: usize) -> Pass {
    let start = Instant::now();
    let mut peak = 0;
    for (i, &addr) in addrs.iter().enumerate() {
        std::hint::black_box(symbolizer.resolve(addr));
        if i % 64 == 0 {
            peak = peak.max(heap_in_use().saturating_sub(heap_before));
        }
    }
    let time = start.elapsed();
    Pass { time, peak_heap: peak.max(heap_in_use().saturating_sub(heap_before)) }
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

#[test]
#[ignore = "a measurement: run alone, see the module documentation"]
fn memory_estimate_tracks_the_heap() {
    for n in [1_000, 10_000] {
        let addrs = addresses_in_this_binary(n);
        let before = heap_in_use();
        let mut symbolizer = Symbolizer::new(usize::MAX);
        let cold = pass(&mut symbolizer, &addrs, before);
        let held = heap_in_use().saturating_sub(before);
        let estimate = symbolizer.memory_bytes();
        let ratio = estimate as f64 / held as f64;
        println!(
            "{n} addresses: estimate {} for {} held on the heap (ratio {ratio:.2}), peak {}",
            mib(estimate),
            mib(held),
            mib(cold.peak_heap)
        );
        assert!((0.5..2.0).contains(&ratio), "the estimate is off by more than 2x: {ratio:.2}");
        drop(symbolizer);
    }
}

#[test]
#[ignore = "a measurement: run alone, see the module documentation"]
fn figures_for_1k_and_10k_addresses() {
    for n in [1_000, 10_000] {
        let addrs = addresses_in_this_binary(n);
        let resolved = |s: &mut Symbolizer| addrs.iter().filter(|&&a| !s.resolve(a).is_empty()).count();
        let before = heap_in_use();
        let rss_before = rss();
        let mut symbolizer = Symbolizer::new(usize::MAX);
        let cold = pass(&mut symbolizer, &addrs, before);
        let rss_cold = rss();
        let estimate = symbolizer.memory_bytes();
        let warm = pass(&mut symbolizer, &addrs, before);
        let hits = symbolizer.stats().cache_hits;
        assert_eq!(hits, addrs.len() as u64);
        println!(
            "{} addresses ({} resolved): cold {:?} (peak heap {}, RSS +{}), warm {:?} ({:.0}x faster, {} cache hits), memory_bytes {}",
            addrs.len(),
            resolved(&mut symbolizer),
            cold.time,
            mib(cold.peak_heap),
            mib(rss_cold.saturating_sub(rss_before)),
            warm.time,
            cold.time.as_secs_f64() / warm.time.as_secs_f64(),
            hits,
            mib(estimate),
        );
        // Contexts kept, results dropped: the cost of a profile with new stacks.
        symbolizer.set_memory_budget(symbolizer.memory_bytes() - 1);
        symbolizer.resolve(addrs[0] + 1);
        let reparse = pass(&mut symbolizer, &addrs, before);
        println!("    results dropped, contexts kept: {:?}", reparse.time);
        symbolizer.set_memory_budget(8 << 20);
        symbolizer.trim_to_budget();
        println!("    after trim_to_budget(8 MiB): memory_bytes {}", mib(symbolizer.memory_bytes()));
    }
}

/// Resident set size, from `/proc/self/statm` (includes the mapped debug info pages).
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

#[test]
#[ignore]
fn zz_calibrate() {
    use super::debug_info::DebugInfo;
    let exe = std::env::current_exe().unwrap();
    for path in [exe.to_str().unwrap(), "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6"] {
        let Ok(bytes) = std::fs::read(path) else { continue };
        let object = object::File::parse(&*bytes).unwrap();
        let mut functions: Vec<(u64, u64)> = object
            .symbols().chain(object.dynamic_symbols())
            .filter(|s| s.kind() == SymbolKind::Text && s.size() >= 8)
            .map(|s| (s.address(), s.size()))
            .collect();
        functions.sort();
        functions.dedup_by_key(|f| f.0);
        for n in [100usize, 1_000, 10_000, 100_000] {
            let step = (functions.len() / n).max(1);
            let svmas: Vec<u64> = functions.iter().step_by(step).flat_map(|&(a, s)| [a + s / 3, a + 2 * s / 3]).take(n).collect();
            let h0 = heap_in_use();
            let mut info = DebugInfo::open(path.as_ref(), None).unwrap();
            let h1 = heap_in_use();
            let m1 = info.memory_bytes();
            let mut names = std::collections::HashSet::new();
            for &a in &svmas { if let Some(f) = info.frames(a).last() { names.insert(f.name.map(str::to_owned)); } }
            let h2 = heap_in_use();
            let names_bytes: usize = names.iter().map(|n| n.as_ref().map_or(0, |n| n.len() + 40)).sum();
            eprintln!("{path} n={} open actual {} est {} | frames actual {} est {} distinct fns {} | {:?}", svmas.len(), h1 - h0, m1, h2 - h1 - names_bytes, info.memory_bytes() - m1, names.len(), info);
        }
    }
}
