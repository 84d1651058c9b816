//! How many heap bytes an `addr2line` context holds, estimated from the DWARF it was
//! built on and the units and functions looked up since: addr2line does not say, and the
//! symbolizer's budget needs to know.
//!
//! The constants are heap bytes per unit of input, fitted to glibc's count of bytes in use
//! (`mallinfo2`) over Rust binaries (release with line-tables-only, and debug), libc and
//! libm (distribution debug files, GCC), 0 to 10,000 addresses each: the estimates came
//! within 0.84-1.17x of the measured heap. `measurements.rs` holds the check; run it on
//! other files with `HEAPPROF_MEASURE_FILES`.

use std::collections::HashSet;

use gimli::Section;

use super::debug_info::Reader;

/// `Context::from_dwarf` parses every unit's header, abbreviations (per unit in GCC's
/// output, about 19 heap bytes per encoded byte) and line-program header (directory
/// and file tables).
const PER_UNIT: usize = 1_000;
const PER_ABBREV_BYTE: usize = 19;
const PER_LINE_HEADER_BYTE: usize = 8;
/// A unit's line table, parsed on the unit's first lookup (or up front, see
/// `eager_line_bytes`), and its function list, parsed on its first lookup.
const PER_LINE_PROGRAM_BYTE: usize = 4;
const INFO_BYTES_PER_HEAP_BYTE: usize = 13;
/// A function's inlined-call tree, parsed on its first lookup: 3.5 heap bytes per byte
/// of its entries.
const PER_FUNCTION_DIE_BYTES: (usize, usize) = (7, 2);

/// The estimated cost of `Context::from_dwarf` on `dwarf`, and the units whose line
/// tables it parses up front.
pub(super) fn context_cost(dwarf: &gimli::Dwarf<Reader>) -> (usize, HashSet<usize>) {
    let mut aranged = HashSet::new();
    let mut aranges = dwarf.debug_aranges.headers();
    while let Ok(Some(header)) = aranges.next() {
        let mut entries = header.entries();
        while let Ok(Some(entry)) = entries.next() {
            if entry.length() != 0 {
                aranged.insert(header.debug_info_offset().0);
                break;
            }
        }
    }
    let mut units = 0usize;
    let mut eager = HashSet::new();
    let mut eager_bytes = 0;
    let mut headers = dwarf.units();
    while let Ok(Some(header)) = headers.next() {
        units += 1;
        if let Some((offset, bytes)) = eager_line_bytes(dwarf, header, &aranged) {
            eager.insert(offset);
            eager_bytes += bytes;
        }
    }
    let cost = units * PER_UNIT
        + dwarf.debug_abbrev.reader().len() * PER_ABBREV_BYTE
        + line_header_bytes(dwarf.debug_line.reader()) * PER_LINE_HEADER_BYTE
        + eager_bytes * PER_LINE_PROGRAM_BYTE;
    (cost, eager)
}

/// The unit's offset and the size of its line program when addr2line parses its line table
/// up front to learn the unit's address ranges, as it does for a compilation unit without
/// a non-empty range (`DW_AT_ranges`, else `.debug_aranges`, else low and high pc). rustc
/// and the linker leave many of those: units whose code was all garbage-collected keep
/// their line tables, with every range emptied.
fn eager_line_bytes(
    dwarf: &gimli::Dwarf<Reader>,
    header: gimli::UnitHeader<Reader>,
    aranged: &HashSet<usize>,
) -> Option<(usize, usize)> {
    if !matches!(header.type_(), gimli::UnitType::Compilation | gimli::UnitType::Skeleton(_)) {
        return None;
    }
    let offset = header.offset().as_debug_info_offset()?.0;
    let unit = dwarf.unit(header).ok()?;
    let program = unit.line_program.as_ref()?.header().raw_program_buf().len();
    let root_ranges = {
        let mut entries = unit.entries();
        let (_, root) = entries.next_dfs().ok()??;
        root.attr_value(gimli::DW_AT_ranges).ok()?.is_some()
    };
    if !root_ranges && aranged.contains(&offset) {
        return None;
    }
    let mut ranges = dwarf.unit_ranges(&unit).ok()?;
    while let Ok(Some(range)) = ranges.next() {
        if range.begin < range.end {
            return None;
        }
    }
    Some((offset, program))
}

/// The total size of the line-program headers in `.debug_line` (their directory and file
/// tables, which every unit parses up front), read without parsing the tables.
fn line_header_bytes(debug_line: &Reader) -> usize {
    use gimli::Reader as _;
    let mut rest = *debug_line;
    let mut total = 0usize;
    while !rest.is_empty() {
        let Ok((length, format)) = rest.read_initial_length() else {
            break;
        };
        let Ok(mut unit) = rest.split(length) else {
            break;
        };
        let header_length = (|| -> gimli::Result<u64> {
            let version = unit.read_u16()?;
            if version >= 5 {
                unit.read_u8()?;
                unit.read_u8()?;
            }
            unit.read_offset(format).map(|o| o as u64)
        })();
        match header_length {
            Ok(length) => total = total.saturating_add(length as usize),
            Err(_) => break,
        }
    }
    total
}

/// The size in `.debug_info` of the entry at `offset` and its children.
fn subtree_bytes(unit: gimli::UnitRef<'_, Reader>, offset: gimli::UnitOffset) -> usize {
    let Ok(mut entries) = unit.entries_raw(Some(offset)) else {
        return 0;
    };
    let mut first = true;
    while !entries.is_empty() && (first || entries.next_depth() > 0) {
        first = false;
        match entries.read_abbreviation() {
            Ok(Some(abbrev)) => {
                if entries.skip_attributes(abbrev.attributes()).is_err() {
                    break;
                }
            }
            Ok(None) => {}
            Err(_) => break,
        }
    }
    entries.next_offset().0.saturating_sub(offset.0)
}

/// The cost of parsing a unit's line table (unless `Context::from_dwarf` did, for units in
/// `eager`) and its function list, on the unit's first lookup.
pub(super) fn unit_cost(unit: gimli::UnitRef<'_, Reader>, eager: &HashSet<usize>) -> usize {
    let offset = unit.header.offset().as_debug_info_offset().map_or(0, |o| o.0);
    let line_program = match eager.contains(&offset) {
        true => 0,
        false => unit.line_program.as_ref().map_or(0, |p| p.header().raw_program_buf().len()),
    };
    line_program * PER_LINE_PROGRAM_BYTE + unit.header.length_including_self() / INFO_BYTES_PER_HEAP_BYTE
}

/// The cost of parsing the inlined-call tree of the function whose entry is at `offset`,
/// on its first lookup.
pub(super) fn function_cost(unit: gimli::UnitRef<'_, Reader>, offset: gimli::UnitOffset) -> usize {
    let (numerator, denominator) = PER_FUNCTION_DIE_BYTES;
    subtree_bytes(unit, offset) * numerator / denominator
}
