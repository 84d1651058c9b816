//! The C allocation API, defined here so that the dynamic linker binds the
//! program's (and every library's) calls to these instead of libc's. Each call is
//! forwarded to the real allocator; around it, heapprof's C front door counts and
//! samples, exactly as the Rust `GlobalAlloc` wrapper does.
//!
//! Requested sizes go to the sampler and the profile, usable sizes to the exact
//! statistics (see `heapprof::__preload`). None of these functions panics,
//! aborts or allocates through itself: the hooks forward allocations made inside
//! the profiler untouched.

use heapprof::__preload as hooks;
use libc::{c_int, c_void, size_t};

use crate::{bootstrap, real};

/// What malloc guarantees on x86-64 and aarch64 glibc.
const MIN_ALIGN: usize = 16;
const PAGE: usize = 4096;

fn set_errno(e: c_int) {
    // SAFETY: errno is this thread's own.
    unsafe { *libc::__errno_location() = e };
}

#[inline(always)]
fn allocated(real: &real::Real, p: *mut c_void, requested: usize) -> *mut c_void {
    if !p.is_null() {
        hooks::after_alloc(p.cast(), requested, real.usable(p));
    }
    p
}

/// # Safety
/// The C `malloc` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc(size: size_t) -> *mut c_void {
    let Some(real) = real::get() else {
        return bootstrap::alloc(size, MIN_ALIGN).cast();
    };
    // SAFETY: the real malloc, with the caller's argument.
    allocated(real, unsafe { (real.malloc)(size) }, size)
}

/// # Safety
/// The C `calloc` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn calloc(count: size_t, size: size_t) -> *mut c_void {
    let Some(real) = real::get() else {
        return match count.checked_mul(size) {
            // The arena is zeroed and never reused.
            Some(total) => bootstrap::alloc(total, MIN_ALIGN).cast(),
            None => {
                set_errno(libc::ENOMEM);
                std::ptr::null_mut()
            }
        };
    };
    // SAFETY: the real calloc, with the caller's arguments.
    let p = unsafe { (real.calloc)(count, size) };
    // A non-null result means the product did not overflow.
    allocated(real, p, count.wrapping_mul(size))
}

/// # Safety
/// The C `free` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    if p.is_null() || bootstrap::contains(p) {
        return;
    }
    // A block not from the arena was made by the real allocator, so it is known.
    let Some(real) = real::get() else { return };
    hooks::before_free(p.cast(), real.usable(p));
    // SAFETY: `p` is a live block of the real allocator, given by the caller.
    unsafe { (real.free)(p) }
}

/// # Safety
/// The C `realloc` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: size_t) -> *mut c_void {
    if p.is_null() {
        // SAFETY: realloc(NULL, n) is malloc(n).
        return unsafe { malloc(size) };
    }
    if bootstrap::contains(p) {
        // SAFETY: as above.
        let new = unsafe { malloc(size) };
        if !new.is_null() {
            let n = bootstrap::size_of(p).min(size);
            // SAFETY: both blocks hold at least `n` bytes and are distinct.
            unsafe { std::ptr::copy_nonoverlapping(p.cast::<u8>(), new.cast::<u8>(), n) };
        }
        return new;
    }
    let Some(real) = real::get() else { return std::ptr::null_mut() };
    let old = real.usable(p);
    if size == 0 {
        // glibc frees the block and returns NULL; other allocators may return a
        // new minimal block. Either way the old block is gone: count its free.
        hooks::before_free(p.cast(), old);
        // SAFETY: the real realloc, with the caller's arguments.
        return allocated(real, unsafe { (real.realloc)(p, 0) }, 0);
    }
    let guard = hooks::before_realloc(p.cast(), old);
    // SAFETY: the real realloc, with the caller's arguments.
    let new = unsafe { (real.realloc)(p, size) };
    if new.is_null() {
        hooks::realloc_failed(p.cast(), guard);
    } else {
        hooks::after_realloc(new.cast(), old, size, real.usable(new));
    }
    new
}

/// # Safety
/// The C `reallocarray` contract: `realloc(p, count * size)` unless the product overflows.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, count: size_t, size: size_t) -> *mut c_void {
    match count.checked_mul(size) {
        // SAFETY: forwarded to our realloc, which keeps its contract.
        Some(total) => unsafe { realloc(p, total) },
        None => {
            set_errno(libc::ENOMEM);
            std::ptr::null_mut()
        }
    }
}

/// # Safety
/// The C `posix_memalign` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: size_t, size: size_t) -> c_int {
    let Some(real) = real::get() else {
        if !align.is_power_of_two() || align % size_of::<*mut c_void>() != 0 {
            return libc::EINVAL;
        }
        let p = bootstrap::alloc(size, align);
        if p.is_null() {
            return libc::ENOMEM;
        }
        // SAFETY: the caller gives a valid out pointer.
        unsafe { *out = p.cast() };
        return 0;
    };
    // SAFETY: the real posix_memalign, with the caller's arguments.
    let r = unsafe { (real.posix_memalign)(out, align, size) };
    if r == 0 {
        // SAFETY: on success the real function wrote a block (or null for size 0) to *out.
        allocated(real, unsafe { *out }, size);
    }
    r
}

/// An aligned allocation through `f` if the real allocator has it, else through
/// `posix_memalign` (same block, different error reporting).
fn aligned(real: &real::Real, f: Option<real::AlignedFn>, align: usize, size: usize) -> *mut c_void {
    let p = match f {
        // SAFETY: the real function, with the caller's arguments.
        Some(f) => unsafe { f(align, size) },
        None => {
            let mut p = std::ptr::null_mut();
            let align = align.max(size_of::<*mut c_void>()).next_power_of_two();
            // SAFETY: `p` is a valid out pointer.
            match unsafe { (real.posix_memalign)(&mut p, align, size) } {
                0 => p,
                e => {
                    set_errno(e);
                    std::ptr::null_mut()
                }
            }
        }
    };
    allocated(real, p, size)
}

/// # Safety
/// The C `aligned_alloc` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aligned_alloc(align: size_t, size: size_t) -> *mut c_void {
    match real::get() {
        Some(real) => aligned(real, real.aligned_alloc, align, size),
        None => bootstrap::alloc(size, align).cast(),
    }
}

/// # Safety
/// The C `memalign` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memalign(align: size_t, size: size_t) -> *mut c_void {
    match real::get() {
        Some(real) => aligned(real, real.memalign, align, size),
        None => bootstrap::alloc(size, align.next_power_of_two()).cast(),
    }
}

/// # Safety
/// The C `valloc` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn valloc(size: size_t) -> *mut c_void {
    let Some(real) = real::get() else {
        return bootstrap::alloc(size, PAGE).cast();
    };
    match real.valloc {
        // SAFETY: the real valloc, with the caller's argument.
        Some(f) => allocated(real, unsafe { f(size) }, size),
        None => aligned(real, None, PAGE, size),
    }
}

/// # Safety
/// The C `pvalloc` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pvalloc(size: size_t) -> *mut c_void {
    let Some(real) = real::get() else {
        return bootstrap::alloc(size.next_multiple_of(PAGE), PAGE).cast();
    };
    match real.pvalloc {
        // SAFETY: the real pvalloc, with the caller's argument.
        Some(f) => allocated(real, unsafe { f(size) }, size),
        None => aligned(real, None, PAGE, size.next_multiple_of(PAGE)),
    }
}

/// # Safety
/// The C `malloc_usable_size` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> size_t {
    if p.is_null() {
        return 0;
    }
    if bootstrap::contains(p) {
        return bootstrap::size_of(p);
    }
    real::get().map_or(0, |real| real.usable(p))
}
