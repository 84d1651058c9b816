//! `heapprof symbolize`: names for a profile written by a stripped program, from
//! its unstripped build (or debug file) found here by build id.

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use std::collections::HashSet;

use anyhow::Result;
use heapprof::symbolize::{
    MappingOutcome, MappingReport, OfflineSymbolizer, SymbolizeOptions, symbolize_profile,
};
use heapprof_profile::{Profile, encode_gzip};

use crate::error::bad;
use crate::output::write_file;
use crate::source;

/// The search path's variables, ours first: colon-separated directories.
const SEARCH_PATH_VARS: [&str; 2] = ["HEAPPROF_BINARY_PATH", "PPROF_BINARY_PATH"];

/// Resolve the addresses of a profile from a stripped program, offline
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Locations without functions, files or lines are resolved from a file with the \
mapping's GNU build id: a --binary, then the search path (--search-path, else \
$HEAPPROF_BINARY_PATH, else $PPROF_BINARY_PATH; DIR/<build id>/<name>, \
DIR/<id[..2]>/<id[2..]>.debug, DIR/<name>, DIR/<path>), then the mapping's own path and \
/usr/lib/debug/.build-id. A file with another build id is never used. The profiler's \
and the allocator's frames at the leaf are cut as in the process. One line per mapping \
goes to stderr. The report commands do the same by themselves, from the search path and \
the mappings' own paths (see --symbolize).

Exit status: 0 when written; 2 for bad input, or when locations without names remain and \
none could be resolved.

Examples:
  heapprof symbolize heap.pb.gz --binary target/release/app -o heap.sym.pb.gz
  HEAPPROF_BINARY_PATH=/srv/builds heapprof symbolize http://svc:6060/debug/pprof/heap -o heap.pb.gz")]
pub struct Args {
    /// The profile (file or URL)
    #[arg(value_name = "SOURCE")]
    source: String,
    /// Where to write the symbolized profile
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// An unstripped build or debug file to read (repeatable)
    #[arg(long, value_name = "FILE")]
    binary: Vec<PathBuf>,
    /// A directory to search (repeatable; replaces the environment's search path)
    #[arg(long, value_name = "DIR")]
    search_path: Vec<PathBuf>,
}

pub fn run(args: &Args) -> Result<()> {
    for b in &args.binary {
        if !b.is_file() {
            let why = if b.exists() { "not a file" } else { "no such file" };
            return Err(bad(format!("--binary {}", b.display()), why));
        }
    }
    let search_path =
        if args.search_path.is_empty() { search_path_from_env()? } else { args.search_path.clone() };
    let profile = source::load_unnamed(&args.source, None)?;
    let opts = SymbolizeOptions { binaries: args.binary.clone(), search_path };
    let (symbolized, reports) = symbolize_profile(&profile, &opts).map_err(|e| bad(&args.source, e))?;
    let mut resolved_any = false;
    let mut first_failure = None;
    let mut lines = Vec::with_capacity(reports.len());
    for (r, m) in reports.iter().zip(&profile.mapping) {
        let id = build_id_text(r);
        let what = match &r.outcome {
            MappingOutcome::AlreadySymbolized => "already symbolized".to_string(),
            MappingOutcome::NoFile => "no file to read".to_string(),
            MappingOutcome::Symbolized { file, locations, resolved } => {
                resolved_any |= *resolved > 0;
                format!("{resolved} of {locations} location(s) resolved from {}", file.display())
            }
            MappingOutcome::NotFound { tried } => {
                let what = format!("not symbolized: {}", tried.join("; "));
                // Only a mapping with nameless locations makes the run a failure; one
                // with symbol-table names (no file or line) was readable already.
                let nameless = profile.location.iter().any(|l| l.mapping_id == m.id && l.line.is_empty());
                if nameless {
                    first_failure.get_or_insert_with(|| format!("{} ({id}): {what}", r.file));
                }
                what
            }
        };
        lines.push(format!("heapprof: {} ({id}): {what}", r.file));
    }
    if let (false, Some(failure)) = (resolved_any, first_failure) {
        return Err(bad(&args.source, format!("nothing symbolized: {failure}")));
    }
    for line in lines {
        eprintln!("{line}");
    }
    write_file(&args.output, &encode_gzip(&symbolized))
}

/// Names the nameless addresses of a profile that a report command read, from files
/// found here as `heapprof symbolize` finds them (with the environment's search path),
/// as `go tool pprof` does. Profiles with names everywhere (Go's, heapprof's by default)
/// cost one pass over their locations; the files are opened once per process (a
/// series for `trend`, every fetch of `watch`). Quiet when the addresses get names;
/// otherwise one line on stderr, once per mapping, says which stayed nameless and why.
pub fn name_addresses(spec: &str, profile: Profile) -> Result<Profile> {
    let readable = readable_mappings(&profile);
    let nameless = |p: &Profile| {
        p.location.iter().filter(|l| l.line.is_empty() && readable.contains(&l.mapping_id)).count()
    };
    if nameless(&profile) == 0 {
        return Ok(profile);
    }
    static NAMER: OnceLock<Mutex<Namer>> = OnceLock::new();
    let search_path = search_path_from_env()?;
    let namer = NAMER.get_or_init(|| {
        let opts = SymbolizeOptions { binaries: Vec::new(), search_path };
        Mutex::new(Namer { symbolizer: OfflineSymbolizer::new(opts), warned: HashSet::new() })
    });
    let mut namer = namer.lock().unwrap_or_else(|e| e.into_inner());
    // A profile that does not validate is left to the report, which says what is wrong.
    let Ok((named, reports)) = namer.symbolizer.symbolize(&profile) else { return Ok(profile) };
    let left = nameless(&named);
    let why = reports.iter().find_map(|r| match &r.outcome {
        MappingOutcome::NotFound { tried } => Some((r, tried)),
        _ => None,
    });
    if let (true, Some((r, tried))) = (left > 0, why) {
        if namer.warned.insert((r.file.clone(), r.build_id.clone())) {
            eprintln!(
                "heapprof: {spec}: {left} address(es) without names: {} ({}): {} (see heapprof symbolize --help)",
                r.file,
                build_id_text(r),
                tried.join("; ")
            );
        }
    }
    Ok(named)
}

/// The report commands' symbolizer, and the mappings already said to stay nameless.
struct Namer {
    symbolizer: OfflineSymbolizer,
    warned: HashSet<(String, String)>,
}

/// Mappings whose file could be read: not the kernel's (`[vdso]`) nor anonymous.
fn readable_mappings(p: &Profile) -> HashSet<u64> {
    p.mapping
        .iter()
        .filter(|m| {
            let file = p.str(m.filename);
            !file.is_empty() && !file.starts_with('[')
        })
        .map(|m| m.id)
        .collect()
}

fn build_id_text(r: &MappingReport) -> String {
    if r.build_id.is_empty() { "no build id".to_string() } else { format!("build id {}", r.build_id) }
}

fn search_path_from_env() -> Result<Vec<PathBuf>> {
    for var in SEARCH_PATH_VARS {
        match std::env::var(var) {
            Ok(v) => return Ok(std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect()),
            Err(std::env::VarError::NotPresent) => continue,
            Err(std::env::VarError::NotUnicode(_)) => return Err(bad(var, "not UTF-8")),
        }
    }
    Ok(Vec::new())
}
