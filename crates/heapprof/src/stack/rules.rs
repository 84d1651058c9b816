//! Compact unwind rules, and the process-wide cache that maps code addresses to them.
//!
//! Almost every x86_64 frame unwinds by one rule: the canonical frame address (CFA) is
//! `rsp` or `rbp` plus a constant, the return address sits at `CFA - 8`, and `rbp` is
//! either untouched or saved at a constant offset from the CFA. Such a rule fits in 32
//! bits. The cache is one static table of 2^16 atomic words (512 KiB of zero pages,
//! touched only where used), shared by all threads: entry `address % 2^16` holds the
//! rest of the address and the rule, so a lookup is one relaxed load and a compare, and
//! a rule computed by one thread serves all. Rules are facts about the code, the same
//! for every thread; the table is cleared when a module is unloaded.

use core::sync::atomic::{AtomicU64, Ordering};

use super::read_stack_word;

/// How one frame finds its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rule {
    /// The return address is undefined: this is the first frame of the thread.
    EndOfStack,
    /// `CFA = base + cfa_offset`, the return address at `CFA - 8`, the caller's `rbp`
    /// unchanged or loaded from `CFA + bp_offset`; the caller's `rsp` is the CFA.
    Cfa { base: Base, cfa_offset: u32, bp_offset: Option<i32> },
}

/// The register a CFA is computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Base {
    Rsp,
    Rbp,
}

impl Rule {
    /// The frame-pointer rule, used where no unwind information covers an address.
    pub(super) const FRAME_POINTER: Rule =
        Rule::Cfa { base: Base::Rbp, cfa_offset: 16, bp_offset: Some(-16) };

    /// Packs the rule in the low 32 bits: kind (2 bits: 1 end, 2 rsp, 3 rbp), a flag for
    /// a saved rbp, the CFA offset in words (15 bits), the rbp offset in words (signed,
    /// 14 bits). `None` if the offsets do not fit or are not multiples of 8.
    pub(super) fn encode(self) -> Option<u32> {
        match self {
            Rule::EndOfStack => Some(1),
            Rule::Cfa { base, cfa_offset, bp_offset } => {
                let kind = match base {
                    Base::Rsp => 2,
                    Base::Rbp => 3,
                };
                if cfa_offset % 8 != 0 || cfa_offset / 8 >= 1 << 15 {
                    return None;
                }
                let (saved, bp_words) = match bp_offset {
                    None => (0, 0u32),
                    Some(off) => {
                        let words = off / 8;
                        if off % 8 != 0 || !(-(1 << 13)..(1 << 13)).contains(&words) {
                            return None;
                        }
                        (1, (words as u32) & 0x3fff)
                    }
                };
                Some(kind | (saved << 2) | ((cfa_offset / 8) << 3) | (bp_words << 18))
            }
        }
    }

    fn decode(bits: u32) -> Option<Rule> {
        let base = match bits & 3 {
            1 => return Some(Rule::EndOfStack),
            2 => Base::Rsp,
            3 => Base::Rbp,
            _ => return None,
        };
        let cfa_offset = ((bits >> 3) & 0x7fff) * 8;
        let bp_offset = (bits & 4 != 0).then(|| {
            // Sign-extend the 14-bit word count.
            let words = ((bits >> 18) as i32) << 18 >> 18;
            words * 8
        });
        Some(Rule::Cfa { base, cfa_offset, bp_offset })
    }
}

/// Registers of a frame that unwinding needs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Regs {
    pub(super) pc: usize,
    pub(super) sp: usize,
    pub(super) bp: usize,
}

/// What a frame's rule says about its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// The caller's registers were recovered.
    Caller,
    /// This frame has no caller.
    Root,
    /// A stack read fell outside the stack, or the stack pointer did not move up.
    Invalid,
}

/// Stack memory a walk may read: `[lo, last]`, 8-aligned words.
#[derive(Clone, Copy, Debug)]
pub(super) struct StackRange {
    pub(super) lo: usize,
    pub(super) last: usize,
}

impl StackRange {
    #[inline(always)]
    pub(super) fn read(&self, addr: usize) -> Option<usize> {
        read_stack_word(addr, self.lo, self.last)
    }
}

impl Rule {
    /// Applies the rule to `regs`, turning them into the caller's.
    #[inline(always)]
    pub(super) fn step(self, regs: &mut Regs, stack: &StackRange) -> Step {
        let Rule::Cfa { base, cfa_offset, bp_offset } = self else {
            return Step::Root;
        };
        let base = match base {
            Base::Rsp => regs.sp,
            Base::Rbp => regs.bp,
        };
        let Some(cfa) = base.checked_add(cfa_offset as usize) else {
            return Step::Invalid;
        };
        // The return address lies at or above the current stack pointer.
        if cfa < regs.sp.saturating_add(8) {
            return Step::Invalid;
        }
        let Some(ra) = stack.read(cfa - 8) else {
            return Step::Invalid;
        };
        let bp = match bp_offset {
            None => regs.bp,
            Some(off) => match cfa.checked_add_signed(off as isize).and_then(|a| stack.read(a)) {
                Some(bp) => bp,
                None => return Step::Invalid,
            },
        };
        if ra == 0 {
            return Step::Root;
        }
        *regs = Regs { pc: ra, sp: cfa, bp };
        Step::Caller
    }
}

const TABLE_BITS: u32 = 16;
// Slots are remembered per thread as `u16` (see `slot_of`).
const _: () = assert!(TABLE_BITS <= 16);
const TABLE_MASK: usize = (1 << TABLE_BITS) - 1;
/// Addresses at or above this do not fit the tag (user space on x86_64 ends at 2^47).
const MAX_CACHED_ADDRESS: usize = 1 << 47;

static TABLE: [AtomicU64; 1 << TABLE_BITS] = [const { AtomicU64::new(0) }; 1 << TABLE_BITS];

/// The table slot that holds the rule for `lookup_address`.
#[inline(always)]
pub(super) fn slot_of(lookup_address: usize) -> u16 {
    (lookup_address & TABLE_MASK) as u16
}

/// Starts loading a table slot into the cache.
#[inline(always)]
pub(super) fn prefetch(slot: u16) {
    crate::sync::prefetch(TABLE[usize::from(slot) & TABLE_MASK].as_ptr());
}

/// The cached rule for `lookup_address`, if any.
#[inline(always)]
pub(super) fn cached(lookup_address: usize) -> Option<Rule> {
    let entry = TABLE.get(usize::from(slot_of(lookup_address)))?.load(Ordering::Relaxed);
    if entry >> 32 != (lookup_address >> TABLE_BITS) as u64 || lookup_address >= MAX_CACHED_ADDRESS {
        return None;
    }
    Rule::decode(entry as u32)
}

/// Remembers `rule` for `lookup_address` (silently skipped if it does not fit).
pub(super) fn remember(lookup_address: usize, rule: Rule) {
    if lookup_address >= MAX_CACHED_ADDRESS {
        return;
    }
    let (Some(bits), Some(slot)) = (rule.encode(), TABLE.get(lookup_address & TABLE_MASK)) else {
        return;
    };
    let tag = (lookup_address >> TABLE_BITS) as u64;
    slot.store((tag << 32) | u64::from(bits), Ordering::Relaxed);
}

/// Forgets the rule for `lookup_address`, if it is cached.
pub(super) fn forget(lookup_address: usize) {
    if let Some(slot) = TABLE.get(lookup_address & TABLE_MASK) {
        let entry = slot.load(Ordering::Relaxed);
        if entry >> 32 == (lookup_address >> TABLE_BITS) as u64 {
            slot.store(0, Ordering::Relaxed);
        }
    }
}

/// Forgets every rule (after a module was unloaded, its addresses may hold new code).
pub(super) fn forget_all() {
    for slot in &TABLE {
        slot.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_round_trip_through_their_encoding() {
        let rules = [
            Rule::EndOfStack,
            Rule::FRAME_POINTER,
            Rule::Cfa { base: Base::Rsp, cfa_offset: 8, bp_offset: None },
            Rule::Cfa { base: Base::Rsp, cfa_offset: 8 * 32767, bp_offset: Some(-8 * 8192) },
            Rule::Cfa { base: Base::Rsp, cfa_offset: 4096, bp_offset: Some(8 * 8191) },
        ];
        for rule in rules {
            let bits = rule.encode().unwrap();
            assert_eq!(Rule::decode(bits), Some(rule));
        }
        let unfit = [
            Rule::Cfa { base: Base::Rsp, cfa_offset: 12, bp_offset: None },
            Rule::Cfa { base: Base::Rsp, cfa_offset: 8 << 15, bp_offset: None },
            Rule::Cfa { base: Base::Rbp, cfa_offset: 16, bp_offset: Some(-8 * 8193) },
            Rule::Cfa { base: Base::Rbp, cfa_offset: 16, bp_offset: Some(-12) },
        ];
        for rule in unfit {
            assert_eq!(rule.encode(), None, "{rule:?}");
        }
    }

    #[test]
    fn the_cache_tells_addresses_apart() {
        let a = 0x5555_0000_1234usize;
        let b = a + (1 << TABLE_BITS);
        remember(a, Rule::FRAME_POINTER);
        assert_eq!(cached(a), Some(Rule::FRAME_POINTER));
        assert_eq!(cached(b), None);
        remember(b, Rule::EndOfStack);
        assert_eq!(cached(a), None);
        assert_eq!(cached(b), Some(Rule::EndOfStack));
        assert_eq!(cached(usize::MAX), None);
    }
}
