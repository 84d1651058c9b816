//! The DWARF unwinder: each frame's rule comes from the shared rule cache, or on a miss
//! from the module's `.eh_frame` (see `cfi`), and is applied to rip/rsp/rbp.

use core::mem::MaybeUninit;
use core::ptr;

use super::cfi::{self, CfiContext, Found};
use super::memo::{Follow, Memo, MemoFrame, RootReads};
use super::rules::{self, Regs, StackRange, Step};
use super::snapshot::{self, Snapshot};
use super::thread;
use super::{Capture, Registers, StackEnd, walk_start};

/// Unwinds from `regs` (read in the frame of `capture`), writing return addresses,
/// the return address of that frame first.
#[inline(always)]
pub(super) fn walk(regs: Registers, out: &mut [MaybeUninit<usize>]) -> Capture {
    walk_with(regs, out, true)
}

/// Like [`walk`], without the thread's memo of its previous walk: every frame by its rule.
#[inline(always)]
pub(super) fn walk_by_rules(regs: Registers, out: &mut [MaybeUninit<usize>]) -> Capture {
    walk_with(regs, out, false)
}

#[inline(always)]
fn walk_with(regs: Registers, out: &mut [MaybeUninit<usize>], use_memo: bool) -> Capture {
    let Some((snapshot, hi)) = walk_start(&regs) else {
        return Capture::UNAVAILABLE;
    };
    // Stack reads are confined to [sp of capture, top of stack - 8].
    let stack = StackRange { lo: regs.sp, last: hi.saturating_sub(8) };
    let regs = Regs { pc: regs.pc, sp: regs.sp, bp: regs.bp };
    thread::with_thread(|t| {
        t.with_scratch(|s| {
            let memo = use_memo.then_some(&mut s.memo);
            unwind(snapshot, regs, &stack, out, Some(&mut s.context), memo)
        })
    })
    .flatten()
    // Re-entered from a signal handler: rules from the cache only, no memo.
    .unwrap_or_else(|| unwind(snapshot, regs, &stack, out, None, None))
}

fn unwind(
    mut snapshot: &'static Snapshot,
    mut regs: Regs,
    stack: &StackRange,
    out: &mut [MaybeUninit<usize>],
    mut context: Option<&mut CfiContext>,
    mut memo: Option<&mut Memo>,
) -> Capture {
    let start_snapshot = snapshot;
    if let Some(memo) = memo.as_deref_mut() {
        memo.begin(ptr::from_ref(snapshot).addr());
    }
    // The first frame is looked up at its pc; callers at their return address minus
    // one (inside the call instruction: a call may be the last instruction of a function).
    let mut lookup = regs.pc;
    let mut len = 0;
    // The rule-cache slots looked up, for the next walk's prefetch (see `prefetch_rules`).
    let mut looked_up = RecentRules { slots: [0; thread::RECENT_RULES], len: 0 };
    // A frame of the previous walk (see `memo`) needs no rule unless the stack changed there.
    let mut matched = memo.as_deref_mut().and_then(|m| m.matching(lookup, &regs));
    let mut rule = if matched.is_some() { None } else { looked_up.cached(lookup) };
    let end = loop {
        if let (Some(start), Some(memo)) = (matched, memo.as_deref_mut()) {
            match memo.follow_from(start, &regs, stack, out, &mut len) {
                Follow::End(end) => break end,
                Follow::Walk => {}
                Follow::Diverged { lookup: at, regs: from } => (lookup, regs) = (at, from),
            }
            rule = looked_up.cached(lookup);
        }
        let mut signal_frame = false;
        let frame = regs;
        let step = match rule {
            Some(rule) => rule.step(&mut regs, stack),
            None => {
                let module = snapshot.module_for(lookup);
                match context.as_deref_mut().map(|ctx| cfi::find(module, lookup, ctx, &mut regs, stack)) {
                    Some(Found::Rule(found)) => {
                        rules::remember(lookup, found);
                        rule = Some(found);
                        found.step(&mut regs, stack)
                    }
                    Some(Found::Applied { step, signal_frame: signal }) => {
                        signal_frame = signal;
                        step
                    }
                    // Re-entered from a signal handler while this thread was evaluating.
                    None => Step::Invalid,
                }
            }
        };
        if let Some(memo) = memo.as_deref_mut() {
            match (rule, step) {
                (Some(rule), Step::Caller) => memo.push(MemoFrame::new(lookup, &frame, rule)),
                (Some(rule), Step::Root) => {
                    memo.push_root(MemoFrame::new(lookup, &frame, rule), RootReads::of(rule, &frame))
                }
                _ => memo.break_chain(),
            }
        }
        match step {
            Step::Caller => {}
            Step::Root => break StackEnd::Root,
            Step::Invalid => break StackEnd::Lost,
        }
        let ra = regs.pc;
        lookup = if signal_frame { ra } else { ra.saturating_sub(1) };
        matched = memo.as_deref_mut().and_then(|m| m.matching(lookup, &regs));
        // Accept only addresses in known code. The memo vouches for the frames it matches,
        // and a cached rule for its address: both were only kept for addresses that passed
        // this check, and are forgotten when a module is unloaded. Otherwise check,
        // refreshing the module list once if the address is new (a module loaded since
        // the snapshot).
        if matched.is_none() {
            rule = looked_up.cached(lookup);
            if rule.is_none() && !snapshot.is_return_address(ra) {
                match snapshot::refresh_for(ra) {
                    Some(fresh) if fresh.is_return_address(ra) => snapshot = fresh,
                    _ => break StackEnd::Lost,
                }
            }
        }
        let Some(slot) = out.get_mut(len) else {
            break StackEnd::Truncated;
        };
        slot.write(ra);
        len += 1;
    };
    thread::with_thread(|t| t.set_recent_rules(&looked_up.slots[..looked_up.len]));
    if snapshot::stale() {
        // Rules may have been read from an unloaded module's bytes (they read as empty,
        // and the frame-pointer rule was used): distrust this stack, replace the list.
        let _ = snapshot::refresh_if_changed();
        if let Some(memo) = memo {
            memo.clear();
        }
        return Capture { len, end: StackEnd::Lost };
    }
    if let Some(memo) = memo {
        if ptr::eq(snapshot, start_snapshot) {
            memo.finish(end, ptr::from_ref(snapshot).addr());
        } else {
            memo.clear();
        }
    }
    Capture { len, end }
}

/// The rule-cache slots a walk looked up, in order, the first `RECENT_RULES` of them.
struct RecentRules {
    slots: [u16; thread::RECENT_RULES],
    len: usize,
}

impl RecentRules {
    /// The cached rule for `lookup`, noting its slot.
    #[inline(always)]
    fn cached(&mut self, lookup: usize) -> Option<rules::Rule> {
        if let Some(slot) = self.slots.get_mut(self.len) {
            *slot = rules::slot_of(lookup);
            self.len += 1;
        }
        rules::cached(lookup)
    }
}
