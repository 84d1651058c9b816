//! The settings and flags that every sample reads, in one cache line.
//!
//! Each was a static of its own module, and so a cache line of its own, which the
//! allocator's traffic evicted between two samples at the default rate: callgrind
//! counted half a first-level miss a sample on each of six (the rate, the stack depth,
//! the unwinder, the module snapshot, its staleness flag, the deferred work). Here they
//! and the index of buckets cost one line between them. Their modules keep their names
//! for them, as references into [`SAMPLE_LINE`]; all are written rarely (a setting
//! changed, a library loaded, a fork, a bucket index grown), so the line stays shared by
//! every core.

use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize};

use crate::stack::snapshot::Snapshot;

#[repr(C, align(64))]
pub(crate) struct SampleLine {
    /// `sampler`: the sample rate, or `UNSET` before the environment is read.
    pub(crate) rate: AtomicU64,
    /// `records`: how many frames a sampled stack keeps.
    pub(crate) max_depth: AtomicUsize,
    /// `profiler`: work for the next allocation made outside the profiler.
    pub(crate) deferred: AtomicPtr<()>,
    /// `stack::snapshot`: the module snapshot walks use.
    pub(crate) snapshot: AtomicPtr<Snapshot>,
    /// `stack`: which unwinder captures stacks.
    pub(crate) unwinder: AtomicU8,
    /// `stack::modules`: module bytes were found unloaded.
    pub(crate) modules_stale: AtomicBool,
    /// `records::buckets`: the index of buckets, packed (0: none yet).
    pub(crate) bucket_index: AtomicUsize,
    /// `fork`: the `pthread_atfork` handlers are registered.
    pub(crate) fork_handlers: AtomicBool,
}

const _: () = assert!(size_of::<SampleLine>() == 64);

pub(crate) static SAMPLE_LINE: SampleLine = SampleLine {
    rate: AtomicU64::new(crate::sampler::UNSET),
    max_depth: AtomicUsize::new(crate::records::DEFAULT_MAX_DEPTH),
    deferred: AtomicPtr::new(ptr::null_mut()),
    snapshot: AtomicPtr::new(ptr::null_mut()),
    unwinder: AtomicU8::new(0),
    modules_stale: AtomicBool::new(false),
    bucket_index: AtomicUsize::new(0),
    fork_handlers: AtomicBool::new(false),
};
