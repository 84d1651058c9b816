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

mod bootstrap;
mod interpose;
mod lifecycle;
mod real;
mod settings;
mod thread_attr;
mod writer;

pub use interpose::{
    aligned_alloc, calloc, free, malloc, malloc_usable_size, memalign, posix_memalign, pvalloc, realloc,
    reallocarray, valloc,
};
pub use thread_attr::pthread_getattr_np;
