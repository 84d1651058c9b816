//! Heap profiles: a snapshot copies the recorded counts (fast, no symbols), and
//! turning it into a pprof profile resolves the addresses through a symbolizer
//! whose caches live as long as the process.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};

use heapprof_profile::{Label, Line, Mapping, Profile, ProfileBuilder, Sample, ValueType};

use crate::spin::SpinLock;
use crate::symbols::{self, Symbolizer};
use crate::{clock, records, sampler, thread_state};

/// Default bound on the symbolizer's caches (parsed debug info, resolved addresses).
pub const DEFAULT_SYMBOLIZER_BUDGET: usize = 256 << 20;

static SYMBOLIZER: SpinLock<Option<ProcessSymbolizer>> = SpinLock::new(None);

/// The process's symbolizer, and the lines of the stack being resolved: kept between
/// stacks so that resolving one allocates nothing once the longest stack was seen.
struct ProcessSymbolizer {
    symbolizer: Symbolizer,
    stack_lines: Vec<Vec<symbols::Frame>>,
}

impl ProcessSymbolizer {
    fn get(slot: &mut Option<ProcessSymbolizer>) -> &mut ProcessSymbolizer {
        slot.get_or_insert_with(|| ProcessSymbolizer {
            symbolizer: Symbolizer::new(DEFAULT_SYMBOLIZER_BUDGET),
            stack_lines: Vec::new(),
        })
    }
}

/// Whether profiles are symbolized here: unset until first asked (then from
/// `HEAPPROF_SYMBOLIZE`), on, or off.
static SYMBOLIZATION: AtomicU8 = AtomicU8::new(SYMBOLIZATION_UNSET);
const SYMBOLIZATION_UNSET: u8 = 0;
const SYMBOLIZATION_ON: u8 = 1;
const SYMBOLIZATION_OFF: u8 = 2;

/// Turns symbolization in the process on (the default) or off. Off, profiles
/// carry return addresses, mappings and build ids but no names, and the
/// symbolizer's memory is never spent: `heapprof symbolize` (or `go tool pprof`
/// with the unstripped binary) names them elsewhere. `HEAPPROF_SYMBOLIZE=0` turns
/// it off at start-up. Off, the monitor's alerts name sites by address, and the
/// stacks keep the profiler's own frames at the leaf until symbolized.
///
/// ```
/// heapprof::set_symbolization(false);
/// assert!(!heapprof::symbolization());
/// heapprof::set_symbolization(true);
/// ```
pub fn set_symbolization(on: bool) {
    SYMBOLIZATION.store(if on { SYMBOLIZATION_ON } else { SYMBOLIZATION_OFF }, Ordering::Relaxed);
}

/// Whether profiles are symbolized in the process (see [`set_symbolization`]).
pub fn symbolization() -> bool {
    match SYMBOLIZATION.load(Ordering::Relaxed) {
        SYMBOLIZATION_UNSET => {
            let on = crate::config::symbolization_from_env().unwrap_or(true);
            // A concurrent `set_symbolization` wins over the environment.
            let value = if on { SYMBOLIZATION_ON } else { SYMBOLIZATION_OFF };
            let _ = SYMBOLIZATION.compare_exchange(
                SYMBOLIZATION_UNSET,
                value,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            SYMBOLIZATION.load(Ordering::Relaxed) == SYMBOLIZATION_ON
        }
        value => value == SYMBOLIZATION_ON,
    }
}

/// One (stack, size class) record of a snapshot, with its sampled counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackRecord {
    /// Return addresses, leaf first.
    pub frames: Vec<usize>,
    /// The size class: blocks of at most this many bytes, and more than the class
    /// below (exact up to 128 bytes, then eight classes per power of two).
    pub size_class: u64,
    /// Sample rate in force when these blocks were sampled.
    pub rate: u64,
    /// Sampled allocations.
    pub allocs: u64,
    /// Bytes of the sampled allocations.
    pub alloc_bytes: u64,
    /// Sampled frees.
    pub frees: u64,
    /// Bytes of the sampled frees.
    pub free_bytes: u64,
    /// Whether the stack was cut at the depth limit.
    pub truncated: bool,
}

/// The sampled heap at one moment, before symbolization.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeapSnapshot {
    /// The records, sorted by stack then size.
    pub records: Vec<StackRecord>,
    /// When it was taken, nanoseconds since the Unix epoch.
    pub unix_nanos: u64,
    /// The sample rate when it was taken.
    pub rate: u64,
}

/// Copies the recorded counts. Takes no lock that the allocation path waits on.
pub fn snapshot() -> HeapSnapshot {
    let busy = thread_state::with(|st| st.busy.get());
    debug_assert!(!busy, "snapshot from inside the allocator");
    thread_state::quietly(copy_records)
}

fn copy_records() -> HeapSnapshot {
    // Stamped before the copy: whatever happened before the stamp is in the snapshot
    // (a stamp read after it would also cover allocations the copy had passed).
    let unix_nanos = clock::unix_nanos();
    let mut records = Vec::new();
    records::for_each_bucket(|b| {
        use std::sync::atomic::Ordering::Relaxed;
        // Frees first: a free is counted after its allocation, so reading in this
        // order never shows more frees than allocations.
        let (frees, free_bytes) = (b.free_count.load(Relaxed), b.free_bytes.load(Relaxed));
        let (allocs, alloc_bytes) = (b.alloc_count.load(Relaxed), b.alloc_bytes.load(Relaxed));
        if allocs == 0 {
            return;
        }
        records.push(StackRecord {
            frames: b.frames().to_vec(),
            size_class: b.size,
            rate: b.rate,
            allocs,
            alloc_bytes,
            frees: frees.min(allocs),
            free_bytes: free_bytes.min(alloc_bytes),
            truncated: b.truncated,
        });
    });
    sort_and_merge_stripes(&mut records);
    HeapSnapshot { records, unix_nanos, rate: sampler::sample_rate() }
}

/// Sorts records by (stack, size class, rate) and adds together those the same in all
/// three: the buckets of one site in different threads' stripes.
pub(crate) fn sort_and_merge_stripes(records: &mut Vec<StackRecord>) {
    records.sort_by(|a, b| (&a.frames, a.size_class, a.rate).cmp(&(&b.frames, b.size_class, b.rate)));
    records.dedup_by(|next, kept| {
        let same = (&next.frames, next.size_class, next.rate) == (&kept.frames, kept.size_class, kept.rate);
        if same {
            kept.allocs += next.allocs;
            kept.alloc_bytes += next.alloc_bytes;
            kept.frees += next.frees;
            kept.free_bytes += next.free_bytes;
            kept.truncated |= next.truncated;
        }
        same
    });
}

/// The sampled heap now, as a pprof profile (`alloc_objects`, `alloc_space`,
/// `inuse_objects`, `inuse_space`), symbolized, with mappings and build ids. What it
/// allocates to build the profile is not sampled (but counted in the statistics).
pub fn heap_profile() -> Profile {
    thread_state::quietly(|| snapshot().to_profile())
}

/// Writes [`heap_profile`] gzipped to `path`, atomically: the profile goes to a
/// temporary file in the same directory, which is then renamed over `path`.
pub fn write_heap_profile(path: impl AsRef<Path>) -> Result<(), crate::Error> {
    let path = path.as_ref();
    thread_state::quietly(|| write_atomically(path, &heapprof_profile::encode_gzip(&heap_profile())))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that a
/// crash never leaves a partial file under the final name. A symlink is written
/// through (the file it names is replaced; the link stays), and what exists but
/// is neither a regular file nor a directory (a device such as /dev/null, a FIFO)
/// is written to directly: a rename would replace it with a regular file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), crate::Error> {
    let io_error = |source| crate::Error::Write { path: path.to_path_buf(), source };
    let target = follow_links(path).map_err(io_error)?;
    if std::fs::metadata(&target).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let written =
            std::fs::OpenOptions::new().write(true).open(&target).and_then(|mut f| f.write_all(bytes));
        return written.map_err(io_error);
    }
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .ok_or_else(|| io_error(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path")))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}.{}", std::process::id(), clock::monotonic_nanos()));
    let tmp: PathBuf = dir.join(tmp_name);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| cannot_create_in(dir, e))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(e));
    }
    Ok(())
}

/// `path` with the symlinks at its end followed, as `open` would (at most 40, the
/// kernel's limit): the file that writing to `path` writes. A dangling link
/// gives the path it points to, which is then created.
fn follow_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Ok(path);
        }
        let link = std::fs::read_link(&path)?;
        // A relative link is relative to its own directory (an absolute one replaces the path).
        path = path.parent().map_or_else(|| link.clone(), |dir| dir.join(&link));
    }
    Err(std::io::Error::from_raw_os_error(libc::ELOOP))
}

/// The temporary file could not be made in `dir`: said of the directory, since
/// the bare error ("No such file or directory") would seem to be about the file.
fn cannot_create_in(dir: &Path, e: std::io::Error) -> std::io::Error {
    let why = match std::fs::metadata(dir) {
        Err(_) => format!("no such directory: {}", dir.display()),
        Ok(m) if !m.is_dir() => format!("not a directory: {}", dir.display()),
        Ok(_) => format!("cannot create a file in {}: {e}", dir.display()),
    };
    std::io::Error::new(e.kind(), why)
}

impl HeapSnapshot {
    /// Symbolizes and encodes the snapshot. The same snapshot always gives the
    /// same profile (and so the same bytes).
    pub fn to_profile(&self) -> Profile {
        let rows = self.records.iter().map(|r| {
            let (alloc_objects, alloc_space) = scale_pair(r.allocs, r.alloc_bytes, r.rate);
            let (inuse_objects, inuse_space) =
                scale_pair(r.allocs - r.frees, r.alloc_bytes - r.free_bytes, r.rate);
            (r, [alloc_objects, alloc_space, inuse_objects, inuse_space])
        });
        build_profile(rows, self.rate, self.unix_nanos, 0)
    }

    /// What happened between `earlier` and this snapshot, as a profile: `alloc_*`
    /// values are the allocations made in between, `inuse_*` values are this
    /// snapshot's (Go subtracts in-use values too, which makes them meaningless;
    /// tools built on it call that a corruption). `duration_nanos` spans the two.
    pub fn delta_since(&self, earlier: &HeapSnapshot) -> Profile {
        let key = |r: &StackRecord| (r.frames.clone(), r.size_class, r.rate);
        let before: HashMap<_, &StackRecord> = earlier.records.iter().map(|r| (key(r), r)).collect();
        let rows = self.records.iter().filter_map(|r| {
            let (allocs, bytes) = match before.get(&key(r)) {
                Some(e) => (r.allocs.saturating_sub(e.allocs), r.alloc_bytes.saturating_sub(e.alloc_bytes)),
                None => (r.allocs, r.alloc_bytes),
            };
            let (alloc_objects, alloc_space) = scale_pair(allocs, bytes, r.rate);
            let (inuse_objects, inuse_space) =
                scale_pair(r.allocs - r.frees, r.alloc_bytes - r.free_bytes, r.rate);
            let values = [alloc_objects, alloc_space, inuse_objects, inuse_space];
            (values != [0; 4]).then_some((r, values))
        });
        let duration = self.unix_nanos.saturating_sub(earlier.unix_nanos);
        build_profile(rows, self.rate, self.unix_nanos, duration)
    }
}

/// A sample being built: (location ids, size class, scaled values, sampled bytes,
/// sampled blocks); the last two give the `bytes` label.
type SampleRow = (Vec<u64>, u64, [i64; 4], u64, u64);

/// Symbolizes and encodes records with their values (scaled `[alloc_objects,
/// alloc_space, inuse_objects, inuse_space]`).
fn build_profile<'r>(
    rows: impl Iterator<Item = (&'r StackRecord, [i64; 4])>,
    rate: u64,
    unix_nanos: u64,
    duration_nanos: u64,
) -> Profile {
    let mut builder = ProfileBuilder::new(&[
        ("alloc_objects", "count"),
        ("alloc_space", "bytes"),
        ("inuse_objects", "count"),
        ("inuse_space", "bytes"),
    ]);
    let period_type: ValueType = builder.value_type("space", "bytes");
    let bytes_key = builder.intern("bytes");
    let mut resolver = Resolver::new(&mut builder);
    // (locations, size class) → scaled values and the raw sampled bytes and
    // blocks, for the `bytes` label (the average block size, as Go sets it).
    let mut samples: Vec<SampleRow> = Vec::new();
    let rows: Vec<_> = rows.collect();
    // Resolving in address order builds each file's debug info once.
    if symbolization() {
        with_symbolizer(|s| {
            s.prefetch(rows.iter().flat_map(|(r, _)| r.frames.iter().map(|&f| f.saturating_sub(1) as u64)))
        });
    }
    for (r, values) in rows {
        let locations = resolver.stack(&r.frames, r.truncated);
        samples.push((locations, r.size_class, values, r.alloc_bytes, r.allocs));
    }
    let mappings = resolver.finish();
    with_symbolizer(Symbolizer::trim_to_budget);
    // Records of one stack sampled at several rates, or whose stacks differ only
    // in frames of the profiler, become one sample.
    samples.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut merged: Vec<(Sample, u64, u64)> = Vec::with_capacity(samples.len());
    let mut last: Option<(Vec<u64>, u64)> = None;
    for (locations, class, values, bytes, blocks) in samples {
        if last.as_ref().is_some_and(|(l, c)| *l == locations && *c == class) {
            if let Some((prev, b, n)) = merged.last_mut() {
                for (p, v) in prev.value.iter_mut().zip(values) {
                    *p += v;
                }
                *b += bytes;
                *n += blocks;
            }
            continue;
        }
        last = Some((locations.clone(), class));
        let sample = Sample { location_id: locations, value: values.to_vec(), label: vec![] };
        merged.push((sample, bytes, blocks));
    }
    let merged: Vec<Sample> = merged
        .into_iter()
        .map(|(mut s, bytes, blocks)| {
            let average = bytes / blocks.max(1);
            s.label.push(Label { key: bytes_key, str: 0, num: average as i64, num_unit: 0 });
            s
        })
        .collect();
    let p = builder.profile_mut();
    p.mapping = mappings;
    p.sample = merged;
    p.period_type = Some(period_type);
    p.period = rate as i64;
    p.time_nanos = unix_nanos as i64;
    p.duration_nanos = duration_nanos as i64;
    builder.finish()
}

/// Turns return addresses into locations, sharing one location per address.
struct Resolver<'b> {
    builder: &'b mut ProfileBuilder,
    /// (return address, inlined lines dropped at the leaf) → location id.
    locations: HashMap<(usize, usize), u64>,
    /// The modules that some location uses, in mapping-id order, with what their
    /// locations turned out to have.
    used_modules: Vec<(usize, Symbolized)>,
    modules: Vec<symbols::Module>,
    truncated_location: Option<u64>,
}

impl<'b> Resolver<'b> {
    fn new(builder: &'b mut ProfileBuilder) -> Self {
        // Re-read the module list so that libraries loaded since the last profile
        // get their mappings.
        let modules = with_symbolizer(|s| {
            s.refresh_modules();
            thread_state::as_application(|| s.modules().to_vec())
        });
        // The executable is mapping 1 even if no sampled stack passes through it (a
        // program run under `heapprof run` may allocate only in libc): pprof takes the
        // first mapping for the program, and names it in its `File:` header.
        let used_modules = main_executable(&modules).map(|i| (i, Symbolized::ALL)).into_iter().collect();
        Resolver { builder, locations: HashMap::new(), used_modules, modules, truncated_location: None }
    }

    /// Location ids for a stack, leaf first, without the profiler's own frames.
    fn stack(&mut self, frames: &[usize], truncated: bool) -> Vec<u64> {
        with_resolved_stack(frames, |resolved| self.stack_of(frames, resolved, truncated))
    }

    fn stack_of(&mut self, frames: &[usize], resolved: &[Vec<symbols::Frame>], truncated: bool) -> Vec<u64> {
        let (cut_frame, cut_lines) = symbols::leaf_cut(resolved);
        let mut out = Vec::with_capacity(frames.len() + 1);
        for (i, (&ret, lines)) in frames.iter().zip(resolved).enumerate().skip(cut_frame) {
            let skip = if i == cut_frame { cut_lines } else { 0 };
            if skip > 0 && skip == lines.len() {
                continue;
            }
            let id = match self.locations.get(&(ret, skip)) {
                Some(&id) => id,
                None => {
                    let id = self.location(ret.saturating_sub(1), &lines[skip..]);
                    self.locations.insert((ret, skip), id);
                    id
                }
            };
            out.push(id);
        }
        if truncated {
            let id = match self.truncated_location {
                Some(id) => id,
                None => {
                    let f = self.builder.function("[truncated]", "[truncated]", "", 0);
                    let id =
                        self.builder.add_location(0, 0, vec![Line { function_id: f, line: 0, column: 0 }]);
                    self.truncated_location = Some(id);
                    id
                }
            };
            out.push(id);
        }
        out
    }

    fn location(&mut self, call: usize, frames: &[symbols::Frame]) -> u64 {
        let module = self.modules.iter().position(|m| (m.start..m.limit).contains(&(call as u64)));
        let mapping_id = match module {
            Some(i) => {
                let k = match self.used_modules.iter().position(|&(u, _)| u == i) {
                    Some(k) => k,
                    None => {
                        self.used_modules.push((i, Symbolized::ALL));
                        self.used_modules.len() - 1
                    }
                };
                self.used_modules[k].1.note(frames);
                k as u64 + 1
            }
            None => 0,
        };
        let lines = frames
            .iter()
            .map(|f| Line {
                function_id: self.builder.function(&f.name, &f.system_name, &f.file, i64::from(f.start_line)),
                line: i64::from(f.line),
                column: i64::from(f.column),
            })
            .collect();
        self.builder.add_location(mapping_id, call as u64, lines)
    }

    /// The mappings used, numbered as the locations refer to them.
    fn finish(self) -> Vec<Mapping> {
        let mut out = Vec::with_capacity(self.used_modules.len());
        for (k, &(i, symbolized)) in self.used_modules.iter().enumerate() {
            let m = &self.modules[i];
            let filename = self.builder.intern(&m.path);
            let build_id = self.builder.intern(m.build_id.as_deref().unwrap_or(""));
            out.push(Mapping {
                id: k as u64 + 1,
                memory_start: m.start,
                memory_limit: m.limit,
                file_offset: m.file_offset,
                filename,
                build_id,
                has_functions: symbolized.functions,
                has_filenames: symbolized.filenames,
                has_line_numbers: symbolized.line_numbers,
                has_inline_frames: symbolized.line_numbers,
            });
        }
        out
    }
}

/// The index of the first module that is this process's executable, if mapped.
fn main_executable(modules: &[symbols::Module]) -> Option<usize> {
    let exe = std::fs::read_link("/proc/self/exe").ok()?;
    let exe = exe.to_str()?;
    let exe = exe.strip_suffix(" (deleted)").unwrap_or(exe);
    modules.iter().position(|m| m.path == exe)
}

/// pprof's `has_*` flags of a mapping: true when every location in it has them.
#[derive(Clone, Copy)]
struct Symbolized {
    functions: bool,
    filenames: bool,
    line_numbers: bool,
}

impl Symbolized {
    const ALL: Symbolized = Symbolized { functions: true, filenames: true, line_numbers: true };

    fn note(&mut self, frames: &[symbols::Frame]) {
        self.functions &= !frames.is_empty();
        self.filenames &= frames.iter().all(|f| !f.file.is_empty());
        self.line_numbers &= frames.iter().all(|f| f.line > 0);
    }
}

/// Go's `scaleHeapSample`: unbiases (blocks, bytes) sampled at `rate` with the
/// average block size, truncating toward zero as Go does. Exact at rate 1.
fn scale_pair(blocks: u64, bytes: u64, rate: u64) -> (i64, i64) {
    if blocks == 0 || bytes == 0 {
        return (0, 0);
    }
    let scale = sampler::scale(bytes / blocks, rate);
    ((blocks as f64 * scale) as i64, (bytes as f64 * scale) as i64)
}

/// Runs `f` on the source lines of each return address of a stack (its call address,
/// one byte back), inlined callees first. The lines are the symbolizer's, lent: `f`
/// runs as the application and keeps copies of what it needs, never the frames' `Arc`s
/// (a name freed by the application that the symbolizer allocated would leave its
/// memory counted as the profiler's for good).
fn with_resolved_stack<R>(frames: &[usize], f: impl FnOnce(&[Vec<symbols::Frame>]) -> R) -> R {
    if !symbolization() {
        return f(&vec![Vec::new(); frames.len()]);
    }
    with_process_symbolizer(|ProcessSymbolizer { symbolizer, stack_lines }| {
        if stack_lines.len() < frames.len() {
            stack_lines.resize_with(frames.len(), Vec::new);
        }
        // Copied out of the cache, which may evict an entry while a later one is resolved.
        for (lines, &ret) in stack_lines.iter_mut().zip(frames) {
            lines.clear();
            lines.extend_from_slice(symbolizer.resolve(ret.saturating_sub(1) as u64));
        }
        let result = thread_state::as_application(|| f(&stack_lines[..frames.len()]));
        // The names go back with their last user, so that an evicted one is freed now.
        stack_lines.iter_mut().for_each(Vec::clear);
        result
    })
}

/// The first `max` frames of a stack that belong to the application, as
/// `name (file:line)`, the allocating function first (for test failure messages).
/// Frames of Rust's own libraries (`Vec`, `RawVec`, closures' `call_once`) are left
/// out: a reader wants the code that asked for memory.
pub(crate) fn describe_stack(frames: &[usize], max: usize) -> Vec<String> {
    with_resolved_stack(frames, |resolved| describe_resolved(frames, resolved, max))
}

fn describe_resolved(frames: &[usize], resolved: &[Vec<symbols::Frame>], max: usize) -> Vec<String> {
    let (cut_frame, cut_lines) = symbols::leaf_cut(resolved);
    let mut out = Vec::with_capacity(max);
    for (i, (lines, &ret)) in resolved.iter().zip(frames).enumerate().skip(cut_frame) {
        let skip = if i == cut_frame { cut_lines } else { 0 };
        if lines.is_empty() {
            out.push(format!("{ret:#x}"));
        }
        for f in lines.iter().skip(skip).filter(|f| !symbols::is_rust_library_frame(f)) {
            let file = f
                .file
                .rsplit('/')
                .take(2)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("/");
            out.push(if file.is_empty() {
                f.name.to_string()
            } else {
                format!("{} ({file}:{})", f.name, f.line)
            });
        }
        if out.len() >= max {
            break;
        }
    }
    out.truncate(max);
    out
}

/// Runs `f` on the process's symbolizer, as the profiler's own work: its caches, tens
/// of megabytes once debug info is read, are the profiler's memory
/// (`Stats::profiler_bytes`), not the application's live bytes, whose thresholds, peaks
/// and trends would otherwise see the first profile's step. What `f` returns must
/// hold no memory, or be made in [`thread_state::as_application`].
fn with_symbolizer<R>(f: impl FnOnce(&mut Symbolizer) -> R) -> R {
    with_process_symbolizer(|p| f(&mut p.symbolizer))
}

/// [`with_symbolizer`] with the stack buffer beside the symbolizer.
fn with_process_symbolizer<R>(f: impl FnOnce(&mut ProcessSymbolizer) -> R) -> R {
    thread_state::as_profiler(|| f(ProcessSymbolizer::get(&mut SYMBOLIZER.lock())))
}

pub(crate) fn lock_for_fork() {
    SYMBOLIZER.raw_lock();
}

pub(crate) fn unlock_after_fork() {
    // SAFETY: taken by lock_for_fork in the fork's prepare handler.
    unsafe { SYMBOLIZER.raw_unlock() };
}
