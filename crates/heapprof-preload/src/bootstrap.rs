//! Memory for the allocations made before the real allocator is known: `dlsym`
//! allocates while it looks `malloc` up, and a loader may call `malloc` before
//! our constructor runs. A bump allocator over a static array (in `.bss`, so it
//! costs nothing until touched); its blocks are never reused, and `free` of one
//! is ignored. Each block is preceded by its size, for `realloc` and
//! `malloc_usable_size`.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering::*};

const ARENA_BYTES: usize = 1 << 20;
const HEADER: usize = 16;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; ARENA_BYTES]>);
// SAFETY: each byte range is handed to one caller only (the bump offset is
// advanced atomically), and the arena itself is never read by this module except
// for the header of a block it handed out.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; ARENA_BYTES]));
static USED: AtomicUsize = AtomicUsize::new(0);

fn base() -> usize {
    ARENA.0.get() as usize
}

/// A zeroed block of `size` bytes aligned to `align` (a power of two; at least 16
/// is used), or null when the arena is exhausted.
pub(crate) fn alloc(size: usize, align: usize) -> *mut u8 {
    let align = align.max(HEADER);
    if !align.is_power_of_two() {
        return std::ptr::null_mut();
    }
    let mut used = USED.load(Relaxed);
    loop {
        let Some(start) = (base() + used + HEADER).checked_next_multiple_of(align) else {
            return std::ptr::null_mut();
        };
        let end = match start.checked_add(size) {
            Some(e) if e <= base() + ARENA_BYTES => e,
            _ => return std::ptr::null_mut(),
        };
        match USED.compare_exchange_weak(used, end - base(), Relaxed, Relaxed) {
            Ok(_) => {
                let block = start as *mut u8;
                // SAFETY: [start - HEADER, end) lies in the arena and now belongs
                // to this block only; the header slot is 16-byte aligned.
                unsafe { block.sub(HEADER).cast::<usize>().write(size) };
                return block;
            }
            Err(now) => used = now,
        }
    }
}

/// Whether `p` points into the arena.
#[inline(always)]
pub(crate) fn contains(p: *const libc::c_void) -> bool {
    (p as usize).wrapping_sub(base()) < ARENA_BYTES
}

/// The size a block of the arena was allocated with.
pub(crate) fn size_of(p: *const libc::c_void) -> usize {
    // SAFETY: `p` was returned by `alloc` (the caller checked `contains`), so its
    // header lies just before it.
    unsafe { p.cast::<u8>().sub(HEADER).cast::<usize>().read() }
}
