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
    let marker = addresses_in_this_binary as *const () as usize as u64;
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
        .flat_map(|&(addr, size)| {
            (1..=per_function).map(move |k| addr + bias + size * k / (per_function + 1))
        })
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

/// Resolves every address; with `heap_before`, samples the heap every 64 lookups for its
/// peak (`mallinfo2` walks the arenas: leave it out of timings that matter).
fn pass(symbolizer: &mut Symbolizer, addrs: &[u64], heap_before: Option<usize>) -> Pass {
    let start = Instant::now();
    let mut peak = 0;
    for (i, &addr) in addrs.iter().enumerate() {
        std::hint::black_box(symbolizer.resolve(addr));
        if let Some(before) = heap_before.filter(|_| i % 64 == 0) {
            peak = peak.max(heap_in_use().saturating_sub(before));
        }
    }
    let time = start.elapsed();
    if let Some(before) = heap_before {
        peak = peak.max(heap_in_use().saturating_sub(before));
    }
    Pass { time, peak_heap: peak }
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// Function addresses (as in the file) spread over an object file's text, at most `n`.
fn addresses_in_file(object: &object::File<'_>, n: usize) -> Vec<u64> {
    let mut functions: Vec<(u64, u64)> = object
        .symbols()
        .chain(object.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.size() >= 8)
        .map(|s| (s.address(), s.size()))
        .collect();
    functions.sort();
    functions.dedup_by_key(|f| f.0);
    let step = (functions.len() * 2 / n).max(1);
    functions.iter().step_by(step).flat_map(|&(a, s)| [a + s / 3, a + 2 * s / 3]).take(n).collect()
}

#[test]
#[ignore = "a measurement: run alone, see the module documentation"]
fn memory_estimate_tracks_the_heap() {
    use super::tests::open_file;
    // One file at a time: the test binary, then C libraries (their debug files, if installed).
    // More files to check: `HEAPPROF_MEASURE_FILES=/path/a:/path/b`.
    let exe = std::env::current_exe().unwrap();
    let mut files = vec![
        exe.to_str().unwrap().to_owned(),
        "/usr/lib/x86_64-linux-gnu/libc.so.6".to_owned(),
        "/usr/lib/x86_64-linux-gnu/libm.so.6".to_owned(),
    ];
    let more = std::env::var("HEAPPROF_MEASURE_FILES").unwrap_or_default();
    files.extend(more.split(':').filter(|p| !p.is_empty()).map(str::to_owned));
    for path in &files {
        let path = path.as_str();
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        let object = object::File::parse(&*bytes).unwrap();
        for n in [0, 100, 1_000, 10_000] {
            // 0: the cost of opening the file and indexing its DWARF alone.
            let svmas = if n == 0 { Vec::new() } else { addresses_in_file(&object, n) };
            let before = heap_in_use();
            let start = Instant::now();
            let mut info = open_file(path.as_ref(), None).unwrap();
            for &svma in &svmas {
                std::hint::black_box(info.frames(svma));
            }
            let time = start.elapsed();
            let held = heap_in_use().saturating_sub(before);
            let estimate = info.memory_bytes();
            let ratio = estimate as f64 / held as f64;
            println!(
                "{path} ({}), {} addresses in {:.1} ms: estimate {} for {} held (ratio {ratio:.2})",
                if info.has_dwarf() { "DWARF" } else { "symbols" },
                svmas.len(),
                time.as_secs_f64() * 1e3,
                mib(estimate),
                mib(held)
            );
            assert!((0.5..2.0).contains(&ratio), "the estimate is off by more than 2x: {ratio:.2}");
        }
    }
    // The whole symbolizer, result cache and strings included.
    for n in [1_000, 10_000] {
        let addrs = addresses_in_this_binary(n);
        let before = heap_in_use();
        let mut symbolizer = Symbolizer::new(usize::MAX);
        pass(&mut symbolizer, &addrs, Some(before));
        let held = heap_in_use().saturating_sub(before);
        let ratio = symbolizer.memory_bytes() as f64 / held as f64;
        println!(
            "Symbolizer, {n} addresses: estimate {} for {} held (ratio {ratio:.2})",
            mib(symbolizer.memory_bytes()),
            mib(held)
        );
        assert!((0.5..2.0).contains(&ratio), "the estimate is off by more than 2x: {ratio:.2}");
    }
}

#[test]
#[ignore = "a measurement: run alone, see the module documentation"]
fn figures_for_1k_and_10k_addresses() {
    for n in [1_000, 10_000] {
        let addrs = addresses_in_this_binary(n);
        // Cold: a new symbolizer opens the file, indexes its DWARF, resolves everything.
        let before = heap_in_use();
        let rss_before = rss();
        let mut symbolizer = Symbolizer::new(usize::MAX);
        let cold = pass(&mut symbolizer, &addrs, Some(before));
        let rss_cold = rss().saturating_sub(rss_before);
        let held = heap_in_use().saturating_sub(before);
        let estimate = symbolizer.memory_bytes();
        let resolved = addrs.iter().filter(|&&a| !symbolizer.resolve(a).is_empty()).count();
        // Warm: the same addresses again, every one a cache hit.
        let hits = symbolizer.stats().cache_hits;
        let warm = pass(&mut symbolizer, &addrs, None);
        assert_eq!(symbolizer.stats().cache_hits - hits, addrs.len() as u64);
        // Contexts kept, results dropped: a later profile with new stacks.
        symbolizer.drop_results();
        let reparse = pass(&mut symbolizer, &addrs, None);
        symbolizer.set_memory_budget(8 << 20);
        symbolizer.trim_to_budget();
        println!(
            "{} addresses, {resolved} resolved: cold {:.1} ms (heap peak {}, held {}, RSS +{}), \
             warm {:.2} ms ({:.0}x faster), contexts kept {:.1} ms; memory_bytes {} -> {} after trim_to_budget(8 MiB)",
            addrs.len(),
            cold.time.as_secs_f64() * 1e3,
            mib(cold.peak_heap),
            mib(held),
            mib(rss_cold),
            warm.time.as_secs_f64() * 1e3,
            cold.time.as_secs_f64() / warm.time.as_secs_f64(),
            reparse.time.as_secs_f64() * 1e3,
            mib(estimate),
            mib(symbolizer.memory_bytes()),
        );
    }
}

/// Resident set size, from `/proc/self/statm` (includes the mapped debug info pages).
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}
