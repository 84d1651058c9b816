//! The DWARF unwinder captures complete stacks through our code and the (frame-pointer
//! free) standard library, and agrees frame by frame with libgcc's unwinder.

mod stack_support;

use std::hint::black_box;

use heapprof::stack::{Capture, StackEnd, Unwinder, capture_with};
use stack_support::*;

/// A stack captured by us, and libgcc's view from the same function.
struct Seen {
    capture: Capture,
    frames: Vec<usize>,
    libgcc: Vec<usize>,
}

#[inline(never)]
fn chain_one() -> Seen {
    black_box(chain_two())
}

#[inline(never)]
fn chain_two() -> Seen {
    black_box(chain_three())
}

#[inline(never)]
fn chain_three() -> Seen {
    let mut out = [0usize; DEPTH];
    let capture = capture_with(Unwinder::Dwarf, &mut out);
    let libgcc = libgcc_trace();
    black_box(Seen { capture, frames: out[..capture.len].to_vec(), libgcc })
}

fn check_chain(seen: &Seen, chain: &[&str]) -> Vec<String> {
    let names = describe(&seen.frames);
    assert_complete(seen.capture, &seen.frames);
    assert_starts_with_chain(&names, chain);
    assert_matches_libgcc(&seen.frames, &seen.libgcc);
    names
}

#[test]
fn chain_on_a_test_thread_is_complete() {
    let seen = chain_one();
    let names =
        check_chain(&seen, &["chain_three", "chain_two", "chain_one", "chain_on_a_test_thread_is_complete"]);
    // The test harness runs tests in std-spawned threads (or on the main thread with
    // one test thread): either way the walk goes through std into libc's thread start
    // or `main`.
    assert!(names.iter().any(|n| n.contains("std::") || n.contains("test::")), "no std frames: {names:#?}");
}

#[test]
fn inside_a_closure_run_by_thread_spawn() {
    let seen = std::thread::spawn(|| black_box(chain_one())).join().unwrap();
    let names = check_chain(&seen, &["chain_three", "chain_two", "chain_one"]);
    // Past the closure (inlined into std's thread start in release builds): std's
    // thread start, then libc's (start_thread, clone3).
    let thread_start = names.iter().position(|n| n.contains("thread_start")).expect("std's thread start");
    assert!(
        seen.frames[thread_start + 1..].iter().all(|&ra| module_of(ra).contains("libc.so")),
        "only libc after std's thread start: {names:#?}"
    );
}

#[inline(never)]
fn capture_in_adapter(i: u32) -> Option<Seen> {
    black_box((i == 2).then(chain_one))
}

#[test]
fn inside_an_iterator_adapter() {
    let seen: Vec<Seen> = (0..4u32).map(black_box).filter_map(|i| black_box(capture_in_adapter(i))).collect();
    assert_eq!(seen.len(), 1);
    let names = check_chain(&seen[0], &["chain_three", "chain_two", "chain_one"]);
    // In release builds the adapters and the closure are inlined into the test function.
    assert_in_order(&names, &["capture_in_adapter", "inside_an_iterator_adapter"]);
}

#[test]
fn truncation_is_reported() {
    #[inline(never)]
    fn probe(out: &mut [usize]) -> Capture {
        black_box(capture_with(Unwinder::Dwarf, out))
    }
    /// The first two frames (in `probe`, in `shallow`) are the same on every call.
    #[inline(never)]
    fn shallow(len: usize) -> (Capture, Vec<usize>) {
        let mut out = [0usize; DEPTH];
        let c = probe(&mut out[..len]);
        black_box((c, out[..c.len].to_vec()))
    }
    let (whole, whole_frames) = shallow(DEPTH);
    assert_eq!(whole.end, StackEnd::Root);
    assert!(!whole.truncated());
    let (cut, cut_frames) = shallow(2);
    assert_eq!(cut.len, 2);
    assert!(cut.truncated());
    assert_eq!(&cut_frames[..], &whole_frames[..2]);
    let (none, _) = shallow(0);
    assert_eq!(none.len, 0);
    assert!(none.truncated());
    let (exact, _) = shallow(whole.len);
    assert_eq!(exact, whole, "a buffer of exactly the stack's depth is not truncated");
}

#[test]
fn deep_recursion_is_complete_and_truncates_cleanly() {
    #[inline(never)]
    fn recurse(n: u32, out: &mut [usize]) -> Capture {
        if n == 0 {
            black_box(capture_with(Unwinder::Dwarf, out))
        } else {
            black_box(recurse(black_box(n - 1), out))
        }
    }
    let mut out = vec![0usize; 1024];
    let c = recurse(300, &mut out);
    assert_eq!(c.end, StackEnd::Root);
    assert!(c.len > 300);
    let mut short = vec![0usize; 256];
    let c = recurse(300, &mut short);
    assert_eq!(c.len, 256);
    assert!(c.truncated());
}
