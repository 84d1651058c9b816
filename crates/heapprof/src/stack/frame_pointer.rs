//! The frame-pointer unwinder: follows the `rbp` chain. Each frame of a function built
//! with frame pointers holds `[rbp] = caller's rbp, [rbp + 8] = return address`.

use core::mem::MaybeUninit;

use super::snapshot;
use super::{Capture, Registers, StackEnd, read_stack_word, walk_start};

/// Walks the frame-pointer chain from `regs.bp`, the frame pointer of `capture` when
/// heapprof is built with frame pointers (then its first return address is the one
/// into the caller of `capture`).
#[inline(always)]
pub(super) fn walk(regs: Registers, out: &mut [MaybeUninit<usize>]) -> Capture {
    let Some((snapshot, hi)) = walk_start(&regs) else {
        return Capture::UNAVAILABLE;
    };
    let mut snapshot = snapshot;
    let last = hi.saturating_sub(8);
    // Each frame record must lie above the previous one: the walk cannot loop.
    let mut floor = regs.sp;
    let mut fp = regs.bp;
    let mut len = 0;
    let end = loop {
        if fp == 0 {
            // The outermost frame clears rbp; but capture always has a caller, so a
            // zero before any frame means rbp was not a frame pointer.
            break if len == 0 { StackEnd::Lost } else { StackEnd::Root };
        }
        let (Some(caller_fp), Some(ra)) = (
            read_stack_word(fp, floor, last),
            fp.checked_add(8).and_then(|a| read_stack_word(a, floor, last)),
        ) else {
            break StackEnd::Lost;
        };
        if ra == 0 {
            break StackEnd::Root;
        }
        if !snapshot.is_return_address(ra) {
            match snapshot::refresh_for(ra) {
                Some(fresh) if fresh.is_return_address(ra) => snapshot = fresh,
                _ => break StackEnd::Lost,
            }
        }
        let Some(slot) = out.get_mut(len) else {
            break StackEnd::Truncated;
        };
        slot.write(ra);
        len += 1;
        let Some(next_floor) = fp.checked_add(16) else {
            break StackEnd::Lost;
        };
        floor = next_floor;
        fp = caller_fp;
    };
    Capture { len, end }
}
