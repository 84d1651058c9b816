//! One object file opened for symbolization: the mapped ELF, its split debug file if any,
//! an `addr2line` context over its DWARF, and (lazily) its symbol table.
//!
//! Everything is looked up by SVMA, the address as the ELF file states it; the caller
//! subtracts the module's load bias.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use addr2line::{Context, LookupContinuation, LookupResult, SplitDwarfLoad};
use gimli::Section;
use object::{Object, ObjectSection, ObjectSegment};

use super::demangle::is_mangled;
use super::mapped_file::MappedFile;
use super::modules::hex;
use super::symbol_table::SymbolTable;

/// DWARF read in place from the mapped files. The `'static` is a promise kept by
/// [`DebugInfo`]: nothing borrowing the data outlives the `Store` that owns it.
type Reader = gimli::EndianSlice<'static, gimli::RunTimeEndian>;

/// Where separate debug files are installed (`debuginfod` caches aside).
const DEBUG_ROOT: &str = "/usr/lib/debug";

/// Estimated heap bytes per unit of input, for [`DebugInfo::memory_bytes`]: fitted to
/// glibc's count of bytes in use (`mallinfo2`) over Rust binaries (release with
/// line-tables-only, and debug), libc and libm (distribution debug files, GCC), 0 to
/// 10,000 addresses each; the estimates came within 0.84-1.17x of the measured heap.
/// `measurements.rs` holds the check (run it on other files with `HEAPPROF_MEASURE_FILES`).
mod cost {
    /// `Context::from_dwarf` parses every unit's header, abbreviations (per unit in GCC's
    /// output, about 19 heap bytes per encoded byte) and line-program header (directory
    /// and file tables).
    pub(super) const PER_UNIT: usize = 1_000;
    pub(super) const PER_ABBREV_BYTE: usize = 19;
    pub(super) const PER_LINE_HEADER_BYTE: usize = 8;
    /// A unit's line table, parsed on the unit's first lookup (or up front, see
    /// `eager_line_bytes`), and its function list, parsed on its first lookup.
    pub(super) const PER_LINE_PROGRAM_BYTE: usize = 4;
    pub(super) const INFO_BYTES_PER_HEAP_BYTE: usize = 13;
    /// A function's inlined-call tree, parsed on its first lookup: 3.5 heap bytes per byte
    /// of its entries.
    pub(super) const PER_FUNCTION_DIE_BYTES: (usize, usize) = (7, 2);
}

/// A frame as found in the file, borrowing its strings from the [`DebugInfo`].
#[derive(Debug)]
pub(super) struct FoundFrame<'a> {
    /// Linkage (mangled) name if known, else the DWARF or symbol-table name.
    pub(super) name: Option<&'a str>,
    /// `DW_AT_name`: for C functions with an assembler name (glibc's `__GI___libc_malloc`)
    /// the name people know (`__libc_malloc`).
    pub(super) source_name: Option<&'a str>,
    pub(super) file: Option<&'a str>,
    pub(super) line: u32,
    pub(super) column: u32,
    pub(super) start_line: u32,
}

/// The owners of the bytes the context and object views borrow: mapped files and
/// decompressed sections. Moving these vectors does not move the bytes.
#[derive(Debug, Default)]
struct Store {
    mapped: Vec<MappedFile>,
    decompressed: Vec<Vec<u8>>,
}

impl Store {
    fn map(&mut self, path: &Path) -> std::io::Result<&'static [u8]> {
        let file = MappedFile::open(path)?;
        // SAFETY: the mapping lives as long as `self.mapped`, i.e. as long as the `DebugInfo`,
        // whose fields that borrow it are declared (and so dropped) before its `Store`.
        let bytes = unsafe { extend(file.bytes()) };
        self.mapped.push(file);
        Ok(bytes)
    }

    fn keep(&mut self, data: Cow<'static, [u8]>) -> &'static [u8] {
        match data {
            Cow::Borrowed(bytes) => bytes,
            Cow::Owned(bytes) => {
                // SAFETY: the vector's heap buffer is never touched again until the `Store`
                // drops, after every borrower (see `map`).
                let extended = unsafe { extend(&bytes) };
                self.decompressed.push(bytes);
                extended
            }
        }
    }

    fn decompressed_bytes(&self) -> usize {
        self.decompressed.iter().map(Vec::capacity).sum()
    }

    /// Loads a split DWARF unit (`.dwo` file) that the context asks for.
    fn load_dwo(&mut self, load: SplitDwarfLoad<Reader>) -> Option<Arc<gimli::Dwarf<Reader>>> {
        let mut path = PathBuf::new();
        if let Some(dir) = load.comp_dir {
            path.push(std::str::from_utf8(dir.slice()).ok()?);
        }
        path.push(std::str::from_utf8(load.path?.slice()).ok()?);
        let data = self.map(&path).ok()?;
        let object = object::File::parse(data).ok()?;
        let mut dwarf = load_dwarf(&object, self, true)?;
        let unit = dwarf.unit(dwarf.units().next().ok()??).ok()?;
        if unit.dwo_id != Some(load.dwo_id) {
            return None;
        }
        dwarf.make_dwo(&load.parent);
        Some(Arc::new(dwarf))
    }
}

/// # Safety
/// The caller keeps the bytes alive, and unmoved, for as long as any user of the returned
/// slice: here, the `Store` outlives everything that reads through it.
unsafe fn extend(bytes: &[u8]) -> &'static [u8] {
    // SAFETY: forwarded to the caller.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr(), bytes.len()) }
}

fn endian(object: &object::File<'_>) -> gimli::RunTimeEndian {
    if object.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    }
}

/// Loads the DWARF sections of `object` (its `.dwo` names when `dwo`); `None` when it has
/// no `.debug_info` at all.
fn load_dwarf(
    object: &object::File<'static>,
    store: &mut Store,
    dwo: bool,
) -> Option<gimli::Dwarf<Reader>> {
    let endian = endian(object);
    let dwarf = gimli::Dwarf::load(|id| -> Result<Reader, object::Error> {
        use gimli::SectionId::*;
        // What addr2line reads; location lists, macros and type units can be large and,
        // when compressed, would be inflated onto the heap for nothing.
        if !matches!(
            id,
            DebugAbbrev
                | DebugAddr
                | DebugAranges
                | DebugInfo
                | DebugLine
                | DebugLineStr
                | DebugRanges
                | DebugRngLists
                | DebugStr
                | DebugStrOffsets
        ) {
            return Ok(gimli::EndianSlice::new(&[], endian));
        }
        let name = if dwo { id.dwo_name() } else { Some(id.name()) };
        let data = match name.and_then(|name| object.section_by_name(name)) {
            Some(section) => store.keep(section.uncompressed_data()?),
            None => &[],
        };
        Ok(gimli::EndianSlice::new(data, endian))
    })
    .ok()?;
    (!dwarf.debug_info.reader().is_empty()).then_some(dwarf)
}

/// The estimated cost of `Context::from_dwarf` on `dwarf`, and the units whose line
/// tables it parses up front.
fn context_cost(dwarf: &gimli::Dwarf<Reader>) -> (usize, HashSet<usize>) {
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
    let cost = units * cost::PER_UNIT
        + dwarf.debug_abbrev.reader().len() * cost::PER_ABBREV_BYTE
        + line_header_bytes(dwarf.debug_line.reader()) * cost::PER_LINE_HEADER_BYTE
        + eager_bytes * cost::PER_LINE_PROGRAM_BYTE;
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
    if !matches!(
        header.type_(),
        gimli::UnitType::Compilation | gimli::UnitType::Skeleton(_)
    ) {
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

/// The symbolization data of one file.
pub(super) struct DebugInfo {
    // Field order is drop order: the borrowers of `store` come first.
    context: Option<Context<Reader>>,
    symbols: Option<SymbolTable<'static>>,
    object: object::File<'static>,
    debug_object: Option<object::File<'static>>,
    /// Units whose line tables and functions have been parsed (by `.debug_info` offset and
    /// `Dwarf` address, as split units have offsets of their own).
    parsed_units: HashSet<(usize, usize)>,
    /// Units whose line tables `Context::from_dwarf` parsed (counted in `base_bytes`).
    eager_line_units: HashSet<usize>,
    parsed_bytes: usize,
    base_bytes: usize,
    /// Functions whose inlined calls have been parsed (by `.debug_info` offset and `Dwarf`).
    parsed_functions: HashSet<(usize, usize)>,
    /// PT_LOAD segments: (file offset, size in file, virtual address, executable).
    segments: Vec<(u64, u64, u64, bool)>,
    /// Where the DWARF came from, when not from the file itself.
    pub(super) debug_path: Option<PathBuf>,
    store: Store,
}

impl std::fmt::Debug for DebugInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebugInfo")
            .field("has_dwarf", &self.context.is_some())
            .field("debug_path", &self.debug_path)
            .field("memory_bytes", &self.memory_bytes())
            .finish_non_exhaustive()
    }
}

impl DebugInfo {
    /// Opens `path`, looking for its separate debug file as if it were at `original` (they
    /// differ when a deleted file is opened through `/proc/self/map_files`). `build_id`
    /// (lowercase hex), when known from the loaded image, must match the file's: a file
    /// replaced on disk gives an error, never wrong names.
    pub(super) fn open(
        path: &Path,
        original: &Path,
        build_id: Option<&str>,
    ) -> Result<DebugInfo, String> {
        let mut store = Store::default();
        let data = store
            .map(path)
            .map_err(|e| format!("cannot map {}: {e}", path.display()))?;
        let object = object::File::parse(data)
            .map_err(|e| format!("{}: not an object file: {e}", path.display()))?;
        let file_build_id = object.build_id().ok().flatten().map(hex);
        if let (Some(loaded), Some(on_disk)) = (build_id, &file_build_id) {
            if loaded != on_disk {
                return Err(format!(
                    "{}: the file on disk has build id {on_disk}, the loaded image {loaded}",
                    path.display()
                ));
            }
        }
        let build_id = build_id.map(str::to_owned).or(file_build_id);
        let segments = object
            .segments()
            .map(|s| {
                let (offset, size) = s.file_range();
                let executable = matches!(s.flags(), object::SegmentFlags::Elf { p_flags } if p_flags & object::elf::PF_X != 0);
                (offset, size, s.address(), executable)
            })
            .collect();

        let mut debug_path = None;
        let mut debug_object = None;
        let mut dwarf = load_dwarf(&object, &mut store, false);
        if dwarf.is_none() {
            if let Some((found, found_object)) =
                find_debug_file(original, &object, build_id.as_deref(), &mut store)
            {
                dwarf = load_dwarf(&found_object, &mut store, false);
                debug_path = Some(found);
                debug_object = Some(found_object);
            }
        }
        let context = dwarf.and_then(|mut dwarf| {
            let dwarf_object = debug_object.as_ref().unwrap_or(&object);
            let dwarf_path = debug_path.as_deref().unwrap_or(original);
            load_supplementary(&mut dwarf, dwarf_object, dwarf_path, &mut store);
            dwarf.populate_abbreviations_cache(gimli::AbbreviationsCacheStrategy::Duplicates);
            let (base, eager) = context_cost(&dwarf);
            Context::from_dwarf(dwarf)
                .ok()
                .map(|context| (context, base, eager))
        });
        let (context, base_bytes, eager_line_units) = match context {
            Some((context, base, eager)) => (Some(context), base, eager),
            None => (None, 0, HashSet::new()),
        };
        Ok(DebugInfo {
            context,
            symbols: None,
            object,
            debug_object,
            parsed_units: HashSet::new(),
            eager_line_units,
            parsed_bytes: 0,
            base_bytes,
            parsed_functions: HashSet::new(),
            segments,
            debug_path,
            store,
        })
    }

    /// Whether the file (or its debug file) has DWARF: file names and lines.
    #[allow(dead_code, reason = "used by Symbolizer::debug_file and tests")]
    pub(super) fn has_dwarf(&self) -> bool {
        self.context.is_some()
    }

    /// The load bias of an executable mapping of this file at `start` from `file_offset`,
    /// computed from the executable `PT_LOAD` segment that holds that offset (the page
    /// holding the segment's first byte may also hold the end of the segment before it).
    pub(super) fn bias_for(&self, start: u64, file_offset: u64) -> Option<u64> {
        let holds = |&&(offset, size, _, _): &&(u64, u64, u64, bool)| {
            (offset & !0xfff) <= file_offset && file_offset < offset.saturating_add(size)
        };
        let &(offset, _, vaddr, _) = self
            .segments
            .iter()
            .filter(holds)
            .find(|s| s.3)
            .or_else(|| self.segments.iter().find(holds))?;
        Some(
            start
                .wrapping_sub(file_offset)
                .wrapping_sub(vaddr)
                .wrapping_add(offset),
        )
    }

    /// Estimated heap bytes held: the parsed DWARF, decompressed sections, the symbol table.
    pub(super) fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.base_bytes
            + self.parsed_bytes
            + (self.parsed_units.capacity() + self.parsed_functions.capacity()) * 24
            + self.eager_line_units.capacity() * 16
            + self.store.decompressed_bytes()
            + self.symbols.as_ref().map_or(0, SymbolTable::memory_bytes)
    }

    /// The frames at `svma`, callee first and the function they were inlined into last;
    /// empty when neither DWARF nor the symbol table knows the address.
    pub(super) fn frames(&mut self, svma: u64) -> Vec<FoundFrame<'_>> {
        let mut frames = Vec::new();
        if let Some(context) = &self.context {
            let store = &mut self.store;
            let mut lookup = context.find_frames(svma);
            let found = loop {
                match lookup {
                    LookupResult::Output(found) => break found,
                    LookupResult::Load { load, continuation } => {
                        lookup = continuation.resume(store.load_dwo(load))
                    }
                }
            };
            let unit = find_unit(context, svma, store);
            let unit_key = unit.map(|unit| {
                (
                    unit.header
                        .offset()
                        .as_debug_info_offset()
                        .map_or(0, |o| o.0),
                    unit.dwarf as *const _ as usize,
                )
            });
            if let (Some(unit), Some(key)) = (unit, unit_key) {
                if self.parsed_units.insert(key) {
                    let line_program = match self.eager_line_units.contains(&key.0) {
                        true => 0,
                        false => unit
                            .line_program
                            .as_ref()
                            .map_or(0, |p| p.header().raw_program_buf().len()),
                    };
                    self.parsed_bytes += line_program * cost::PER_LINE_PROGRAM_BYTE
                        + unit.header.length_including_self() / cost::INFO_BYTES_PER_HEAP_BYTE;
                }
            }
            let mut outer_offset = None;
            if let Ok(mut found) = found {
                // A corrupt entry ends the list; what was read before it stands.
                while let Ok(Some(frame)) = found.next() {
                    outer_offset = frame.dw_die_offset;
                    let name = frame
                        .function
                        .and_then(|f| std::str::from_utf8(f.name.slice()).ok());
                    let location = frame.location.as_ref();
                    let (start_line, source_name) = match (unit, frame.dw_die_offset) {
                        (Some(unit), Some(offset)) => source_details(unit, offset),
                        _ => (0, None),
                    };
                    frames.push(FoundFrame {
                        name,
                        source_name,
                        file: location.and_then(|l| l.file),
                        line: location.and_then(|l| l.line).unwrap_or(0),
                        column: location.and_then(|l| l.column).unwrap_or(0),
                        start_line,
                    });
                }
            }
            // addr2line parses a function's inlined calls on its first lookup.
            if let (Some(unit), Some((unit_offset, dwarf)), Some(offset)) =
                (unit, unit_key, outer_offset)
            {
                if self
                    .parsed_functions
                    .insert((unit_offset + offset.0, dwarf))
                {
                    let (numerator, denominator) = cost::PER_FUNCTION_DIE_BYTES;
                    self.parsed_bytes += subtree_bytes(unit, offset) * numerator / denominator;
                }
            }
        }
        // The outermost frame is the function the code belongs to. Without a DWARF name
        // (assembly, a unit without subprograms), or with only a short one (rustc's
        // line-tables-only DWARF has `push<u8, Global>`, no linkage names), the symbol table
        // names it: a mangled symbol demangles to the full path.
        if !frames
            .last()
            .is_some_and(|f| f.name.is_some_and(is_mangled))
        {
            let symbols = self.symbols.get_or_insert_with(|| {
                let mut objects = vec![&self.object];
                objects.extend(self.debug_object.as_ref());
                SymbolTable::new(&objects)
            });
            if let Some(symbol) = symbols.lookup(svma) {
                match frames.last_mut() {
                    Some(frame) if frame.name.is_none() || is_mangled(symbol) => {
                        frame.name = Some(symbol)
                    }
                    Some(_) => {}
                    None => frames.push(FoundFrame {
                        name: Some(symbol),
                        source_name: None,
                        file: None,
                        line: 0,
                        column: 0,
                        start_line: 0,
                    }),
                }
            }
        }
        frames
    }
}

/// The unit holding `svma`, once its functions are parsed.
fn find_unit<'a>(
    context: &'a Context<Reader>,
    svma: u64,
    store: &mut Store,
) -> Option<gimli::UnitRef<'a, Reader>> {
    let mut lookup = context.find_dwarf_and_unit(svma);
    loop {
        match lookup {
            LookupResult::Output(unit) => return unit,
            LookupResult::Load { load, continuation } => {
                lookup = continuation.resume(store.load_dwo(load))
            }
        }
    }
}

/// `DW_AT_decl_line` and `DW_AT_name` of a function's or inlined call's entry, following
/// its abstract origin or specification within the unit; 0 and `None` when unknown.
fn source_details(
    unit: gimli::UnitRef<'_, Reader>,
    mut offset: gimli::UnitOffset,
) -> (u32, Option<&'static str>) {
    let (mut line, mut name) = (None, None);
    for _ in 0..4 {
        let Ok(entry) = unit.entry(offset) else { break };
        if line.is_none() {
            if let Ok(Some(value)) = entry.attr_value(gimli::DW_AT_decl_line) {
                line = value.udata_value().and_then(|l| u32::try_from(l).ok());
            }
        }
        if name.is_none() {
            if let Ok(Some(value)) = entry.attr_value(gimli::DW_AT_name) {
                name = unit
                    .attr_string(value)
                    .ok()
                    .and_then(|s| std::str::from_utf8(s.slice()).ok());
            }
        }
        if line.is_some() && name.is_some() {
            break;
        }
        let next = [gimli::DW_AT_abstract_origin, gimli::DW_AT_specification]
            .into_iter()
            .find_map(|at| match entry.attr_value(at) {
                Ok(Some(gimli::AttributeValue::UnitRef(next))) => Some(next),
                _ => None,
            });
        match next {
            Some(next) => offset = next,
            None => break,
        }
    }
    (line.unwrap_or(0), name)
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

/// `/usr/lib/debug/.build-id/xx/yyyy.debug` for build id `xxyyyy`.
fn build_id_path(id: &str) -> Option<PathBuf> {
    let (dir, file) = (id.get(..2)?, id.get(2..).filter(|f| !f.is_empty())?);
    Some(PathBuf::from(format!(
        "{DEBUG_ROOT}/.build-id/{dir}/{file}.debug"
    )))
}

/// Finds the separate debug file of a file without DWARF, as gdb does: by build id under
/// `/usr/lib/debug/.build-id/`, then by `.gnu_debuglink` beside the file, in its `.debug/`
/// directory and under `/usr/lib/debug/`. A candidate whose build id differs is skipped.
fn find_debug_file(
    path: &Path,
    object: &object::File<'static>,
    build_id: Option<&str>,
    store: &mut Store,
) -> Option<(PathBuf, object::File<'static>)> {
    let mut candidates = Vec::new();
    candidates.extend(build_id.and_then(build_id_path));
    if let Some((link, _crc)) = object.gnu_debuglink().ok().flatten() {
        if let (Ok(link), Some(dir)) = (std::str::from_utf8(link), path.parent()) {
            candidates.push(dir.join(link));
            candidates.push(dir.join(".debug").join(link));
            let relative = dir.strip_prefix("/").unwrap_or(dir);
            candidates.push(Path::new(DEBUG_ROOT).join(relative).join(link));
        }
    }
    candidates
        .into_iter()
        .filter(|c| c != path)
        .find_map(|candidate| {
            let data = MappedFile::open(&candidate).ok()?;
            let object = object::File::parse(data.bytes()).ok()?;
            let id = object.build_id().ok().flatten().map(hex);
            if build_id.is_some() && id.is_some() && id.as_deref() != build_id {
                return None;
            }
            drop(object);
            let data = store.map(&candidate).ok()?;
            Some((candidate, object::File::parse(data).ok()?))
        })
}

/// Loads the supplementary file named by `.gnu_debugaltlink` (shared DWARF written by `dwz`,
/// common in distribution debug packages), ignoring failures.
fn load_supplementary(
    dwarf: &mut gimli::Dwarf<Reader>,
    object: &object::File<'static>,
    path: &Path,
    store: &mut Store,
) {
    let Some((link, build_id)) = object.gnu_debugaltlink().ok().flatten() else {
        return;
    };
    let Ok(link) = std::str::from_utf8(link) else {
        return;
    };
    let link = Path::new(link);
    let mut candidates = vec![path.parent().unwrap_or(Path::new("/")).join(link)];
    candidates.extend(build_id_path(&hex(build_id)));
    for candidate in candidates {
        let Ok(data) = store.map(&candidate) else {
            continue;
        };
        let Ok(sup) = object::File::parse(data) else {
            continue;
        };
        if sup.build_id().ok().flatten().is_some_and(|b| b != build_id) {
            continue;
        }
        let endian = endian(&sup);
        let loaded = dwarf.load_sup(|id| -> Result<Reader, object::Error> {
            let data = match sup.section_by_name(id.name()) {
                Some(section) => store.keep(section.uncompressed_data()?),
                None => &[],
            };
            Ok(gimli::EndianSlice::new(data, endian))
        });
        if loaded.is_ok() {
            return;
        }
    }
}
