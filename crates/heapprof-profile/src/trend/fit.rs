//! Straight-line fits of a series: ordinary least squares (slope, intercept,
//! R²) and the Theil–Sen estimator (the median of the pairwise slopes, robust to
//! outliers and to the odd step).

use serde::Serialize;

/// One observation: `t` in seconds from any origin, `value` in the series' unit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Point {
    /// Seconds from an origin shared by the series.
    pub t: f64,
    /// The observed value (bytes, objects…).
    pub value: f64,
}

impl Point {
    /// A point at `t` seconds with `value`.
    pub fn new(t: f64, value: f64) -> Self {
        Point { t, value }
    }
}

/// A least-squares line through a series.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct LinearFit {
    /// Units per second.
    pub slope: f64,
    /// The value of the line at `t = 0`.
    pub intercept: f64,
    /// Share of the variance the line explains, 0 to 1. A series with no
    /// variance at all (flat) is fitted exactly: 1.
    pub r_squared: f64,
}

/// Fits a line by least squares. `None` with fewer than two points or when
/// every point has the same time (no slope can be measured).
pub fn least_squares(points: &[Point]) -> Option<LinearFit> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mean_t = points.iter().map(|p| p.t).sum::<f64>() / n;
    let mean_v = points.iter().map(|p| p.value).sum::<f64>() / n;
    // Centred sums: no precision lost to large offsets.
    let (mut stt, mut stv, mut svv) = (0.0, 0.0, 0.0);
    for p in points {
        let (dt, dv) = (p.t - mean_t, p.value - mean_v);
        stt += dt * dt;
        stv += dt * dv;
        svv += dv * dv;
    }
    if stt.is_nan() || stt <= 0.0 || !stt.is_finite() || !stv.is_finite() || !svv.is_finite() {
        return None;
    }
    let slope = stv / stt;
    let r_squared = if svv > 0.0 { ((stv * stv) / (stt * svv)).clamp(0.0, 1.0) } else { 1.0 };
    Some(LinearFit { slope, intercept: mean_v - slope * mean_t, r_squared })
}

/// Points kept for Theil–Sen: its cost grows with the square of the count.
const THEIL_SEN_MAX_POINTS: usize = 1024;

/// The Theil–Sen slope: the median of the slopes between every two points at
/// different times (units per second). A single outlier or a step moves it far
/// less than it moves least squares. Series longer than 1024 points are thinned
/// evenly first. `None` when no two points differ in time.
pub fn theil_sen(points: &[Point]) -> Option<f64> {
    let stride = points.len().div_ceil(THEIL_SEN_MAX_POINTS).max(1);
    let thinned: Vec<Point> = points.iter().step_by(stride).copied().collect();
    let mut slopes = Vec::with_capacity(thinned.len() * thinned.len().saturating_sub(1) / 2);
    for (i, a) in thinned.iter().enumerate() {
        for b in &thinned[i + 1..] {
            let dt = b.t - a.t;
            if dt != 0.0 {
                let s = (b.value - a.value) / dt;
                if s.is_finite() {
                    slopes.push(s);
                }
            }
        }
    }
    median(&mut slopes)
}

/// The median (the mean of the two middle values for an even count).
pub(crate) fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let (len, mid) = (values.len(), values.len() / 2);
    let (below, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *m;
    if len % 2 == 1 {
        return Some(upper);
    }
    let lower = below.iter().copied().max_by(f64::total_cmp).unwrap_or(upper);
    Some((lower + upper) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64]) -> Vec<Point> {
        values.iter().enumerate().map(|(i, &v)| Point::new(i as f64, v)).collect()
    }

    #[test]
    fn a_straight_line_is_fitted_exactly() {
        let pts: Vec<Point> = (0..10).map(|i| Point::new(i as f64 * 2.0, 5.0 + 3.0 * i as f64)).collect();
        let fit = least_squares(&pts).unwrap();
        assert!((fit.slope - 1.5).abs() < 1e-12);
        assert!((fit.intercept - 5.0).abs() < 1e-9);
        assert!((fit.r_squared - 1.0).abs() < 1e-12);
        assert!((theil_sen(&pts).unwrap() - 1.5).abs() < 1e-12);
    }

    #[test]
    fn a_flat_series_has_no_slope_and_an_exact_fit() {
        let pts = series(&[7.0; 6]);
        let fit = least_squares(&pts).unwrap();
        assert_eq!(fit.slope, 0.0);
        assert_eq!(fit.r_squared, 1.0);
        assert_eq!(theil_sen(&pts), Some(0.0));
    }

    #[test]
    fn one_outlier_moves_least_squares_but_not_theil_sen() {
        let mut values: Vec<f64> = (0..11).map(|i| i as f64).collect();
        values[10] = 1000.0;
        let pts = series(&values);
        assert!(least_squares(&pts).unwrap().slope > 20.0);
        assert!((theil_sen(&pts).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn too_few_points_or_no_time_span_give_none() {
        assert_eq!(least_squares(&[]), None);
        assert_eq!(least_squares(&[Point::new(1.0, 1.0)]), None);
        assert_eq!(theil_sen(&[Point::new(1.0, 1.0)]), None);
        let same_time = [Point::new(3.0, 1.0), Point::new(3.0, 9.0)];
        assert_eq!(least_squares(&same_time), None);
        assert_eq!(theil_sen(&same_time), None);
    }

    #[test]
    fn long_series_are_thinned_not_refused() {
        let pts: Vec<Point> = (0..5000).map(|i| Point::new(i as f64, 2.0 * i as f64)).collect();
        assert!((theil_sen(&pts).unwrap() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
