//! Growth per allocation site: across a history of snapshots, the sites whose
//! in-use bytes grow steadily and are still growing are the leak suspects,
//! ranked by slope with a confidence figure. A cache that fills and then
//! plateaus is not a suspect; neither is churn.

use std::collections::BTreeMap;

use serde::Serialize;

use super::fit::{Point, least_squares, theil_sen};
use super::series::sorted_by_time;

/// How the live blocks of a site spread over the observed window, from the
/// allocation time each sampled block remembers. The window is cut into
/// `bins` equal parts, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct AgeSpread {
    /// Parts of the window in which at least one live block was allocated.
    pub occupied: u32,
    /// Parts the window was cut into.
    pub bins: u32,
    /// Share of the live blocks allocated in the youngest part.
    pub youngest_fraction: f64,
}

impl AgeSpread {
    /// `occupied / bins`: 1 when live blocks of every age survive (the
    /// "surviving generations" of JVM profilers), small when all are of one age.
    pub fn coverage(&self) -> f64 {
        if self.bins == 0 {
            return 1.0;
        }
        f64::from(self.occupied.min(self.bins)) / f64::from(self.bins)
    }
}

/// What makes a site a suspect.
///
/// Defaults: at least 5 points; growth of more than `min_growth` (0) with a
/// positive robust slope; least-squares R² of at least 0.6; the slope over the
/// last half of the window at least half the slope over all of it; and, when
/// ages are known, fewer than 90% of the live blocks in the youngest part.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SiteOptions {
    /// Fewest points judged.
    pub min_points: usize,
    /// Smallest growth (last − first value) that counts: a site must grow by
    /// more than this. Set it to a few sample periods to ignore single samples.
    pub min_growth: f64,
    /// Smallest least-squares R² of a suspect.
    pub min_r_squared: f64,
    /// The recent part of the window, as a fraction of its points.
    pub recent_fraction: f64,
    /// Smallest ratio of the recent slope to the whole window's slope: below
    /// it the site has plateaued.
    pub min_recent_ratio: f64,
    /// A site with at least this share of its live blocks in the youngest part
    /// of the window is churn.
    pub max_youngest_fraction: f64,
}

impl Default for SiteOptions {
    fn default() -> Self {
        SiteOptions {
            min_points: 5,
            min_growth: 0.0,
            min_r_squared: 0.6,
            recent_fraction: 0.5,
            min_recent_ratio: 0.5,
            max_youngest_fraction: 0.9,
        }
    }
}

/// What a site was judged to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteVerdict {
    /// Grows steadily and is still growing: a leak suspect.
    Suspect,
    /// Grew, then stopped (a cache that filled).
    Plateaued,
    /// Its live blocks are all young: allocated and freed at a steady pace.
    Churn,
    /// Rises and falls more than it trends (churn or noise).
    Unsteady,
    /// Does not grow.
    NotGrowing,
    /// Too few points (or no time span) to judge.
    TooFewPoints,
}

impl SiteVerdict {
    /// The snake-case name (`suspect`, `plateaued`…).
    pub fn name(self) -> &'static str {
        match self {
            SiteVerdict::Suspect => "suspect",
            SiteVerdict::Plateaued => "plateaued",
            SiteVerdict::Churn => "churn",
            SiteVerdict::Unsteady => "unsteady",
            SiteVerdict::NotGrowing => "not_growing",
            SiteVerdict::TooFewPoints => "too_few_points",
        }
    }
}

/// The growth figures of one site.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SiteTrend<K> {
    /// The site (a stack).
    pub site: K,
    /// What it was judged to be.
    pub verdict: SiteVerdict,
    /// How sure: R² times the recent slope's share of the whole slope (capped
    /// at 1) times the age coverage when ages are known; 0 for a site that does
    /// not grow. 1 is a straight line still rising at full speed with live
    /// blocks of every age.
    pub confidence: f64,
    /// Robust (Theil–Sen) slope over the window, units per second.
    pub slope: f64,
    /// Least-squares slope over the recent part, units per second.
    pub recent_slope: f64,
    /// Least-squares R² over the window.
    pub r_squared: f64,
    /// First value of the window.
    pub first: f64,
    /// Last value of the window.
    pub last: f64,
    /// Ages of its live blocks, when known.
    pub age: Option<AgeSpread>,
}

/// Per-site values over time: each snapshot gives a value (such as in-use
/// bytes) per site; a site missing from a snapshot had 0 then.
#[derive(Clone, Debug, Default)]
pub struct SiteHistory<K: Ord> {
    times: Vec<f64>,
    values: BTreeMap<K, Vec<f64>>,
    ages: BTreeMap<K, AgeSpread>,
}

impl<K: Ord + Clone> SiteHistory<K> {
    /// An empty history.
    pub fn new() -> Self {
        SiteHistory { times: Vec::new(), values: BTreeMap::new(), ages: BTreeMap::new() }
    }

    /// Adds a snapshot taken at `t` seconds; values of a site given twice add up.
    pub fn push(&mut self, t: f64, sites: impl IntoIterator<Item = (K, f64)>) {
        let n = self.times.len();
        self.times.push(t);
        for series in self.values.values_mut() {
            series.push(0.0);
        }
        for (key, value) in sites {
            let series = self.values.entry(key).or_insert_with(|| vec![0.0; n + 1]);
            if let Some(last) = series.last_mut() {
                *last += value;
            }
        }
    }

    /// Keeps the last `n` snapshots, forgetting sites that were 0 in all of them.
    pub fn keep_last(&mut self, n: usize) {
        let drop = self.times.len().saturating_sub(n);
        if drop == 0 {
            return;
        }
        self.times.drain(..drop);
        self.values.retain(|_, series| {
            series.drain(..drop);
            series.iter().any(|&v| v != 0.0)
        });
        let values = &self.values;
        self.ages.retain(|k, _| values.contains_key(k));
    }

    /// Sets the age spread of a site's live blocks (the latest known).
    pub fn set_age(&mut self, site: K, age: AgeSpread) {
        self.ages.insert(site, age);
    }

    /// Forgets every age spread.
    pub fn clear_ages(&mut self) {
        self.ages.clear();
    }

    /// Snapshots held.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether no snapshot is held.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Sites seen in the snapshots held.
    pub fn site_count(&self) -> usize {
        self.values.len()
    }

    /// Judges every site: suspects first, by robust slope (fastest first), then
    /// the others by slope; ties in site order.
    pub fn rank(&self, opts: &SiteOptions) -> Vec<SiteTrend<K>> {
        let mut out: Vec<SiteTrend<K>> = self
            .values
            .iter()
            .map(|(site, values)| {
                let points: Vec<Point> =
                    self.times.iter().zip(values).map(|(&t, &v)| Point::new(t, v)).collect();
                judge(site.clone(), &points, self.ages.get(site).copied(), opts)
            })
            .collect();
        out.sort_by(|a, b| {
            (a.verdict != SiteVerdict::Suspect)
                .cmp(&(b.verdict != SiteVerdict::Suspect))
                .then(b.slope.total_cmp(&a.slope))
        });
        out
    }
}

/// Judges one site's series.
pub fn judge<K>(site: K, points: &[Point], age: Option<AgeSpread>, opts: &SiteOptions) -> SiteTrend<K> {
    let (points, _) = sorted_by_time(points);
    let mut trend = SiteTrend {
        site,
        verdict: SiteVerdict::TooFewPoints,
        confidence: 0.0,
        slope: 0.0,
        recent_slope: 0.0,
        r_squared: 0.0,
        first: points.first().map_or(0.0, |p| p.value),
        last: points.last().map_or(0.0, |p| p.value),
        age,
    };
    let finite = points.iter().all(|p| p.t.is_finite() && p.value.is_finite());
    if !finite || points.len() < opts.min_points.max(3) {
        return trend;
    }
    let Some(fit) = least_squares(&points) else {
        return trend;
    };
    let recent_len = ((points.len() as f64 * opts.recent_fraction).ceil() as usize).clamp(3, points.len());
    let recent = least_squares(&points[points.len() - recent_len..]).map_or(0.0, |f| f.slope);
    trend.slope = theil_sen(&points).unwrap_or(fit.slope);
    trend.recent_slope = recent;
    trend.r_squared = fit.r_squared;

    // Growth is judged on least squares and the net change: Theil–Sen reads a
    // cache that filled early and then stayed flat as no growth at all.
    let grew = fit.slope > 0.0 && trend.last - trend.first > opts.min_growth;
    let recent_ratio = if fit.slope > 0.0 { (recent / fit.slope).clamp(0.0, 1.0) } else { 0.0 };
    if grew && trend.slope > 0.0 {
        trend.confidence = fit.r_squared * recent_ratio * age.map_or(1.0, |a| a.coverage());
    }
    trend.verdict = if !grew {
        SiteVerdict::NotGrowing
    } else if age.is_some_and(|a| a.youngest_fraction >= opts.max_youngest_fraction) {
        SiteVerdict::Churn
    } else if recent_ratio < opts.min_recent_ratio {
        SiteVerdict::Plateaued
    } else if trend.slope <= 0.0 || fit.r_squared < opts.min_r_squared {
        SiteVerdict::Unsteady
    } else {
        SiteVerdict::Suspect
    };
    trend
}

/// The frame that names a stack in one-line messages: the first from the
/// leaf outside Rust's standard library (`alloc::`, `core::`, `std::`, …: see
/// [`crate::function_names::is_rust_library_function`]), else the leaf; `?` for an
/// empty stack.
pub fn site_name(stack: &[String]) -> &str {
    let own = |f: &&String| !crate::function_names::is_rust_library_function(f);
    stack.iter().find(own).or(stack.first()).map_or("?", String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_are_named_by_their_first_frame_outside_the_library() {
        let stack: Vec<String> = [
            "alloc::raw_vec::RawVecInner<A>::try_allocate_in",
            "<u8 as alloc::vec::spec_from_elem::SpecFromElem>::from_elem",
            "app::load",
            "app::main",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(site_name(&stack), "app::load");
        assert_eq!(site_name(&stack[..2]), stack[0]);
        assert_eq!(site_name(&[]), "?");
        assert_eq!(site_name(&["main.leak".to_string()]), "main.leak");
    }

    /// Ten seconds apart.
    fn history(sites: &[(&'static str, Vec<f64>)]) -> SiteHistory<&'static str> {
        let n = sites.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
        let mut h = SiteHistory::new();
        for i in 0..n {
            h.push(i as f64 * 10.0, sites.iter().filter_map(|(k, v)| v.get(i).map(|&x| (*k, x))));
        }
        h
    }

    fn verdict_of<'a>(ranked: &'a [SiteTrend<&'static str>], site: &str) -> &'a SiteTrend<&'static str> {
        ranked.iter().find(|t| t.site == site).unwrap()
    }

    #[test]
    fn the_leak_is_the_only_suspect_among_a_cache_and_churn() {
        let leak: Vec<f64> = (0..30).map(|i| 1000.0 * i as f64).collect();
        let cache: Vec<f64> = (0..30).map(|i| 3000.0 * (i.min(8)) as f64).collect();
        let churn: Vec<f64> = (0..30).map(|i| [5000.0, 9000.0, 2000.0, 7000.0][i % 4]).collect();
        let flat = vec![4000.0; 30];
        let ranked = history(&[("leak", leak), ("cache", cache), ("churn", churn), ("flat", flat)])
            .rank(&SiteOptions::default());
        assert_eq!(ranked[0].site, "leak");
        assert_eq!(ranked[0].verdict, SiteVerdict::Suspect);
        assert!(ranked[0].confidence > 0.95, "{:?}", ranked[0]);
        assert!((ranked[0].slope - 100.0).abs() < 1e-9);
        assert_eq!(verdict_of(&ranked, "cache").verdict, SiteVerdict::Plateaued);
        assert_ne!(verdict_of(&ranked, "churn").verdict, SiteVerdict::Suspect);
        assert_eq!(verdict_of(&ranked, "flat").verdict, SiteVerdict::NotGrowing);
        assert_eq!(ranked.iter().filter(|t| t.verdict == SiteVerdict::Suspect).count(), 1);
    }

    #[test]
    fn suspects_are_ranked_by_slope() {
        let slow: Vec<f64> = (0..20).map(|i| 10.0 * i as f64).collect();
        let fast: Vec<f64> = (0..20).map(|i| 50.0 * i as f64).collect();
        let ranked = history(&[("slow", slow), ("fast", fast)]).rank(&SiteOptions::default());
        let order: Vec<_> = ranked.iter().map(|t| (t.site, t.verdict)).collect();
        assert_eq!(order, [("fast", SiteVerdict::Suspect), ("slow", SiteVerdict::Suspect)]);
    }

    #[test]
    fn a_site_that_appears_late_and_keeps_growing_is_a_suspect() {
        let mut h = SiteHistory::new();
        for i in 0..20 {
            let sites: Vec<(&str, f64)> = if i < 5 { vec![] } else { vec![("late", 100.0 * (i - 5) as f64)] };
            h.push(i as f64, sites);
        }
        let ranked = h.rank(&SiteOptions::default());
        assert_eq!(ranked[0].verdict, SiteVerdict::Suspect);
        assert_eq!(ranked[0].first, 0.0);
    }

    #[test]
    fn young_blocks_only_make_churn_and_ages_weigh_the_confidence() {
        let leak: Vec<f64> = (0..20).map(|i| 100.0 * i as f64).collect();
        let mut h = history(&[("a", leak.clone()), ("b", leak)]);
        h.set_age("a", AgeSpread { occupied: 1, bins: 8, youngest_fraction: 1.0 });
        h.set_age("b", AgeSpread { occupied: 4, bins: 8, youngest_fraction: 0.2 });
        let ranked = h.rank(&SiteOptions::default());
        assert_eq!(verdict_of(&ranked, "a").verdict, SiteVerdict::Churn);
        let b = verdict_of(&ranked, "b");
        assert_eq!(b.verdict, SiteVerdict::Suspect);
        assert!((b.confidence - 0.5).abs() < 1e-9, "{b:?}");
    }

    #[test]
    fn small_growth_below_the_floor_is_not_growth() {
        let tiny: Vec<f64> = (0..10).map(|i| if i < 5 { 0.0 } else { 512.0 }).collect();
        let opts = SiteOptions { min_growth: 1024.0, ..SiteOptions::default() };
        let ranked = history(&[("one_sample", tiny)]).rank(&opts);
        assert_eq!(ranked[0].verdict, SiteVerdict::NotGrowing);
    }

    #[test]
    fn too_few_points_and_times_going_backwards() {
        let ranked = history(&[("short", vec![1.0, 2.0, 3.0])]).rank(&SiteOptions::default());
        assert_eq!(ranked[0].verdict, SiteVerdict::TooFewPoints);

        let mut h = SiteHistory::new();
        for (t, v) in [(0.0, 0.0), (20.0, 200.0), (10.0, 100.0), (30.0, 300.0), (50.0, 500.0), (40.0, 400.0)]
        {
            h.push(t, [("s", v)]);
        }
        let ranked = h.rank(&SiteOptions::default());
        assert_eq!(ranked[0].verdict, SiteVerdict::Suspect);
        assert!((ranked[0].slope - 10.0).abs() < 1e-9);
        assert_eq!((ranked[0].first, ranked[0].last), (0.0, 500.0));
    }

    #[test]
    fn keep_last_forgets_old_snapshots_and_dead_sites() {
        let mut h = history(&[("gone", vec![5.0, 0.0, 0.0, 0.0]), ("kept", vec![1.0, 2.0, 3.0, 4.0])]);
        h.keep_last(3);
        assert_eq!(h.len(), 3);
        assert_eq!(h.site_count(), 1);
        h.keep_last(10);
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn a_step_is_not_a_suspect() {
        let step: Vec<f64> = (0..20).map(|i| if i < 10 { 0.0 } else { 5000.0 }).collect();
        let ranked = history(&[("step", step)]).rank(&SiteOptions::default());
        assert_ne!(ranked[0].verdict, SiteVerdict::Suspect, "{:?}", ranked[0]);
    }
}
