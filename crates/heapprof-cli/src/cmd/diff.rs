//! `heapprof diff`: what grew and what shrank between two profiles.

use anyhow::Result;
use heapprof_profile::report::{DiffOptions, diff};

use crate::options::{Format, GranularityArgs, Selection, report_of};
use crate::output::{print_json, print_text};
use crate::source;

/// Compare two profiles function by function, largest change first
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  heapprof diff before.pb.gz after.pb.gz\n  heapprof diff --sample-index alloc_space --nodecount 20 http://host:6060/debug/pprof/heap now.pb.gz"
)]
pub struct Args {
    /// The earlier profile (file or URL)
    #[arg(value_name = "BASE")]
    base: String,
    /// The later profile (file or URL)
    #[arg(value_name = "NEW")]
    new: String,
    /// For URLs: ask for a delta profile over N seconds (appends ?seconds=N)
    #[arg(long, value_name = "N")]
    seconds: Option<u64>,
    #[command(flatten)]
    select: Selection,
    #[command(flatten)]
    granularity: GranularityArgs,
    /// Show at most N rows [default: all that changed]
    #[arg(long, value_name = "N")]
    nodecount: Option<usize>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(args: &Args) -> Result<()> {
    let base = report_of(&args.base, source::load(&args.base, args.seconds)?, &args.select)?;
    let new = report_of(&args.new, source::load(&args.new, args.seconds)?, &args.select)?;
    let opts =
        DiffOptions { granularity: args.granularity.granularity(), node_count: args.nodecount.unwrap_or(0) };
    let d =
        diff(&base, &new, &opts).map_err(|e| crate::error::bad(format!("{}, {}", args.base, args.new), e))?;
    match args.format {
        Format::Text => print_text(true, |w| d.write_text(w)),
        Format::Json => print_json(&d),
    }
}
