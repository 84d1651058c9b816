//! Resolving the return addresses captured in this process to functions, files and lines,
//! when a profile is written (never on the allocation path).
//!
//! A [`Symbolizer`] is long-lived: it keeps one `addr2line` context per object file (built on
//! demand, evicted least-recently-used when over its memory budget) and a per-address result
//! cache, so that writing the same stacks again costs a hash lookup per address. Files are
//! mapped, not read; what the caches hold on the heap is estimated by [`Symbolizer::memory_bytes`].
//!
//! What it reads: DWARF in the file, else in a separate debug file (by build id under
//! `/usr/lib/debug/.build-id/`, or `.gnu_debuglink`; `dwz` supplementary files; `.dwo`
//! split units), else the symbol table (`.symtab`, `.dynsym`): a name without file or
//! line. Not read: DWARF packages (`.dwp`), MiniDebugInfo (`.gnu_debugdata`), debuginfod.
//! rustc's `debug = "line-tables-only"` names inlined functions without their path
//! (`push<u8, Global>`); `debug = "limited"` keeps linkage names, hence full paths. The
//! standard library's bare names get their module path from their file (`library_paths`).
//! `offline` reads the same files for a profile written elsewhere (`heapprof symbolize`).
//!
//! ```text
//! let mut symbolizer = Symbolizer::new(64 << 20);
//! symbolizer.refresh_modules(); // once per profile: picks up dlopen'ed libraries
//! symbolizer.prefetch(all_call_addresses.iter().copied()); // in address order, one file at a time
//! for &addr in stack {
//!     let module = symbolizer.module_of(addr); // -> Location.mapping_id
//!     for frame in symbolizer.resolve(addr) {  // -> Location.line, callee first
//!         // frame.name, frame.system_name, frame.file, frame.line, frame.column, frame.start_line
//!     }
//! }
//! symbolizer.trim_to_budget();
//! ```

mod allocator_frames;
mod crate_roots;
mod debug_files;
mod debug_info;
mod demangle;
mod heap_cost;
mod library_paths;
pub(crate) mod mapped_file;
#[cfg(test)]
mod measurements;
mod modules;
pub(crate) mod offline;
mod symbol_table;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use allocator_frames::leaf_cut;
pub(crate) use library_paths::is_rust_library_frame;
pub(crate) use modules::Module;

use debug_info::DebugInfo;
use demangle::demangle;
use modules::FileKey;

/// One function of a location, as pprof's `Line` and `Function` want it. Strings are shared
/// between frames: thousands of addresses in one function hold its name once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    /// Demangled, without the Rust hash (`alloc::vec::Vec<T,A>::push`).
    pub(crate) name: Arc<str>,
    /// As in the symbol table or DWARF linkage name (mangled), or the same as `name`.
    pub(crate) system_name: Arc<str>,
    /// Source file path; empty when unknown (symbol-table names).
    pub(crate) file: Arc<str>,
    /// 0 when unknown.
    pub(crate) line: u32,
    /// 0 when unknown.
    pub(crate) column: u32,
    /// The line the function is declared on; 0 when unknown.
    pub(crate) start_line: u32,
}

/// Counters, for tests and the profiler's own statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Calls to [`Symbolizer::resolve`].
    pub(crate) lookups: u64,
    /// Of which answered from the per-address cache.
    pub(crate) cache_hits: u64,
    /// Object files opened and their DWARF indexed (again after an eviction).
    pub(crate) contexts_built: u64,
    /// Object-file contexts dropped to stay within the budget.
    pub(crate) contexts_evicted: u64,
    /// Times the per-address cache was dropped to stay within the budget.
    pub(crate) results_dropped: u64,
    /// Reads of `/proc/self/maps`.
    pub(crate) module_reads: u64,
}

#[derive(Debug)]
enum FileState {
    Loaded {
        info: Box<DebugInfo>,
        last_used: u64,
    },
    /// Could not be opened or parsed; not retried until the file's identity changes.
    Failed,
}

/// After an explicit refresh, an address in no known module triggers at most this many
/// re-reads of `/proc/self/maps` before the next refresh or `AUTO_REFRESH_PERIOD`.
const AUTO_REFRESHES: u32 = 1;
const AUTO_REFRESH_PERIOD: Duration = Duration::from_secs(1);

/// Resolves call addresses of this process. See the module documentation.
#[derive(Debug)]
pub(crate) struct Symbolizer {
    budget: usize,
    modules: Vec<Module>,
    modules_read: Option<Instant>,
    auto_refreshes_left: u32,
    files: BTreeMap<FileKey, FileState>,
    results: HashMap<u64, Box<[Frame]>>,
    results_bytes: usize,
    strings: HashSet<Arc<str>>,
    strings_bytes: usize,
    warned: HashSet<FileKey>,
    warnings: Vec<String>,
    tick: u64,
    stats: Stats,
}

impl Symbolizer {
    /// A symbolizer whose caches stay within about `memory_budget` heap bytes (see
    /// [`Self::resolve`] for the one exception).
    pub(crate) fn new(memory_budget: usize) -> Self {
        Symbolizer {
            budget: memory_budget,
            modules: Vec::new(),
            modules_read: None,
            auto_refreshes_left: AUTO_REFRESHES,
            files: BTreeMap::new(),
            results: HashMap::new(),
            results_bytes: 0,
            strings: HashSet::new(),
            strings_bytes: 0,
            warned: HashSet::new(),
            warnings: Vec::new(),
            tick: 0,
            stats: Stats::default(),
        }
    }

    /// Changes the budget; takes effect at the next `resolve` or `trim_to_budget`.
    #[allow(dead_code, reason = "for heap.rs to wire: see the module documentation")]
    pub(crate) fn set_memory_budget(&mut self, memory_budget: usize) {
        self.budget = memory_budget;
    }

    /// The executable file mappings of this process, sorted by address (read on first use).
    pub(crate) fn modules(&mut self) -> &[Module] {
        if self.modules_read.is_none() {
            self.refresh_modules();
        }
        &self.modules
    }

    /// Re-reads `/proc/self/maps` (call once per profile written, to see `dlopen`ed
    /// libraries). Cached results for ranges that changed are dropped.
    pub(crate) fn refresh_modules(&mut self) {
        self.auto_refreshes_left = AUTO_REFRESHES;
        self.read_modules();
    }

    fn read_modules(&mut self) {
        self.stats.module_reads += 1;
        self.modules_read = Some(Instant::now());
        let mut modules = match modules::read_modules() {
            Ok(modules) => modules,
            Err(e) => {
                self.warn_once(
                    FileKey { dev: 0, inode: 0, path: "/proc/self/maps".into() },
                    format!("/proc/self/maps: {e}"),
                );
                return;
            }
        };
        for module in modules.iter_mut().filter(|m| m.build_id.is_none() && !m.is_kernel_image()) {
            module.build_id = build_id_from_file(module);
        }
        // Addresses whose module appeared, vanished or changed may now mean something else.
        let changed: Vec<(u64, u64)> = self
            .modules
            .iter()
            .filter(|old| !modules.contains(old))
            .chain(modules.iter().filter(|new| !self.modules.contains(new)))
            .map(|m| (m.start, m.limit))
            .collect();
        // Files no module maps any more (dlclose'd, replaced) are forgotten.
        self.files.retain(|key, _| modules.iter().any(|m| m.has_file_key(key)));
        if !changed.is_empty() && !self.results.is_empty() {
            self.results
                .retain(|addr, _| !changed.iter().any(|&(start, limit)| (start..limit).contains(addr)));
            self.results_bytes = results_bytes(&self.results);
        }
        self.modules = modules;
    }

    /// The index in [`Self::modules`] of the module holding `addr`. An address in no known
    /// module re-reads `/proc/self/maps`, at most once per refresh or per second.
    pub(crate) fn module_of(&mut self, addr: u64) -> Option<usize> {
        if self.modules_read.is_none() {
            self.refresh_modules();
        }
        if let Some(index) = find_module(&self.modules, addr) {
            return Some(index);
        }
        let stale = self.modules_read.is_none_or(|at| at.elapsed() >= AUTO_REFRESH_PERIOD);
        if self.auto_refreshes_left > 0 || stale {
            self.auto_refreshes_left = self.auto_refreshes_left.saturating_sub(1);
            self.read_modules();
            return find_module(&self.modules, addr);
        }
        None
    }

    /// The frames at the call address `addr` (a return address minus one): inlined callees
    /// first, the function they were inlined into last, as pprof's `Location.line` wants;
    /// empty when unknown. Results are cached per address.
    ///
    /// The budget is enforced before a new result is stored, evicting least-recently-used
    /// file contexts but never the one just used (so that consecutive addresses in one
    /// module do not rebuild it): memory can exceed the budget by that one context until
    /// [`Self::trim_to_budget`].
    pub(crate) fn resolve(&mut self, addr: u64) -> &[Frame] {
        self.stats.lookups += 1;
        if self.results.contains_key(&addr) {
            self.stats.cache_hits += 1;
            return &self.results[&addr];
        }
        let frames = self.lookup(addr);
        self.enforce_budget(false);
        self.results_bytes += result_bytes(&frames) + RESULT_ENTRY_BYTES;
        self.results.entry(addr).or_insert(frames)
    }

    /// Resolves `addrs` into the per-address cache in address order, so that each file's
    /// context is built at most once even when the budget cannot hold all of them together
    /// (resolving stack by stack alternates between the executable and libc). Call it with
    /// every call address of a profile before resolving the stacks: `resolve` then answers
    /// from the cache.
    pub(crate) fn prefetch(&mut self, addrs: impl IntoIterator<Item = u64>) {
        let mut pending: Vec<u64> = addrs.into_iter().filter(|a| !self.results.contains_key(a)).collect();
        pending.sort_unstable();
        pending.dedup();
        for addr in pending {
            self.resolve(addr);
        }
    }

    /// Evicts caches until `memory_bytes()` is within the budget, the most recently used
    /// context included. Call after writing a profile.
    pub(crate) fn trim_to_budget(&mut self) {
        self.enforce_budget(true);
    }

    /// An estimate of the heap bytes the caches hold: parsed DWARF, symbol tables,
    /// decompressed debug sections, cached results and their strings. Mapped files are not
    /// counted: their pages are the kernel's page cache, clean and reclaimable.
    pub(crate) fn memory_bytes(&self) -> usize {
        let files: usize = self
            .files
            .iter()
            .map(|(key, state)| {
                key.path.capacity()
                    + 64
                    + match state {
                        FileState::Loaded { info, .. } => info.memory_bytes(),
                        FileState::Failed => 0,
                    }
            })
            .sum();
        let modules: usize = self
            .modules
            .iter()
            .map(|m| {
                std::mem::size_of::<Module>()
                    + m.path.capacity()
                    + m.build_id.as_ref().map_or(0, String::capacity)
            })
            .sum();
        files
            + modules
            + self.results_bytes
            + self.strings_bytes
            + self.warnings.iter().map(|w| w.capacity() + 24).sum::<usize>()
    }

    /// One line per module that could not be symbolized (and why), at most one per file.
    #[allow(dead_code, reason = "for heap.rs to wire: see the module documentation")]
    pub(crate) fn warnings(&self) -> &[String] {
        &self.warnings
    }

    #[allow(dead_code, reason = "for heap.rs to wire: see the module documentation")]
    pub(crate) fn stats(&self) -> Stats {
        self.stats
    }

    /// Where a module's DWARF comes from: `None` for no DWARF (or not yet opened), the file
    /// itself or a separate debug file.
    #[allow(dead_code, reason = "for heap.rs to wire: see the module documentation")]
    pub(crate) fn debug_file(&self, module: usize) -> Option<PathBuf> {
        let module = self.modules.get(module)?;
        match self.files.get(&module.file_key())? {
            FileState::Loaded { info, .. } if info.has_dwarf() => {
                Some(info.debug_path.clone().unwrap_or_else(|| PathBuf::from(&module.path)))
            }
            _ => None,
        }
    }

    fn lookup(&mut self, addr: u64) -> Box<[Frame]> {
        let Some(index) = self.module_of(addr) else {
            return Box::new([]);
        };
        let module = &self.modules[index];
        if module.is_kernel_image() {
            return Box::new([]);
        }
        let key = module.file_key();
        if !self.files.contains_key(&key) {
            let module = module.clone();
            self.stats.contexts_built += 1;
            let state = match open_module_file(&module) {
                Ok(info) => FileState::Loaded { info: Box::new(info), last_used: 0 },
                Err(warning) => {
                    self.warn_once(key.clone(), warning);
                    FileState::Failed
                }
            };
            self.files.insert(key.clone(), state);
        }
        self.tick += 1;
        let module = &self.modules[index];
        let Some(FileState::Loaded { info, last_used }) = self.files.get_mut(&key) else {
            return Box::new([]);
        };
        *last_used = self.tick;
        let Some(bias) = module.bias.or_else(|| info.bias_for(module.start, module.file_offset)) else {
            let warning =
                format!("{}: no loadable segment maps file offset {:#x}", module.path, module.file_offset);
            self.warn_once(key, warning);
            return Box::new([]);
        };
        let (strings, strings_bytes) = (&mut self.strings, &mut self.strings_bytes);
        // addr2line, gimli and object are written not to panic on corrupt input; should one
        // still do so, the file is given up on rather than the profile.
        let frames = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let found = info.frames(addr.wrapping_sub(bias));
            found.iter().map(|f| frame(f, &mut |s| intern(strings, strings_bytes, s))).collect()
        }));
        match frames {
            Ok(frames) => frames,
            Err(_) => {
                let warning = format!("{}: symbolization panicked; module skipped", module.path);
                self.files.insert(key.clone(), FileState::Failed);
                self.warn_once(key, warning);
                Box::new([])
            }
        }
    }

    /// Evicts least-recently-used contexts (all but the one just used unless
    /// `evict_most_recent`), then, if still over, the per-address cache.
    fn enforce_budget(&mut self, evict_most_recent: bool) {
        while self.memory_bytes() > self.budget {
            let victim = self
                .files
                .iter()
                .filter_map(|(key, state)| match state {
                    FileState::Loaded { last_used, .. } if evict_most_recent || *last_used != self.tick => {
                        Some((*last_used, key))
                    }
                    _ => None,
                })
                .min()
                .map(|(_, key)| key.clone());
            match victim {
                Some(key) => {
                    self.files.remove(&key);
                    self.stats.contexts_evicted += 1;
                }
                None => {
                    // Results are small and what makes the next profile fast: while a
                    // context in use is what overflows, they stay (up to half the budget).
                    let results = self.results_bytes + self.strings_bytes;
                    let keep = !evict_most_recent && results <= self.budget / 2;
                    if !keep && (!self.results.is_empty() || !self.strings.is_empty()) {
                        self.results = HashMap::new();
                        self.strings = HashSet::new();
                        self.results_bytes = 0;
                        self.strings_bytes = 0;
                        self.stats.results_dropped += 1;
                    }
                    return;
                }
            }
        }
    }

    /// Drops the per-address cache (measurements: the cost of new stacks with warm contexts).
    #[cfg(test)]
    fn drop_results(&mut self) {
        self.results = HashMap::new();
        self.strings = HashSet::new();
        self.results_bytes = 0;
        self.strings_bytes = 0;
    }

    fn warn_once(&mut self, key: FileKey, warning: String) {
        if self.warned.insert(key) {
            self.warnings.push(warning);
        }
    }
}

/// A found frame with its names demangled and its strings interned.
fn frame(found: &debug_info::FoundFrame<'_>, intern: &mut dyn FnMut(&str) -> Arc<str>) -> Frame {
    let system_name = found.name.or(found.source_name).unwrap_or("??");
    let name = match demangle(system_name) {
        Cow::Owned(demangled) => Cow::Owned(demangled),
        // Not mangled: C, or Rust's short DWARF names. For C functions with an assembler
        // name the source name is the one people know.
        Cow::Borrowed(_) => Cow::Borrowed(found.source_name.unwrap_or(system_name)),
    };
    // A bare name gets its module: the standard library's from the file's place in
    // it, the program's crates' from their source directories.
    let qualified = library_paths::qualify_library_function(&name, found.file.unwrap_or("")).or_else(|| {
        let module = found.module.as_ref().filter(|_| !library_paths::has_path(&name))?;
        Some(format!("{module}::{name}"))
    });
    let name = qualified.map_or(name, Cow::Owned);
    Frame {
        system_name: intern(system_name),
        name: intern(&name),
        file: intern(found.file.unwrap_or("")),
        line: found.line,
        column: found.column,
        start_line: found.start_line,
    }
}

fn find_module(modules: &[Module], addr: u64) -> Option<usize> {
    let after = modules.partition_point(|m| m.start <= addr);
    let index = after.checked_sub(1)?;
    (addr < modules[index].limit).then_some(index)
}

/// Opens the file behind a module: through `/proc/self/map_files` when the path no longer
/// names the mapped file (deleted, or replaced so that the inode differs), else the path.
fn open_module_file(module: &Module) -> Result<DebugInfo, String> {
    let path = std::path::Path::new(&module.path);
    let build_id = module.build_id.as_deref();
    let replaced = || {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).is_ok_and(|m| m.ino() != module.inode)
    };
    if module.deleted || replaced() {
        let mapped = format!("/proc/self/map_files/{:x}-{:x}", module.start, module.limit);
        match DebugInfo::open(mapped.as_ref(), path, build_id) {
            Ok(info) => return Ok(info),
            Err(e) if module.deleted => {
                return Err(format!("{}: deleted since it was loaded; {e}", module.path));
            }
            Err(_) => {}
        }
    }
    // Overlay filesystems report other inodes than the maps file: the build id check in
    // `DebugInfo::open` is what catches a replaced file.
    DebugInfo::open(path, path, build_id)
}

fn build_id_from_file(module: &Module) -> Option<String> {
    use object::Object;
    let file = mapped_file::MappedFile::open(module.path.as_ref()).ok()?;
    let object = object::File::parse(file.bytes()).ok()?;
    object.build_id().ok().flatten().map(modules::hex)
}

/// Hash-table cost of one cached address: key, boxed slice, control byte, load factor.
const RESULT_ENTRY_BYTES: usize = (8 + 16 + 1) * 8 / 7;

fn result_bytes(frames: &[Frame]) -> usize {
    std::mem::size_of_val(frames)
}

fn results_bytes(results: &HashMap<u64, Box<[Frame]>>) -> usize {
    results.values().map(|f| result_bytes(f) + RESULT_ENTRY_BYTES).sum()
}

fn intern(strings: &mut HashSet<Arc<str>>, bytes: &mut usize, s: &str) -> Arc<str> {
    if let Some(existing) = strings.get(s) {
        return existing.clone();
    }
    let new: Arc<str> = Arc::from(s);
    // Arc header (two counts), the bytes, and a table slot (fat pointer, control byte).
    *bytes += 16 + s.len() + (16 + 1) * 8 / 7;
    strings.insert(new.clone());
    new
}
