//! The stress workload shared by `stress_rate_*.rs` and `stress_threads_fork.rs` (one
//! file per run, so that each is its own process with its own tables): threads allocate
//! blocks of 16 B–64 KiB, free a quarter of them on another thread (through mailboxes),
//! start and join short-lived threads, and one thread forks in the middle of each phase
//! (the child allocates, writes a profile to a file and decodes it). A run is timed (2×
//! then 8× as many threads as cores, a phase each) or counted (a number of threads
//! making a number of allocations each, one phase). At quiescence the exact statistics
//! must equal the workload's own count, no sampled block may remain live, and the
//! profile must decode with zero in-use space on the workload's stacks.
//!
//! Threads are raw pthreads and blocks change hands through preallocated atomic slots,
//! so that nothing but the workload allocates between the two readings of the
//! statistics; the tests run without libtest (`harness = false`) for the same reason.
//!
//! Time: each timed phase runs for 1.5 s (about 5 s per file with the profile). For a soak run,
//! `HEAPPROF_SOAK=1` makes each phase 5 minutes, or `HEAPPROF_SOAK_SECS=N` N seconds:
//! `HEAPPROF_SOAK=1 cargo test --release -p heapprof --test stress_rate_one`. A watchdog
//! aborts the process (a deadlock) when a run takes twice its planned time plus a minute.
//!
//! `HEAPPROF_STRESS_FORK=0` leaves the forks out, for ThreadSanitizer: its runtime does
//! not survive a fork of a multithreaded process (the child hangs on the runtime's own
//! locks), so under TSan the forks are tested by the plain runs only.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};
use std::time::Duration;

const MAILBOX: usize = 4096;
/// Blocks waiting to be freed by another thread; each holds its size in its first 8
/// bytes, so one swap moves a block and its size together.
static MAILBOXES: [AtomicPtr<u8>; MAILBOX] = [const { AtomicPtr::new(std::ptr::null_mut()) }; MAILBOX];
static STOP: AtomicBool = AtomicBool::new(false);
/// Allocations each thread makes in a counted run; 0 in a timed run (until `STOP`).
static ALLOCS_PER_THREAD: AtomicU64 = AtomicU64::new(0);
/// Set by a timed run half-way through a phase; a counted run's thread 0 forks half-way
/// through its allocations if this is set before the threads start.
static FORK_NOW: AtomicBool = AtomicBool::new(false);
static FORKS: AtomicUsize = AtomicUsize::new(0);
static SHORT_LIVED_THREADS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED_OBJECTS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);
static FREED_OBJECTS: AtomicU64 = AtomicU64::new(0);
static FREED_BYTES: AtomicU64 = AtomicU64::new(0);
/// Where the forked child writes its profile (set before the threads start).
static CHILD_PROFILE: AtomicPtr<libc::c_char> = AtomicPtr::new(std::ptr::null_mut());

/// Seconds per phase: short for CI, long for a soak run.
pub fn phase_duration() -> Duration {
    if let Some(secs) = std::env::var("HEAPPROF_SOAK_SECS").ok().and_then(|s| s.parse().ok()) {
        return Duration::from_secs(secs);
    }
    if std::env::var("HEAPPROF_SOAK").as_deref() == Ok("1") {
        return Duration::from_secs(300);
    }
    Duration::from_millis(1500)
}

fn layout(size: usize) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(size, 8).expect("valid layout")
}

fn alloc_block(size: usize) -> *mut u8 {
    // SAFETY: nonzero size, valid alignment.
    let p = unsafe { std::alloc::alloc(layout(size)) };
    assert!(!p.is_null(), "out of memory");
    // SAFETY: every block has at least 16 bytes.
    unsafe { p.write_bytes(0xab, 16) };
    ALLOCATED_OBJECTS.fetch_add(1, Relaxed);
    ALLOCATED_BYTES.fetch_add(size as u64, Relaxed);
    p
}

fn free_block(p: *mut u8, size: usize) {
    // SAFETY: `p` was allocated by `alloc_block` with this size and is freed once.
    unsafe { std::alloc::dealloc(p, layout(size)) };
    FREED_OBJECTS.fetch_add(1, Relaxed);
    FREED_BYTES.fetch_add(size as u64, Relaxed);
}

fn spawn(f: extern "C" fn(*mut libc::c_void) -> *mut libc::c_void, arg: usize) -> libc::pthread_t {
    let mut t: libc::pthread_t = 0;
    // SAFETY: valid out pointer and start routine.
    let rc = unsafe { libc::pthread_create(&mut t, std::ptr::null(), f, arg as *mut libc::c_void) };
    assert_eq!(rc, 0, "pthread_create");
    t
}

fn join(t: libc::pthread_t) {
    // SAFETY: a thread created by `spawn`, joined once.
    assert_eq!(unsafe { libc::pthread_join(t, std::ptr::null_mut()) }, 0, "pthread_join");
}

extern "C" fn thread_main(arg: *mut libc::c_void) -> *mut libc::c_void {
    let index = arg as usize;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (index as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let mut local: [(usize, usize); 64] = [(0, 0); 64];
    let mut n = 0u64;
    let limit = ALLOCS_PER_THREAD.load(Relaxed);
    while !STOP.load(Relaxed) && (limit == 0 || n < limit) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // 16 B to 64 KiB, most of them small.
        let size = 16usize << (rng % 13);
        let size = size + (rng >> 40) as usize % size;
        let p = alloc_block(size);
        n += 1;
        if rng % 4 == 0 {
            // Hand it to whoever takes this mailbox next; free what was there.
            // SAFETY: blocks are at least 16 bytes and 8-aligned.
            unsafe { p.cast::<usize>().write(size) };
            let old = MAILBOXES[(rng >> 20) as usize % MAILBOX].swap(p, AcqRel);
            if !old.is_null() {
                // SAFETY: the sender wrote the size before publishing the block.
                free_block(old, unsafe { old.cast::<usize>().read() });
            }
        } else {
            let k = (rng >> 32) as usize % local.len();
            let (old, old_size) = std::mem::replace(&mut local[k], (p as usize, size));
            if old != 0 {
                free_block(old as *mut u8, old_size);
            }
        }
        if index == 0 && (limit == 0 || n == limit / 2) && FORK_NOW.swap(false, Relaxed) {
            fork_and_check_child();
        }
        if index < 4 && n % 20_000 == 0 {
            join(spawn(short_lived, 0));
        }
    }
    for (p, size) in local {
        if p != 0 {
            free_block(p as *mut u8, size);
        }
    }
    std::ptr::null_mut()
}

/// A thread that allocates, frees and exits while the others run.
extern "C" fn short_lived(_: *mut libc::c_void) -> *mut libc::c_void {
    let mut blocks = [(0usize, 0usize); 100];
    for (i, b) in blocks.iter_mut().enumerate() {
        let size = 32 + i * 40;
        *b = (alloc_block(size) as usize, size);
    }
    for (p, size) in blocks {
        free_block(p as *mut u8, size);
    }
    SHORT_LIVED_THREADS.fetch_add(1, Relaxed);
    std::ptr::null_mut()
}

/// Forks; the child allocates, writes a profile, reads it back and exits.
fn fork_and_check_child() {
    // SAFETY: the child only allocates, writes a file and ends with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: alarm has no preconditions; a hung child dies of SIGALRM.
        unsafe { libc::alarm(60) };
        let v: Vec<Vec<u8>> = (0..2_000).map(|i| vec![1u8; 16 + i % 4096]).collect();
        // SAFETY: set to a leaked, NUL-terminated path before any thread started.
        let path = unsafe { std::ffi::CStr::from_ptr(CHILD_PROFILE.load(Acquire)) };
        let path = std::path::Path::new(path.to_str().unwrap_or_default());
        let ok = heapprof::write_heap_profile(path).is_ok()
            && std::fs::read(path).ok().and_then(|b| heapprof_profile::decode(&b).ok()).is_some()
            && heapprof::stats().live_bytes > 0
            && !v.is_empty();
        // SAFETY: _exit ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child failed: status {status}");
    FORKS.fetch_add(1, Relaxed);
}

/// Aborts the process if it is still running after `limit`.
fn start_watchdog(limit: Duration) {
    static UP: AtomicBool = AtomicBool::new(false);
    std::thread::spawn(move || {
        UP.store(true, Release);
        std::thread::sleep(limit);
        eprintln!("stress test did not finish in {limit:?}: deadlock?");
        std::process::abort();
    });
    // Its start-up allocates: let it finish before counting.
    while !UP.load(Acquire) {
        std::thread::yield_now();
    }
}

/// Sum of sample value `index` over the samples whose stack passes through this
/// module's workload functions.
fn through_workload(p: &heapprof::pprof::Profile, index: usize) -> i64 {
    let in_workload = |id: u64| {
        p.location[id as usize - 1].line.iter().any(|l| {
            let name = p.str(p.function[l.function_id as usize - 1].name);
            name.contains("thread_main") || name.contains("short_lived")
        })
    };
    p.sample.iter().filter(|s| s.location_id.iter().any(|&id| in_workload(id))).map(|s| s.value[index]).sum()
}

/// How long a run goes on.
#[derive(Clone, Copy, Debug)]
pub enum Load {
    /// 2× then 8× as many threads as cores, each phase [`phase_duration`] long.
    Timed,
    /// `threads` threads making `allocs_per_thread` allocations each.
    Counted { threads: usize, allocs_per_thread: u64 },
}

/// Runs the workload at `rate` (None: the default rate) and checks the invariants.
pub fn run(name: &str, rate: Option<u64>, load: Load) {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let phase = phase_duration();
    start_watchdog(match load {
        Load::Timed => phase * 4 + Duration::from_secs(60),
        Load::Counted { .. } => Duration::from_secs(300),
    });
    let dir = std::env::temp_dir().join(format!("heapprof-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let child_profile = std::ffi::CString::new(dir.join("child.pb.gz").into_os_string().into_encoded_bytes())
        .expect("path without NUL");
    CHILD_PROFILE.store(child_profile.into_raw(), Release);
    if let Some(rate) = rate {
        heapprof::set_sample_rate(rate);
    }
    let rate = heapprof::sample_rate();
    let forks = std::env::var("HEAPPROF_STRESS_FORK").as_deref() != Ok("0");
    let phases: &[usize] = match load {
        Load::Timed => &[2 * cores, 8 * cores],
        Load::Counted { ref threads, .. } => std::slice::from_ref(threads),
    };
    let mut threads = Vec::with_capacity(8 * cores);

    let before = heapprof::stats();
    for &count in phases {
        threads.clear();
        STOP.store(false, Relaxed);
        if let Load::Counted { allocs_per_thread, .. } = load {
            ALLOCS_PER_THREAD.store(allocs_per_thread, Relaxed);
            FORK_NOW.store(forks, Relaxed);
        }
        for i in 0..count {
            threads.push(spawn(thread_main, i));
        }
        if let Load::Timed = load {
            std::thread::sleep(phase / 2);
            FORK_NOW.store(forks, Relaxed);
            std::thread::sleep(phase / 2);
            STOP.store(true, Relaxed);
        }
        for &t in &threads {
            join(t);
        }
    }
    for slot in &MAILBOXES {
        let p = slot.swap(std::ptr::null_mut(), Acquire);
        if !p.is_null() {
            // SAFETY: the sender wrote the size before publishing the block.
            free_block(p, unsafe { p.cast::<usize>().read() });
        }
    }
    let after = heapprof::stats();

    let allocated = after.allocated_objects - before.allocated_objects;
    let freed = after.freed_objects - before.freed_objects;
    assert_eq!(FORKS.load(Relaxed), if forks { phases.len() } else { 0 }, "one fork per phase");
    assert_eq!(allocated, ALLOCATED_OBJECTS.load(Relaxed), "allocations counted exactly");
    if let Load::Counted { threads, allocs_per_thread } = load {
        let short_lived = SHORT_LIVED_THREADS.load(Relaxed) as u64;
        assert_eq!(
            allocated,
            threads as u64 * allocs_per_thread + short_lived * 100,
            "every thread finished"
        );
    }
    assert_eq!(after.allocated_bytes - before.allocated_bytes, ALLOCATED_BYTES.load(Relaxed));
    assert_eq!(freed, FREED_OBJECTS.load(Relaxed), "frees counted exactly");
    assert_eq!(after.freed_bytes - before.freed_bytes, FREED_BYTES.load(Relaxed));
    assert_eq!(allocated, freed, "everything allocated was freed");
    assert_eq!(after.live_bytes, before.live_bytes, "live bytes = allocations - frees");
    assert_eq!(after.live_samples, before.live_samples, "no sampled block left in the live table");
    let dropped = after.dropped_samples - before.dropped_samples;

    let path = dir.join("parent.pb.gz");
    heapprof::write_heap_profile(&path).expect("write the profile");
    let profile = heapprof_profile::decode(&std::fs::read(&path).expect("read it")).expect("it decodes");
    let index = |t: &str| profile.sample_type.iter().position(|vt| profile.str(vt.r#type) == t).expect(t);
    assert_eq!(
        through_workload(&profile, index("inuse_space")),
        0,
        "nothing in use on the workload's stacks"
    );
    assert_eq!(through_workload(&profile, index("inuse_objects")), 0);
    let sampled = through_workload(&profile, index("alloc_objects"));
    if rate == 1 {
        // Every allocation is a sample, recorded or (a lock held too long) dropped.
        assert_eq!(sampled as u64 + dropped, allocated, "rate 1: samples + drops = allocations");
    } else {
        assert!(sampled > 0, "some samples at rate {rate}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let plan = match load {
        Load::Timed => format!("2x and 8x threads for {phase:?} each"),
        Load::Counted { threads, allocs_per_thread } => {
            format!("{threads} threads x {allocs_per_thread} allocations")
        }
    };
    println!(
        "{name}: rate {rate}, {cores} cores, {plan}: {allocated} allocations, \
         {} short-lived threads, {} forks, {dropped} samples dropped, {} stack records: ok",
        SHORT_LIVED_THREADS.load(Relaxed),
        FORKS.load(Relaxed),
        after.stack_records
    );
}
