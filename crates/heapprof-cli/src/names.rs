//! Names for addresses: the report commands name a profile's nameless addresses from
//! files found on this machine, as `go tool pprof` does, with the reader of `heapprof
//! symbolize` ([`OfflineSymbolizer`]). One symbolizer serves the whole run, so a series
//! (`trend`) or a loop (`watch`) opens each file once, and a profile whose nameless
//! addresses are known to stay so is not rebuilt.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use anyhow::Result;
use heapprof::symbolize::{MappingOutcome, MappingReport, OfflineSymbolizer, SymbolizeOptions};
use heapprof_profile::Profile;

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

/// The run's symbolizer, and the mappings not to speak of again.
struct Namer {
    symbolizer: OfflineSymbolizer,
    /// (file, build id) of the mappings already said to stay nameless, or whose file
    /// named some of their addresses.
    settled: HashSet<(String, String)>,
}

/// Names the nameless addresses of `profile` (read from `spec`) from files found here.
/// A profile with names everywhere (Go's, heapprof's) costs one pass over its
/// locations, and so does one whose nameless addresses are known to stay so
/// ([`OfflineSymbolizer::may_name_more`]). A mapping whose file is not here, or names
/// none of its addresses, is said in one line on stderr, once per run; a file that
/// names some of them (a system library's static functions) is not worth a line.
pub fn name_addresses(spec: &str, profile: Profile) -> Result<Profile> {
    if profile.location.iter().all(|l| !l.line.is_empty()) {
        return Ok(profile);
    }
    static NAMER: OnceLock<Mutex<Namer>> = OnceLock::new();
    let search_path = search_path_from_env()?;
    let namer = NAMER.get_or_init(|| {
        Mutex::new(Namer {
            symbolizer: OfflineSymbolizer::new(SymbolizeOptions { binaries: Vec::new(), search_path }),
            settled: HashSet::new(),
        })
    });
    let mut namer = namer.lock().unwrap_or_else(|e| e.into_inner());
    if !namer.symbolizer.may_name_more(&profile) {
        return Ok(profile);
    }
    // Decoding validated the profile: an error here is the symbolizer's own finding.
    let (named, reports) = namer.symbolizer.symbolize(profile).map_err(|e| bad(spec, e))?;
    for r in &reports {
        let key = (r.file.clone(), r.build_id.clone());
        match &r.outcome {
            MappingOutcome::Symbolized { .. } => {
                namer.settled.insert(key);
            }
            MappingOutcome::NotFound { tried } if !r.unresolved.is_empty() && namer.settled.insert(key) => {
                eprintln!(
                    "heapprof: {spec}: {} address(es) in {} ({}) without names: {} (see heapprof symbolize --help)",
                    r.unresolved.len(),
                    r.file,
                    build_id_text(r),
                    tried.join("; ")
                );
            }
            _ => {}
        }
    }
    Ok(named)
}
