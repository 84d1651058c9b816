//! Nanoseconds per stack capture at several depths: heapprof's DWARF unwinder (warm
//! rule cache), its frame-pointer unwinder, and libgcc's `_Unwind_Backtrace` (through
//! `backtrace::trace_unsynchronized`) as the reference.
//!
//! Run with `cargo run --release -p heapprof-bench --bin unwind_bench [-- --iterations N]`.
//! The stack is a chain of distinct functions (distinct return addresses, like a real
//! program's), so the rule cache holds one entry per frame.

use std::hint::black_box;
use std::marker::PhantomData;
use std::time::Instant;

use heapprof::stack::{Capture, StackEnd, Unwinder, capture_by_rules, capture_with};
use heapprof_bench::runner::Flags;

/// A call chain whose every level is a distinct function: `Up<T>::run` calls `T::run`.
trait Level {
    fn run(levels: usize, work: &mut dyn FnMut());
}

struct Bottom;
struct Up<T>(PhantomData<T>);

impl Level for Bottom {
    #[inline(never)]
    fn run(_: usize, work: &mut dyn FnMut()) {
        work();
        black_box(());
    }
}

impl<T: Level> Level for Up<T> {
    #[inline(never)]
    fn run(levels: usize, work: &mut dyn FnMut()) {
        if levels == 0 {
            work();
        } else {
            T::run(black_box(levels - 1), work);
        }
        black_box(());
    }
}

type Up8<T> = Up<Up<Up<Up<Up<Up<Up<Up<T>>>>>>>>;
/// 64 distinct levels.
type Chain = Up8<Up8<Up8<Up8<Up8<Up8<Up8<Up8<Bottom>>>>>>>>;

/// A chain of 32 functions of their own for each `K`: never unwound before, so the
/// first capture through it misses the rule cache at every one of them.
struct Fresh<T, const K: usize>(PhantomData<T>);

impl<T: Level, const K: usize> Level for Fresh<T, K> {
    #[inline(never)]
    fn run(levels: usize, work: &mut dyn FnMut()) {
        if levels == 0 {
            work();
        } else {
            T::run(black_box(levels - 1), work);
        }
        black_box(K);
    }
}

type Fresh8<T, const K: usize> =
    Fresh<Fresh<Fresh<Fresh<Fresh<Fresh<Fresh<Fresh<T, K>, K>, K>, K>, K>, K>, K>, K>;
type FreshChain<const K: usize> = Fresh8<Fresh8<Fresh8<Fresh8<Bottom, K>, K>, K>, K>;

/// Nanoseconds of one capture through a chain never unwound before by us, per missed frame.
fn miss_cost<L: Level>() -> f64 {
    let mut ns = 0.0;
    L::run(31, &mut || {
        let mut out = [0usize; 512];
        // Page in the chain's code and unwind tables first (libgcc reads the same
        // tables), so that the figure is the cost of decoding rules, not of page faults.
        backtrace::trace(|_| true);
        let start = Instant::now();
        let c = capture_by_rules(&mut out);
        ns = start.elapsed().as_nanos() as f64;
        assert_eq!(c.end, StackEnd::Root);
    });
    ns / 32.0
}

#[derive(Clone, Copy, Debug)]
enum Method {
    /// The DWARF unwinder as the sampler uses it: the same stack each time, so the
    /// thread's memo of its previous walk serves it.
    Dwarf,
    /// The DWARF unwinder with every frame unwound by its (cached) rule.
    DwarfRules,
    /// The same with the rule cache emptied before each capture.
    DwarfCold,
    FramePointer,
    Libgcc,
}

/// Captures `iterations` times at the bottom of a chain of `levels` extra functions;
/// returns (ns per capture, frames captured, how the stack ended).
fn measure(method: Method, levels: usize, iterations: u32) -> (f64, usize, Option<StackEnd>) {
    let mut result = (0.0, 0, None);
    Chain::run(levels, &mut || {
        let mut out = [0usize; 512];
        let mut once = || -> (usize, Option<StackEnd>) {
            match method {
                Method::Dwarf => end(capture_with(Unwinder::Dwarf, &mut out)),
                Method::DwarfRules => end(capture_by_rules(&mut out)),
                Method::DwarfCold => {
                    let c = capture_by_rules(&mut out);
                    heapprof::stack::forget_cached_rules(&out[..c.len]);
                    end(c)
                }
                Method::FramePointer => end(capture_with(Unwinder::FramePointer, &mut out)),
                Method::Libgcc => {
                    let mut n = 0;
                    // SAFETY: no other thread of this benchmark uses backtrace.
                    unsafe {
                        backtrace::trace_unsynchronized(|frame| {
                            if let Some(slot) = out.get_mut(n) {
                                *slot = frame.ip() as usize;
                                n += 1;
                            }
                            n < out.len()
                        });
                    }
                    (n, None)
                }
            }
        };
        // Warm-up: module list, thread cache, rule cache, libgcc's caches.
        let mut seen = (0, None);
        for _ in 0..1000 {
            seen = once();
        }
        let start = Instant::now();
        for _ in 0..iterations {
            black_box(once());
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(iterations);
        result = (ns, seen.0, seen.1);
    });
    result
}

fn end(c: Capture) -> (usize, Option<StackEnd>) {
    (c.len, Some(c.end))
}

fn main() {
    let flags = Flags::from_env("unwind_bench", "[--iterations N]", &["--iterations"], &[]);
    let iterations = u32::try_from(flags.number("--iterations", 200_000)).unwrap_or(u32::MAX);
    // Depths are total frames, counted by the DWARF unwinder: the chain adds to the
    // frames of main, std's runtime start and libc below it.
    // The very first capture builds the module list.
    let start = Instant::now();
    let mut out = [0usize; 64];
    let first = capture_with(Unwinder::Dwarf, &mut out);
    let first_ns = start.elapsed().as_nanos();
    let mut misses = [
        miss_cost::<FreshChain<1>>(),
        miss_cost::<FreshChain<2>>(),
        miss_cost::<FreshChain<3>>(),
        miss_cost::<FreshChain<4>>(),
        miss_cost::<FreshChain<5>>(),
    ];
    misses.sort_by(f64::total_cmp);
    println!(
        "first capture in the process ({} frames, builds the module list): {first_ns} ns; \
         first capture through 32 never-unwound frames: {:.0} ns per frame (median of 5; \
         includes first-touch page faults of the rule cache)",
        first.len, misses[2]
    );
    let base = measure(Method::Dwarf, 0, 10).1;
    println!("unwind_bench: {iterations} captures per row; {base} frames below the chain");
    println!(
        "(dwarf: the same stack each time, served by the thread's memo of its previous walk; \
         by rules: every frame unwound by its cached rule, as for a stack not seen just before)"
    );
    println!(
        "{:>6} {:>10} {:>10} {:>14} {:>10} {:>14} {:>10} {:>12} {:>10} {:>14}",
        "depth",
        "dwarf ns",
        "ns/frame",
        "by rules ns",
        "ns/frame",
        "frame-ptr ns",
        "fp frames",
        "libgcc ns",
        "ns/frame",
        "libgcc/rules"
    );
    // The slow path: every frame's rule (but the first, in `capture` itself) decoded
    // from .eh_frame: the rules are forgotten after each capture.
    let cold_iterations = (iterations / 20).max(100);
    let (cold, depth, _) = measure(Method::DwarfCold, 30usize.saturating_sub(base), cold_iterations);
    println!(
        "cold rule cache, depth {depth}: {cold:.0} ns per capture, {:.0} ns per frame",
        cold / depth as f64
    );
    if std::env::var_os("UNWIND_BENCH_COLD_ONLY").is_some() {
        return;
    }
    for target in [10usize, 30, 60] {
        let levels = target.saturating_sub(base);
        let (dwarf_ns, depth, dwarf_end) = measure(Method::Dwarf, levels, iterations);
        let (rules_ns, rules_depth, _) = measure(Method::DwarfRules, levels, iterations);
        assert_eq!(rules_depth, depth);
        let (fp_ns, fp_frames, _) = measure(Method::FramePointer, levels, iterations);
        let (gcc_ns, gcc_frames, _) = measure(Method::Libgcc, levels, iterations / 4);
        assert_eq!(dwarf_end, Some(StackEnd::Root));
        println!(
            "{:>6} {:>10.1} {:>10.2} {:>14.1} {:>10.2} {:>14.1} {:>10} {:>12.1} {:>10.2} {:>13.1}x",
            depth,
            dwarf_ns,
            dwarf_ns / depth as f64,
            rules_ns,
            rules_ns / depth as f64,
            fp_ns,
            fp_frames,
            gcc_ns,
            gcc_ns / gcc_frames.max(1) as f64,
            gcc_ns / rules_ns
        );
    }
}
