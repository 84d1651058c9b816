//! `heapprof peek`: callers and callees of matching functions.

use anyhow::Result;

use crate::options::{
    BaseArgs, Format, GranularityArgs, Selection, Sources, build_report, regex, report_error,
};
use crate::output::{print_json, print_text};

/// Print the callers and callees of functions matching REGEX, like `go tool pprof -peek`
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  heapprof peek 'json\\.Marshal' heap.pb.gz\n  heapprof peek --sample-index alloc_space '^main\\.' heap.pb.gz"
)]
pub struct Args {
    /// Regular expression matched against node names
    #[arg(value_name = "REGEX")]
    regex: String,
    #[command(flatten)]
    sources: Sources,
    #[command(flatten)]
    base: BaseArgs,
    #[command(flatten)]
    select: Selection,
    #[command(flatten)]
    granularity: GranularityArgs,
    /// Sort by cumulative value instead of flat value
    #[arg(long)]
    cum: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(args: &Args) -> Result<()> {
    let re = regex("REGEX", &args.regex)?;
    let report = build_report(&args.sources, &args.base, &args.select)?;
    let peek = report
        .peek(&re, args.granularity.granularity(), args.cum)
        .map_err(|e| report_error(&args.sources.sources.join(", "), e))?;
    match args.format {
        Format::Text => print_text(false, |w| peek.write_text(w)),
        Format::Json => print_json(&peek),
    }
}
