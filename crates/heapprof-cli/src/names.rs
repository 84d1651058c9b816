//! Names for addresses: the report commands name a profile's nameless addresses from
//! files found on this machine, as `go tool pprof` does, with the reader of `heapprof
//! symbolize` ([`OfflineSymbolizer`]). One symbolizer serves the whole run, so a series
//! (`trend`) or a loop (`watch`) opens each file once, and addresses known to stay
//! nameless do not send the next profile through it again.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use anyhow::Result;
use heapprof::symbolize::{MappingOutcome, MappingReport, OfflineSymbolizer, SymbolizeOptions, names_a_file};
use heapprof_profile::{Mapping, Profile};

use crate::error::bad;

/// The search path's variables, ours first: colon-separated directories.
const SEARCH_PATH_VARS: [&str; 2] = ["HEAPPROF_BINARY_PATH", "PPROF_BINARY_PATH"];

/// The directories of `$HEAPPROF_BINARY_PATH`, else of `$PPROF_BINARY_PATH`.
pub fn search_path_from_env() -> Result<Vec<PathBuf>> {
    for var in SEARCH_PATH_VARS {
        match std::env::var(var) {
            Ok(v) => return Ok(std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect()),
            Err(std::env::VarError::NotPresent) => continue,
            Err(std::env::VarError::NotUnicode(_)) => return Err(bad(var, "not UTF-8")),
        }
    }
    Ok(Vec::new())
}

/// "build id …" or "no build id", for messages about a mapping.
pub fn build_id_text(r: &MappingReport) -> String {
    if r.build_id.is_empty() { "no build id".to_string() } else { format!("build id {}", r.build_id) }
}

/// The run's symbolizer and what it learned.
struct Namer {
    symbolizer: OfflineSymbolizer,
    /// By (file, build id): the file offsets of addresses that stayed nameless.
    nameless: HashMap<(String, String), HashSet<u64>>,
    /// (file, build id) of the mappings already said to stay nameless.
    warned: HashSet<(String, String)>,
}

impl Namer {
    /// Whether `profile` has a nameless address in a readable mapping that is not known
    /// to stay nameless.
    fn may_name_more(&self, profile: &Profile) -> bool {
        // By mapping id: (file offset of address 0, the offsets known to stay nameless).
        let known: HashMap<u64, (u64, Option<&HashSet<u64>>)> = profile
            .mapping
            .iter()
            .filter(|m| names_a_file(profile.str(m.filename)))
            .map(|m| (m.id, (offset_base(m), self.nameless.get(&file_key(profile, m)))))
            .collect();
        profile.location.iter().any(|l| {
            l.line.is_empty()
                && known.get(&l.mapping_id).is_some_and(|(base, nameless)| {
                    nameless.is_none_or(|n| !n.contains(&base.wrapping_add(l.address)))
                })
        })
    }
}

/// Names the nameless addresses of `profile` (read from `spec`) from files found here.
/// A profile with names everywhere (Go's, heapprof's) costs one pass over its
/// locations, and so does one whose nameless addresses are known to stay so. A mapping
/// whose file is not here, or names none of its addresses, is said in one line on
/// stderr, once per run; a file that names some of them (a system library's static
/// functions) is not worth a line.
pub fn name_addresses(spec: &str, profile: Profile) -> Result<Profile> {
    if profile.location.iter().all(|l| !l.line.is_empty()) {
        return Ok(profile);
    }
    static NAMER: OnceLock<Mutex<Namer>> = OnceLock::new();
    let search_path = search_path_from_env()?;
    let namer = NAMER.get_or_init(|| {
        Mutex::new(Namer {
            symbolizer: OfflineSymbolizer::new(SymbolizeOptions { binaries: Vec::new(), search_path }),
            nameless: HashMap::new(),
            warned: HashSet::new(),
        })
    });
    let mut namer = namer.lock().unwrap_or_else(|e| e.into_inner());
    if !namer.may_name_more(&profile) {
        return Ok(profile);
    }
    let bases: Vec<u64> = profile.mapping.iter().map(offset_base).collect();
    // Decoding validated the profile: an error here is the symbolizer's own finding.
    let (named, reports) = namer.symbolizer.symbolize(profile).map_err(|e| bad(spec, e))?;
    for (r, base) in reports.iter().zip(bases) {
        if r.unresolved.is_empty() {
            continue;
        }
        let nameless = namer.nameless.entry((r.file.clone(), r.build_id.clone())).or_default();
        nameless.extend(r.unresolved.iter().map(|&a| base.wrapping_add(a)));
        let MappingOutcome::NotFound { tried } = &r.outcome else { continue };
        if namer.warned.insert((r.file.clone(), r.build_id.clone())) {
            eprintln!(
                "heapprof: {spec}: {} address(es) in {} ({}) without names: {} (see heapprof symbolize --help)",
                r.unresolved.len(),
                r.file,
                build_id_text(r),
                tried.join("; ")
            );
        }
    }
    Ok(named)
}

/// A mapping's file and build id.
fn file_key(p: &Profile, m: &Mapping) -> (String, String) {
    (p.str(m.filename).to_string(), p.str(m.build_id).to_string())
}

/// What to add to an address of `m` for its offset in the file: the same in every
/// process of the build, wherever it was loaded.
fn offset_base(m: &Mapping) -> u64 {
    m.file_offset.wrapping_sub(m.memory_start)
}
