//! A trend over a series of pprof heap profiles (a monitor's dumps, Go's, any
//! tool's): the total of one sample type over time, and per call stack.

use std::collections::BTreeMap;

use serde::Serialize;

use super::TrendError;
use super::fit::Point;
use super::leak::{LeakAssessment, LeakCriteria, assess_leak};
use super::restart::ProcessMark;
use super::series::{SeriesAnalysis, SeriesOptions, analyze_series};
use super::sites::{SiteHistory, SiteOptions, SiteVerdict};
use crate::Profile;

/// One profile of the series, with the time it was taken.
#[derive(Clone, Copy, Debug)]
pub struct TimedProfile<'a> {
    /// When it was taken, nanoseconds since the Unix epoch.
    pub time_nanos: i64,
    /// Where it came from (a file name), for the report.
    pub source: &'a str,
    /// The profile.
    pub profile: &'a Profile,
}

/// How a series of profiles is analysed.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileTrendOptions {
    /// The sample type followed; default `inuse_space`, else the profiles' last.
    pub sample_type: Option<String>,
    /// Analysis of the total.
    pub series: SeriesOptions,
    /// When the total is a potential leak.
    pub leak: LeakCriteria,
    /// What makes a site a suspect.
    pub sites: SiteOptions,
    /// Most sites listed (suspects first). Default 10.
    pub max_sites: usize,
}

impl Default for ProfileTrendOptions {
    fn default() -> Self {
        ProfileTrendOptions {
            sample_type: None,
            series: SeriesOptions::default(),
            leak: LeakCriteria::default(),
            sites: SiteOptions::default(),
            max_sites: 10,
        }
    }
}

/// The total of one profile.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TotalPoint {
    /// When the profile was taken, nanoseconds since the Unix epoch.
    pub time_nanos: i64,
    /// Where it came from.
    pub source: String,
    /// The sum of the followed sample type.
    pub total: i64,
}

/// The growth of one call stack.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SiteReport {
    /// Function names, leaf first (inlined frames included).
    pub stack: Vec<String>,
    /// What the site was judged to be.
    pub verdict: SiteVerdict,
    /// How sure (see [`SiteTrend::confidence`](super::SiteTrend::confidence)).
    pub confidence: f64,
    /// Robust slope, units per minute.
    pub slope_per_min: f64,
    /// Least-squares slope over the recent part, units per minute.
    pub recent_slope_per_min: f64,
    /// Least-squares R².
    pub r_squared: f64,
    /// The value in the first profile analysed.
    pub first: i64,
    /// The value in the last profile.
    pub last: i64,
}

/// The trend of a series of profiles.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrendReport {
    /// The sample type followed (`inuse_space`).
    pub sample_type: String,
    /// Its unit (`bytes`).
    pub unit: String,
    /// Profiles given.
    pub profiles: usize,
    /// Restarts seen (a cumulative `alloc_*` total that went down): only the
    /// profiles since the last one are analysed.
    pub restarts: usize,
    /// The totals analysed, in time order.
    pub totals: Vec<TotalPoint>,
    /// The analysis of the total.
    pub series: SeriesAnalysis,
    /// The leak detectors' verdict on the total.
    pub leak: LeakAssessment,
    /// The sites listed, suspects first by slope.
    pub sites: Vec<SiteReport>,
    /// Sites not listed, by verdict name.
    pub unlisted: BTreeMap<String, usize>,
}

impl TrendReport {
    /// The leak suspects among the listed sites.
    pub fn suspects(&self) -> impl Iterator<Item = &SiteReport> {
        self.sites.iter().filter(|s| s.verdict == SiteVerdict::Suspect)
    }
}

/// Analyses a series of profiles (in any order: they are sorted by time).
pub fn profile_trend(
    profiles: &[TimedProfile<'_>],
    opts: &ProfileTrendOptions,
) -> Result<TrendReport, TrendError> {
    let first =
        profiles.first().ok_or(TrendError::TooFewPoints { have: 0, need: opts.series.min_points.max(2) })?;
    let (index, sample_type, unit) = pick_sample_type(first, opts.sample_type.as_deref())?;
    let mut ordered: Vec<&TimedProfile<'_>> = profiles.iter().collect();
    ordered.sort_by_key(|p| p.time_nanos);
    for p in &ordered {
        let same = p.profile.sample_type.get(index).is_some_and(|vt| p.profile.str(vt.r#type) == sample_type);
        if !same {
            return Err(TrendError::SampleTypeMissing { name: sample_type, profile: p.source.to_string() });
        }
    }
    let (ordered, restarts) = since_last_restart(ordered, &sample_type);
    let origin = ordered.first().map_or(0, |p| p.time_nanos);
    let seconds = |t: i64| (t - origin) as f64 / 1e9;

    let mut totals = Vec::with_capacity(ordered.len());
    let mut history: SiteHistory<Vec<String>> = SiteHistory::new();
    for p in &ordered {
        let sites = site_values(p.profile, index);
        let total = sites.values().fold(0i64, |a, &v| a.saturating_add(v));
        totals.push(TotalPoint { time_nanos: p.time_nanos, source: p.source.to_string(), total });
        history.push(seconds(p.time_nanos), sites.into_iter().map(|(k, v)| (k, v as f64)));
    }
    let points: Vec<Point> =
        totals.iter().map(|t| Point::new(seconds(t.time_nanos), t.total as f64)).collect();
    let series = analyze_series(&points, &opts.series)?;
    let leak = assess_leak(&series, &opts.leak);

    let mut sites = Vec::new();
    let mut unlisted: BTreeMap<String, usize> = BTreeMap::new();
    for t in history.rank(&opts.sites) {
        if sites.len() < opts.max_sites && t.verdict == SiteVerdict::Suspect {
            sites.push(SiteReport {
                stack: t.site,
                verdict: t.verdict,
                confidence: t.confidence,
                slope_per_min: t.slope * 60.0,
                recent_slope_per_min: t.recent_slope * 60.0,
                r_squared: t.r_squared,
                first: t.first as i64,
                last: t.last as i64,
            });
        } else {
            *unlisted.entry(t.verdict.name().to_string()).or_default() += 1;
        }
    }
    Ok(TrendReport {
        sample_type,
        unit,
        profiles: profiles.len(),
        restarts,
        totals,
        series,
        leak,
        sites,
        unlisted,
    })
}

/// (index, name, unit) of the followed sample type: the one asked for, else
/// `inuse_space`, else the last (as pprof's default).
fn pick_sample_type(
    p: &TimedProfile<'_>,
    wanted: Option<&str>,
) -> Result<(usize, String, String), TrendError> {
    let names: Vec<&str> = p.profile.sample_type.iter().map(|vt| p.profile.str(vt.r#type)).collect();
    let index = match wanted {
        Some(w) => names.iter().position(|n| *n == w),
        None => names.iter().position(|n| *n == "inuse_space").or(names.len().checked_sub(1)),
    };
    let Some(index) = index else {
        return Err(TrendError::SampleTypeMissing {
            name: wanted.unwrap_or("any").to_string(),
            profile: p.source.to_string(),
        });
    };
    let vt = p.profile.sample_type[index];
    Ok((index, p.profile.str(vt.r#type).to_string(), p.profile.str(vt.unit).to_string()))
}

/// Drops the profiles before the last restart (see [`ProcessMark`]).
fn since_last_restart<'p, 'a>(
    ordered: Vec<&'p TimedProfile<'a>>,
    followed: &str,
) -> (Vec<&'p TimedProfile<'a>>, usize) {
    if followed.starts_with("alloc_") || ordered.is_empty() {
        return (ordered, 0);
    }
    let marks: Vec<ProcessMark> = ordered.iter().map(|p| ProcessMark::of(p.profile)).collect();
    let mut start = 0;
    let mut restarts = 0;
    for i in 1..marks.len() {
        if marks[i].restart_since(&marks[i - 1]).is_some() {
            start = i;
            restarts += 1;
        }
    }
    (ordered[start..].to_vec(), restarts)
}

/// The value of sample type `index` per call stack (function names, leaf first).
pub fn site_values(profile: &Profile, index: usize) -> BTreeMap<Vec<String>, i64> {
    let locations: BTreeMap<u64, &crate::Location> = profile.location.iter().map(|l| (l.id, l)).collect();
    let functions: BTreeMap<u64, &crate::Function> = profile.function.iter().map(|f| (f.id, f)).collect();
    let mut out: BTreeMap<Vec<String>, i64> = BTreeMap::new();
    for sample in &profile.sample {
        let Some(&value) = sample.value.get(index) else {
            continue;
        };
        let mut stack = Vec::with_capacity(sample.location_id.len());
        for id in &sample.location_id {
            let Some(loc) = locations.get(id) else {
                stack.push(format!("location#{id}"));
                continue;
            };
            if loc.line.is_empty() {
                stack.push(format!("{:#x}", loc.address));
            }
            for line in &loc.line {
                let name =
                    functions.get(&line.function_id).map(|f| profile.str(f.name)).filter(|n| !n.is_empty());
                stack.push(name.map_or_else(|| format!("{:#x}", loc.address), str::to_string));
            }
        }
        let slot = out.entry(stack).or_default();
        *slot = slot.saturating_add(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Line, ProfileBuilder, Sample};

    /// A heap profile with one sample per (stack, inuse bytes), each with
    /// `cumulative` allocated bytes.
    fn heap(time_s: i64, cumulative: i64, sites: &[(&[&str], i64)]) -> Profile {
        let mut b = ProfileBuilder::new(&[("alloc_space", "bytes"), ("inuse_space", "bytes")]);
        let mut samples = Vec::new();
        for (i, (stack, inuse)) in sites.iter().enumerate() {
            let locs = stack
                .iter()
                .enumerate()
                .map(|(j, name)| {
                    let f = b.function(name, name, "x.go", 1);
                    let line = Line { function_id: f, line: 1, column: 0 };
                    b.add_location(0, 0x1000 + (i * 16 + j) as u64, vec![line])
                })
                .collect();
            samples.push(Sample { location_id: locs, value: vec![cumulative, *inuse], label: vec![] });
        }
        let p = b.profile_mut();
        p.sample = samples;
        p.time_nanos = time_s * 1_000_000_000;
        b.finish()
    }

    fn timed(profiles: &[Profile]) -> Vec<TimedProfile<'_>> {
        profiles.iter().map(|p| TimedProfile { time_nanos: p.time_nanos, source: "p", profile: p }).collect()
    }

    #[test]
    fn the_growing_stack_is_the_suspect() {
        let profiles: Vec<Profile> = (0..12)
            .map(|i| {
                heap(
                    i * 60,
                    1 << 30 | i << 20,
                    &[
                        (&["main.leak", "main.main"], (i + 1) << 20),
                        (&["main.cache", "main.main"], (i.min(3) + 1) << 20),
                        (&["main.churn", "main.main"], if i % 2 == 0 { 1 << 20 } else { 3 << 20 }),
                    ],
                )
            })
            .collect();
        let r = profile_trend(&timed(&profiles), &ProfileTrendOptions::default()).unwrap();
        assert_eq!(r.sample_type, "inuse_space");
        assert_eq!(r.restarts, 0);
        let suspects: Vec<_> = r.suspects().collect();
        assert_eq!(suspects.len(), 1, "{r:#?}");
        assert_eq!(suspects[0].stack, ["main.leak", "main.main"]);
        assert!((suspects[0].slope_per_min - (1 << 20) as f64).abs() < 1.0);
        assert_eq!(r.unlisted.values().sum::<usize>(), 2);
        assert!(r.series.classification.is_growing());
    }

    #[test]
    fn a_restart_restarts_the_analysis() {
        let profiles: Vec<Profile> = (0..10)
            .map(|i| {
                let k = if i < 4 { i + 10 } else { i - 4 };
                heap(i * 60, (k + 1) << 20, &[(&["f"], (k + 1) << 20)])
            })
            .collect();
        let r = profile_trend(&timed(&profiles), &ProfileTrendOptions::default()).unwrap();
        assert_eq!(r.restarts, 1);
        assert_eq!(r.totals.len(), 6);
        assert_eq!(r.totals[0].total, 1 << 20);
    }

    #[test]
    fn a_missing_sample_type_is_an_error_naming_the_source() {
        let profiles = [heap(0, 1, &[(&["f"], 1)]), heap(60, 2, &[(&["f"], 2)])];
        let opts = ProfileTrendOptions { sample_type: Some("inuse_objects".into()), ..Default::default() };
        let e = profile_trend(&timed(&profiles), &opts).unwrap_err();
        assert_eq!(e.to_string(), "p: no sample type inuse_objects");
        assert!(profile_trend(&[], &ProfileTrendOptions::default()).is_err());
    }

    #[test]
    fn site_values_sum_samples_of_one_stack() {
        let p = heap(0, 7, &[(&["a", "b"], 5), (&["a", "b"], 6), (&["c"], 1)]);
        let v = site_values(&p, 1);
        assert_eq!(v[&vec!["a".to_string(), "b".to_string()]], 11);
        assert_eq!(v.len(), 2);
    }
}
