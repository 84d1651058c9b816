//! `heapprof convert`: legacy text to pprof, or pprof to Go's legacy text.

use std::path::PathBuf;

use anyhow::Result;
use clap::ValueEnum;
use heapprof_profile::{encode_gzip, write_legacy_heap};

use crate::error::bad;
use crate::output::write_file;
use crate::source;

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// Gzipped protobuf (pprof)
    Pprof,
    /// Go's `?debug=1` legacy heap text
    Text,
}

/// Convert between legacy text heap profiles and pprof files
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  heapprof convert heap.debug1.txt -o heap.pb.gz\n  heapprof convert heap.pb.gz -o heap.txt\n  heapprof convert --to pprof http://localhost:6060/debug/pprof/heap?debug=1 -o heap.pb.gz"
)]
pub struct Args {
    /// The profile to convert (file or URL)
    #[arg(value_name = "SOURCE")]
    source: String,
    /// Where to write the result
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// Output format [default: pprof for a text input, text for a pprof input]
    #[arg(long, value_enum)]
    to: Option<Target>,
}

pub fn run(args: &Args) -> Result<()> {
    let bytes = source::fetch(&args.source, None)?;
    let was_text = source::is_legacy_text(&bytes);
    let profile = source::decode_any(&args.source, &bytes)?;
    let target = args.to.unwrap_or(if was_text { Target::Pprof } else { Target::Text });
    let out = match target {
        Target::Pprof => encode_gzip(&profile),
        Target::Text => {
            let mut text = Vec::new();
            write_legacy_heap(&profile, &mut text).map_err(|e| bad(&args.source, e))?;
            text
        }
    };
    write_file(&args.output, &out)
}
