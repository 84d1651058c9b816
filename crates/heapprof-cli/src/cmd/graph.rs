//! `heapprof graph`: the call graph as Graphviz DOT, or drawn by Graphviz's
//! `dot` as SVG or PNG.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Result, anyhow};
use heapprof_profile::render::write_dot;
use heapprof_profile::report::{TopOptions, TrimOptions};

use crate::error::bad;
use crate::options::{BaseArgs, GranularityArgs, Selection, Sources, build_report};
use crate::output::{print_text, write_file};

/// Draw the call graph (as pprof -dot/-svg/-png): DOT text, or SVG/PNG through Graphviz
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The output's extension picks the format: .dot (always), .svg or .png (need Graphviz's `dot`).\n\nExamples:\n  heapprof graph heap.pb.gz -o heap.svg\n  heapprof graph --nodecount 30 --focus 'json' heap.pb.gz -o json.dot\n  heapprof graph --diff-base before.pb.gz after.pb.gz -o growth.svg"
)]
pub struct Args {
    #[command(flatten)]
    sources: Sources,
    /// Where to write the graph: FILE.dot, FILE.svg or FILE.png; - writes DOT to
    /// standard output
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    #[command(flatten)]
    base: BaseArgs,
    #[command(flatten)]
    select: Selection,
    #[command(flatten)]
    granularity: GranularityArgs,
    /// Show at most N nodes; 0 shows all above the node fraction
    #[arg(long, value_name = "N", default_value_t = 80)]
    nodecount: usize,
    /// Hide nodes whose cumulative value is below this fraction of the total
    #[arg(long, value_name = "F", default_value_t = 0.005)]
    nodefraction: f64,
    /// Hide edges whose weight is below this fraction of the total
    #[arg(long, value_name = "F", default_value_t = 0.001)]
    edgefraction: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dot,
    Svg,
    Png,
}

pub fn run(args: &Args) -> Result<()> {
    for (name, f) in [("--nodefraction", args.nodefraction), ("--edgefraction", args.edgefraction)] {
        if !(0.0..=1.0).contains(&f) {
            return Err(bad(name, format!("{f} is not between 0 and 1")));
        }
    }
    let stdout = args.output.as_os_str() == "-";
    let kind = if stdout { Kind::Dot } else { kind_of(&args.output)? };
    let report = build_report(&args.sources, &args.base, &args.select)?;
    let graph = report.call_graph(&TopOptions {
        granularity: args.granularity.granularity(),
        trim: TrimOptions {
            node_fraction: args.nodefraction,
            edge_fraction: args.edgefraction,
            node_count: args.nodecount,
            cum_sort: false,
        },
    });
    let mut text = String::new();
    write_dot(&graph, &mut text).map_err(|_| anyhow!("formatting the graph failed"))?;
    if stdout {
        return print_text(false, |w| w.write_str(&text));
    }
    let bytes = match kind {
        Kind::Dot => text.into_bytes(),
        Kind::Svg => graphviz(&text, "-Tsvg")?,
        Kind::Png => graphviz(&text, "-Tpng")?,
    };
    write_file(&args.output, &bytes)
}

fn kind_of(path: &Path) -> Result<Kind> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("dot" | "gv") => Ok(Kind::Dot),
        Some("svg") => Ok(Kind::Svg),
        Some("png") => Ok(Kind::Png),
        _ => Err(bad("--output", format!("{}: the name must end in .dot, .svg or .png", path.display()))),
    }
}

/// Runs Graphviz's `dot` (from PATH) over `text`.
pub(crate) fn graphviz(text: &str, format: &str) -> Result<Vec<u8>> {
    let spawned = Command::new("dot")
        .arg(format)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(anyhow!(
                "Graphviz's `dot` is not installed (apt-get install graphviz), or write a .dot file instead"
            ));
        }
        Err(e) => return Err(anyhow!("running Graphviz's `dot`: {e}")),
    };
    // Feed stdin from a thread: `dot` may fill its stdout before reading all of it.
    let stdin = child.stdin.take();
    let input = text.to_string();
    let feeder = std::thread::spawn(move || stdin.map(|mut s| s.write_all(input.as_bytes())));
    let out = child.wait_with_output().map_err(|e| anyhow!("running Graphviz's `dot`: {e}"))?;
    let fed = feeder.join().map_err(|_| anyhow!("feeding Graphviz's `dot` failed"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        return Err(anyhow!("Graphviz's `dot` failed ({}): {first}", out.status));
    }
    if let Some(Err(e)) = fed {
        return Err(anyhow!("writing to Graphviz's `dot`: {e}"));
    }
    Ok(out.stdout)
}
