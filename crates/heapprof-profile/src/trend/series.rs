//! One series (such as the live heap over time): growth over a baseline, the
//! fraction of rising intervals, both fits, and a classification of the rate.

use serde::Serialize;

use super::TrendError;
use super::fit::{LinearFit, Point, least_squares, median, theil_sen};

/// 2^20: rates are printed in MB/min with pprof's MB (2^20 bytes).
pub const MIB: f64 = 1024.0 * 1024.0;

/// How fast a series changes, judged on its robust (Theil–Sen) slope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Growing at [`ClassThresholds::rapid_per_min`] or more.
    Rapid,
    /// Growing at [`ClassThresholds::moderate_per_min`] or more.
    Moderate,
    /// Growing at [`ClassThresholds::slow_per_min`] or more.
    Slow,
    /// Neither growing nor shrinking measurably.
    Stable,
    /// Shrinking at [`ClassThresholds::slow_per_min`] or more.
    Decreasing,
}

impl Classification {
    /// The lower-case name (`rapid`, `moderate`, `slow`, `stable`, `decreasing`).
    pub fn name(self) -> &'static str {
        match self {
            Classification::Rapid => "rapid",
            Classification::Moderate => "moderate",
            Classification::Slow => "slow",
            Classification::Stable => "stable",
            Classification::Decreasing => "decreasing",
        }
    }

    /// Whether the series grows (slow, moderate or rapid).
    pub fn is_growing(self) -> bool {
        matches!(self, Classification::Rapid | Classification::Moderate | Classification::Slow)
    }
}

/// Where the classes start, in units per minute of the robust slope (bytes for
/// byte series; the same numbers apply to object counts).
///
/// Defaults: rapid ≥ 10 MiB/min, moderate ≥ 1 MiB/min, slow ≥ 16 KiB/min,
/// decreasing ≤ −16 KiB/min, stable in between — and stable whatever the slope
/// when the change it implies over the whole window is under 1% of the series'
/// median level (sampling noise over a short window is not a trend).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ClassThresholds {
    /// Units per minute at and above which growth is rapid.
    pub rapid_per_min: f64,
    /// Units per minute at and above which growth is moderate.
    pub moderate_per_min: f64,
    /// Units per minute at and above which growth is slow (and at and below
    /// whose negative the series is decreasing).
    pub slow_per_min: f64,
    /// Smallest change over the window, as a fraction of the median level,
    /// that counts as growth or decrease.
    pub min_relative_change: f64,
}

impl Default for ClassThresholds {
    fn default() -> Self {
        ClassThresholds {
            rapid_per_min: 10.0 * MIB,
            moderate_per_min: MIB,
            slow_per_min: 16.0 * 1024.0,
            min_relative_change: 0.01,
        }
    }
}

impl ClassThresholds {
    /// Classifies a slope (units per second) seen over `span_secs` on a series
    /// whose median level is `level`.
    pub fn classify(&self, slope_per_sec: f64, level: f64, span_secs: f64) -> Classification {
        let per_min = slope_per_sec * 60.0;
        let change = (slope_per_sec * span_secs).abs();
        if !per_min.is_finite() || change < self.min_relative_change * level.abs() {
            return Classification::Stable;
        }
        if per_min >= self.rapid_per_min {
            Classification::Rapid
        } else if per_min >= self.moderate_per_min {
            Classification::Moderate
        } else if per_min >= self.slow_per_min {
            Classification::Slow
        } else if per_min <= -self.slow_per_min {
            Classification::Decreasing
        } else {
            Classification::Stable
        }
    }
}

/// How a series is analysed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesOptions {
    /// Where the classes start.
    pub classes: ClassThresholds,
    /// Seconds after the first point before the baseline is taken (warm-up);
    /// the baseline is the first point at or after that time. Default 0.
    pub warmup_secs: f64,
    /// Intervals (between consecutive points) looked at for the fraction of
    /// rising intervals: the last N. Default 20.
    pub rising_window: usize,
    /// A rise must exceed this many units to count (sampling noise). Default 0.
    pub rising_tolerance: f64,
    /// Fewest points analysed (at least 2). Default 3.
    pub min_points: usize,
}

impl Default for SeriesOptions {
    fn default() -> Self {
        SeriesOptions {
            classes: ClassThresholds::default(),
            warmup_secs: 0.0,
            rising_window: 20,
            rising_tolerance: 0.0,
            min_points: 3,
        }
    }
}

/// The figures of one series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesAnalysis {
    /// Points analysed.
    pub points: usize,
    /// Points that came earlier in time than the point before them (a clock
    /// that went backwards, files out of order): they were sorted by time.
    pub out_of_order: usize,
    /// Seconds from the first point to the last.
    pub span_secs: f64,
    /// The first value (in time).
    pub first: f64,
    /// The last value (in time).
    pub last: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// `last - first`.
    pub growth: f64,
    /// The point after warm-up that growth is measured against; `None` when no
    /// point is that late.
    pub baseline: Option<Point>,
    /// `last / baseline`; `None` without a baseline or when it is zero or less.
    pub growth_ratio: Option<f64>,
    /// Intervals looked at for [`SeriesAnalysis::rising_fraction`].
    pub intervals: usize,
    /// Of those, the intervals where the value rose (by more than the tolerance).
    pub rising_intervals: usize,
    /// `rising_intervals / intervals` (0 with no interval).
    pub rising_fraction: f64,
    /// Least squares over every point.
    pub fit: LinearFit,
    /// The Theil–Sen slope, units per second.
    pub robust_slope: f64,
    /// The class of [`SeriesAnalysis::robust_slope`].
    pub classification: Classification,
}

impl SeriesAnalysis {
    /// The least-squares slope in units per minute.
    pub fn slope_per_min(&self) -> f64 {
        self.fit.slope * 60.0
    }

    /// The robust slope in units per minute.
    pub fn robust_per_min(&self) -> f64 {
        self.robust_slope * 60.0
    }
}

/// Sorts points by time (stably), returning how many were out of order.
pub(crate) fn sorted_by_time(points: &[Point]) -> (Vec<Point>, usize) {
    let out_of_order = points.windows(2).filter(|w| w[1].t < w[0].t).count();
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a.t.total_cmp(&b.t));
    (sorted, out_of_order)
}

/// Checks that every point is finite and that there are enough of them.
pub(crate) fn check_points(points: &[Point], min_points: usize) -> Result<(), TrendError> {
    if let Some(index) = points.iter().position(|p| !p.t.is_finite() || !p.value.is_finite()) {
        return Err(TrendError::NonFinite { index });
    }
    let need = min_points.max(2);
    if points.len() < need {
        return Err(TrendError::TooFewPoints { have: points.len(), need });
    }
    Ok(())
}

/// Analyses a series. Points may come in any order; they are sorted by time.
pub fn analyze_series(points: &[Point], opts: &SeriesOptions) -> Result<SeriesAnalysis, TrendError> {
    check_points(points, opts.min_points)?;
    let (sorted, out_of_order) = sorted_by_time(points);
    let fit = least_squares(&sorted).ok_or(TrendError::NoTimeSpan)?;
    let robust_slope = theil_sen(&sorted).unwrap_or(fit.slope);
    let (first, last) = (sorted[0], sorted[sorted.len() - 1]);
    let span_secs = last.t - first.t;
    let values = sorted.iter().map(|p| p.value);
    let min = values.clone().fold(f64::INFINITY, f64::min);
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    let level = median(&mut values.collect::<Vec<_>>()).unwrap_or(0.0);

    let baseline = sorted.iter().find(|p| p.t - first.t >= opts.warmup_secs).copied();
    let growth_ratio = baseline.filter(|b| b.value > 0.0).map(|b| last.value / b.value);

    let window = opts.rising_window.max(1).min(sorted.len() - 1);
    let recent = &sorted[sorted.len() - 1 - window..];
    let rising_intervals =
        recent.windows(2).filter(|w| w[1].value - w[0].value > opts.rising_tolerance).count();

    Ok(SeriesAnalysis {
        points: sorted.len(),
        out_of_order,
        span_secs,
        first: first.value,
        last: last.value,
        min,
        max,
        growth: last.value - first.value,
        baseline,
        growth_ratio,
        intervals: window,
        rising_intervals,
        rising_fraction: rising_intervals as f64 / window as f64,
        fit,
        robust_slope,
        classification: opts.classes.classify(robust_slope, level, span_secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: f64 = MIB;

    /// One point a minute.
    fn per_minute(values: impl IntoIterator<Item = f64>) -> Vec<Point> {
        values.into_iter().enumerate().map(|(i, v)| Point::new(i as f64 * 60.0, v)).collect()
    }

    fn analyze(points: &[Point]) -> SeriesAnalysis {
        analyze_series(points, &SeriesOptions::default()).unwrap()
    }

    /// A deterministic pseudo-random stream in [-1, 1).
    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
            })
            .collect()
    }

    #[test]
    fn flat_is_stable_with_no_rising_interval() {
        let a = analyze(&per_minute(std::iter::repeat_n(100.0 * MB, 30)));
        assert_eq!(a.classification, Classification::Stable);
        assert_eq!(a.rising_intervals, 0);
        assert_eq!(a.growth_ratio, Some(1.0));
        assert_eq!(a.growth, 0.0);
    }

    #[test]
    fn linear_growth_is_classified_by_its_rate() {
        for (per_min, class) in [
            (20.0 * MB, Classification::Rapid),
            (2.0 * MB, Classification::Moderate),
            (0.1 * MB, Classification::Slow),
        ] {
            let a = analyze(&per_minute((0..30).map(|i| 50.0 * MB + per_min * i as f64)));
            assert_eq!(a.classification, class, "{per_min}");
            assert!((a.robust_per_min() - per_min).abs() < 1e-6 * per_min);
            assert!((a.fit.r_squared - 1.0).abs() < 1e-9);
            assert_eq!(a.rising_fraction, 1.0);
        }
    }

    #[test]
    fn decreasing_is_recognised() {
        let a = analyze(&per_minute((0..30).map(|i| 500.0 * MB - 3.0 * MB * i as f64)));
        assert_eq!(a.classification, Classification::Decreasing);
        assert_eq!(a.rising_intervals, 0);
        assert!(a.growth_ratio.unwrap() < 1.0);
    }

    #[test]
    fn a_step_has_one_rising_interval_and_little_robust_slope() {
        let values = (0..40).map(|i| if i < 20 { 100.0 * MB } else { 200.0 * MB });
        let a = analyze(&per_minute(values));
        assert_eq!(a.rising_intervals, 1);
        assert!(a.rising_fraction <= 0.05);
        assert_eq!(a.growth_ratio, Some(2.0));
        // Least squares sees a strong trend; the pairs within each plateau hold
        // Theil–Sen down.
        assert!(a.robust_slope < a.fit.slope);
    }

    #[test]
    fn a_sawtooth_rises_often_but_does_not_grow() {
        // Fills for 4 minutes, empties in one: 80% of intervals rise.
        let values = (0..50).map(|i| 100.0 * MB + (i % 5) as f64 * 10.0 * MB);
        let a = analyze(&per_minute(values));
        assert!(a.rising_fraction >= 0.75, "{}", a.rising_fraction);
        assert_eq!(a.classification, Classification::Stable);
        assert!(a.fit.r_squared < 0.1);
    }

    #[test]
    fn a_rising_sawtooth_grows() {
        let values = (0..50).map(|i| 100.0 * MB + (i % 5) as f64 * 10.0 * MB + i as f64 * MB);
        let a = analyze(&per_minute(values));
        assert!(a.classification.is_growing(), "{:?}", a.classification);
    }

    #[test]
    fn noise_alone_is_stable_and_noise_over_a_trend_is_not() {
        let n = noise(60, 0x1234_5678);
        let flat = per_minute(n.iter().map(|e| 200.0 * MB + 5.0 * MB * e));
        let a = analyze(&flat);
        assert_eq!(a.classification, Classification::Stable, "{a:?}");

        let rising =
            per_minute(n.iter().enumerate().map(|(i, e)| 200.0 * MB + 2.0 * MB * i as f64 + 5.0 * MB * e));
        let a = analyze(&rising);
        assert_eq!(a.classification, Classification::Moderate, "{a:?}");
        assert!((a.robust_per_min() / MB - 2.0).abs() < 0.5);
        assert!(a.fit.r_squared > 0.8);
    }

    #[test]
    fn too_few_points_is_an_error() {
        let e = analyze_series(&per_minute([1.0, 2.0]), &SeriesOptions::default()).unwrap_err();
        assert_eq!(e, TrendError::TooFewPoints { have: 2, need: 3 });
        let opts = SeriesOptions { min_points: 0, ..SeriesOptions::default() };
        assert!(analyze_series(&per_minute([1.0]), &opts).is_err());
        assert!(analyze_series(&per_minute([1.0, 2.0]), &opts).is_ok());
    }

    #[test]
    fn zero_baseline_gives_no_ratio() {
        let a = analyze(&per_minute([0.0, 1.0 * MB, 2.0 * MB, 3.0 * MB]));
        assert_eq!(a.baseline.map(|b| b.value), Some(0.0));
        assert_eq!(a.growth_ratio, None);
        assert!(a.classification.is_growing());
    }

    #[test]
    fn the_baseline_waits_for_the_warm_up() {
        let opts = SeriesOptions { warmup_secs: 150.0, ..SeriesOptions::default() };
        let a = analyze_series(&per_minute([0.0, 10.0, 20.0, 40.0, 80.0]), &opts).unwrap();
        assert_eq!(a.baseline, Some(Point::new(180.0, 40.0)));
        assert_eq!(a.growth_ratio, Some(2.0));
        let late = SeriesOptions { warmup_secs: 1e9, ..SeriesOptions::default() };
        let a = analyze_series(&per_minute([1.0, 2.0, 3.0]), &late).unwrap();
        assert_eq!((a.baseline, a.growth_ratio), (None, None));
    }

    #[test]
    fn a_clock_going_backwards_is_sorted_and_counted() {
        let mut pts = per_minute((0..10).map(|i| i as f64 * MB));
        pts.swap(3, 4);
        pts.swap(7, 8);
        let a = analyze(&pts);
        assert_eq!(a.out_of_order, 2);
        assert_eq!(a.rising_fraction, 1.0);
        assert!((a.robust_per_min() - MB).abs() < 1e-6);
        assert_eq!(a.first, 0.0);
        assert_eq!(a.last, 9.0 * MB);
    }

    #[test]
    fn all_points_at_one_time_or_not_finite_are_errors() {
        let same = [Point::new(5.0, 1.0), Point::new(5.0, 2.0), Point::new(5.0, 3.0)];
        assert_eq!(analyze_series(&same, &SeriesOptions::default()), Err(TrendError::NoTimeSpan));
        let nan = [Point::new(0.0, 1.0), Point::new(1.0, f64::NAN), Point::new(2.0, 3.0)];
        assert_eq!(analyze_series(&nan, &SeriesOptions::default()), Err(TrendError::NonFinite { index: 1 }));
    }

    #[test]
    fn the_rising_window_looks_at_the_last_intervals_only() {
        let opts = SeriesOptions { rising_window: 4, ..SeriesOptions::default() };
        let values = [10.0, 9.0, 8.0, 7.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        let a = analyze_series(&per_minute(values), &opts).unwrap();
        assert_eq!((a.intervals, a.rising_intervals), (4, 4));
    }
}
