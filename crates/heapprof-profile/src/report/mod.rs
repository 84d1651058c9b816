//! Reports over profiles, as `go tool pprof` computes and prints them: top,
//! peek, traces, tags, source listings, and a per-function diff of two profiles.
//!
//! The pipeline follows pprof's: merge the sources (and subtract a base) into a
//! [`View`], prune the profile's `drop_frames`, pick the sample index, compute the
//! total, apply the focus/ignore/hide/show filters ([`Report::new`]), then build
//! the graph at the chosen [`Granularity`] and trim it ([`Report::top`]…).
//! Every report is plain data (serializable to JSON) with a `write_text` method
//! that prints pprof's layout; nothing here does I/O on its own.
//!
//! ```
//! use heapprof_profile::report::{Report, ReportOptions, TopOptions, View};
//! use heapprof_profile::{Line, ProfileBuilder, Sample};
//!
//! let mut b = ProfileBuilder::new(&[("inuse_space", "bytes")]);
//! let f = b.function("main.alloc", "", "main.go", 1);
//! let loc = b.add_location(0, 0x1000, vec![Line { function_id: f, line: 3, column: 0 }]);
//! b.profile_mut().sample.push(Sample { location_id: vec![loc], value: vec![2048], label: vec![] });
//! let profile = b.finish();
//!
//! let view = View::from_profiles(&[&profile]).unwrap();
//! let report = Report::new(view, &ReportOptions::default()).unwrap();
//! let top = report.top(&TopOptions::default());
//! assert_eq!(top.rows[0].name, "main.alloc");
//! let mut text = String::new();
//! top.write_text(&mut text).unwrap();
//! assert!(text.contains("      2kB   100%   100%        2kB   100%  main.alloc"));
//! ```

mod callgraph;
mod diff;
mod filter;
mod graph;
mod header;
mod list;
pub(crate) mod paths;
mod peek;
mod stack_arena;
mod tabwriter;
mod tags;
mod top;
mod traces;
mod trim;
pub mod units;
mod view;
mod view_builder;

pub use callgraph::{CallGraph, GraphEdge, GraphNode};
pub use diff::{Change, Diff, DiffOptions, DiffRow, diff};
pub use filter::{FilterMatches, Filters};
pub use graph::Granularity;
pub use header::{Header, format_time};
pub use list::{ListOptions, ListedFunction, ListedLine, Listing, find_source, read_source_file};
pub use peek::{Peek, PeekEdge, PeekEntry};
pub use tags::{TagKey, TagValue, Tags};
pub use top::{InlineMark, Top, TopOptions, TopRow};
pub use traces::{Trace, TraceFrame, TraceLabel, Traces};
pub use trim::TrimOptions;
pub use view::{BaseMode, View};

pub(crate) use stack_arena::{StackArena, StackRef};
pub(crate) use traces::SampleStacks;
pub(crate) use view::Strings;

/// Why a report could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// No profile was given.
    #[error("no profiles to report on")]
    NoProfiles,
    /// Profiles to merge or subtract have different sample types.
    #[error("incompatible profiles: {0}")]
    Incompatible(String),
    /// The requested sample index does not exist.
    #[error("{0}")]
    SampleIndex(String),
    /// The profile has no sample types.
    #[error("profile has no samples types")]
    NoSampleTypes,
    /// A regular expression (from the profile's `drop_frames`/`keep_frames`) is bad.
    #[error("bad regular expression {0}")]
    Regex(String),
    /// The profile refers to things that are not there.
    #[error("invalid profile: {0}")]
    Invalid(String),
    /// A `peek`/`list` regular expression matched nothing.
    #[error("no matches found for regexp: {0}")]
    NoMatches(String),
}

/// Options common to all reports.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Sample type by name (`alloc_space`) or number; `None` takes the profile's
    /// `default_sample_type`, else the last type, as pprof does.
    pub sample_index: Option<String>,
    /// Frame filters.
    pub filters: Filters,
}

/// A view ready for reports: sample index chosen, total computed, filters
/// applied.
#[derive(Debug)]
pub struct Report {
    view: View,
    index: usize,
    total: i64,
    active_filters: Vec<String>,
    matches: FilterMatches,
}

impl Report {
    /// Prepares `view` as pprof does: prune `drop_frames`, select the sample index,
    /// compute the total (before filtering, so percentages are of the whole
    /// profile), then filter.
    pub fn new(mut view: View, opts: &ReportOptions) -> Result<Report, ReportError> {
        view.prune_uninteresting()?;
        let index = sample_index(&view, opts.sample_index.as_deref())?;
        let total = compute_total(&view, index);
        let matches = view.apply_filters(&opts.filters);
        Ok(Report { view, index, total, active_filters: opts.filters.descriptions(), matches })
    }

    /// The total the percentages are relative to: the sum of |value| over all
    /// samples, or over the base's samples for a `diff_base` report.
    pub fn total(&self) -> i64 {
        self.total
    }

    /// The selected sample index.
    pub fn sample_index(&self) -> usize {
        self.index
    }

    /// The selected sample type's name.
    pub fn sample_type(&self) -> &str {
        self.view.sample_types.get(self.index).map_or("", |&(t, _)| self.view.str(t))
    }

    /// The selected sample type's unit.
    pub fn sample_unit(&self) -> &str {
        self.view.sample_types.get(self.index).map_or("", |&(_, u)| self.view.str(u))
    }

    /// Which filters matched some frame.
    pub fn filter_matches(&self) -> FilterMatches {
        self.matches
    }

    /// The profile's header.
    pub fn header(&self) -> Header {
        Header::new(&self.view, self.index)
    }

    /// The view after filtering.
    pub fn view(&self) -> &View {
        &self.view
    }

    pub(crate) fn format(&self, value: i64, unit: &str) -> String {
        units::scaled_label(value, self.sample_unit(), unit)
    }
}

/// The index of the sample type named (or numbered) `name`; `None` picks the
/// profile's default sample type, else the last one (pprof's `SampleIndexByName`,
/// which also accepts `inuse_`-less names).
pub fn sample_index_by_name(types: &[&str], default: &str, name: Option<&str>) -> Result<usize, ReportError> {
    if types.is_empty() {
        return Err(ReportError::NoSampleTypes);
    }
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        if !default.is_empty() {
            if let Some(i) = types.iter().position(|t| *t == default) {
                return Ok(i);
            }
        }
        return Ok(types.len() - 1);
    };
    if let Ok(i) = name.parse::<i64>() {
        if i < 0 || i as usize >= types.len() {
            return Err(ReportError::SampleIndex(format!(
                "sample_index {name} is outside the range [0..{}]",
                types.len() - 1
            )));
        }
        return Ok(i as usize);
    }
    let no_inuse = name.strip_prefix("inuse_").unwrap_or(name);
    types.iter().position(|t| *t == name || *t == no_inuse).ok_or_else(|| {
        ReportError::SampleIndex(format!("sample_index {name:?} must be one of: [{}]", types.join(" ")))
    })
}

fn sample_index(view: &View, name: Option<&str>) -> Result<usize, ReportError> {
    let types = view.sample_type_names();
    sample_index_by_name(&types, view.str(view.default_sample_type), name)
}

/// pprof's `computeTotal`: sum of |value|, or of the diff base's samples when
/// there are any.
fn compute_total(view: &View, index: usize) -> i64 {
    let (mut total, mut diff_total) = (0i64, 0i64);
    for (i, s) in view.samples.iter().enumerate() {
        let v = view.value(i, index).wrapping_abs();
        total = total.wrapping_add(v);
        if view.diff_base[s.labels as usize] {
            diff_total = diff_total.wrapping_add(v);
        }
    }
    if diff_total > 0 { diff_total } else { total }
}

/// The lines pprof prints under the header: active filters, "Showing nodes
/// accounting for…", "Dropped N nodes…", "Showing top N nodes out of M".
pub(crate) fn legend_lines(
    report: &Report,
    unit: &str,
    shown: i64,
    dropped_nodes: usize,
    node_fraction: f64,
    shown_count: usize,
    orig_count: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    if !report.active_filters.is_empty() {
        out.push("Active filters:".to_string());
        for f in &report.active_filters {
            let f = match f.char_indices().nth(80) {
                Some((cut, _)) => format!("{}…", &f[..cut]),
                None => f.clone(),
            };
            out.push(format!("   {f}"));
        }
    }
    let total = report.total;
    out.push(format!(
        "Showing nodes accounting for {}, {} of {} total",
        report.format(shown, unit),
        units::percentage(shown, total).trim(),
        report.format(total, unit)
    ));
    if total != 0 {
        if dropped_nodes > 0 {
            let cutoff = ((total as f64 * node_fraction) as i64).abs();
            out.push(format!(
                "Dropped {dropped_nodes} node{} (cum <= {})",
                if dropped_nodes > 1 { "s" } else { "" },
                report.format(cutoff, unit)
            ));
        }
        if shown_count > 0 && shown_count < orig_count {
            out.push(format!("Showing top {shown_count} nodes out of {orig_count}"));
        }
    }
    out
}
