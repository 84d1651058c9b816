//! Leak detection on a total (such as the live heap): three detectors — growth
//! over a baseline, persistent growth, and a steady trend — each with the figure
//! behind it, and a verdict when every enabled detector fires.

use serde::Serialize;

use super::series::{MIB, SeriesAnalysis};

/// What makes a series a potential leak. Each detector can be turned off
/// (`None`); a potential leak needs every enabled one to fire, and at least one
/// enabled.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LeakCriteria {
    /// Baseline: the last value over the value after warm-up at or above this
    /// ratio (default 1.5). A zero baseline with a positive last value fires;
    /// no point after the warm-up yet does not.
    pub growth_ratio: Option<f64>,
    /// Persistent growth: the fraction of rising intervals among the last
    /// [`SeriesOptions::rising_window`](super::SeriesOptions::rising_window) at
    /// or above this (default 0.6).
    pub min_rising_fraction: Option<f64>,
    /// Trend: the classification is growing (slow, moderate or rapid) and the
    /// least-squares R² is at or above this (default 0.5).
    pub min_r_squared: Option<f64>,
}

impl Default for LeakCriteria {
    fn default() -> Self {
        LeakCriteria { growth_ratio: Some(1.5), min_rising_fraction: Some(0.6), min_r_squared: Some(0.5) }
    }
}

/// One detector's finding.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Detector {
    /// Whether it was enabled.
    pub enabled: bool,
    /// Whether it fired (never when disabled).
    pub fired: bool,
    /// The figure it judged (ratio, fraction, R²), when it could be measured.
    pub value: Option<f64>,
    /// The threshold it was judged against.
    pub threshold: f64,
}

/// The verdict of the three detectors on one series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeakAssessment {
    /// Every enabled detector fired, and at least one was enabled.
    pub potential_leak: bool,
    /// Growth over the baseline after warm-up.
    pub baseline: Detector,
    /// The fraction of rising intervals.
    pub persistent: Detector,
    /// A growing classification with a good enough fit.
    pub trend: Detector,
    /// The figures on one line, for logs.
    pub summary: String,
}

/// Applies the criteria to an analysed series of bytes.
pub fn assess_leak(a: &SeriesAnalysis, criteria: &LeakCriteria) -> LeakAssessment {
    let baseline = match criteria.growth_ratio {
        None => off(),
        Some(threshold) => {
            let zero_base_grew = a.baseline.is_some_and(|b| b.value <= 0.0) && a.last > 0.0;
            let fired = zero_base_grew || a.growth_ratio.is_some_and(|r| r >= threshold);
            Detector { enabled: true, fired, value: a.growth_ratio, threshold }
        }
    };
    let persistent = match criteria.min_rising_fraction {
        None => off(),
        Some(threshold) => Detector {
            enabled: true,
            fired: a.intervals > 0 && a.rising_fraction >= threshold,
            value: Some(a.rising_fraction),
            threshold,
        },
    };
    let trend = match criteria.min_r_squared {
        None => off(),
        Some(threshold) => Detector {
            enabled: true,
            fired: a.classification.is_growing() && a.fit.r_squared >= threshold,
            value: Some(a.fit.r_squared),
            threshold,
        },
    };
    let detectors = [baseline, persistent, trend];
    let potential_leak =
        detectors.iter().any(|d| d.enabled) && detectors.iter().all(|d| !d.enabled || d.fired);
    LeakAssessment { potential_leak, baseline, persistent, trend, summary: summary(a) }
}

fn off() -> Detector {
    Detector { enabled: false, fired: false, value: None, threshold: 0.0 }
}

/// `45.10MB, 2.31x the baseline, rising in 18 of 20 intervals, +3.20 MB/min
/// (R² 0.97; robust +3.10 MB/min): moderate`
fn summary(a: &SeriesAnalysis) -> String {
    let ratio = match (a.growth_ratio, a.baseline) {
        (Some(r), _) => format!("{r:.2}x the baseline"),
        (None, Some(_)) => "baseline zero".to_string(),
        (None, None) => "no baseline yet".to_string(),
    };
    format!(
        "{:.2}MB, {ratio}, rising in {} of {} intervals, {:+.2} MB/min (R² {:.2}; robust {:+.2} MB/min): {}",
        a.last / MIB,
        a.rising_intervals,
        a.intervals,
        a.slope_per_min() / MIB,
        a.fit.r_squared,
        a.robust_per_min() / MIB,
        a.classification.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trend::{Point, SeriesOptions, analyze_series};

    fn assess(values: &[f64], criteria: &LeakCriteria) -> LeakAssessment {
        let points: Vec<Point> =
            values.iter().enumerate().map(|(i, &v)| Point::new(i as f64 * 60.0, v * MIB)).collect();
        let a = analyze_series(&points, &SeriesOptions::default()).unwrap();
        assess_leak(&a, criteria)
    }

    #[test]
    fn steady_growth_fires_every_detector() {
        let values: Vec<f64> = (0..20).map(|i| 100.0 + 5.0 * i as f64).collect();
        let v = assess(&values, &LeakCriteria::default());
        assert!(v.potential_leak, "{v:?}");
        assert!(v.baseline.fired && v.persistent.fired && v.trend.fired);
        assert!(v.summary.contains("rising in 19 of 19 intervals"), "{}", v.summary);
        assert!(v.summary.ends_with(": moderate"), "{}", v.summary);
    }

    #[test]
    fn a_step_is_not_a_leak() {
        let values: Vec<f64> = (0..20).map(|i| if i < 10 { 100.0 } else { 300.0 }).collect();
        let v = assess(&values, &LeakCriteria::default());
        assert!(v.baseline.fired);
        assert!(!v.persistent.fired);
        assert!(!v.potential_leak);
    }

    #[test]
    fn a_flat_sawtooth_is_not_a_leak() {
        let values: Vec<f64> = (0..40).map(|i| 100.0 + (i % 4) as f64 * 20.0).collect();
        let v = assess(&values, &LeakCriteria::default());
        assert!(v.persistent.fired, "it does rise most of the time");
        assert!(!v.trend.fired && !v.potential_leak);
    }

    #[test]
    fn decreasing_and_flat_are_not_leaks() {
        let down: Vec<f64> = (0..20).map(|i| 300.0 - 5.0 * i as f64).collect();
        assert!(!assess(&down, &LeakCriteria::default()).potential_leak);
        assert!(!assess(&[100.0; 20], &LeakCriteria::default()).potential_leak);
    }

    #[test]
    fn a_zero_baseline_that_grew_fires_the_baseline_detector() {
        let values: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let v = assess(&values, &LeakCriteria::default());
        assert_eq!(v.baseline.value, None);
        assert!(v.baseline.fired && v.potential_leak);
        assert!(v.summary.contains("baseline zero"));
    }

    #[test]
    fn disabled_detectors_are_ignored_but_one_must_be_enabled() {
        let step: Vec<f64> = (0..20).map(|i| if i < 10 { 100.0 } else { 300.0 }).collect();
        let ratio_only =
            LeakCriteria { growth_ratio: Some(1.5), min_rising_fraction: None, min_r_squared: None };
        assert!(assess(&step, &ratio_only).potential_leak);
        let none = LeakCriteria { growth_ratio: None, min_rising_fraction: None, min_r_squared: None };
        assert!(!assess(&step, &none).potential_leak);
    }
}
