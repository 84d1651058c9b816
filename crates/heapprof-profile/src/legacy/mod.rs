//! Legacy text heap profiles, read the way google/pprof's legacy parser reads them,
//! and written back in Go's `?debug=1` form.
//!
//! Accepted inputs:
//! - Go's `?debug=1` heap profile (`heap profile: … @ heap/<2*rate>`), with its
//!   `#\t0xPC\tfunc+0xOFF\tfile:line` comment lines turned into functions and lines;
//! - gperftools' and Google's heapz profiles (`@ heapprofile`, `@ heap_v2/<rate>`,
//!   `@ heapz_v2/<rate>`), growth (`@ growthz`) and fragmentation (`@ fragmentationz`)
//!   profiles;
//! - jemalloc's `heap_v2/<rate>` dumps (per-thread records, `thread` labels);
//! - Java heapz profiles (`--- heapz 1 ---`);
//!
//! each with the memory map that may follow (`--- Memory map: ---` or `MAPPED_LIBRARIES:`
//! then `/proc/self/maps` or `start-end: file` lines).
//!
//! Values are unbiased as pprof does: for `heap`/`heap_v2`/`heapz_v2`/jemalloc/Java
//! records each (count, bytes) pair is divided by the probability `1 - exp(-avg/rate)`
//! that an allocation of the record's average size was sampled; addresses of native
//! stacks are decremented by one to land on the call instruction.

mod heap;
mod java;
mod maps;
mod scan;
mod write;

pub use write::write_legacy_heap;

use std::collections::HashMap;

use crate::{Error, Function, Label, Line, Location, Mapping, Profile, Sample, ValueType};

/// Parses a legacy text heap profile into a [`Profile`].
///
/// The result is validated like a decoded protobuf profile. Input that is not a
/// recognised legacy heap profile gives [`Error::Legacy`] naming the line.
///
/// ```
/// let text = b"heap profile: 1: 1024 [2: 2048] @ heap/2\n1: 1024 [2: 2048] @ 0x1001\n";
/// let p = heapprof_profile::parse_legacy(text).unwrap();
/// assert_eq!(p.sample[0].value, vec![2, 2048, 1, 1024]);
/// assert_eq!(p.location[0].address, 0x1000);
/// ```
pub fn parse_legacy(text: &[u8]) -> Result<Profile, Error> {
    if text.is_empty() {
        return Err(Error::Empty);
    }
    // Valid UTF-8 is checked much faster than it is repaired.
    let text = match std::str::from_utf8(text) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => String::from_utf8_lossy(text),
    };
    let first = first_line(&text);
    let raw = if let Some(raw) = heap::parse(&text)? {
        raw
    } else if let Some(raw) = java::parse(&text)? {
        raw
    } else if let Some(kind) = unsupported_kind(&text) {
        return Err(legacy_error(1, format!("legacy {kind} profiles are not supported, only heap profiles")));
    } else {
        return Err(legacy_error(
            1,
            format!("unrecognised profile format: {} is not a legacy heap profile header", snippet(first)),
        ));
    };
    let profile = raw.finish();
    crate::validate::validate(&profile)?;
    Ok(profile)
}

/// Whether `data` starts like a legacy text profile that [`parse_legacy`] should read
/// (including the legacy kinds it rejects as unsupported, so that their error names
/// them). Cheap: looks at the first lines only.
pub(crate) fn looks_like_legacy(data: &[u8]) -> bool {
    let head = &data[..data.len().min(4096)];
    let head = String::from_utf8_lossy(head);
    let first = first_line(&head);
    first.contains("heap profile:")
        || heap::is_jemalloc_header(first)
        || first.trim() == "--- heapz 1 ---"
        || unsupported_kind(&head).is_some()
}

/// The legacy profile kinds pprof reads that this crate does not, by their header.
fn unsupported_kind(text: &str) -> Option<&'static str> {
    let first = first_line(text).trim();
    let significant =
        text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
    if first.starts_with("--- contentionz ")
        || first.starts_with("--- mutex:")
        || first.starts_with("--- contention:")
    {
        Some("contention")
    } else if significant.contains(" profile: total ") {
        Some("count (goroutine or threadcreate)")
    } else if significant.starts_with("--- threadz ") || significant.starts_with("--- Thread ") {
        Some("thread")
    } else {
        None
    }
}

fn first_line(text: &str) -> &str {
    let line = text.split('\n').next().unwrap_or("");
    line.strip_suffix('\r').unwrap_or(line)
}

/// The error for line `line` (1-based).
pub(crate) fn legacy_error(line: usize, message: impl Into<String>) -> Error {
    Error::Legacy { line, message: message.into() }
}

/// A quoted, escaped, shortened copy of `s` for error messages (always one line).
pub(crate) fn snippet(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
        None => format!("{s:?}"),
    }
}

/// Whether a line starts the memory map section.
fn is_memory_map_sentinel(line: &str) -> bool {
    line.contains("--- Memory map: ---") || line.contains("MAPPED_LIBRARIES:")
}

/// Allocator entry points that pprof drops from the leaf end of legacy heap stacks.
const ALLOC_DROP_FRAMES: &[&str] = &[
    "calloc",
    "cfree",
    "malloc",
    "free",
    "memalign",
    "do_memalign",
    "(__)?posix_memalign",
    "pvalloc",
    "valloc",
    "realloc",
    "tcmalloc::.*",
    "tc_calloc",
    "tc_cfree",
    "tc_malloc",
    "tc_free",
    "tc_memalign",
    "tc_posix_memalign",
    "tc_pvalloc",
    "tc_valloc",
    "tc_realloc",
    "tc_new",
    "tc_delete",
    "tc_newarray",
    "tc_deletearray",
    "tc_new_nothrow",
    "tc_newarray_nothrow",
    "malloc_zone_malloc",
    "malloc_zone_calloc",
    "malloc_zone_valloc",
    "malloc_zone_realloc",
    "malloc_zone_memalign",
    "malloc_zone_free",
    "runtime\\..*",
    "BaseArena::.*",
    "(::)?do_malloc_no_errno",
    "(::)?do_malloc_pages",
    "(::)?do_malloc",
    "DoSampledAllocation",
    "MallocedMemBlock::MallocedMemBlock",
    "_M_allocate",
    "__builtin_(vec_)?delete",
    "__builtin_(vec_)?new",
    "__gnu_cxx::new_allocator::allocate",
    "__libc_malloc",
    "__malloc_alloc_template::allocate",
    "allocate",
    "cpp_alloc",
    "operator new(\\[\\])?",
    "simple_alloc::allocate",
];

/// Go runtime frames kept although they match [`ALLOC_DROP_FRAMES`].
const ALLOC_KEEP_FRAMES: &[&str] = &["runtime\\.panic", "runtime\\.reflectcall", "runtime\\.call[0-9]*"];

/// A profile as the legacy parsers build it: objects referenced by index, in the
/// order pprof creates them, renumbered by [`Raw::finish`] as pprof's remap steps do.
#[derive(Debug, Default)]
struct Raw {
    sample_types: Vec<(String, String)>,
    period_type: Option<(String, String)>,
    period: i64,
    samples: Vec<RawSample>,
    locations: Vec<RawLocation>,
    functions: Vec<RawFunction>,
    mappings: Vec<RawMapping>,
}

#[derive(Debug, Default)]
struct RawSample {
    locations: Vec<usize>,
    values: Vec<i64>,
    labels: Vec<(String, String)>,
    num_labels: Vec<(String, i64)>,
}

#[derive(Debug, Default)]
struct RawLocation {
    address: u64,
    mapping: Option<usize>,
    /// (function index, line number), innermost first.
    lines: Vec<(usize, i64)>,
}

#[derive(Debug, Default)]
struct RawFunction {
    name: String,
    system_name: String,
    filename: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct RawMapping {
    start: u64,
    limit: u64,
    offset: u64,
    file: String,
    build_id: String,
    symbolized: bool,
}

/// Locations deduplicated by address, as each pprof legacy parser keeps them.
#[derive(Debug, Default)]
struct LocationTable {
    by_address: HashMap<u64, usize>,
}

impl LocationTable {
    fn get(&mut self, raw: &mut Raw, address: u64) -> usize {
        *self.by_address.entry(address).or_insert_with(|| {
            raw.locations.push(RawLocation { address, ..RawLocation::default() });
            raw.locations.len() - 1
        })
    }
}

impl Raw {
    /// pprof's `remapLocationIDs` + `remapFunctionIDs`: keep only what samples reach,
    /// numbered in order of first use.
    fn renumber(&mut self) {
        let mut loc_new = vec![usize::MAX; self.locations.len()];
        let mut loc_order = Vec::new();
        for s in &mut self.samples {
            for l in &mut s.locations {
                if loc_new[*l] == usize::MAX {
                    loc_new[*l] = loc_order.len();
                    loc_order.push(*l);
                }
                *l = loc_new[*l];
            }
        }
        let mut old = std::mem::take(&mut self.locations);
        self.locations = loc_order.iter().map(|&i| std::mem::take(&mut old[i])).collect();

        let mut fn_new = vec![usize::MAX; self.functions.len()];
        let mut fn_order = Vec::new();
        for l in &mut self.locations {
            for (f, _) in &mut l.lines {
                if fn_new[*f] == usize::MAX {
                    fn_new[*f] = fn_order.len();
                    fn_order.push(*f);
                }
                *f = fn_new[*f];
            }
        }
        let mut old = std::mem::take(&mut self.functions);
        self.functions = fn_order.iter().map(|&i| std::mem::take(&mut old[i])).collect();
    }

    /// Converts to the protobuf model with a fresh string table, in a fixed order.
    fn finish(self) -> Profile {
        let mut strings = Strings::default();
        let mut p = Profile::default();
        p.string_table.push(String::new());
        let vt = |strings: &mut Strings, (t, u): &(String, String)| ValueType {
            r#type: strings.intern(t),
            unit: strings.intern(u),
        };
        p.sample_type = self.sample_types.iter().map(|t| vt(&mut strings, t)).collect();
        for s in &self.samples {
            let mut label: Vec<Label> = s
                .labels
                .iter()
                .map(|(k, v)| Label { key: strings.intern(k), str: strings.intern(v), ..Label::default() })
                .collect();
            label.extend(s.num_labels.iter().map(|(k, n)| Label {
                key: strings.intern(k),
                num: *n,
                ..Label::default()
            }));
            p.sample.push(Sample {
                location_id: s.locations.iter().map(|&l| l as u64 + 1).collect(),
                value: s.values.clone(),
                label,
            });
        }
        for (i, m) in self.mappings.iter().enumerate() {
            p.mapping.push(Mapping {
                id: i as u64 + 1,
                memory_start: m.start,
                memory_limit: m.limit,
                file_offset: m.offset,
                filename: strings.intern(&m.file),
                build_id: strings.intern(&m.build_id),
                has_functions: m.symbolized,
                has_filenames: m.symbolized,
                has_line_numbers: m.symbolized,
                has_inline_frames: false,
            });
        }
        for (i, l) in self.locations.iter().enumerate() {
            p.location.push(Location {
                id: i as u64 + 1,
                mapping_id: l.mapping.map_or(0, |m| m as u64 + 1),
                address: l.address,
                line: l
                    .lines
                    .iter()
                    .map(|&(f, line)| Line { function_id: f as u64 + 1, line, column: 0 })
                    .collect(),
                is_folded: false,
            });
        }
        for (i, f) in self.functions.iter().enumerate() {
            p.function.push(Function {
                id: i as u64 + 1,
                name: strings.intern(&f.name),
                system_name: strings.intern(&f.system_name),
                filename: strings.intern(&f.filename),
                start_line: 0,
            });
        }
        // pprof's addLegacyFrameInfo: every legacy heap profile gets the allocator
        // frames to drop.
        p.drop_frames = strings.intern(&ALLOC_DROP_FRAMES.join("|"));
        p.keep_frames = strings.intern(&ALLOC_KEEP_FRAMES.join("|"));
        p.period_type = self.period_type.as_ref().map(|t| vt(&mut strings, t));
        p.period = self.period;
        p.string_table = strings.table;
        p
    }
}

/// A string table under construction.
#[derive(Debug)]
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Default for Strings {
    fn default() -> Self {
        Strings { table: vec![String::new()], index: HashMap::from([(String::new(), 0)]) }
    }
}

impl Strings {
    fn intern(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as i64;
        self.table.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }
}
