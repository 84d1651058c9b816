//! Captures on the main thread (down to `main` and `_start`) and in forked children.
//!
//! Runs without libtest (`harness = false`): libtest runs every test on a thread of its
//! own, and forking is only tidy when this process controls all of its threads.

mod stack_support;

use std::hint::black_box;

use heapprof::stack::{Capture, StackEnd, Unwinder, capture_with};
use stack_support::*;

#[inline(never)]
fn outer() -> (Capture, Vec<usize>, Vec<usize>) {
    black_box(inner())
}

#[inline(never)]
fn inner() -> (Capture, Vec<usize>, Vec<usize>) {
    let mut out = [0usize; DEPTH];
    let capture = capture_with(Unwinder::Dwarf, &mut out);
    let libgcc = libgcc_trace();
    black_box((capture, out[..capture.len].to_vec(), libgcc))
}

fn main_thread_reaches_start() {
    let (capture, frames, libgcc) = outer();
    assert_complete(capture, &frames);
    let names = describe(&frames);
    assert_starts_with_chain(&names, &["inner", "outer"]);
    assert_in_order(&names, &["main_thread_reaches_start", "main"]);
    assert!(
        names.last().is_some_and(|n| n.contains("_start")),
        "the main thread's stack ends in _start: {names:#?}"
    );
    assert_matches_libgcc(&frames, &libgcc);
}

/// Captures at one call site, so that parent and child stacks can be compared.
#[inline(never)]
fn probe() -> (Capture, Vec<usize>) {
    let mut out = [0usize; DEPTH];
    let capture = capture_with(Unwinder::Dwarf, &mut out);
    black_box((capture, out[..capture.len].to_vec()))
}

/// Forks; the child runs `check` and exits 0 if it returns true. Returns the child's
/// exit status.
fn in_child(check: impl FnOnce() -> bool) -> i32 {
    // SAFETY: the child only captures, compares and `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).unwrap_or(false);
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waits for the child we just forked.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    status
}

#[inline(never)]
fn fork_and_compare() {
    // Twice through the same call site of `probe`: once in the parent, once in the child.
    let mut parent: Option<(Capture, Vec<usize>)> = None;
    for round in 0..2 {
        if round == 1 {
            // SAFETY: the child only captures, compares and `_exit`s.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid > 0 {
                let mut status = 0;
                // SAFETY: waits for the child we just forked.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                assert_eq!(status, 0, "the forked child captured a different stack");
                return;
            }
        }
        let seen = probe();
        match &parent {
            None => parent = Some(seen),
            Some(expected) => {
                // The loop may be unrolled: frame 1 (the return address into this
                // function) may differ; the rest may not.
                let same = seen.0.end == StackEnd::Root
                    && seen.1.len() == expected.1.len()
                    && seen.1.len() > 2
                    && seen.1[0] == expected.1[0]
                    && seen.1[2..] == expected.1[2..];
                // SAFETY: ends the child without running the parent's exit handlers.
                unsafe { libc::_exit(if same { 0 } else { 1 }) };
            }
        }
    }
}

fn forked_child_of_the_main_thread() {
    fork_and_compare();
}

fn forked_child_of_a_thread_that_never_captured() {
    std::thread::spawn(|| {
        // The child allocates this thread's first unwind cache after the fork.
        let status = in_child(|| {
            let (capture, frames) = probe();
            capture.end == StackEnd::Root
                && frames.len() > 3
                && module_of(*frames.last().unwrap()).contains("libc.so")
        });
        assert_eq!(status, 0, "capture failed in the forked child of a fresh thread");
    })
    .join()
    .unwrap();
}

fn forked_child_while_other_threads_capture() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut out = [0usize; DEPTH];
                while !stop.load(Ordering::Relaxed) {
                    let c = capture_with(Unwinder::Dwarf, &mut out);
                    assert_eq!(c.end, StackEnd::Root);
                }
            })
        })
        .collect();
    for _ in 0..20 {
        fork_and_compare();
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
}

fn main() {
    let tests: [(&str, fn()); 4] = [
        ("main_thread_reaches_start", main_thread_reaches_start),
        ("forked_child_of_the_main_thread", forked_child_of_the_main_thread),
        ("forked_child_of_a_thread_that_never_captured", forked_child_of_a_thread_that_never_captured),
        ("forked_child_while_other_threads_capture", forked_child_while_other_threads_capture),
    ];
    let mut failed = 0;
    for (name, test) in tests {
        match std::panic::catch_unwind(test) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!("stack_main_thread: {} passed, {failed} failed", tests.len() - failed);
    if failed > 0 {
        std::process::exit(1);
    }
}
