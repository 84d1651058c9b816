//! The previous walk of a thread, kept so that the next walk can stop early.
//!
//! Successive samples of a thread share most of their stack: the outer frames (the
//! thread's start, `main`, a request loop) are the same activations, suspended where
//! they were. A DWARF walk is a function of the starting registers, of the stack words
//! each frame's rule reads, and of the rules (facts about the code, fixed while the
//! module snapshot is). So when a walk reaches a frame whose registers match a frame of
//! the previous walk, and the words that walk read from there on still hold the values
//! it read, the rest of the walk is the previous one's. [`Memo::follow_from`] checks those
//! words and copies the return addresses, with no rule lookups and no decoding; where a
//! word differs, the walk goes on with the rules from the frame where it did.
//!
//! The words' addresses are all known before they are read, so with cold caches (a
//! sample every 512 KiB) their loads overlap, where a walk waits for each frame's rule
//! before it can read the next frame.

use core::mem::MaybeUninit;
use core::ptr;

use super::StackEnd;
use super::rules::{Base, Regs, Rule, StackRange};

/// The most frames a thread remembers (the outer ones of its last walk).
pub(super) const MEMO_FRAMES: usize = 64;

/// `MemoFrame::bp_offset` of a rule that leaves rbp unchanged.
const BP_UNCHANGED: i32 = i32::MIN;

/// One frame of a walk: its registers, and what its rule reads from the stack.
#[derive(Clone, Copy, Debug)]
pub(super) struct MemoFrame {
    /// The address its rule was looked up at.
    lookup: usize,
    sp: usize,
    bp: usize,
    /// Where the rule reads the caller's rbp, from the CFA (the caller's sp);
    /// `BP_UNCHANGED` if it passes rbp on.
    bp_offset: i32,
    /// The rule computes the CFA from rbp.
    uses_bp: bool,
    /// The walk from this frame to the root depends on this frame's rbp: its rule uses
    /// it, or passes it on unchanged to a frame whose walk does.
    bp_needed: bool,
}

impl MemoFrame {
    /// The frame at `lookup` with registers `regs`, unwound by `rule`.
    pub(super) fn new(lookup: usize, regs: &Regs, rule: Rule) -> MemoFrame {
        let (uses_bp, bp_offset) = match rule {
            Rule::EndOfStack => (false, BP_UNCHANGED),
            Rule::Cfa { base, bp_offset, .. } => (base == Base::Rbp, bp_offset.unwrap_or(BP_UNCHANGED)),
        };
        MemoFrame { lookup, sp: regs.sp, bp: regs.bp, bp_offset, uses_bp, bp_needed: uses_bp }
    }
}

/// What a frame whose rule ended the walk read: the slot that held a zero return address
/// (0 for a rule that says "end of stack") and the saved-rbp slot it read (0: none).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RootReads {
    ra_slot: usize,
    bp_slot: usize,
}

impl RootReads {
    /// The reads of `rule` applied to `regs` in a frame that `Rule::step` found to be the root.
    pub(super) fn of(rule: Rule, regs: &Regs) -> RootReads {
        let Rule::Cfa { base, cfa_offset, bp_offset } = rule else {
            return RootReads::default();
        };
        let base = match base {
            Base::Rsp => regs.sp,
            Base::Rbp => regs.bp,
        };
        // `step` computed the same sums without overflow before it found the zero.
        let cfa = base.wrapping_add(cfa_offset as usize);
        let bp_slot = bp_offset.map_or(0, |off| cfa.wrapping_add_signed(off as isize));
        RootReads { ra_slot: cfa.wrapping_sub(8), bp_slot }
    }
}

/// What [`Memo::follow_from`] did.
pub(super) enum Follow {
    /// The stack changed right above the frame: walk it.
    Walk,
    /// The walk ended on the previous walk's frames.
    End(StackEnd),
    /// The frames up to this one were the previous walk's, this one's next word differs:
    /// walk on from here.
    Diverged { lookup: usize, regs: Regs },
}

/// A thread's previous walk (root first), and the frames the current walk unwound by
/// itself (leaf first), which become the next walk's memo.
///
/// In C order, the counters a walk that ends on the memo reads and writes first, in one
/// line: at the default rate the memo is cold at each sample, and each of its lines a
/// walk touches is a first-level miss.
#[repr(C, align(64))]
pub(super) struct Memo {
    /// The module snapshot the frames were unwound with (0: none).
    snapshot: usize,
    len: usize,
    /// Frames not yet matched by the current walk are `frames[..cursor]`.
    cursor: usize,
    /// How many of `frames` the current walk ended on (0: it ended by itself).
    kept: usize,
    /// `reads`, `reads_upto` and `span_upto` hold frames `..indexed`, filled when a walk
    /// first checks them (a walk whose stack changes deep down keeps few of its
    /// predecessor's frames). `finish` lowers it to the frames kept, which is none after
    /// the memo was emptied.
    indexed: usize,
    /// The current walk's own frames: `fresh` holds the last `MEMO_FRAMES` of `fresh_len`.
    fresh_len: usize,
    /// Frames this thread's walks took from their memo, in all (for tests).
    pub(super) followed: u64,
    fresh_root: Option<RootReads>,
    root: RootReads,
    /// Every word a walk from `frames[k]` reads whose value matters, with that value,
    /// frame 0's first: `reads[..reads_upto[k]]` are those of frames `0..=k`, and all
    /// the addresses those frames read lie in `span_upto[k]`. A walk that ends on the
    /// memo from frame `k` checks them in one pass, with one branch at the end.
    reads_upto: [u8; MEMO_FRAMES],
    span_upto: [(usize, usize); MEMO_FRAMES],
    reads: [(usize, usize); 2 * MEMO_FRAMES],
    /// Frame `k`'s return address (`frames[k].lookup + 1`), which a walk that ends on
    /// the memo copies out: 8 bytes a frame, where `frames` takes 40.
    returns: [usize; MEMO_FRAMES],
    frames: [MaybeUninit<MemoFrame>; MEMO_FRAMES],
    fresh: [MaybeUninit<MemoFrame>; MEMO_FRAMES],
}

// The counters above `fresh_root` share the struct's first line.
const _: () = assert!(std::mem::offset_of!(Memo, fresh_root) <= 64);

impl Memo {
    pub(super) const fn new() -> Memo {
        Memo {
            snapshot: 0,
            len: 0,
            cursor: 0,
            kept: 0,
            indexed: 0,
            fresh_len: 0,
            followed: 0,
            fresh_root: None,
            root: RootReads { ra_slot: 0, bp_slot: 0 },
            reads_upto: [0; MEMO_FRAMES],
            span_upto: [(0, 0); MEMO_FRAMES],
            reads: [(0, 0); 2 * MEMO_FRAMES],
            returns: [0; MEMO_FRAMES],
            frames: [MaybeUninit::uninit(); MEMO_FRAMES],
            fresh: [MaybeUninit::uninit(); MEMO_FRAMES],
        }
    }

    /// Forgets the previous walk (a slot handed to another thread).
    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// Starts a walk with the module snapshot at `snapshot`.
    pub(super) fn begin(&mut self, snapshot: usize) {
        if self.snapshot != snapshot {
            self.len = 0;
        }
        self.cursor = self.len.min(MEMO_FRAMES);
        self.kept = 0;
        self.fresh_len = 0;
        self.fresh_root = None;
    }

    fn frame(&self, i: usize) -> MemoFrame {
        // SAFETY: callers pass i < self.len (≤ MEMO_FRAMES); frames[..len] were written
        // by `finish`.
        unsafe { self.frames[i].assume_init() }
    }

    /// Before a frame is walked: if it is one of the previous walk's frames (same
    /// address looked up, same sp, same rbp where that matters), its index, for
    /// [`Memo::follow_from`].
    #[inline(always)]
    pub(super) fn matching(&mut self, lookup: usize, regs: &Regs) -> Option<usize> {
        // Frames lie at rising addresses from the leaf: skip those below this one.
        while self.cursor > 0 && self.frame(self.cursor - 1).sp < regs.sp {
            self.cursor -= 1;
        }
        let start = self.cursor.checked_sub(1)?;
        let f = self.frame(start);
        (f.sp == regs.sp && f.lookup == lookup && (!f.bp_needed || f.bp == regs.bp)).then_some(start)
    }

    /// Follows the previous walk from its frame `start`, which [`Memo::matching`] found to
    /// be the frame with registers `regs`, while the stack still holds what that walk
    /// read, writing return addresses to `out` from `*len` on.
    #[inline(never)]
    pub(super) fn follow_from(
        &mut self,
        start: usize,
        regs: &Regs,
        stack: &StackRange,
        out: &mut [MaybeUninit<usize>],
        len: &mut usize,
    ) -> Follow {
        if let Some(end) = self.follow_checked(start, stack, out, len) {
            return Follow::End(end);
        }
        // SAFETY: frames[..len] were written by `finish`; MaybeUninit<T> has T's layout.
        let frames = unsafe { &*(ptr::from_ref(&self.frames[..self.len]) as *const [MemoFrame]) };
        let mut bp = regs.bp;
        let mut bp_offset = frames[start].bp_offset;
        let mut n = *len;
        let mut k = start;
        while let Some(caller) = k.checked_sub(1).and_then(|c| frames.get(c)) {
            // The same reads as the rule's, at the addresses the previous walk computed
            // from registers that match these (rbp too, where anything depends on it).
            let Some(ra) = stack.read(caller.sp.wrapping_sub(8)) else { break };
            if ra.wrapping_sub(1) != caller.lookup {
                break;
            }
            let mut caller_bp = bp;
            if bp_offset != BP_UNCHANGED {
                match stack.read(caller.sp.wrapping_add(bp_offset as isize as usize)) {
                    Some(v) => caller_bp = v,
                    None => break,
                }
            }
            if caller.bp_needed && caller_bp != caller.bp {
                break;
            }
            let Some(slot) = out.get_mut(n) else {
                *len = n;
                return Follow::End(StackEnd::Truncated);
            };
            slot.write(ra);
            n += 1;
            (bp, bp_offset) = (caller_bp, caller.bp_offset);
            k -= 1;
        }
        *len = n;
        self.followed += (start - k) as u64;
        if k == 0 && self.root_still_ends(stack) {
            self.kept = start + 1;
            return Follow::End(StackEnd::Root);
        }
        self.cursor = k;
        if k == start {
            return Follow::Walk;
        }
        // Frames `start` down to `k + 1` were unwound by the check: they are this walk's,
        // with their own rbp (a frame's memo may hold another when nothing depended on it).
        let mut frame_bp = regs.bp;
        for i in (k + 1..=start).rev() {
            let f = self.frame(i);
            self.push(MemoFrame { bp: frame_bp, ..f });
            if f.bp_offset != BP_UNCHANGED {
                let caller_sp = self.frame(i - 1).sp;
                // Read successfully by the check above.
                frame_bp = stack.read(caller_sp.wrapping_add_signed(f.bp_offset as isize)).unwrap_or(0);
            }
        }
        let f = self.frame(k);
        Follow::Diverged { lookup: f.lookup, regs: Regs { pc: f.lookup.wrapping_add(1), sp: f.sp, bp } }
    }

    /// The common case of [`Memo::follow_from`]: the whole walk from frame `start` is the
    /// previous one's. Checks every word it read at once; `None` if any differs (or
    /// lies outside `stack`), for the frame-by-frame check to find where.
    #[inline(always)]
    fn follow_checked(
        &mut self,
        start: usize,
        stack: &StackRange,
        out: &mut [MaybeUninit<usize>],
        len: &mut usize,
    ) -> Option<StackEnd> {
        if start >= self.indexed {
            self.index_reads_upto(start + 1);
        }
        let (lowest, highest) = *self.span_upto.get(start)?;
        if lowest < stack.lo || highest > stack.last {
            return None;
        }
        let reads = self.reads.get(..usize::from(self.reads_upto[start]))?;
        let mut differs = 0;
        for &(addr, value) in reads {
            // SAFETY: `addr` lies in [lowest, highest], within this thread's stack between
            // a live frame's sp and the top (see `StackRange`), and is 8-aligned (an
            // unaligned address makes `lowest` 0, see `note_read`).
            differs |= unsafe { core::ptr::read_volatile(core::ptr::with_exposed_provenance::<usize>(addr)) }
                ^ value;
        }
        if differs != 0 {
            return None;
        }
        self.followed += start as u64;
        self.kept = start + 1;
        // The return addresses into frames start - 1 down to 0.
        for &ra in self.returns[..start].iter().rev() {
            let Some(slot) = out.get_mut(*len) else {
                return Some(StackEnd::Truncated);
            };
            slot.write(ra);
            *len += 1;
        }
        Some(StackEnd::Root)
    }

    /// Fills `reads`, `reads_upto` and `span_upto` for frames `indexed..to` (`to` at
    /// most `len`).
    #[inline(never)]
    fn index_reads_upto(&mut self, to: usize) {
        let from = self.indexed;
        let (mut n, mut span) = match from.checked_sub(1) {
            Some(below) => (usize::from(self.reads_upto[below]), self.span_upto[below]),
            None => (0, (usize::MAX, 0)),
        };
        for k in from..to.min(MEMO_FRAMES) {
            if k == 0 {
                let RootReads { ra_slot, bp_slot } = self.root;
                if ra_slot != 0 {
                    self.note_read(ra_slot, Some(0), &mut n, &mut span);
                }
                if bp_slot != 0 {
                    self.note_read(bp_slot, None, &mut n, &mut span);
                }
            } else {
                let (f, caller) = (self.frame(k), self.frame(k - 1));
                self.note_read(
                    caller.sp.wrapping_sub(8),
                    Some(caller.lookup.wrapping_add(1)),
                    &mut n,
                    &mut span,
                );
                if f.bp_offset != BP_UNCHANGED {
                    let slot = caller.sp.wrapping_add(f.bp_offset as isize as usize);
                    self.note_read(slot, caller.bp_needed.then_some(caller.bp), &mut n, &mut span);
                }
            }
            self.reads_upto[k] = n as u8;
            self.span_upto[k] = span;
            self.indexed = k + 1;
        }
    }

    /// Notes a read at `addr` that must find `value` (None: any value).
    fn note_read(&mut self, addr: usize, value: Option<usize>, n: &mut usize, span: &mut (usize, usize)) {
        // An unaligned address (never seen: every one was read) sends walks to the
        // frame-by-frame check, which refuses it.
        span.0 = if addr % 8 != 0 { 0 } else { span.0.min(addr) };
        span.1 = span.1.max(addr);
        if let (Some(value), Some(entry)) = (value, self.reads.get_mut(*n)) {
            *entry = (addr, value);
            *n += 1;
        }
    }

    /// Whether the root frame's rule would still find the end of the stack.
    fn root_still_ends(&self, stack: &StackRange) -> bool {
        let RootReads { ra_slot, bp_slot } = self.root;
        (ra_slot == 0 || stack.read(ra_slot) == Some(0)) && (bp_slot == 0 || stack.read(bp_slot).is_some())
    }

    /// Notes a frame the walk unwound by its rule.
    #[inline(always)]
    pub(super) fn push(&mut self, frame: MemoFrame) {
        self.fresh[self.fresh_len % MEMO_FRAMES].write(frame);
        self.fresh_len += 1;
    }

    /// Notes that the last frame pushed ended the walk, with these reads.
    pub(super) fn push_root(&mut self, frame: MemoFrame, reads: RootReads) {
        self.push(frame);
        self.fresh_root = Some(reads);
    }

    /// Notes a frame the walk could not unwind by a compact rule: the frames below it
    /// cannot be replayed.
    pub(super) fn break_chain(&mut self) {
        self.fresh_len = 0;
    }

    /// After a walk that ended with `end`, on snapshot `snapshot`: the frames of a
    /// complete walk become the memo (those it ended on, then its own, root first).
    pub(super) fn finish(&mut self, end: StackEnd, snapshot: usize) {
        if end != StackEnd::Root {
            return;
        }
        if self.kept == 0 {
            let Some(root) = self.fresh_root else {
                // Ended by a rule the memo cannot replay.
                self.len = 0;
                return;
            };
            self.root = root;
        }
        let own = self.fresh_len.min(MEMO_FRAMES - self.kept);
        let mut needed = if self.kept > 0 { self.frame(self.kept - 1).bp_needed } else { false };
        // The root-most of its own frames are the last pushed.
        for i in 0..own {
            let ring = (self.fresh_len - 1 - i) % MEMO_FRAMES;
            // SAFETY: the ring holds the last min(fresh_len, MEMO_FRAMES) frames pushed,
            // and i < own ≤ that.
            let mut f = unsafe { self.fresh[ring].assume_init() };
            f.bp_needed = f.uses_bp || (f.bp_offset == BP_UNCHANGED && needed);
            needed = f.bp_needed;
            self.frames[self.kept + i].write(f);
            self.returns[self.kept + i] = f.lookup.wrapping_add(1);
        }
        self.len = self.kept + own;
        self.snapshot = snapshot;
        // The kept frames' reads stay as they were; the new ones are indexed when needed.
        self.indexed = self.indexed.min(self.kept);
    }
}
