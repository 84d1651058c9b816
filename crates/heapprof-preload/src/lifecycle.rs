//! The library's life in the host process: the constructor that reads the
//! settings and starts what was asked for, the exit handler that writes the
//! profile, what a forked child does, and what programs this one `exec`s inherit.
//!
//! Which process writes where: `heapprof run` sets `HEAPPROF_MAIN_PID` to a run
//! of zeros; the first process to load the library writes its pid over them, in
//! place (no allocation), and every process started from it inherits the
//! variable. A process whose pid is that one (the program, also after an `exec`
//! that keeps its pid) writes the output path; any other (a forked child, or a
//! program it started) writes `<output stem>.<pid>.pb.gz` if forks are followed,
//! else nothing. Without the variable (plain `LD_PRELOAD`), every process is its
//! own main process: use `%p` in `HEAPPROF_OUTPUT` to keep their files apart.

use std::ffi::CStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::*};

use heapprof::__preload as hooks;

use crate::settings::{self, Settings, warn_parts};
use crate::writer;

static SETTINGS: OnceLock<Settings> = OnceLock::new();
static MAIN_PID: AtomicI32 = AtomicI32::new(0);
static EXIT_WRITTEN: AtomicBool = AtomicBool::new(false);

// The constructor: the dynamic loader calls everything in `.init_array` before
// the program's `main` (after libc is initialised).
#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: extern "C" fn() = start;

extern "C" fn start() {
    // Resolve the real allocator now rather than in the middle of some later call.
    let _ = crate::real::get();
    // What the library allocates for itself is not the program's.
    hooks::quietly(set_up);
}

fn set_up() {
    let settings = SETTINGS.get_or_init(settings::load);
    claim_main_pid();
    if !settings.follow_exec {
        remove_from_ld_preload();
    }
    hooks::ensure_fork_handlers();
    // SAFETY: registering extern "C" functions that do not unwind; the child
    // handler only stores flags and edits the environment in place.
    unsafe { libc::pthread_atfork(None, None, Some(in_forked_child)) };
    // SAFETY: as above; the handler catches every failure itself.
    if unsafe { libc::atexit(at_exit) } != 0 {
        warn_parts(&[b"heapprof: atexit failed; no profile will be written at exit"]);
    }
    if writes_profile(settings) {
        writer::check_output(settings);
        writer::start_background(settings);
    }
}

pub(crate) fn settings() -> Option<&'static Settings> {
    SETTINGS.get()
}

fn own_pid() -> i32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

/// Whether this process is the one `heapprof run` started (or, without it, any process).
pub(crate) fn is_main_process() -> bool {
    MAIN_PID.load(Relaxed) == own_pid()
}

/// Whether this process writes profiles at all.
pub(crate) fn writes_profile(settings: &Settings) -> bool {
    is_main_process() || settings.follow_fork
}

fn claim_main_pid() {
    let pid = own_pid();
    // SAFETY: getenv with a NUL-terminated name.
    let p = unsafe { libc::getenv(c"HEAPPROF_MAIN_PID".as_ptr()) };
    if p.is_null() {
        MAIN_PID.store(pid, Relaxed);
        return;
    }
    // SAFETY: getenv returns a NUL-terminated string in the (writable) environment block.
    let len = unsafe { CStr::from_ptr(p) }.to_bytes().len();
    // SAFETY: `p` points to `len` writable bytes of the environment block.
    let value = unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) };
    if !value.is_empty() && value.iter().all(|&c| c == b'0') {
        // The placeholder: we are the first. Digits of our pid, right-aligned.
        let mut n = pid as u32;
        for c in value.iter_mut().rev() {
            *c = b'0' + (n % 10) as u8;
            n /= 10;
        }
        if n != 0 {
            warn_parts(&[
                b"heapprof: HEAPPROF_MAIN_PID is too short for this pid; children will not be told apart",
            ]);
        }
        MAIN_PID.store(pid, Relaxed);
        return;
    }
    match std::str::from_utf8(value).ok().and_then(|s| s.trim().parse::<i32>().ok()) {
        Some(main) if main > 0 => MAIN_PID.store(main, Relaxed),
        _ => {
            warn_parts(&[
                b"heapprof: HEAPPROF_MAIN_PID=",
                value,
                b" is not a pid; this process counts as the main one",
            ]);
            MAIN_PID.store(pid, Relaxed);
        }
    }
}

/// Blanks this library's entries out of `LD_PRELOAD`, in place, so that programs
/// this process `exec`s do not load it. The loader read the variable at start-up,
/// so this process is unaffected.
fn remove_from_ld_preload() {
    let mut info: libc::Dl_info = unsafe_zeroed_dl_info();
    // SAFETY: dladdr with the address of one of our functions and a valid out struct.
    if unsafe { libc::dladdr(start as *const libc::c_void, &mut info) } == 0 || info.dli_fname.is_null() {
        return;
    }
    // SAFETY: dli_fname is a NUL-terminated path owned by the loader.
    let own = unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes();
    let own_name = own.rsplit(|&c| c == b'/').next().unwrap_or(own);
    // SAFETY: getenv with a NUL-terminated name.
    let p = unsafe { libc::getenv(c"LD_PRELOAD".as_ptr()) };
    if p.is_null() {
        return;
    }
    // SAFETY: a NUL-terminated string in the writable environment block.
    let len = unsafe { CStr::from_ptr(p) }.to_bytes().len();
    // SAFETY: `p` points to `len` writable bytes.
    let value = unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) };
    for entry in value.split_mut(|&c| c == b':' || c == b' ') {
        let name = entry.rsplit(|&c| c == b'/').next().unwrap_or(entry);
        if !name.is_empty() && name == own_name {
            // The loader splits the list on spaces and colons: blanks are no entry.
            entry.fill(b' ');
        }
    }
}

fn unsafe_zeroed_dl_info() -> libc::Dl_info {
    libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    }
}

/// `pthread_atfork` child handler. The parent's threads did not survive the fork. If
/// forks are followed, the child writes its own profile at exit and restarts the
/// periodic writer (not the HTTP server: the port is the parent's); starting a thread
/// is not safe in a fork handler, so that waits for the child's first allocation, and
/// a child that `exec`s first starts nothing. A child that forks are not followed in
/// keeps programs it `exec`s from loading the library.
extern "C" fn in_forked_child() {
    let Some(settings) = settings() else { return };
    if !settings.follow_fork {
        remove_from_ld_preload();
    } else if settings.every.is_some() {
        hooks::at_next_allocation(restart_periodic_writer);
    }
}

fn restart_periodic_writer() {
    if let Some(settings) = settings() {
        writer::start_periodic(settings);
    }
}

/// The exit handler (`atexit`, registered before the program's own, so it runs
/// after them and sees the frees they make).
extern "C" fn at_exit() {
    if EXIT_WRITTEN.swap(true, AcqRel) {
        return;
    }
    let Some(settings) = settings() else { return };
    if writes_profile(settings) {
        writer::write_exit_profile(settings);
    }
}
