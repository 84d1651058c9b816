//! The DWARF unwinder: framehop evaluating `.eh_frame` rules, cached per thread.

use core::num::NonZeroU64;

use framehop::x86_64::UnwindRegsX86_64;
use framehop::{FrameAddress, Unwinder as _};

use super::snapshot::{self, Snapshot};
use super::thread::{self, RuleCache};
use super::{Capture, Registers, StackEnd, read_stack_word};

/// Unwinds from `regs` (read in the frame of `capture`), writing return addresses,
/// the return address of that frame first.
#[inline(always)]
pub(super) fn walk(regs: Registers, out: &mut [usize]) -> Capture {
    let Some(snapshot) = snapshot::current() else {
        return Capture::UNAVAILABLE;
    };
    thread::with_thread(|t| {
        let Some((lo, hi)) = t.bounds() else {
            return Capture::UNAVAILABLE;
        };
        if regs.sp < lo || regs.sp >= hi {
            return Capture::UNAVAILABLE;
        }
        t.with_cache(|cache| unwind(snapshot, regs, hi, cache, out))
            .unwrap_or(Capture::UNAVAILABLE)
    })
    .unwrap_or(Capture::UNAVAILABLE)
}

fn unwind(
    mut snapshot: &'static Snapshot,
    regs: Registers,
    stack_hi: usize,
    cache: &mut RuleCache,
    out: &mut [usize],
) -> Capture {
    // Stack reads are confined to [sp of capture, top of stack - 8].
    let lo = regs.sp;
    let last = stack_hi.saturating_sub(8);
    let mut read_stack = |addr: u64| -> Result<u64, ()> {
        let word = read_stack_word(usize::try_from(addr).map_err(|_| ())?, lo, last).ok_or(())?;
        Ok(word as u64)
    };
    let mut unwind_regs = UnwindRegsX86_64::new(regs.pc as u64, regs.sp as u64, regs.bp as u64);
    let mut address = FrameAddress::from_instruction_pointer(regs.pc as u64);
    let mut len = 0;
    let end = loop {
        let return_address =
            match snapshot
                .unwinder
                .unwind_frame(address, &mut unwind_regs, cache, &mut read_stack)
            {
                Ok(Some(ra)) => ra,
                Ok(None) => break StackEnd::Root,
                Err(_) => break StackEnd::Lost,
            };
        let (Ok(ra), Some(nonzero)) = (
            usize::try_from(return_address),
            NonZeroU64::new(return_address),
        ) else {
            break StackEnd::Root;
        };
        // framehop falls back to frame pointers for an address it knows no module for;
        // never let it: check every return address first, refreshing the module list
        // once if it is new (a module loaded since the snapshot).
        if !snapshot.is_return_address(ra) {
            match snapshot::refresh_for(ra) {
                Some(fresh) if fresh.is_return_address(ra) => snapshot = fresh,
                _ => break StackEnd::Lost,
            }
        }
        let Some(slot) = out.get_mut(len) else {
            break StackEnd::Truncated;
        };
        *slot = ra;
        len += 1;
        address = FrameAddress::ReturnAddress(nonzero);
    };
    if snapshot::stale() {
        // Rules may have been read from an unloaded module's bytes (they read as empty,
        // and framehop fell back to frame pointers): distrust this stack, replace the list.
        let _ = snapshot::refresh_if_changed();
        return Capture {
            len,
            end: StackEnd::Lost,
        };
    }
    Capture { len, end }
}
