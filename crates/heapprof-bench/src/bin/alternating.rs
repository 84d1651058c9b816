//! heapprof's overhead on the mixed workload, measured inside one process: phases of
//! the workload run in turn with and without heapprof, and each profiled phase is
//! compared with the bare phase of its round.
//!
//! On a shared machine the speed of a whole process drifts by ±10% from one run to
//! the next, so comparing separate processes needs hundreds of rounds to resolve a few
//! percent. Phases a few tens of milliseconds apart see the same machine.
//!
//! The global allocator below sends each call to the system allocator, to the
//! counting floor (`workload_counting`'s allocator) or to heapprof, both over the same
//! system allocator, by a flag. Every path pays the flag's load and branch, so the
//! figure is heapprof's cost over a call of the system allocator, as in `overhead`,
//! less the small difference between two binaries' code layouts. The flag changes only
//! between phases, when every block of the workload is freed.
//!
//!   alternating [--rounds N] [--allocs N] [--threads N] [--window N] [--fill]
//!               [--modes bare,counting,rate0,default,rate1,minimal,minimal-off]
//!
//! `minimal` is a sampling profiler cut down to what none can do without
//! (`heapprof_bench::minimal`), and `minimal-off` its fast paths alone: beside heapprof,
//! they show what a sample costs here whatever the design around it. One thread only.
//!
//! `--fill` writes every byte of each block, as a program filling its buffers does;
//! without it only a block's first and last bytes are written, so a phase is almost
//! all allocator and the ratio is the harshest one.
//!
//! Each phase frees its whole heap, which glibc would give back to the kernel by
//! default (its trim threshold) and fault in again in the next phase: kernel time that
//! both arms pay, that swamps the difference (a third of a phase's time here), and that
//! a long-running program does not pay. So glibc keeps its heap here: the figures are
//! those of a program in its steady state. `overhead` runs one process per round,
//! whose heap grows from nothing: its figures include that growth.
//!
//! Beside each median it prints the ratio of the two modes' fastest tenths of phases
//! (interference only adds time, so those are the least disturbed).
//!
//! `--allocs` is per phase and thread. A rate-0 phase after a sampled one still pays
//! the sampled-block filter's check on every free (which a process that never sampled
//! skips): measure rate 0 alone with `--modes bare,rate0`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::time::Instant;

use heapprof_bench::minimal::{self, Minimal};
use heapprof_bench::{Counting, SizeMix, Workload, runner};

/// Which allocator the calls go to: [`BARE`], [`COUNTING`], [`PROFILED`] or [`MINIMAL`].
static PATH: AtomicU8 = AtomicU8::new(BARE);
const BARE: u8 = 0;
const COUNTING: u8 = 1;
const PROFILED: u8 = 2;
const MINIMAL: u8 = 3;

static PROFILER: heapprof::Profiler = heapprof::Profiler::new();

struct Switch;

// SAFETY: every call goes to `System`, directly or through the counting floor, heapprof
// or the cut-down profiler (all over `System`, all handing back what `System` returned),
// and a block is freed by the path that allocated it: the path changes only when the
// workload's blocks are all freed. A block of the process's own that outlives a phase
// (std's buffers) is a `System` block whichever path frees it: heapprof passes on
// the free of a block it did not sample unchanged.
unsafe impl GlobalAlloc for Switch {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        unsafe {
            match PATH.load(Relaxed) {
                PROFILED => PROFILER.alloc(layout),
                COUNTING => Counting.alloc(layout),
                MINIMAL => Minimal.alloc(layout),
                _ => System.alloc(layout),
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe {
            match PATH.load(Relaxed) {
                PROFILED => PROFILER.dealloc(ptr, layout),
                COUNTING => Counting.dealloc(ptr, layout),
                MINIMAL => Minimal.dealloc(ptr, layout),
                _ => System.dealloc(ptr, layout),
            }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        unsafe {
            match PATH.load(Relaxed) {
                PROFILED => PROFILER.realloc(ptr, layout, new_size),
                COUNTING => Counting.realloc(ptr, layout, new_size),
                MINIMAL => Minimal.realloc(ptr, layout, new_size),
                _ => System.realloc(ptr, layout, new_size),
            }
        }
    }
}

#[global_allocator]
static ALLOC: Switch = Switch;

/// What a phase runs under.
#[derive(Clone, Copy)]
enum Mode {
    Bare,
    Counting,
    Rate(u64),
    /// The cut-down profiler, sampling or not.
    Minimal(bool),
}

impl Mode {
    fn parse(s: &str) -> Option<(&str, Mode)> {
        match s {
            "bare" => Some(("bare", Mode::Bare)),
            "counting" => Some(("counting floor", Mode::Counting)),
            "rate0" => Some(("rate 0", Mode::Rate(0))),
            "default" => Some(("default rate", Mode::Rate(heapprof::DEFAULT_SAMPLE_RATE))),
            "rate1" => Some(("rate 1", Mode::Rate(1))),
            "minimal" => Some(("cut-down sampler", Mode::Minimal(true))),
            "minimal-off" => Some(("cut-down sampler, no samples", Mode::Minimal(false))),
            _ => None,
        }
    }

    fn enter(self) {
        match self {
            Mode::Bare => PATH.store(BARE, Relaxed),
            Mode::Counting => PATH.store(COUNTING, Relaxed),
            Mode::Rate(rate) => {
                heapprof::set_sample_rate(rate);
                PATH.store(PROFILED, Relaxed);
            }
            Mode::Minimal(sampling) => {
                minimal::set_sampling(sampling);
                PATH.store(MINIMAL, Relaxed);
            }
        }
    }
}

fn main() {
    let flags = runner::Flags::from_env(
        "alternating",
        "[--rounds N] [--allocs N] [--threads N] [--window N] [--fill] \
         [--modes bare,counting,rate0,default,rate1,minimal,minimal-off]",
        &["--rounds", "--allocs", "--threads", "--window", "--modes"],
        &["--fill"],
    );
    let rounds = flags.number("--rounds", 200).max(1);
    let workload = Workload {
        allocs: flags.number("--allocs", 100_000).max(1),
        threads: flags.number("--threads", 1).max(1),
        window: flags.number("--window", 4096).max(1),
        sizes: SizeMix::Mixed,
        fill: flags.has("--fill"),
    };
    let mut modes = Vec::new();
    for name in flags.text("--modes").unwrap_or("bare,default").split(',') {
        let Some(mode) = Mode::parse(name) else {
            eprintln!(
                "alternating: --modes: unknown mode {name} (bare, counting, rate0, default, rate1, minimal, minimal-off)"
            );
            std::process::exit(2);
        };
        modes.push(mode);
    }
    if !matches!(modes.first(), Some((_, Mode::Bare))) || modes.len() < 2 {
        eprintln!("alternating: --modes: bare first, then at least one other");
        std::process::exit(2);
    }
    if workload.threads > 1 && modes.iter().any(|(_, m)| matches!(m, Mode::Minimal(_))) {
        eprintln!("alternating: --modes: minimal and minimal-off run one thread only (--threads 1)");
        std::process::exit(2);
    }

    // SAFETY: a glibc tuning call, made before the workload's threads start.
    if unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) } != 1 {
        eprintln!("alternating: mallopt(M_TRIM_THRESHOLD) failed: the figures include faulting the heap in");
    }
    // One unmeasured phase of each mode: the heap grows to its size, the tables fill.
    for &(_, mode) in &modes {
        phase(&workload, mode);
    }
    let mut seconds = vec![Vec::with_capacity(rounds); modes.len()];
    for round in 0..rounds {
        for m in runner::round_order(modes.len(), round) {
            seconds[m].push(phase(&workload, modes[m].1));
        }
    }

    // Per allocation (and its free) of one thread: the threads run side by side.
    let nanos_per_allocation = |s: f64| s * 1e9 / workload.allocs as f64;
    println!(
        "{} rounds of {} allocations per phase, {} thread(s), mixed sizes{}, {} live blocks per thread; \
         median of each round's ratio to bare, 95% interval; bare {:.0} ns per allocation",
        rounds,
        workload.allocs,
        workload.threads,
        if workload.fill { ", every byte written" } else { "" },
        workload.window,
        nanos_per_allocation(runner::median(&seconds[0]))
    );
    for (m, &(name, _)) in modes.iter().enumerate().skip(1) {
        let ratios = runner::paired_ratios(&seconds[m], &seconds[0]);
        let median = runner::median(&ratios);
        let interval = runner::median_interval(&ratios).map_or("–".to_string(), |(lo, hi)| {
            format!("{:+.2}% to {:+.2}%", (lo - 1.0) * 100.0, (hi - 1.0) * 100.0)
        });
        let decile = |xs: &[f64]| {
            let mut v = xs.to_vec();
            v.sort_by(f64::total_cmp);
            v[v.len() / 10]
        };
        let deciles = decile(&seconds[m]) / decile(&seconds[0]);
        let extra: Vec<f64> = seconds[m].iter().zip(&seconds[0]).map(|(s, b)| s - b).collect();
        println!(
            "{name}: {:+.2}% over bare ({interval}); fastest tenth: {:+.2}%; {:+.1} ns per allocation",
            (median - 1.0) * 100.0,
            (deciles - 1.0) * 100.0,
            nanos_per_allocation(runner::median(&extra))
        );
    }
    if modes.iter().any(|(_, m)| matches!(m, Mode::Minimal(true))) {
        let (samples, freed) = minimal::sample_counts();
        println!("cut-down sampler: {samples} blocks sampled, {freed} of them freed");
    }
}

/// Runs one phase under `mode`: the workload on its threads, every block freed before
/// it returns. Returns its wall time in seconds.
fn phase(workload: &Workload, mode: Mode) -> f64 {
    mode.enter();
    let start = Instant::now();
    workload.run(&String::new);
    let seconds = start.elapsed().as_secs_f64();
    Mode::Bare.enter();
    seconds
}
