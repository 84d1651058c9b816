//! heapprof's `LD_PRELOAD` library: heap profiles of any dynamically linked
//! program, without rebuilding it.
//!
//! `libheapprof_preload.so` defines the C allocation functions (`malloc`, `free`,
//! `calloc`, `realloc`, `reallocarray`, `posix_memalign`, `aligned_alloc`,
//! `memalign`, `valloc`, `pvalloc`, `malloc_usable_size`), forwards each call to
//! the next allocator in the chain (glibc's, usually), and hands every allocation
//! and free to the same sampler, stack capture, records and profile writer as
//! heapprof's Rust `GlobalAlloc` wrapper, through `heapprof::__preload`. It writes
//! a gzipped pprof heap profile when the program exits, and periodically or over
//! HTTP if asked.
//!
//! ```sh
//! heapprof run --rate 64k -o heap.pb.gz -- python3 script.py     # the usual way
//! LD_PRELOAD=target/release/libheapprof_preload.so HEAPPROF_OUTPUT=heap.%p.pb.gz ./prog
//! go tool pprof -top heap.pb.gz
//! ```
//!
//! Settings (environment): `HEAPPROF_RATE`, `HEAPPROF_SEED`, `HEAPPROF_OUTPUT`,
//! `HEAPPROF_DIR`, `HEAPPROF_EVERY`, `HEAPPROF_HTTP`, `HEAPPROF_FOLLOW_FORK`,
//! `HEAPPROF_FOLLOW_EXEC`; see the crate's README.md.
#![deny(missing_docs)]
// In the unit-test build (see below) most of the settings have no reader.
#![cfg_attr(test, allow(dead_code))]

// The unit-test binary links this crate into an executable: with the interposed
// symbols and the constructor in it, the test harness itself would be profiled and
// write heap.<pid>.pb.gz into the crate's folder at exit. The unit tests need only
// the settings parsers.
#[cfg(not(test))]
mod bootstrap;
#[cfg(not(test))]
mod interpose;
#[cfg(not(test))]
mod lifecycle;
#[cfg(not(test))]
mod real;
mod settings;
#[cfg(not(test))]
mod thread_attr;
#[cfg(not(test))]
mod writer;

#[cfg(not(test))]
pub use interpose::{
    aligned_alloc, calloc, free, malloc, malloc_usable_size, memalign, posix_memalign, pvalloc, realloc,
    reallocarray, valloc,
};
#[cfg(not(test))]
pub use thread_attr::pthread_getattr_np;
