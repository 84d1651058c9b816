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

use super::crate_roots::CrateRoots;
use super::debug_files::{find_debug_file, load_supplementary};
use super::demangle::is_mangled;
use super::heap_cost;
use super::library_paths::has_path;
use super::mapped_file::{FileStamp, MappedFile};
use super::modules::hex;
use super::symbol_table::SymbolTable;

/// DWARF read in place from the mapped files. The `'static` is a promise kept by
/// [`DebugInfo`]: nothing borrowing the data outlives the `Store` that owns it.
pub(super) type Reader = gimli::EndianSlice<'static, gimli::RunTimeEndian>;

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
    /// For a bare name in a file of one of the file's crates, the module it is in.
    pub(super) module: Option<String>,
}

/// The owners of the bytes the context and object views borrow: mapped files and
/// decompressed sections. Moving these vectors does not move the bytes. And every path
/// looked at for them, with what was there just before.
#[derive(Debug, Default)]
pub(super) struct Store {
    mapped: Vec<MappedFile>,
    decompressed: Vec<Vec<u8>>,
    looked_at: Vec<(PathBuf, Option<FileStamp>)>,
}

impl Store {
    /// Notes what is at `path` before it is opened (or found missing), so that a reader
    /// kept for long can tell when it changes. The first look at a path is kept.
    pub(super) fn look_at(&mut self, path: &Path) {
        if !self.looked_at.iter().any(|(p, _)| p == path) {
            self.looked_at.push((path.to_path_buf(), FileStamp::of(path)));
        }
    }

    pub(super) fn map(&mut self, path: &Path) -> std::io::Result<&'static [u8]> {
        self.look_at(path);
        let file = MappedFile::open(path)?;
        // SAFETY: the mapping lives as long as `self.mapped`, i.e. as long as the `DebugInfo`,
        // whose fields that borrow it are declared (and so dropped) before its `Store`.
        let bytes = unsafe { extend(file.bytes()) };
        self.mapped.push(file);
        Ok(bytes)
    }

    pub(super) fn keep(&mut self, data: Cow<'static, [u8]>) -> &'static [u8] {
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

pub(super) fn endian(object: &object::File<'_>) -> gimli::RunTimeEndian {
    if object.is_little_endian() { gimli::RunTimeEndian::Little } else { gimli::RunTimeEndian::Big }
}

/// Loads the DWARF sections of `object` (its `.dwo` names when `dwo`); `None` when it has
/// no `.debug_info` at all.
fn load_dwarf(object: &object::File<'static>, store: &mut Store, dwo: bool) -> Option<gimli::Dwarf<Reader>> {
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

/// The symbolization data of one file.
pub(super) struct DebugInfo {
    // Field order is drop order: the borrowers of `store` come first.
    context: Option<Context<Reader>>,
    /// The DWARF the context reads, kept for [`CrateRoots`].
    dwarf: Option<Arc<gimli::Dwarf<Reader>>>,
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
    /// Which directory holds which crate's sources: read on the first bare name, as only
    /// line-tables-only DWARF has them.
    crate_roots: std::cell::OnceCell<CrateRoots>,
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
    pub(super) fn open(path: &Path, original: &Path, build_id: Option<&str>) -> Result<DebugInfo, String> {
        let mut store = Store::default();
        let data = store.map(path).map_err(|e| format!("cannot map {}: {e}", path.display()))?;
        let object =
            object::File::parse(data).map_err(|e| format!("{}: not an object file: {e}", path.display()))?;
        let file_build_id = object.build_id().ok().flatten().map(hex);
        if let (Some(loaded), Some(on_disk)) = (build_id, &file_build_id) {
            if loaded != on_disk {
                return Err(format!(
                    "{}: build id {on_disk}, not the mapped image's {loaded}",
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
            let (base, eager) = heap_cost::context_cost(&dwarf);
            let dwarf = Arc::new(dwarf);
            Context::from_arc_dwarf(dwarf.clone()).ok().map(|context| (context, dwarf, base, eager))
        });
        let (context, dwarf, base_bytes, eager_line_units) = match context {
            Some((context, dwarf, base, eager)) => (Some(context), Some(dwarf), base, eager),
            None => (None, None, 0, HashSet::new()),
        };
        Ok(DebugInfo {
            context,
            dwarf,
            symbols: None,
            object,
            debug_object,
            parsed_units: HashSet::new(),
            eager_line_units,
            parsed_bytes: 0,
            base_bytes,
            parsed_functions: HashSet::new(),
            crate_roots: std::cell::OnceCell::new(),
            segments,
            debug_path,
            store,
        })
    }

    /// The paths opened or looked for so far (the file, its debug files, `.dwo` files), with
    /// what was at each just before.
    pub(super) fn looked_at(&self) -> &[(PathBuf, Option<FileStamp>)] {
        &self.store.looked_at
    }

    /// Whether the file (or its debug file) has DWARF: file names and lines.
    pub(super) fn has_dwarf(&self) -> bool {
        self.context.is_some()
    }

    /// The load bias of an executable mapping of this file at `start` from `file_offset`,
    /// computed from the executable `PT_LOAD` segment that holds that offset (the page
    /// holding the segment's first byte may also hold the end of the segment before it),
    /// or in a debug file from its one executable segment.
    pub(super) fn bias_for(&self, start: u64, file_offset: u64) -> Option<u64> {
        let page_mask = !(super::modules::page_size() - 1);
        let holds = |&&(offset, size, _, _): &&(u64, u64, u64, bool)| {
            (offset & page_mask) <= file_offset && file_offset < offset.saturating_add(size)
        };
        let found =
            self.segments.iter().filter(holds).find(|s| s.3).or_else(|| self.segments.iter().find(holds));
        if let Some(&(offset, _, vaddr, _)) = found {
            return Some(start.wrapping_sub(file_offset).wrapping_sub(vaddr).wrapping_add(offset));
        }
        // A debug file (`objcopy --only-keep-debug`) keeps the segments' addresses but
        // not their bytes (file size 0, offsets meaningless). Offsets and addresses are
        // congruent modulo the page size, so the executable segment's mapping starts at
        // the page of its address.
        let mut executable = self.segments.iter().filter(|s| s.3 && s.1 == 0);
        match (executable.next(), executable.next()) {
            (Some(&(_, _, vaddr, _)), None) => Some(start.wrapping_sub(vaddr & page_mask)),
            _ => None,
        }
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
            + self.crate_roots.get().map_or(0, CrateRoots::memory_bytes)
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
                    unit.header.offset().as_debug_info_offset().map_or(0, |o| o.0),
                    unit.dwarf as *const _ as usize,
                )
            });
            if let (Some(unit), Some(key)) = (unit, unit_key) {
                if self.parsed_units.insert(key) {
                    self.parsed_bytes += heap_cost::unit_cost(unit, &self.eager_line_units);
                }
            }
            let mut outer_offset = None;
            if let Ok(mut found) = found {
                // A corrupt entry ends the list; what was read before it stands.
                while let Ok(Some(frame)) = found.next() {
                    outer_offset = frame.dw_die_offset;
                    let name = frame.function.and_then(|f| std::str::from_utf8(f.name.slice()).ok());
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
                        module: None,
                    });
                }
            }
            // addr2line parses a function's inlined calls on its first lookup.
            if let (Some(unit), Some((unit_offset, dwarf)), Some(offset)) = (unit, unit_key, outer_offset) {
                if self.parsed_functions.insert((unit_offset + offset.0, dwarf)) {
                    self.parsed_bytes += heap_cost::function_cost(unit, offset);
                }
            }
        }
        // The outermost frame is the function the code belongs to. Without a DWARF name
        // (assembly, a unit without subprograms), or with only a short one (rustc's
        // line-tables-only DWARF has `push<u8, Global>`, no linkage names), the symbol table
        // names it: a mangled symbol demangles to the full path.
        if !frames.last().is_some_and(|f| f.name.is_some_and(is_mangled)) {
            let symbols = self.symbols.get_or_insert_with(|| {
                let mut objects = vec![&self.object];
                objects.extend(self.debug_object.as_ref());
                SymbolTable::new(&objects)
            });
            if let Some(symbol) = symbols.lookup(svma) {
                match frames.last_mut() {
                    Some(frame) if frame.name.is_none() || is_mangled(symbol) => frame.name = Some(symbol),
                    Some(_) => {}
                    None => frames.push(FoundFrame {
                        name: Some(symbol),
                        source_name: None,
                        file: None,
                        line: 0,
                        column: 0,
                        start_line: 0,
                        module: None,
                    }),
                }
            }
        }
        self.name_modules(&mut frames);
        frames
    }
}

impl DebugInfo {
    /// Sets the module of each bare-named inlined frame whose file is in one of the
    /// file's crates. The outermost frame is the function itself: its name is its
    /// symbol's (an unmangled one is a C name such as the preload library's `malloc`,
    /// which must stay as it is). The innermost frame's file is its line row's: at a
    /// function's first instructions that row can be the enclosing function's, so an
    /// inlined callee there could take the program's module; profiles hold return
    /// addresses, call sites whose rows are their own.
    fn name_modules(&self, frames: &mut [FoundFrame<'_>]) {
        let inlined = frames.len().saturating_sub(1);
        for f in &mut frames[..inlined] {
            if f.name.is_some_and(|n| !is_mangled(n) && !has_path(n)) {
                let Some(dwarf) = &self.dwarf else { return };
                let roots = self.crate_roots.get_or_init(|| CrateRoots::from_dwarf(dwarf));
                f.module = f.file.and_then(|file| roots.module_of(file));
            }
        }
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
            LookupResult::Load { load, continuation } => lookup = continuation.resume(store.load_dwo(load)),
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
                name = unit.attr_string(value).ok().and_then(|s| std::str::from_utf8(s.slice()).ok());
            }
        }
        if line.is_some() && name.is_some() {
            break;
        }
        let next =
            [gimli::DW_AT_abstract_origin, gimli::DW_AT_specification].into_iter().find_map(|at| match entry
                .attr_value(at)
            {
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
