//! Stack capture on the allocation path: raw return addresses, resolved later.
//!
//! [`capture`] runs inside `GlobalAlloc::alloc` when an allocation is sampled, so it
//! never panics, never blocks on a lock, reads only the current thread's stack between
//! its own stack pointer and the top of the stack, and accepts only return addresses
//! that fall in an executable segment of a loaded module. It allocates on its first
//! call in the process (the module list), after a `dlopen` (a new module list), and on
//! the first DWARF walk in a thread (~12 KiB of scratch space for evaluating unwind
//! tables and remembering the previous walk, handed to the next thread when this one
//! exits); in the steady state it allocates nothing. The caller must route allocations made from inside it past the
//! profiler (the allocator's re-entrancy guard does that).
//!
//! Two unwinders are available:
//! - [`Unwinder::Dwarf`] (the default) follows the `.eh_frame` call-frame information
//!   of every loaded module, found through `PT_GNU_EH_FRAME` and read in memory (no file
//!   access). It gives complete stacks in ordinary builds, where the standard library
//!   and the C library have no frame pointers. Each frame's rule is decoded once (with
//!   gimli) into a 32-bit form kept in a process-wide lock-free cache; after that a
//!   frame costs a table load and one or two stack reads. Each thread also remembers its
//!   previous walk: where the stack still holds the frames that walk went through (the
//!   outer ones, mostly), the walk checks one or two words per frame and copies the rest
//!   (see `memo`).
//! - [`Unwinder::FramePointer`] walks the `rbp` chain. It is complete only when every
//!   function on the stack keeps a frame pointer (`-C force-frame-pointers=yes` for
//!   the program, and a standard library and C library built the same way).
//!
//! Only x86_64 Linux is supported; elsewhere [`capture`] returns [`StackEnd::Unavailable`].

use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU8, Ordering};

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod cfi;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod dwarf;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod frame_pointer;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod memo;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod modules;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod rules;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub(crate) mod snapshot;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod thread;

/// Which unwinder captures stacks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unwinder {
    /// DWARF call-frame information with cached rules: complete stacks in any build.
    #[default]
    Dwarf,
    /// Frame-pointer walking: fastest, complete only when everything is built with frame pointers.
    FramePointer,
}

static UNWINDER: &AtomicU8 = &crate::sample_line::SAMPLE_LINE.unwinder;

/// Chooses the unwinder used by [`capture`] from now on, in every thread.
pub fn set_unwinder(unwinder: Unwinder) {
    let code = match unwinder {
        Unwinder::Dwarf => 0,
        Unwinder::FramePointer => 1,
    };
    UNWINDER.store(code, Ordering::Relaxed);
}

/// The unwinder used by [`capture`].
pub fn unwinder() -> Unwinder {
    match UNWINDER.load(Ordering::Relaxed) {
        1 => Unwinder::FramePointer,
        _ => Unwinder::Dwarf,
    }
}

/// How a captured stack ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackEnd {
    /// The walk reached the first frame of the thread (`_start` or the thread's start
    /// routine): the stack is complete.
    Root,
    /// The output buffer filled up while more frames remained.
    Truncated,
    /// The walk stopped before the first frame: a return address outside every loaded
    /// module (JIT code, a garbage frame pointer), unwind information that could not be
    /// evaluated (a signal frame), or a stack address outside the thread's stack. The
    /// frames written so far are valid return addresses.
    Lost,
    /// Nothing was captured: the call re-entered `capture` on the same thread (from a
    /// signal handler), the thread's stack bounds are unknown or the stack pointer is
    /// outside them (an alternate signal stack, a coroutine stack), or the platform is
    /// not supported.
    Unavailable,
}

/// The result of [`capture`]: how many return addresses were written and how the stack ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capture {
    /// Number of return addresses written at the start of the output buffer.
    pub len: usize,
    /// Whether the walk reached the first frame, ran out of room, or stopped early.
    pub end: StackEnd,
}

impl Capture {
    /// Whether frames beyond the output buffer were left out.
    pub fn truncated(&self) -> bool {
        self.end == StackEnd::Truncated
    }

    #[cfg_attr(not(all(target_arch = "x86_64", target_os = "linux")), allow(dead_code))]
    const UNAVAILABLE: Capture = Capture { len: 0, end: StackEnd::Unavailable };
}

/// Writes the return addresses of the current call stack into `out`, the return address
/// into the caller of `capture` first, and says how the stack ended. Uses the unwinder
/// chosen with [`set_unwinder`].
///
/// The addresses are return addresses, one byte past the call instruction: subtract one
/// before resolving them to a line.
///
/// Never panics, never blocks, never reads outside the current thread's stack. It may
/// allocate on its first call in the process, after a module was loaded, and on its
/// first walk in a thread (see the [module documentation](self)); call
/// [`prepare`] from the thread first to move most of that work out of the way.
#[inline(never)]
pub fn capture(out: &mut [usize]) -> Capture {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let regs = Registers::here();
        walk(regs, unwinder(), as_uninit(out))
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        let _ = out;
        Capture::UNAVAILABLE
    }
}

/// Like [`capture`], into a buffer that need not be initialised: the first `len`
/// elements are written. The allocation path's buffer is 2 KiB on the stack, and
/// zeroing even the part in use touched more cache lines than the walk.
#[inline(never)]
pub(crate) fn capture_uninit(out: &mut [MaybeUninit<usize>]) -> Capture {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let regs = Registers::here();
        walk(regs, unwinder(), out)
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        let _ = out;
        Capture::UNAVAILABLE
    }
}

/// `out` as a buffer the walks write into.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn as_uninit(out: &mut [usize]) -> &mut [MaybeUninit<usize>] {
    // SAFETY: same layout; the walks only ever write initialised values into it.
    unsafe { &mut *(core::ptr::from_mut(out) as *mut [MaybeUninit<usize>]) }
}

/// Like [`capture`], with the unwinder given here instead of the global choice
/// (for tests and benchmarks that compare unwinders side by side).
#[inline(never)]
pub fn capture_with(unwinder: Unwinder, out: &mut [usize]) -> Capture {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let regs = Registers::here();
        walk(regs, unwinder, as_uninit(out))
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        let _ = (unwinder, out);
        Capture::UNAVAILABLE
    }
}

/// Like [`capture_with`]`(Unwinder::Dwarf, out)`, with every frame unwound by its rule:
/// not by the thread's memo of its previous walk. For tests that check the memo against
/// the walk it stands for.
#[doc(hidden)]
#[inline(never)]
pub fn capture_by_rules(out: &mut [usize]) -> Capture {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let regs = Registers::here();
        dwarf::walk_by_rules(regs, as_uninit(out))
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        let _ = out;
        Capture::UNAVAILABLE
    }
}

/// How many frames the calling thread's walks took from the memo of its previous walk
/// instead of unwinding them by their rules (for tests).
#[doc(hidden)]
pub fn frames_from_memo() -> u64 {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        thread::with_thread(|t| t.with_scratch(|s| s.memo.followed)).flatten().unwrap_or(0)
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        0
    }
}

/// Builds the module list (if not built yet) and the calling thread's scratch space and
/// stack bounds, so that later captures on this thread allocate nothing.
/// Returns false if stacks cannot be captured here (unsupported platform, unknown stack
/// bounds).
pub fn prepare() -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        snapshot::current().is_some()
            && thread::with_thread(|t| t.bounds().is_some() && t.with_scratch(|_| ()).is_some())
                .unwrap_or(false)
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        false
    }
}

/// Re-reads the list of loaded modules now if it changed since it was last read.
///
/// [`capture`] does this by itself when it meets a return address outside every known
/// module (after a `dlopen`); call this after a `dlclose`, so that the unwinder stops
/// using the unloaded module's ranges. Returns true if a new list was installed.
pub fn refresh_modules() -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        snapshot::refresh_if_changed().is_some()
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        false
    }
}

/// Forgets the cached unwind rules of the callers of these return addresses (as
/// [`capture`] wrote them), so that the next capture through them decodes their rules
/// again. For benchmarks of that slow path; never needed otherwise.
#[doc(hidden)]
pub fn forget_cached_rules(return_addresses: &[usize]) {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    for &ra in return_addresses {
        rules::forget(ra.saturating_sub(1));
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    let _ = return_addresses;
}

/// The registers an unwind starts from, read inside the frame of [`capture`].
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[derive(Clone, Copy, Debug)]
struct Registers {
    /// An instruction address inside the function that read the registers.
    pc: usize,
    /// The stack pointer at that instruction.
    sp: usize,
    /// The frame pointer at that instruction.
    bp: usize,
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
impl Registers {
    /// Reads rip, rsp and rbp in the caller's frame (this is always inlined, so the
    /// values describe the function it is written in; the unwind information at `pc`
    /// describes that frame with exactly this `sp`, as the asm block does not move rsp).
    #[inline(always)]
    fn here() -> Registers {
        let (pc, sp, bp): (usize, usize, usize);
        // SAFETY: reads three registers into general-purpose outputs; touches no memory,
        // no stack and no flags.
        unsafe {
            core::arch::asm!(
                "lea {pc}, [rip]",
                "mov {sp}, rsp",
                "mov {bp}, rbp",
                pc = out(reg) pc,
                sp = out(reg) sp,
                bp = out(reg) bp,
                options(nomem, nostack, preserves_flags),
            );
        }
        Registers { pc, sp, bp }
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[inline(always)]
fn walk(regs: Registers, unwinder: Unwinder, out: &mut [MaybeUninit<usize>]) -> Capture {
    match unwinder {
        Unwinder::Dwarf => dwarf::walk(regs, out),
        Unwinder::FramePointer => frame_pointer::walk(regs, out),
    }
}

/// Reads one word of the current thread's stack, if `addr` is 8-aligned and lies in
/// `[lo, last]` (`last` being the highest readable word, 8 below the top of the stack).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[inline(always)]
fn read_stack_word(addr: usize, lo: usize, last: usize) -> Option<usize> {
    if addr < lo || addr > last || addr % 8 != 0 {
        return None;
    }
    // SAFETY: [lo, last + 8) lies between the stack pointer of a live frame of this thread
    // and the top of this thread's stack: mapped, readable memory. Volatile, because the
    // words belong to other frames and the compiler must not reason about them.
    Some(unsafe { core::ptr::read_volatile(core::ptr::with_exposed_provenance::<usize>(addr)) })
}

/// Starts loading the rule-cache slots that the last walk on this thread looked up.
///
/// At a low sample rate the cache's lines have left the CPU caches between two samples,
/// and a walk waits for them one frame after the other, since each frame's rule gives the
/// next frame's address. Successive walks of a thread share most of their frames (the
/// outer ones at least), so loading last walk's slots together, before the walk, turns
/// most of those serial misses into one wait.
#[inline(always)]
pub(crate) fn prefetch_rules() {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if unwinder() == Unwinder::Dwarf {
        thread::with_thread(|t| t.recent_rules().for_each(rules::prefetch));
    }
}

/// What both unwinders start from: the module snapshot and the top of the current
/// thread's stack, or None when either is unknown or `regs.sp` is off the stack.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[inline(always)]
fn walk_start(regs: &Registers) -> Option<(&'static snapshot::Snapshot, usize)> {
    let snapshot = snapshot::current()?;
    let (lo, hi) = thread::with_thread(|t| t.bounds())??;
    (regs.sp >= lo && regs.sp < hi).then_some((snapshot, hi))
}
