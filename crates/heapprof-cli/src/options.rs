//! Options shared by several commands, and turning them into a report.

use anyhow::Result;
use clap::{Args, ValueEnum};
use heapprof_profile::Profile;
use heapprof_profile::report::{BaseMode, Filters, Granularity, Report, ReportError, ReportOptions, View};
use regex::Regex;

use crate::error::bad;
use crate::source;

/// The profiles to read.
#[derive(Debug, Args)]
pub struct Sources {
    /// Profiles: files (gzipped or raw protobuf, or legacy text) or http(s)://
    /// URLs; several are merged
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<String>,
    /// For URLs: ask for a delta profile over N seconds (appends ?seconds=N)
    #[arg(long, value_name = "N")]
    pub seconds: Option<u64>,
}

/// Profiles to subtract.
#[derive(Debug, Args)]
pub struct BaseArgs {
    /// Subtract this profile (values may become negative); repeatable
    #[arg(long, value_name = "FILE", conflicts_with = "diff_base")]
    pub base: Vec<String>,
    /// Compare against this profile: its samples are negated and percentages are
    /// relative to its total; repeatable
    #[arg(long, value_name = "FILE")]
    pub diff_base: Vec<String>,
    /// Scale the sources so that their total matches the base's
    #[arg(long)]
    pub normalize: bool,
}

/// Which values and which frames a report looks at.
#[derive(Debug, Args)]
pub struct Selection {
    /// Sample type by name (alloc_space, inuse_objects…) or number [default: the
    /// profile's default type, else the last one]
    #[arg(long, value_name = "NAME|N")]
    pub sample_index: Option<String>,
    /// Keep only samples with a frame matching RE
    #[arg(long, value_name = "RE")]
    pub focus: Option<String>,
    /// Drop samples with a frame matching RE
    #[arg(long, value_name = "RE")]
    pub ignore: Option<String>,
    /// Remove frames matching RE from the stacks
    #[arg(long, value_name = "RE")]
    pub hide: Option<String>,
    /// Keep only frames matching RE in the stacks
    #[arg(long, value_name = "RE")]
    pub show: Option<String>,
}

/// How frames are grouped into report rows.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct GranularityArgs {
    /// One row per source line
    #[arg(long)]
    pub lines: bool,
    /// One row per source file
    #[arg(long)]
    pub files: bool,
    /// One row per instruction address
    #[arg(long)]
    pub addresses: bool,
}

impl GranularityArgs {
    pub fn granularity(&self) -> Granularity {
        if self.lines {
            Granularity::Lines
        } else if self.files {
            Granularity::Files
        } else if self.addresses {
            Granularity::Addresses
        } else {
            Granularity::Functions
        }
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// pprof's text layout
    #[default]
    Text,
    /// JSON (schemas in the README)
    Json,
}

/// Compiles an option's regular expression.
pub fn regex(option: &str, re: &str) -> Result<Regex> {
    Regex::new(re).map_err(|e| bad(option, e))
}

fn optional_regex(option: &str, re: &Option<String>) -> Result<Option<Regex>> {
    re.as_deref().map(|r| regex(option, r)).transpose()
}

impl Selection {
    pub fn report_options(&self) -> Result<ReportOptions> {
        Ok(ReportOptions {
            sample_index: self.sample_index.clone(),
            filters: Filters {
                focus: optional_regex("--focus", &self.focus)?,
                ignore: optional_regex("--ignore", &self.ignore)?,
                hide: optional_regex("--hide", &self.hide)?,
                show: optional_regex("--show", &self.show)?,
            },
        })
    }
}

/// Names profiles in messages: the one source, or all of them.
pub fn describe(specs: &[String]) -> String {
    specs.join(", ")
}

/// A report problem as bad input about `subject` (the sources it concerns).
pub fn report_error(subject: &str, e: ReportError) -> anyhow::Error {
    bad(subject, e)
}

/// Loads the sources (and bases), merges them and prepares the report.
pub fn build_report(sources: &Sources, base: &BaseArgs, select: &Selection) -> Result<Report> {
    let opts = select.report_options()?;
    let profiles = source::load_all(&sources.sources, sources.seconds)?;
    let (base_specs, diff) =
        if base.diff_base.is_empty() { (&base.base, false) } else { (&base.diff_base, true) };
    let bases = source::load_all(base_specs, sources.seconds)?;
    let subject = describe(&sources.sources);
    let all = describe(&[sources.sources.clone(), base_specs.clone()].concat());
    let mode = BaseMode { diff, normalize: base.normalize };
    // The view takes the decoded profiles and frees them as it reads them.
    let view = View::from_owned(profiles, bases, mode).map_err(|e| bad(&all, e))?;
    let report = Report::new(view, &opts).map_err(|e| report_error(&subject, e))?;
    warn_unmatched(&report, select);
    Ok(report)
}

/// One profile's report without bases.
pub fn report_of(spec: &str, profile: Profile, select: &Selection) -> Result<Report> {
    let opts = select.report_options()?;
    let view = View::from_owned(vec![profile], Vec::new(), BaseMode::default()).map_err(|e| bad(spec, e))?;
    let report = Report::new(view, &opts).map_err(|e| report_error(spec, e))?;
    warn_unmatched(&report, select);
    Ok(report)
}

/// Warns, as pprof does, about filters that matched no frame.
fn warn_unmatched(report: &Report, select: &Selection) {
    let m = report.filter_matches();
    for (given, matched, name) in [
        (&select.focus, m.focus, "focus"),
        (&select.ignore, m.ignore, "ignore"),
        (&select.hide, m.hide, "hide"),
        (&select.show, m.show, "show"),
    ] {
        if given.is_some() && !matched {
            eprintln!("heapprof: warning: --{name} expression matched no samples");
        }
    }
}
