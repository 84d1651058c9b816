//! Loom models of heapprof's allocator-path spin lock: see `tests/spin_lock.rs`.
//! Run with `cargo test --manifest-path loom/Cargo.toml`.
