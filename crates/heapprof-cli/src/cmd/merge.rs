//! `heapprof merge`: several profiles into one pprof file.

use std::path::PathBuf;

use anyhow::Result;
use heapprof_profile::{encode_gzip, merge};

use crate::error::bad;
use crate::options::{Sources, describe};
use crate::output::write_file;
use crate::source;

/// Merge profiles (same sample types) into one gzipped pprof file
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  heapprof merge -o all.pb.gz host1.pb.gz host2.pb.gz\n  heapprof merge -o fleet.pb.gz http://a:6060/debug/pprof/heap http://b:6060/debug/pprof/heap"
)]
pub struct Args {
    /// Where to write the merged profile
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    #[command(flatten)]
    sources: Sources,
}

pub fn run(args: &Args) -> Result<()> {
    let profiles = source::load_all(&args.sources.sources, args.sources.seconds)?;
    let merged = merge(&profiles).map_err(|e| bad(describe(&args.sources.sources), e))?;
    write_file(&args.output, &encode_gzip(&merged))
}
