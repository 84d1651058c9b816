//! The allocator this library forwards to: the next definitions of the C
//! allocation functions after this library in the dynamic linker's search order
//! (glibc's, or jemalloc's or tcmalloc's if they are preloaded after us), found
//! with `dlsym(RTLD_NEXT, ..)` on first use.

use std::cell::UnsafeCell;
use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU8, Ordering::*};

use libc::{c_int, c_void, size_t};

pub(crate) type MallocFn = unsafe extern "C" fn(size_t) -> *mut c_void;
pub(crate) type FreeFn = unsafe extern "C" fn(*mut c_void);
pub(crate) type CallocFn = unsafe extern "C" fn(size_t, size_t) -> *mut c_void;
pub(crate) type ReallocFn = unsafe extern "C" fn(*mut c_void, size_t) -> *mut c_void;
pub(crate) type PosixMemalignFn = unsafe extern "C" fn(*mut *mut c_void, size_t, size_t) -> c_int;
pub(crate) type AlignedFn = unsafe extern "C" fn(size_t, size_t) -> *mut c_void;
pub(crate) type UsableSizeFn = unsafe extern "C" fn(*mut c_void) -> size_t;

/// The real allocation functions.
pub(crate) struct Real {
    pub(crate) malloc: MallocFn,
    pub(crate) free: FreeFn,
    pub(crate) calloc: CallocFn,
    pub(crate) realloc: ReallocFn,
    pub(crate) posix_memalign: PosixMemalignFn,
    pub(crate) aligned_alloc: Option<AlignedFn>,
    pub(crate) memalign: Option<AlignedFn>,
    pub(crate) valloc: Option<MallocFn>,
    pub(crate) pvalloc: Option<MallocFn>,
    /// Without it (an allocator that lacks it) the exact statistics count blocks
    /// but no bytes; profiles are unaffected (they use the requested sizes).
    pub(crate) usable_size: Option<UsableSizeFn>,
}

impl Real {
    /// The usable size of a block the real allocator returned (0 if unknown).
    #[inline(always)]
    pub(crate) fn usable(&self, p: *mut c_void) -> usize {
        match self.usable_size {
            // SAFETY: `p` is a live block of this allocator.
            Some(f) => unsafe { f(p) },
            None => 0,
        }
    }
}

const UNRESOLVED: u8 = 0;
const RESOLVING: u8 = 1;
const READY: u8 = 2;
const FAILED: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNRESOLVED);

struct RealCell(UnsafeCell<MaybeUninit<Real>>);
// SAFETY: written once, by the thread that moved STATE from RESOLVING to READY,
// before that Release store; read only after an Acquire load that saw READY.
unsafe impl Sync for RealCell {}

static REAL: RealCell = RealCell(UnsafeCell::new(MaybeUninit::uninit()));

/// The real functions, resolving them on first use. None while they are being
/// resolved (`dlsym` may itself call `calloc`) or if they cannot be found: the
/// caller then serves the request from the bootstrap arena.
#[inline(always)]
pub(crate) fn get() -> Option<&'static Real> {
    if STATE.load(Acquire) == READY {
        // SAFETY: READY is stored (Release) only after REAL was written.
        return Some(unsafe { (*REAL.0.get()).assume_init_ref() });
    }
    resolve()
}

#[cold]
#[inline(never)]
fn resolve() -> Option<&'static Real> {
    if STATE.compare_exchange(UNRESOLVED, RESOLVING, AcqRel, Acquire).is_err() {
        // Resolving on this thread (we are inside dlsym) or another one, or failed.
        // SAFETY: as in `get`.
        return (STATE.load(Acquire) == READY).then(|| unsafe { (*REAL.0.get()).assume_init_ref() });
    }
    match lookup() {
        Some(real) => {
            // SAFETY: only this thread writes REAL (it won the CAS above), and no
            // reader looks before READY is stored.
            unsafe { (*REAL.0.get()).write(real) };
            STATE.store(READY, Release);
            // SAFETY: just written.
            Some(unsafe { (*REAL.0.get()).assume_init_ref() })
        }
        None => {
            STATE.store(FAILED, Release);
            heapprof::__preload::warn(
                b"heapprof: cannot find the real malloc after libheapprof_preload.so (a static binary?); serving from a 1 MiB bootstrap arena\n",
            );
            None
        }
    }
}

/// `dlsym(RTLD_NEXT, name)`, else glibc's `__libc_` alias of the essentials (for
/// a library loaded in an unusual order, where nothing follows us).
fn symbol(name: &CStr, libc_alias: Option<&CStr>) -> *mut c_void {
    // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT is valid from a shared object.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    if !p.is_null() {
        return p;
    }
    match libc_alias {
        // SAFETY: as above.
        Some(alias) => unsafe { libc::dlsym(libc::RTLD_DEFAULT, alias.as_ptr()) },
        None => p,
    }
}

fn lookup() -> Option<Real> {
    let malloc = symbol(c"malloc", Some(c"__libc_malloc"));
    let free = symbol(c"free", Some(c"__libc_free"));
    let calloc = symbol(c"calloc", Some(c"__libc_calloc"));
    let realloc = symbol(c"realloc", Some(c"__libc_realloc"));
    let posix_memalign = symbol(c"posix_memalign", None);
    if [malloc, free, calloc, realloc, posix_memalign].iter().any(|p| p.is_null()) {
        return None;
    }
    let optional = |name: &CStr| {
        let p = symbol(name, None);
        (!p.is_null()).then_some(p)
    };
    // SAFETY: each symbol is the C library function of that name, whose C
    // signature the function pointer types spell out.
    unsafe {
        Some(Real {
            malloc: std::mem::transmute::<*mut c_void, MallocFn>(malloc),
            free: std::mem::transmute::<*mut c_void, FreeFn>(free),
            calloc: std::mem::transmute::<*mut c_void, CallocFn>(calloc),
            realloc: std::mem::transmute::<*mut c_void, ReallocFn>(realloc),
            posix_memalign: std::mem::transmute::<*mut c_void, PosixMemalignFn>(posix_memalign),
            aligned_alloc: optional(c"aligned_alloc")
                .map(|p| std::mem::transmute::<*mut c_void, AlignedFn>(p)),
            memalign: optional(c"memalign").map(|p| std::mem::transmute::<*mut c_void, AlignedFn>(p)),
            valloc: optional(c"valloc").map(|p| std::mem::transmute::<*mut c_void, MallocFn>(p)),
            pvalloc: optional(c"pvalloc").map(|p| std::mem::transmute::<*mut c_void, MallocFn>(p)),
            usable_size: optional(c"malloc_usable_size")
                .map(|p| std::mem::transmute::<*mut c_void, UsableSizeFn>(p)),
        })
    }
}
