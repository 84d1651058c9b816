//! `heapprof trend`: the growth of a series of heap profiles (a monitor's
//! dumps, `heapprof watch`'s, Go's…): total growth, rate and class, whether it
//! looks like a leak, and the call stacks that grow steadily.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Result;
use heapprof_profile::Profile;
use heapprof_profile::trend::{ProfileTrendOptions, TimedProfile, profile_trend, time_from_file_name};

use crate::cmd::watch::parse_duration;
use crate::error::bad;
use crate::options::Format;
use crate::output::{print_json, print_text};
use crate::source;

/// Report how a series of heap profiles grows, and which stacks grow steadily
#[derive(Debug, clap::Args)]
#[command(after_help = "\
A profile's time is its time_nanos, else a time in its file name (20240102T030405Z, \
2024-01-02T03:04:05), else the file's modification time. In a directory, every file \
ending in .pb.gz, .pb, .pprof, .prof or .gz is read, and those named *heap*.

Examples:
  heapprof trend /var/tmp/heap-profiles
  heapprof trend --format json heap_*.pb.gz
  heapprof trend --sample-index inuse_objects --top 5 profiles/")]
pub struct Args {
    /// Profile files, or directories of them
    #[arg(required = true, value_name = "DIR|FILE")]
    sources: Vec<String>,
    /// Sample type to follow [default: inuse_space, else the last one]
    #[arg(long, value_name = "TYPE")]
    sample_index: Option<String>,
    /// Most growing sites listed
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// Time after the first profile before the baseline is taken (e.g. 10m)
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    warmup: String,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

pub fn run(args: &Args) -> Result<()> {
    let warmup = parse_duration(&args.warmup).map_err(|e| bad("--warmup", e))?;
    let files = expand(&args.sources)?;
    let mut loaded: Vec<(String, i64, Profile)> = Vec::with_capacity(files.len());
    for file in files {
        let profile = source::load(&file, None)?;
        let time = profile_time(&file, &profile)?;
        loaded.push((file, time, profile));
    }
    let timed: Vec<TimedProfile<'_>> = loaded
        .iter()
        .map(|(source, time_nanos, profile)| TimedProfile { time_nanos: *time_nanos, source, profile })
        .collect();
    let mut opts = ProfileTrendOptions {
        sample_type: args.sample_index.clone(),
        max_sites: args.top,
        ..ProfileTrendOptions::default()
    };
    opts.series.warmup_secs = warmup.as_secs_f64();
    let report = profile_trend(&timed, &opts).map_err(|e| bad("trend", e))?;
    match args.format {
        Format::Text => print_text(false, |w| report.write_text(w)),
        Format::Json => print_json(&report),
    }
}

/// The files named, with directories replaced by the profiles they hold
/// (sorted by name).
pub(crate) fn expand(sources: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for spec in sources {
        let path = Path::new(spec);
        if !path.is_dir() {
            out.push(spec.clone());
            continue;
        }
        let entries = std::fs::read_dir(path).map_err(|e| bad(spec, e))?;
        let mut found: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                looks_like_profile(&name).then(|| e.path().to_string_lossy().into_owned())
            })
            .collect();
        if found.is_empty() {
            return Err(bad(spec, "no profile files in this directory"));
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// Whether a file in a directory is taken for a profile (hidden files, such
/// as a writer's temporaries, never are).
fn looks_like_profile(name: &str) -> bool {
    const EXTENSIONS: [&str; 5] = [".pb.gz", ".pb", ".pprof", ".prof", ".gz"];
    !name.starts_with('.') && (EXTENSIONS.iter().any(|e| name.ends_with(e)) || name.contains("heap"))
}

/// When a profile was taken: `time_nanos`, else the file name, else its mtime.
pub(crate) fn profile_time(file: &str, profile: &Profile) -> Result<i64> {
    if profile.time_nanos > 0 {
        return Ok(profile.time_nanos);
    }
    let name = Path::new(file).file_name().and_then(|n| n.to_str()).unwrap_or(file);
    if let Some(t) = time_from_file_name(name) {
        return Ok(t);
    }
    let modified = std::fs::metadata(file).and_then(|m| m.modified()).map_err(|e| {
        bad(file, format!("no time in the profile or its name, and no modification time: {e}"))
    })?;
    let since_epoch = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| bad(file, "modification time before 1970"))?;
    Ok(since_epoch.as_nanos().min(i64::MAX as u128) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_in_a_directory_are_recognised_by_name() {
        for name in ["heap_new_peak_20240101T000000.000Z.pb.gz", "a.pprof", "heap", "mem.heap.1", "x.pb"] {
            assert!(looks_like_profile(name), "{name}");
        }
        for name in [".heap_x.pb.gz.tmp.1.2", "README.md", "notes.txt"] {
            assert!(!looks_like_profile(name), "{name}");
        }
    }

    #[test]
    fn the_time_comes_from_the_profile_then_the_name() {
        let mut p = Profile { time_nanos: 42, ..Profile::default() };
        assert_eq!(profile_time("x/heap_20240101T000000Z.pb.gz", &p).unwrap(), 42);
        p.time_nanos = 0;
        assert_eq!(profile_time("x/heap_20240101T000001Z.pb.gz", &p).unwrap(), 1_704_067_201_000_000_000);
        assert!(profile_time("/nonexistent/heap.pb.gz", &p).is_err());
    }
}
