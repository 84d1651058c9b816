//! Workloads and the benchmark suite of heapprof. The workload is one piece of
//! code compiled into several binaries that differ only in their global allocator,
//! so each profiler is measured against its own bare baseline.

pub mod accuracy;
pub mod minimal;
pub mod real;
pub mod runner;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

/// The block sizes a workload draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeMix {
    /// Log-uniform over 16 B to 64 KiB.
    Mixed,
    /// Log-uniform over 16 B to 256 B.
    Small,
    /// Log-uniform over 64 KiB to 1 MiB.
    Large,
}

impl SizeMix {
    /// Parses `mixed`, `small` or `large`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mixed" => Some(SizeMix::Mixed),
            "small" => Some(SizeMix::Small),
            "large" => Some(SizeMix::Large),
            _ => None,
        }
    }

    fn bounds(self) -> (f64, f64) {
        match self {
            SizeMix::Mixed => (16.0, 65536.0),
            SizeMix::Small => (16.0, 256.0),
            SizeMix::Large => (65536.0, 1048576.0),
        }
    }
}

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Allocations per thread.
    pub allocs: usize,
    /// Threads allocating at once.
    pub threads: usize,
    /// Live blocks per thread: each new block replaces the oldest.
    pub window: usize,
    /// Block sizes.
    pub sizes: SizeMix,
    /// Write every byte of each block, as a program filling its buffers does; otherwise
    /// only the first and the last (the allocator's cost alone, nearly).
    pub fill: bool,
}

impl Workload {
    /// Reads `--allocs N --threads N --window N --sizes mixed|small|large --fill`; exits 2
    /// on a bad command line.
    pub fn from_args() -> Self {
        let flags = runner::Flags::from_env(
            "workload",
            "[--allocs N] [--threads N] [--window N] [--sizes mixed|small|large] [--fill]",
            &["--allocs", "--threads", "--window", "--sizes"],
            &["--fill"],
        );
        let sizes = flags.text("--sizes").unwrap_or("mixed");
        Workload {
            allocs: flags.number("--allocs", 2_000_000),
            threads: flags.number("--threads", 1).max(1),
            window: flags.number("--window", 4096).max(1),
            sizes: SizeMix::parse(sizes).unwrap_or_else(|| {
                eprintln!("workload: --sizes: unknown mix {sizes}");
                std::process::exit(2)
            }),
            fill: flags.has("--fill"),
        }
    }

    /// Runs the workload; returns the wall time of the allocation loops in seconds
    /// and what `at_end` said while the last window of blocks was still live.
    pub fn run(&self, at_end: &(dyn Fn() -> String + Sync)) -> (f64, String) {
        let start = Instant::now();
        let report = std::sync::Mutex::new(String::new());
        std::thread::scope(|s| {
            for t in 0..self.threads {
                let report = &report;
                s.spawn(move || {
                    let ring = churn(self, t as u64 + 1);
                    if t == 0 {
                        *report.lock().unwrap_or_else(|e| e.into_inner()) = at_end();
                    }
                    drop(ring);
                });
            }
        });
        let seconds = start.elapsed().as_secs_f64();
        (seconds, report.into_inner().unwrap_or_else(|e| e.into_inner()))
    }
}

/// One thread's loop: allocate, touch, keep in a ring, free the oldest. Returns the
/// ring, still holding the last window of blocks.
#[inline(never)]
fn churn(w: &Workload, seed: u64) -> Vec<Vec<u8>> {
    let mut ring: Vec<Vec<u8>> = (0..w.window).map(|_| Vec::new()).collect();
    let (lo, hi) = w.sizes.bounds();
    let (lo, hi) = (lo.ln(), hi.ln());
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for i in 0..w.allocs {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let u = (rng >> 11) as f64 / (1u64 << 53) as f64;
        let size = (lo + u * (hi - lo)).exp() as usize;
        let block = allocate_block(size, w.fill);
        ring[i % w.window] = block;
    }
    std::hint::black_box(ring)
}

#[inline(never)]
fn allocate_block(size: usize, fill: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(size);
    if fill {
        v.resize(size, 1u8);
    } else {
        // Touch the first and last byte, as a program writing its data would.
        v.push(1u8);
        // SAFETY: capacity is `size` >= 1; the byte written is within it.
        unsafe {
            v.as_mut_ptr().add(size - 1).write(1);
        }
    }
    std::hint::black_box(v)
}

/// The entry point of every workload binary: runs and prints one line of figures.
pub fn main_with(allocator: &str, stats: &(dyn Fn() -> String + Sync)) {
    let w = Workload::from_args();
    let (seconds, report) = w.run(stats);
    println!(
        "allocator={allocator} threads={} allocs={} sizes={:?} seconds={seconds:.6} peak_rss_kib={} {report}",
        w.threads,
        w.allocs,
        w.sizes,
        peak_rss_kib().unwrap_or(0),
    );
}

/// This process's peak resident set so far (`VmHWM` of `/proc/self/status`), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What a workload under heapprof reports at its end: the rate and the profiler's
/// own bookkeeping (samples, records, its metadata bytes).
pub fn heapprof_report() -> String {
    let s = heapprof::stats();
    let per_sample = s.profiler_bytes.checked_div(s.live_samples).unwrap_or(0);
    format!(
        "rate={} live_samples={} stack_records={} dropped={} profiler_bytes={} profiler_bytes_per_live_sample={per_sample} allocated_objects={} allocated_bytes={}",
        s.sample_rate,
        s.live_samples,
        s.stack_records,
        s.dropped_samples,
        s.profiler_bytes,
        s.allocated_objects,
        s.allocated_bytes
    )
}

/// `--divisor N` of the accuracy workload binaries (1 when absent), which shrinks
/// every site by that factor.
pub fn accuracy_divisor(flags: &runner::Flags) -> usize {
    flags.number("--divisor", 1).max(1)
}

/// The least a wrapper can do to keep exact statistics: four thread-local counters
/// (objects and bytes, allocated and freed) around the system allocator, nothing else:
/// not readable by other threads, no peak, no sampling. The floor under which no
/// exact-statistics profiler can go; heapprof at rate 0 is measured against it.
#[derive(Debug)]
pub struct Counting;

thread_local! {
    static COUNTS: [Cell<u64>; 4] = const { [const { Cell::new(0) }; 4] };
}

impl Counting {
    /// This thread's counters: objects and bytes allocated, objects and bytes freed.
    pub fn thread_counts() -> [u64; 4] {
        COUNTS.with(|c| [c[0].get(), c[1].get(), c[2].get(), c[3].get()])
    }

    #[inline]
    fn bump(i: usize, bytes: usize) {
        let _ = COUNTS.try_with(|c| {
            c[i].set(c[i].get() + 1);
            c[i + 1].set(c[i + 1].get() + bytes as u64);
        });
    }
}

// SAFETY: forwards every call to System unchanged; the counters never touch the blocks.
unsafe impl GlobalAlloc for Counting {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            Counting::bump(0, layout.size());
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        Counting::bump(2, layout.size());
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            Counting::bump(2, layout.size());
            Counting::bump(0, new_size);
        }
        p
    }
}
