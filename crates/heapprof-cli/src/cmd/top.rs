//! `heapprof top`: the heaviest functions (lines, files, addresses).

use anyhow::Result;
use heapprof_profile::report::{TopOptions, TrimOptions};

use crate::error::bad;
use crate::options::{BaseArgs, Format, GranularityArgs, Selection, Sources, build_report};
use crate::output::{print_json, print_text};

/// Print the heaviest functions, like `go tool pprof -top`
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  heapprof top heap.pb.gz\n  heapprof top --cum --nodecount 20 --sample-index alloc_space heap.pb.gz\n  heapprof top --base before.pb.gz after.pb.gz\n  heapprof top --format json http://localhost:6060/debug/pprof/heap"
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
    /// Sort by cumulative value instead of flat value
    #[arg(long)]
    cum: bool,
    /// Show at most N rows [default: all above the node fraction]
    #[arg(long, value_name = "N")]
    nodecount: Option<usize>,
    /// Hide nodes whose cumulative value is below this fraction of the total
    #[arg(long, value_name = "F", default_value_t = 0.005)]
    nodefraction: f64,
    /// Ignore edges below this fraction of the total (affects "(inline)" marks)
    #[arg(long, value_name = "F", default_value_t = 0.001)]
    edgefraction: f64,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(args: &Args) -> Result<()> {
    for (name, f) in [("--nodefraction", args.nodefraction), ("--edgefraction", args.edgefraction)] {
        if !(0.0..=1.0).contains(&f) {
            return Err(bad(name, format!("{f} is not between 0 and 1")));
        }
    }
    let report = build_report(&args.sources, &args.base, &args.select)?;
    let top = report.top(&TopOptions {
        granularity: args.granularity.granularity(),
        trim: TrimOptions {
            node_fraction: args.nodefraction,
            edge_fraction: args.edgefraction,
            node_count: args.nodecount.unwrap_or(0),
            cum_sort: args.cum,
        },
    });
    match args.format {
        Format::Text => print_text(false, |w| top.write_text(w)),
        Format::Json => print_json(&top),
    }
}
