//! What the web UI's routes compute: the same reports and pictures as the
//! `top`, `peek`, `flamegraph` and `graph` commands, for the profile and
//! options of a request.

use heapprof_profile::Profile;
use heapprof_profile::render::{self, DiffFolded, FlameOptions, Folded, write_dot};
use heapprof_profile::report::{
    BaseMode, Filters, Granularity, Report, ReportError, ReportOptions, TopOptions, TrimOptions, View,
};
use regex::Regex;
use serde_json::{Value, json};

use super::query::Query;
use super::{HttpError, Profiles};

/// Whether the profiles (and the base) can be merged, as every view will.
pub(crate) fn check(p: &Profiles) -> Result<(), ReportError> {
    let sources: Vec<&Profile> = p.sources.iter().collect();
    let bases: Vec<&Profile> = p.base.iter().collect();
    View::with_base(&sources, &bases, BaseMode { diff: true, normalize: false }).map(|_| ())
}

/// The profiles, the sample types and the default one.
pub(crate) fn info(p: &Profiles) -> Value {
    let mut list = vec![json!({"id": "all", "name": "all sources merged"})];
    for (i, name) in p.names.iter().enumerate() {
        list.push(json!({"id": i.to_string(), "name": name}));
    }
    let first: Vec<&Profile> = p.sources.iter().take(1).collect();
    let (types, default) = match View::from_profiles(&first) {
        Ok(view) => {
            let types: Vec<String> = view.sample_type_names().iter().map(|s| s.to_string()).collect();
            let default = Report::new(view, &ReportOptions::default()).map(|r| r.sample_type().to_string());
            (types, default.unwrap_or_default())
        }
        Err(_) => (Vec::new(), String::new()),
    };
    json!({
        "schema": "heapprof.web.info.v1",
        "profiles": list,
        "sample_types": types,
        "default_sample_type": default,
        "base": !p.base.is_empty(),
        // Several profiles: the Timeline view has something to plot.
        "series": p.sources.len() >= 2,
        "default_profile": default_profile(p),
    })
}

/// What the page shows first: for a series (every profile with a time), the
/// newest profile, since summing snapshots of one process over time means
/// nothing; otherwise all sources merged.
fn default_profile(p: &Profiles) -> String {
    let times: Option<Vec<i64>> = p.times.iter().copied().collect();
    match times {
        Some(times) if times.len() >= 2 => {
            // The last of equal times, as the timeline orders them.
            let newest = (0..times.len()).max_by_key(|&i| (times[i], i)).unwrap_or(0);
            newest.to_string()
        }
        _ => "all".to_string(),
    }
}

/// The top report (`heapprof.top.v1`); against the base (`--diff-base`
/// semantics: percentages of the base's total) when there is one.
pub(crate) fn top(p: &Profiles, q: &Query) -> Result<Value, HttpError> {
    let report = diff_report(p, q)?;
    serde_json::to_value(report.top(&TopOptions::default())).map_err(|e| HttpError::new(500, e))
}

/// The callers and callees of the functions matching `re=` (`heapprof.peek.v1`).
pub(crate) fn peek(p: &Profiles, q: &Query) -> Result<Value, HttpError> {
    let re = q.get("re").ok_or_else(|| HttpError::new(400, "re= (a regular expression) is required"))?;
    let re = Regex::new(re).map_err(|e| HttpError::new(400, format!("re: {}", one_line(&e))))?;
    let report = diff_report(p, q)?;
    let peek = report.peek(&re, Granularity::Functions, false).map_err(|e| match e {
        ReportError::NoMatches(_) => HttpError::new(404, e),
        e => HttpError::new(400, e),
    })?;
    serde_json::to_value(peek).map_err(|e| HttpError::new(500, e))
}

/// The sources of the request against the base, if any (`--diff-base`
/// semantics: percentages of the base's total).
pub(super) fn diff_report(p: &Profiles, q: &Query) -> Result<Report, HttpError> {
    let sources = select(p, q)?;
    let bases: Vec<&Profile> = p.base.iter().collect();
    let view = View::with_base(&sources, &bases, BaseMode { diff: true, normalize: false }).map_err(bad)?;
    Report::new(view, &options(q, None)?).map_err(bad)
}

/// The flame graph SVG: differential against the base when there is one.
pub(crate) fn flamegraph(p: &Profiles, q: &Query) -> Result<Vec<u8>, HttpError> {
    let sources = select(p, q)?;
    let view = View::from_profiles(&sources).map_err(bad)?;
    let report = Report::new(view, &options(q, None)?).map_err(bad)?;
    let folded = Folded::new(&report, Granularity::Functions);
    let mut svg = Vec::new();
    let drawn = if p.base.is_empty() {
        render::flamegraph(&folded, &FlameOptions::for_report(&report, folded.total()), &mut svg)
    } else {
        let bases: Vec<&Profile> = p.base.iter().collect();
        let view = View::from_profiles(&bases).map_err(bad)?;
        let base = Report::new(view, &options(q, Some(report.sample_type()))?).map_err(bad)?;
        let diff = DiffFolded::new(&Folded::new(&base, Granularity::Functions), &folded);
        let (b, n) = diff.totals();
        render::differential_flamegraph(&diff, &FlameOptions::for_diff(&report, b, n), &mut svg)
    };
    drawn.map_err(|e| match e {
        render::RenderError::Io(e) => HttpError::new(500, e),
        e => HttpError::new(400, e),
    })?;
    Ok(svg)
}

/// The call graph as drawn by Graphviz's `dot` (as `heapprof graph -o x.svg`,
/// with its default trimming: 80 nodes); 501 with the reason when Graphviz is
/// not installed.
pub(crate) fn call_graph(p: &Profiles, q: &Query) -> Result<Vec<u8>, HttpError> {
    let report = diff_report(p, q)?;
    let graph = report.call_graph(&TopOptions {
        granularity: Granularity::Functions,
        trim: TrimOptions { node_count: 80, ..TrimOptions::default() },
    });
    let mut dot = String::new();
    write_dot(&graph, &mut dot).map_err(|_| HttpError::new(500, "formatting the graph failed"))?;
    crate::cmd::graph::graphviz(&dot, "-Tsvg").map_err(|e| HttpError::new(501, e))
}

/// The profiles of `p=`: `all` (the default) or a source's position.
fn select<'a>(p: &'a Profiles, q: &Query) -> Result<Vec<&'a Profile>, HttpError> {
    match q.get("p") {
        None | Some("all") => Ok(p.sources.iter().collect()),
        Some(id) => id
            .parse::<usize>()
            .ok()
            .and_then(|i| p.sources.get(i))
            .map(|one| vec![one])
            .ok_or_else(|| HttpError::new(404, format!("unknown profile id {id:?}"))),
    }
}

pub(super) fn options(q: &Query, sample_type: Option<&str>) -> Result<ReportOptions, HttpError> {
    let re = |key: &str| -> Result<Option<Regex>, HttpError> {
        q.get(key)
            .map(|r| Regex::new(r).map_err(|e| HttpError::new(400, format!("{key}: {}", one_line(&e)))))
            .transpose()
    };
    Ok(ReportOptions {
        sample_index: sample_type.or(q.get("si")).map(str::to_string),
        filters: Filters { focus: re("focus")?, ignore: re("ignore")?, hide: re("hide")?, show: re("show")? },
    })
}

pub(super) fn bad(e: ReportError) -> HttpError {
    HttpError::new(400, e)
}

pub(super) fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}
