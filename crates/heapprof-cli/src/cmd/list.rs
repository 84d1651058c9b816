//! `heapprof list`: per-line values of matching functions, with source.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Result;
use heapprof_profile::report::{ListOptions, find_source};

use crate::options::{BaseArgs, Format, Selection, Sources, build_report, regex, report_error};
use crate::output::{print_json, print_text};

/// Print per-line values of functions matching REGEX, like `go tool pprof -list`
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  heapprof list 'main\\.fillCache' heap.pb.gz\n  heapprof list --source-path ~/src/app:/usr/lib/go/src 'encodeAll' heap.pb.gz"
)]
pub struct Args {
    /// Regular expression matched against function names
    #[arg(value_name = "REGEX")]
    regex: String,
    #[command(flatten)]
    sources: Sources,
    #[command(flatten)]
    base: BaseArgs,
    #[command(flatten)]
    select: Selection,
    /// Directories to search for source files, separated by ':' (repeatable)
    /// [default: the current directory]
    #[arg(long, value_name = "DIRS")]
    source_path: Vec<String>,
    /// Path prefixes to remove from the profile's file names (repeatable)
    #[arg(long, value_name = "PREFIX")]
    trim_path: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(args: &Args) -> Result<()> {
    let re = regex("REGEX", &args.regex)?;
    let mut dirs: Vec<PathBuf> =
        args.source_path.iter().flat_map(|s| std::env::split_paths(s).collect::<Vec<_>>()).collect();
    if dirs.is_empty() {
        dirs.extend(std::env::current_dir().ok());
    }
    let report = build_report(&args.sources, &args.base, &args.select)?;
    let opts = ListOptions { source_path: dirs.clone(), trim_path: args.trim_path.clone() };
    // Each file is searched for and read once, however many functions it holds.
    let mut cache: HashMap<String, Option<String>> = HashMap::new();
    let mut read =
        |file: &str| cache.entry(file.to_string()).or_insert_with(|| find_source(file, &dirs)).clone();
    let listing =
        report.list(&re, &opts, &mut read).map_err(|e| report_error(&args.sources.sources.join(", "), e))?;
    match args.format {
        Format::Text => print_text(false, |w| listing.write_text(w)),
        Format::Json => print_json(&listing),
    }
}
