//! A walk that ends on the memo of the thread's previous walk gives the stack that
//! unwinding every frame by its rule gives, when the frames at the same stack addresses
//! belong to other functions and other callers from one capture to the next.

use std::hint::black_box;

use heapprof::stack::{Capture, StackEnd, Unwinder, capture_by_rules, capture_with, frames_from_memo};

const DEPTH: usize = 256;

/// Two captures from the same frame: through the memo, then by the rules alone.
#[derive(Debug)]
struct Pair {
    memo: Capture,
    memo_frames: Vec<usize>,
    rules: Capture,
    rules_frames: Vec<usize>,
}

#[inline(never)]
fn leaf() -> Pair {
    let mut out = [0usize; DEPTH];
    let memo = capture_with(Unwinder::Dwarf, &mut out);
    let memo_frames = out[..memo.len].to_vec();
    let rules = capture_by_rules(&mut out);
    let rules_frames = out[..rules.len].to_vec();
    black_box(Pair { memo, memo_frames, rules, rules_frames })
}

fn check(pair: &Pair, what: &str) {
    assert_eq!(pair.memo.end, StackEnd::Root, "{what}: {pair:x?}");
    assert_eq!(pair.rules.end, StackEnd::Root, "{what}: {pair:x?}");
    // The first address returns into `leaf` from each capture's own call.
    assert_eq!(pair.memo_frames[1..], pair.rules_frames[1..], "{what}: the memo's stack differs");
}

// Three callers with the same frame layout: `leaf`'s frame lands at the same address
// under each, with a different return address above it.

#[inline(never)]
fn via_a(depth: u32) -> Pair {
    black_box(if depth == 0 { leaf() } else { pick(depth - 1) })
}

#[inline(never)]
fn via_b(depth: u32) -> Pair {
    black_box(if depth == 0 { leaf() } else { pick(depth - 1) })
}

/// A larger frame: the frames above it move.
#[inline(never)]
fn via_c(depth: u32) -> Pair {
    let pad = black_box([depth as u8; 200]);
    let pair = if depth == 0 { leaf() } else { pick(depth - 1) };
    black_box(pad);
    black_box(pair)
}

thread_local! {
    static PATH: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Calls one of the three, chosen by the next two bits of the thread's path.
#[inline(never)]
fn pick(depth: u32) -> Pair {
    let choice = PATH.with(|p| {
        let bits = p.get();
        p.set(bits.rotate_right(2));
        bits % 3
    });
    match choice {
        0 => via_a(depth),
        1 => via_b(depth),
        _ => via_c(depth),
    }
}

/// xorshift64: the test's own random paths, the same on every run.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn random_walks(seed: u64, rounds: usize) {
    let mut state = seed;
    for round in 0..rounds {
        let path = next(&mut state);
        let depth = (next(&mut state) % 24) as u32;
        PATH.with(|p| p.set(path));
        let pair = pick(depth);
        check(&pair, &format!("round {round}, depth {depth}, path {path:#x}"));
    }
}

#[test]
fn same_frames_under_changing_callers() {
    let before = frames_from_memo();
    // The same call twice, then alternating callers at the same addresses.
    for (i, first) in [via_a, via_a, via_b, via_a, via_c, via_b, via_b].into_iter().enumerate() {
        check(&first(0), &format!("call {i}"));
        check(&first(3), &format!("call {i}, 3 deep"));
    }
    assert!(frames_from_memo() > before, "no walk ended on its memo: the test checks nothing");
}

#[test]
fn random_paths_and_depths() {
    let before = frames_from_memo();
    random_walks(0x9e37_79b9_7f4a_7c15, 3000);
    assert!(frames_from_memo() > before, "no walk ended on its memo: the test checks nothing");
}

#[test]
fn random_paths_on_several_threads() {
    let threads: Vec<_> = (1..=4u64)
        .map(|t| std::thread::spawn(move || random_walks(t.wrapping_mul(0x2545_f491), 2000)))
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
