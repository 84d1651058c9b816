//! `pthread_getattr_np`, wrapped so that nothing it allocates is sampled.
//!
//! glibc holds the target thread's lock while it reads `/proc/self/maps` (for the
//! main thread) and sizes a CPU set, both with `malloc`. Sampling such an
//! allocation captures a stack, and stack capture asks `pthread_getattr_np` for
//! this thread's stack bounds the first time: the same lock, taken again on the
//! same thread, forever. Rust's runtime makes exactly this call before `main`.
//! Inside the wrapper allocations are still counted, never sampled.

use std::sync::atomic::{AtomicPtr, Ordering::*};

use heapprof::__preload as hooks;
use libc::{c_int, c_void, pthread_attr_t, pthread_t};

type GetattrFn = unsafe extern "C" fn(pthread_t, *mut pthread_attr_t) -> c_int;

static REAL: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());

fn real() -> Option<GetattrFn> {
    let mut p = REAL.load(Acquire);
    if p.is_null() {
        // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT is valid from a shared object.
        p = unsafe { libc::dlsym(libc::RTLD_NEXT, c"pthread_getattr_np".as_ptr()) };
        REAL.store(p, Release);
    }
    // SAFETY: the symbol is glibc's pthread_getattr_np, whose C signature GetattrFn spells out.
    (!p.is_null()).then(|| unsafe { std::mem::transmute::<*mut c_void, GetattrFn>(p) })
}

/// # Safety
/// The C `pthread_getattr_np` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_getattr_np(thread: pthread_t, attr: *mut pthread_attr_t) -> c_int {
    match real() {
        // SAFETY: the real function, with the caller's arguments.
        Some(f) => hooks::quietly(|| unsafe { f(thread, attr) }),
        None => libc::ENOSYS,
    }
}
