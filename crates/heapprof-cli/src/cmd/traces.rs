//! `heapprof traces`: every sample with its stack.

use anyhow::Result;

use crate::options::{BaseArgs, Format, GranularityArgs, Selection, Sources, build_report};
use crate::output::{print_json, print_text};

/// Print every sample with its labels and stack, like `go tool pprof -traces`
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  heapprof traces heap.pb.gz\n  heapprof traces --focus 'fillCache' --format json heap.pb.gz"
)]
pub struct Args {
    #[command(flatten)]
    sources: Sources,
    #[command(flatten)]
    base: BaseArgs,
    #[command(flatten)]
    select: Selection,
    #[command(flatten)]
    granularity: GranularityArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(args: &Args) -> Result<()> {
    let report = build_report(&args.sources, &args.base, &args.select)?;
    let traces = report.traces(args.granularity.granularity());
    match args.format {
        Format::Text => print_text(false, |w| traces.write_text(w)),
        Format::Json => print_json(&traces),
    }
}
