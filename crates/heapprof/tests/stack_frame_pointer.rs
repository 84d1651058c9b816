//! The frame-pointer unwinder: never reads outside the stack nor returns a non-code
//! address, whatever `rbp` holds; and how much of the stack it finds compared with the
//! DWARF unwinder (printed; run with `--nocapture`).
//!
//! In a build with `-C force-frame-pointers=yes`, set `HEAPPROF_TEST_FRAME_POINTERS=1`:
//! the test then also requires the frame-pointer stack to match the DWARF one through
//! our own frames (the precompiled standard library has no frame pointers, so the chain
//! may break or skip frames beyond them).

mod stack_support;

use std::hint::black_box;

use heapprof::stack::{Capture, StackEnd, Unwinder, capture_with};
use stack_support::*;

#[inline(never)]
fn descend(n: u32, unwinder: Unwinder, out: &mut [usize]) -> Capture {
    if n == 0 {
        black_box(capture_with(unwinder, out))
    } else {
        black_box(descend(black_box(n - 1), unwinder, out))
    }
}

/// Both unwinders from the same call site of `capture_with`.
#[inline(never)]
fn both(n: u32) -> (Vec<usize>, Capture, Vec<usize>, Capture) {
    let mut out = [[0usize; DEPTH]; 2];
    let mut captures = [None; 2];
    for (i, unwinder) in [Unwinder::Dwarf, Unwinder::FramePointer].into_iter().enumerate() {
        captures[i] = Some(descend(n, unwinder, &mut out[i]));
    }
    let (d, f) = (captures[0].unwrap(), captures[1].unwrap());
    (out[0][..d.len].to_vec(), d, out[1][..f.len].to_vec(), f)
}

#[test]
fn frame_pointer_stacks_are_valid_and_measured() {
    let with_frame_pointers = std::env::var_os("HEAPPROF_TEST_FRAME_POINTERS").is_some();
    for depth in [0, 5, 20, 50] {
        let (dwarf, d, fp, f) = both(depth);
        assert_eq!(d.end, StackEnd::Root);
        // Whatever it found is code: each address resolves to a function.
        for &ra in &fp {
            assert!(!names_at(ra).is_empty() || module_of(ra) != "<none>", "{ra:#x}");
        }
        let found = dwarf.iter().filter(|ra| fp.contains(ra)).count();
        let leading = dwarf.iter().zip(&fp).take_while(|(a, b)| a == b).count();
        println!(
            "recursion {depth:2}: dwarf {} frames ({:?}); frame pointers {} frames ({:?}), \
             {found} of the dwarf frames found, the first {leading} identical",
            dwarf.len(),
            d.end,
            fp.len(),
            f.end
        );
        if with_frame_pointers {
            // Our frames: `descend` depth + 1 times (the frame after them, the return
            // address into `both`, depends on how its loop was compiled).
            let ours = depth as usize + 1;
            assert!(leading >= ours, "dwarf {:#?}\nfp {:#?}", describe(&dwarf), describe(&fp));
        }
    }
}

#[test]
fn garbage_frame_pointers_are_harmless() {
    // Fill the stack below us with words that look like frame records pointing
    // everywhere, then walk from frames whose rbp is whatever the compiler left there.
    #[inline(never)]
    fn scribble(n: u32) -> u64 {
        let mut junk = [0usize; 64];
        let base = &raw const junk as usize;
        for (i, w) in junk.iter_mut().enumerate() {
            *w = match i % 4 {
                0 => base + i * 8,
                1 => usize::MAX - i,
                2 => both as *const () as usize + i,
                _ => 8 * i,
            };
        }
        black_box(&mut junk);
        if n == 0 { 0 } else { black_box(scribble(n - 1)) + 1 }
    }
    for round in 0..200u32 {
        black_box(scribble(round % 16));
        let (_, _, fp, f) = both(round % 7);
        assert!(f.len == fp.len() && fp.len() <= DEPTH);
    }
}
