//! Captures from many threads at once, and while threads tear down their thread-local
//! storage (Rust thread-local destructors, pthread key destructors).

mod stack_support;

use std::cell::Cell;
use std::hint::black_box;
use std::sync::{Arc, Barrier, Mutex};

use heapprof::stack::{Capture, StackEnd, Unwinder, capture_with};
use stack_support::*;

#[inline(never)]
fn level_a(out: &mut [usize]) -> Capture {
    black_box(level_b(out))
}

#[inline(never)]
fn level_b(out: &mut [usize]) -> Capture {
    black_box(level_c(out))
}

#[inline(never)]
fn level_c(out: &mut [usize]) -> Capture {
    black_box(capture_with(Unwinder::Dwarf, out))
}

/// Runs in each thread: the same stack, many times, must come out the same each time.
#[inline(never)]
fn capture_repeatedly(iterations: usize) -> Vec<usize> {
    let mut reference: Option<(Capture, Vec<usize>)> = None;
    let mut out = [0usize; DEPTH];
    for _ in 0..iterations {
        // One call site, so that every capture sees the same stack.
        let c = level_a(&mut out);
        match &reference {
            None => {
                assert_eq!(c.end, StackEnd::Root);
                reference = Some((c, out[..c.len].to_vec()));
            }
            Some((first, frames)) => {
                assert_eq!(c, *first);
                assert_eq!(&out[..c.len], &frames[..]);
            }
        }
    }
    reference.map(|(_, frames)| frames).unwrap_or_default()
}

#[test]
fn eight_threads_capture_concurrently() {
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                capture_repeatedly(20_000)
            })
        })
        .collect();
    for t in threads {
        let frames = t.join().unwrap();
        let names = describe(&frames);
        assert_starts_with_chain(&names, &["level_c", "level_b", "level_a", "capture_repeatedly"]);
        assert!(module_of(*frames.last().unwrap()).contains("libc.so"), "{names:#?}");
    }
}

#[test]
fn many_short_lived_threads() {
    // Threads hand their unwind cache back when they exit; the next ones reuse it.
    for _ in 0..50 {
        let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(|| capture_repeatedly(10).len())).collect();
        for t in threads {
            assert!(t.join().unwrap() > 4);
        }
    }
}

static IN_TEARDOWN: Mutex<Vec<(String, Capture, Vec<usize>)>> = Mutex::new(Vec::new());

fn record(what: &str) {
    let mut out = [0usize; DEPTH];
    let c = level_a(&mut out);
    IN_TEARDOWN.lock().unwrap().push((what.to_string(), c, out[..c.len].to_vec()));
}

struct CaptureOnDrop;

impl Drop for CaptureOnDrop {
    fn drop(&mut self) {
        record("rust tls destructor");
    }
}

thread_local! {
    static GUARD: Cell<Option<CaptureOnDrop>> = const { Cell::new(None) };
}

unsafe extern "C" fn capture_in_key_destructor(_: *mut std::ffi::c_void) {
    record("pthread key destructor");
}

#[test]
fn capture_during_thread_teardown() {
    // A key created now is destroyed after heapprof's own key (created earlier, when
    // the module list was first built): the second capture runs after this thread gave
    // its unwind cache back.
    let mut out = [0usize; DEPTH];
    let _ = level_a(&mut out);
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: plain libc calls; the destructor matches the expected signature.
    unsafe {
        assert_eq!(libc::pthread_key_create(&mut key, Some(capture_in_key_destructor)), 0);
    }
    std::thread::spawn(move || {
        let mut out = [0usize; DEPTH];
        let _ = level_a(&mut out);
        GUARD.with(|g| g.set(Some(CaptureOnDrop)));
        // SAFETY: any non-null value makes the destructor run at thread exit.
        unsafe { libc::pthread_setspecific(key, std::ptr::dangling::<std::ffi::c_void>()) };
    })
    .join()
    .unwrap();
    let seen = IN_TEARDOWN.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "both destructors captured");
    for (what, capture, frames) in seen {
        let names = describe(&frames);
        assert_eq!(capture.end, StackEnd::Root, "{what}: {names:#?}");
        assert_starts_with_chain(&names, &["level_c", "level_b", "level_a", "record"]);
        assert!(module_of(*frames.last().unwrap()).contains("libc.so"), "{what}: {names:#?}");
    }
}
