//! A sampling heap profiler for Rust programs, cheap enough to leave on in
//! production: the Rust counterpart of Go's `runtime.MemProfileRate`,
//! `pprof.WriteHeapProfile` and `runtime.ReadMemStats`.
//!
//! Install [`Profiler`] as the global allocator. It forwards every call to the
//! allocator it wraps, keeps exact counters per thread, and records the call stack
//! of a random sample of allocations — on average one per 512 KiB allocated, as Go
//! does — until they are freed. Profiles are pprof protobufs that `go tool pprof`,
//! the `heapprof` command, Pyroscope and Parca read.
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOC: heapprof::Profiler = heapprof::Profiler::new();
//!
//! fn main() -> Result<(), heapprof::Error> {
//!     heapprof::set_sample_rate(512 * 1024); // the default; 1 records every allocation, 0 stops sampling
//!     let data: Vec<Vec<u8>> = (0..1000).map(|i| vec![0u8; 1024 + i]).collect();
//!     let stats = heapprof::stats(); // exact, never sampled
//!     println!("{} bytes live in {} blocks", stats.live_bytes, stats.live_objects);
//!     let profile = heapprof::heap_profile(); // the sampled heap, symbolized
//!     println!("{} stacks", profile.sample.len());
//!     heapprof::write_heap_profile("heap.pb.gz")?; // gzipped pprof, written atomically
//!     drop(data);
//!     Ok(())
//! }
//! ```
//!
//! `HEAPPROF_RATE` sets the rate at start-up (`524288`, `512KiB`, `1`, `0`);
//! `HEAPPROF_SEED` fixes the sampler's random stream for reproducible runs;
//! `HEAPPROF_SYMBOLIZE=0` leaves names out of profiles, for [`symbolize`] elsewhere.
//!
//! # What a profile holds
//! Sample types in Go's order — `alloc_objects/count`, `alloc_space/bytes`,
//! `inuse_objects/count`, `inuse_space/bytes` — per (call stack, block size), with
//! the numeric label `bytes` (the block size), `period` = the sample rate, the
//! process's executable mappings with their GNU build ids, and functions,
//! files and lines (inlined frames included) resolved when the profile is made.
//! Values are unbiased estimates, `count / (1 - exp(-size / rate))` as Go
//! computes them; at rate 1 they are exact. A `realloc` counts as the free of
//! the old block and the allocation of the new one, at the caller of `realloc`.
//!
//! # `fork`
//! A forked child inherits the records (the parent's samples up to the fork) and goes on
//! profiling its own allocations; the table locks are taken around `fork`, so the child
//! never finds one held. Its exact statistics go on from the parent's totals. Threads do not survive `fork`: a monitor, HTTP server or exporter
//! started in the parent does not run in the child. Start them again in the child if it
//! should have them. (`heapprof run` restarts its periodic writer in a followed child.)
//!
//! # Cost
//! An allocation that is not sampled costs a few thread-local counter updates; a
//! free, those plus one load from a filter of sampled addresses (none before the first
//! sample). No lock is taken
//! unless the block is sampled. See BENCHMARKS.md in the repository for figures.
#![deny(missing_docs)]

#[doc(hidden)]
#[path = "c_front.rs"]
pub mod __preload;
mod clock;
mod config;
#[cfg(feature = "export")]
pub mod export;
mod fork;
mod heap;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "monitor")]
pub mod monitor;
mod procfs;
mod profiler;
mod rawmem;
mod records;
mod sample_line;
mod sampler;
mod spin;
pub mod stack;
mod stats;
pub mod symbolize;
mod symbols;
mod sync;
pub mod testing;
mod thread_state;

pub use heap::{
    DEFAULT_SYMBOLIZER_BUDGET, HeapSnapshot, StackRecord, heap_profile, set_symbolization, snapshot,
    symbolization, write_atomically, write_heap_profile,
};
/// The pprof data model (re-exported from `heapprof-profile`).
pub use heapprof_profile as pprof;
pub use profiler::Profiler;
pub use records::{DEFAULT_MAX_DEPTH, MAX_DEPTH_LIMIT, max_stack_depth, set_max_stack_depth};
pub use sampler::{DEFAULT_SAMPLE_RATE, sample_rate, set_sample_rate, set_sampling_seed};
pub use stats::{FLUSH_BYTES, Stats, stats};

/// What can go wrong when writing a profile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The profile could not be written to `path`.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file that was being written.
        path: std::path::PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
}
