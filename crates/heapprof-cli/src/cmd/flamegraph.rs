//! `heapprof flamegraph`: an interactive SVG flame graph, or a differential one
//! against `--base`.

use std::path::PathBuf;

use anyhow::Result;
use heapprof_profile::render::{self, DiffFolded, FlameOptions, Folded, RenderError};
use heapprof_profile::report::{BaseMode, Report, View};

use crate::error::bad;
use crate::options::{BaseArgs, GranularityArgs, Selection, Sources, build_report, describe, report_error};
use crate::output::{write_file_with, write_text_file};
use crate::source;

/// Draw an interactive SVG flame graph (click to zoom, Ctrl-F to search)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  heapprof flamegraph heap.pb.gz -o heap.svg\n  heapprof flamegraph --sample-index alloc_space --reverse heap.pb.gz -o sites.svg\n  heapprof flamegraph --base before.pb.gz after.pb.gz -o diff.svg   # red: grew, blue: shrank\n  heapprof flamegraph --folded heap.pb.gz -o heap.folded"
)]
pub struct Args {
    #[command(flatten)]
    sources: Sources,
    /// Where to write the SVG (or the folded stacks with --folded)
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Draw a differential flame graph against this profile (widths from the
    /// sources, red where a frame grew, blue where it shrank); repeatable
    #[arg(long, value_name = "FILE")]
    base: Vec<String>,
    #[command(flatten)]
    select: Selection,
    #[command(flatten)]
    granularity: GranularityArgs,
    /// Roots at the top, stacks growing down (an icicle graph)
    #[arg(long)]
    inverted: bool,
    /// Leaf frames at the root: stacks merged by allocation site
    #[arg(long)]
    reverse: bool,
    /// Write the folded stacks ("root;…;leaf value" lines, or "stack base new"
    /// with --base) instead of the SVG
    #[arg(long)]
    folded: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let no_base = BaseArgs { base: Vec::new(), diff_base: Vec::new(), normalize: false };
    let report = build_report(&args.sources, &no_base, &args.select)?;
    let granularity = args.granularity.granularity();
    let folded = oriented(Folded::new(&report, granularity), args.reverse);
    let subject = describe(&args.sources.sources);
    // The stacks are all the picture needs: each report is dropped once its
    // stacks are out, before drawing.
    if args.base.is_empty() {
        if args.folded {
            drop(report);
            return write_text_file(&args.output, |w| folded.write_text(w));
        }
        let mut opts = FlameOptions::for_report(&report, folded.total());
        opts.inverted = args.inverted;
        drop(report);
        return write_file_with(&args.output, |w| {
            render::flamegraph(&folded, &opts, w).map_err(|e| render_error(&subject, e))
        });
    }
    let base = base_report(args, &report)?;
    let base_folded = oriented(Folded::new(&base, granularity), args.reverse);
    drop(base);
    let diff = DiffFolded::new(&base_folded, &folded);
    drop((base_folded, folded));
    if args.folded {
        drop(report);
        return write_text_file(&args.output, |w| diff.write_text(w));
    }
    let (base_total, new_total) = diff.totals();
    let mut opts = FlameOptions::for_diff(&report, base_total, new_total);
    opts.inverted = args.inverted;
    drop(report);
    let all = describe(&[args.sources.sources.clone(), args.base.clone()].concat());
    write_file_with(&args.output, |w| {
        render::differential_flamegraph(&diff, &opts, w).map_err(|e| render_error(&all, e))
    })
}

/// The merged `--base` profiles, with the same sample type and filters as the
/// sources.
fn base_report(args: &Args, sources: &Report) -> Result<Report> {
    let subject = describe(&args.base);
    let mut opts = args.select.report_options()?;
    opts.sample_index = Some(sources.sample_type().to_string());
    let profiles = source::load_all(&args.base, args.sources.seconds)?;
    let view = View::from_owned(profiles, Vec::new(), BaseMode::default()).map_err(|e| bad(&subject, e))?;
    Report::new(view, &opts).map_err(|e| report_error(&subject, e))
}

fn oriented(folded: Folded, reverse: bool) -> Folded {
    if reverse { folded.reversed() } else { folded }
}

fn render_error(subject: &str, e: RenderError) -> anyhow::Error {
    match e {
        RenderError::Io(e) => anyhow::anyhow!("drawing the flame graph: {e}"),
        e => bad(subject, e),
    }
}
