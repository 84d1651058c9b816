//! Memory for the profiler's own tables, straight from the kernel: it never goes
//! through any allocator, so it cannot recurse into the profiler, and it is counted.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Bytes currently mapped for the profiler's tables.
static MAPPED_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Maps `bytes` (rounded up to pages) of zeroed memory; null when the kernel refuses.
pub(crate) fn map(bytes: usize) -> *mut u8 {
    map_with(bytes, 0)
}

/// Like [`map`], for a table about to be filled all over (a hash table's new array,
/// before rehashing): the kernel provides every page in the one call. Left to fault,
/// each page took two faults (the probe reads it first, then writes): 262,000 of them
/// for the live table of a program with 4.8 million live samples.
pub(crate) fn map_populated(bytes: usize) -> *mut u8 {
    map_with(bytes, libc::MAP_POPULATE)
}

fn map_with(bytes: usize, flags: libc::c_int) -> *mut u8 {
    let len = round_to_page(bytes);
    // SAFETY: an anonymous private mapping has no preconditions; failure is MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return std::ptr::null_mut();
    }
    MAPPED_BYTES.fetch_add(len, Relaxed);
    p.cast()
}

/// Returns memory obtained from [`map`].
///
/// # Safety
/// `ptr` and `bytes` must come from one call of [`map`], and nothing may use the memory after.
pub(crate) unsafe fn unmap(ptr: *mut u8, bytes: usize) {
    let len = round_to_page(bytes);
    // SAFETY: the caller passes a live mapping of this length.
    unsafe { libc::munmap(ptr.cast(), len) };
    MAPPED_BYTES.fetch_sub(len, Relaxed);
}

/// Bytes currently mapped for the profiler's tables.
pub(crate) fn mapped_bytes() -> usize {
    MAPPED_BYTES.load(Relaxed)
}

fn round_to_page(bytes: usize) -> usize {
    const PAGE: usize = 4096;
    bytes.max(1).div_ceil(PAGE) * PAGE
}
