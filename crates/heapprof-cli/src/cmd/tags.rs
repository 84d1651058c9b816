//! `heapprof tags`: label values (such as block sizes) and their weights.

use anyhow::Result;

use crate::options::{BaseArgs, Format, Selection, Sources, build_report};
use crate::output::{print_json, print_text};

/// Print label values and the value they carry, like `go tool pprof -tags`
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  heapprof tags heap.pb.gz\n  heapprof tags --sample-index inuse_objects --focus 'json' heap.pb.gz"
)]
pub struct Args {
    #[command(flatten)]
    sources: Sources,
    #[command(flatten)]
    base: BaseArgs,
    #[command(flatten)]
    select: Selection,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(args: &Args) -> Result<()> {
    let report = build_report(&args.sources, &args.base, &args.select)?;
    let tags = report.tags();
    match args.format {
        Format::Text => print_text(false, |w| tags.write_text(w)),
        Format::Json => print_json(&tags),
    }
}
