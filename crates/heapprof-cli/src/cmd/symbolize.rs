//! `heapprof symbolize`: names for a profile written by a stripped program, from
//! its unstripped build (or debug file) found here by build id.

use std::path::PathBuf;

use anyhow::Result;
use heapprof::symbolize::{MappingOutcome, SymbolizeOptions, symbolize_profile};
use heapprof_profile::encode_gzip;

use crate::error::bad;
use crate::names::{build_id_text, search_path_from_env};
use crate::output::write_file;
use crate::source;

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
