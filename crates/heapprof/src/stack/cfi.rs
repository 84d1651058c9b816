//! Reading a frame's unwind rule from the `.eh_frame` call-frame information (with
//! gimli), for addresses the rule cache does not know yet. Rules that fit the compact
//! form are returned for caching; others (DWARF expressions, as in signal trampolines)
//! are evaluated on the spot.

use gimli::{
    BaseAddresses, CfaRule, EhFrame, EhFrameHdr, EhFrameOffset, EndianSlice, Evaluation, EvaluationResult,
    EvaluationStorage, LittleEndian, Location, Piece, Reader, Register, RegisterRule, UnwindContext,
    UnwindContextStorage, UnwindSection, UnwindTableRow, Value, X86_64,
};

use super::modules::SectionBytes;
use super::rules::{Base, Regs, Rule, StackRange, Step};

/// Fixed-size storage for gimli's unwind-table and expression evaluation: nothing is
/// allocated while unwinding. 32 register rules per row cover x86_64's 17 registers
/// and the return-address column; 4 rows cover `DW_CFA_remember_state` nesting.
#[derive(Debug)]
pub(super) struct FixedStorage;

impl UnwindContextStorage<usize> for FixedStorage {
    type Rules = [(Register, RegisterRule<usize>); 32];
    type Stack = [UnwindTableRow<usize, Self>; 4];
}

impl<R: Reader> EvaluationStorage<R> for FixedStorage {
    type Stack = [Value; 16];
    type ExpressionStack = [(R, R); 4];
    type Result = [Piece<R>; 1];
}

/// The per-thread scratch space gimli needs to evaluate unwind tables (~5 KiB).
pub(super) type CfiContext = UnwindContext<usize, FixedStorage>;

type Bytes<'a> = EndianSlice<'a, LittleEndian>;

/// The call-frame information of one loaded module.
pub(super) struct ModuleCfi {
    /// Executable range (first to last executable segment), actual addresses.
    pub(super) text: core::ops::Range<usize>,
    eh_frame_hdr: SectionBytes,
    eh_frame_hdr_address: usize,
    eh_frame: SectionBytes,
    eh_frame_address: usize,
    bases: BaseAddresses,
}

impl ModuleCfi {
    pub(super) fn new(
        text: core::ops::Range<usize>,
        eh_frame_hdr: core::ops::Range<usize>,
        eh_frame: core::ops::Range<usize>,
    ) -> ModuleCfi {
        // gimli resolves pointers against these section addresses; giving it actual
        // addresses makes every address it returns an actual address.
        let bases = BaseAddresses::default()
            .set_eh_frame_hdr(eh_frame_hdr.start as u64)
            .set_eh_frame(eh_frame.start as u64)
            .set_text(text.start as u64);
        ModuleCfi {
            eh_frame_hdr: SectionBytes::new(eh_frame_hdr.clone(), text.start, eh_frame_hdr.start),
            eh_frame_hdr_address: eh_frame_hdr.start,
            eh_frame_address: eh_frame.start,
            eh_frame: SectionBytes::new(eh_frame, text.start, eh_frame_hdr.start),
            text,
            bases,
        }
    }
}

/// What the call-frame information says about the frame at `lookup` (the instruction
/// pointer for the first frame and after a signal frame, the return address minus one
/// otherwise).
pub(super) enum Found {
    /// A compact rule: cache it and apply it.
    Rule(Rule),
    /// An expression-based rule, already applied to the registers; `signal_frame`: the
    /// caller's pc is an interrupted instruction, not a return address.
    Applied { step: Step, signal_frame: bool },
}

/// Reads the rule for `lookup` in `module` and, if it is not compact, applies it.
/// Addresses without unwind information get the frame-pointer rule (as framehop and
/// perf do); if that finds garbage, the walk's checks stop it.
pub(super) fn find(
    module: Option<&ModuleCfi>,
    lookup: usize,
    ctx: &mut CfiContext,
    regs: &mut Regs,
    stack: &StackRange,
) -> Found {
    let Some(module) = module else {
        return Found::Rule(Rule::FRAME_POINTER);
    };
    let hdr_bytes = module.eh_frame_hdr.bytes(lookup);
    let frame_bytes = module.eh_frame.bytes(lookup);
    let mut eh_frame = EhFrame::new(frame_bytes, LittleEndian);
    eh_frame.set_address_size(8);
    let address = lookup as u64;
    let fde = match search_table(hdr_bytes, module.eh_frame_hdr_address, lookup) {
        // The usual table layout, searched directly.
        Some(None) => Err(gimli::Error::NoUnwindInfoForAddress),
        Some(Some(fde_address)) => fde_address
            .checked_sub(module.eh_frame_address)
            .ok_or(gimli::Error::NoUnwindInfoForAddress)
            .and_then(|offset| {
                eh_frame.fde_from_offset(&module.bases, EhFrameOffset(offset), EhFrame::cie_from_offset)
            })
            .and_then(|fde| {
                if fde.contains(address) { Ok(fde) } else { Err(gimli::Error::NoUnwindInfoForAddress) }
            }),
        // Any other layout, through gimli.
        None => EhFrameHdr::new(hdr_bytes, LittleEndian).parse(&module.bases, 8).and_then(|hdr| {
            hdr.table().ok_or(gimli::Error::NoUnwindInfoForAddress)?.fde_for_address(
                &eh_frame,
                &module.bases,
                address,
                EhFrame::cie_from_offset,
            )
        }),
    };
    let Ok(fde) = fde else {
        return Found::Rule(Rule::FRAME_POINTER);
    };
    let signal_frame = fde.cie().is_signal_trampoline();
    let encoding = fde.cie().encoding();
    let Ok(row) = fde.unwind_info_for_address(&eh_frame, &module.bases, ctx, address) else {
        return Found::Rule(Rule::FRAME_POINTER);
    };
    if !signal_frame {
        if let Some(rule) = compact(row) {
            return Found::Rule(rule);
        }
    }
    let step = apply(row, &eh_frame, encoding, regs, stack).unwrap_or(Step::Invalid);
    Found::Applied { step, signal_frame }
}

/// Binary search of the `.eh_frame_hdr` table in its usual layout (as written by GNU ld,
/// gold, lld and mold): version 1, a 4- or 8-byte `.eh_frame` pointer, a `udata4` count,
/// then sorted pairs of `datarel | sdata4` (initial location, FDE address). Returns the
/// address of the FDE that may cover `pc`, or `None` if the table has another layout
/// (then gimli's general search is used) or `pc` precedes every entry.
fn search_table(hdr: &[u8], hdr_address: usize, pc: usize) -> Option<Option<usize>> {
    const UDATA4: u8 = 0x03;
    const DATAREL_SDATA4: u8 = 0x3b;
    let (&version, &ptr_enc, &count_enc, &table_enc) = (hdr.first()?, hdr.get(1)?, hdr.get(2)?, hdr.get(3)?);
    if version != 1 || count_enc != UDATA4 || table_enc != DATAREL_SDATA4 {
        return None;
    }
    let ptr_size = match ptr_enc & 0x0f {
        0x03 | 0x0b => 4,
        0x00 | 0x04 | 0x0c => 8,
        _ => return None,
    };
    let word = |at: usize| -> Option<i32> {
        let bytes = hdr.get(at..at.checked_add(4)?)?;
        Some(i32::from_le_bytes(bytes.try_into().ok()?))
    };
    let count = word(4 + ptr_size)? as u32 as usize;
    let table = 8 + ptr_size;
    let entry = |i: usize| -> Option<(usize, usize)> {
        let at = table.checked_add(i.checked_mul(8)?)?;
        let start = hdr_address.checked_add_signed(word(at)? as isize)?;
        let fde = hdr_address.checked_add_signed(word(at + 4)? as isize)?;
        Some((start, fde))
    };
    // The last entry whose initial location is at or before `pc`.
    let (mut lo, mut hi) = (0usize, count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if entry(mid)?.0 <= pc {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Some(match lo.checked_sub(1) {
        Some(i) => Some(entry(i)?.1),
        None => None,
    })
}

/// The row as a compact rule, if it is one.
fn compact(row: &UnwindTableRow<usize, FixedStorage>) -> Option<Rule> {
    match row.register(X86_64::RA) {
        RegisterRule::Undefined => return Some(Rule::EndOfStack),
        RegisterRule::Offset(-8) => {}
        _ => return None,
    }
    let CfaRule::RegisterAndOffset { register, offset } = *row.cfa() else {
        return None;
    };
    let base = match register {
        X86_64::RSP => Base::Rsp,
        X86_64::RBP => Base::Rbp,
        _ => return None,
    };
    let cfa_offset = u32::try_from(offset).ok()?;
    let bp_offset = match row.register(X86_64::RBP) {
        RegisterRule::Undefined | RegisterRule::SameValue => None,
        RegisterRule::Offset(off) => Some(i32::try_from(off).ok()?),
        _ => return None,
    };
    let rule = Rule::Cfa { base, cfa_offset, bp_offset };
    rule.encode().map(|_| rule)
}

/// Applies a general row: CFA, return address and rbp by any rule gimli can express,
/// with DWARF expressions evaluated over rsp, rbp, rip and stack memory.
fn apply(
    row: &UnwindTableRow<usize, FixedStorage>,
    section: &EhFrame<Bytes<'_>>,
    encoding: gimli::Encoding,
    regs: &mut Regs,
    stack: &StackRange,
) -> Option<Step> {
    let cfa = match row.cfa() {
        CfaRule::RegisterAndOffset { register, offset } => {
            register_value(*register, regs)?.checked_add_signed(isize::try_from(*offset).ok()?)?
        }
        CfaRule::Expression(expr) => {
            let expr = expr.get(section).ok()?;
            evaluate(expr.0, encoding, regs, stack, None)?
        }
    };
    let recover = |rule: RegisterRule<usize>, unchanged: Option<usize>| -> Option<usize> {
        match rule {
            RegisterRule::Undefined | RegisterRule::SameValue => unchanged,
            RegisterRule::Offset(off) => stack.read(cfa.checked_add_signed(isize::try_from(off).ok()?)?),
            RegisterRule::ValOffset(off) => cfa.checked_add_signed(isize::try_from(off).ok()?),
            RegisterRule::Register(r) => register_value(r, regs),
            RegisterRule::Expression(expr) => {
                let expr = expr.get(section).ok()?;
                stack.read(evaluate(expr.0, encoding, regs, stack, Some(cfa))?)
            }
            RegisterRule::ValExpression(expr) => {
                let expr = expr.get(section).ok()?;
                evaluate(expr.0, encoding, regs, stack, Some(cfa))
            }
            _ => None,
        }
    };
    let ra_rule = row.register(X86_64::RA);
    if ra_rule == RegisterRule::Undefined {
        return Some(Step::Root);
    }
    let ra = recover(ra_rule, None)?;
    let bp = recover(row.register(X86_64::RBP), Some(regs.bp))?;
    if cfa <= regs.sp {
        return Some(Step::Invalid);
    }
    if ra == 0 {
        return Some(Step::Root);
    }
    *regs = Regs { pc: ra, sp: cfa, bp };
    Some(Step::Caller)
}

fn register_value(register: Register, regs: &Regs) -> Option<usize> {
    match register {
        X86_64::RSP => Some(regs.sp),
        X86_64::RBP => Some(regs.bp),
        X86_64::RA => Some(regs.pc),
        _ => None,
    }
}

/// Evaluates a DWARF expression to an address; `cfa` is pushed first for register rules.
fn evaluate(
    bytecode: Bytes<'_>,
    encoding: gimli::Encoding,
    regs: &Regs,
    stack: &StackRange,
    cfa: Option<usize>,
) -> Option<usize> {
    let mut eval = Evaluation::<_, FixedStorage>::new_in(bytecode, encoding);
    if let Some(cfa) = cfa {
        eval.set_initial_value(cfa as u64);
    }
    let mut result = eval.evaluate().ok()?;
    // Bounded: each resumption consumes an operation of a finite expression, but guard
    // against pathological input anyway.
    for _ in 0..64 {
        result = match result {
            EvaluationResult::Complete => {
                let piece = eval.as_result().last()?;
                return match piece.location {
                    Location::Address { address } => usize::try_from(address).ok(),
                    _ => None,
                };
            }
            EvaluationResult::RequiresRegister { register, .. } => {
                let value = register_value(register, regs)? as u64;
                eval.resume_with_register(Value::Generic(value)).ok()?
            }
            EvaluationResult::RequiresMemory { address, size: 8, .. } => {
                let value = stack.read(usize::try_from(address).ok()?)? as u64;
                eval.resume_with_memory(Value::Generic(value)).ok()?
            }
            _ => return None,
        };
    }
    None
}
