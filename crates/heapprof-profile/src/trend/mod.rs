//! Growth analysis over time series of heap figures: the engine behind
//! heapprof's monitor (leak detection in the process) and `heapprof trend`
//! (over profile files). Pure computation: no clock, no I/O.
//!
//! - [`least_squares`] (slope, R²) and [`theil_sen`] (a robust slope);
//! - [`analyze_series`]: growth, growth over a baseline after warm-up, the
//!   fraction of rising intervals, both slopes, and a [`Classification`]
//!   (rapid / moderate / slow / stable / decreasing, thresholds in
//!   [`ClassThresholds`]); [`assess_leak`] turns that into a verdict;
//! - [`SiteHistory`]: per allocation site, the sites that grow steadily and are
//!   still growing, ranked by slope with a confidence — a cache that fills and
//!   plateaus, or churn, is not a suspect;
//! - [`profile_trend`]: all of it over a series of pprof profiles;
//! - [`ProcessMark`]: whether two profiles of a target span a restart.
//!
//! Times are seconds (`f64`) from any origin; values are in the series' unit.
//!
//! ```
//! use heapprof_profile::trend::{Classification, Point, SeriesOptions, analyze_series};
//!
//! // 2 MiB more every minute for half an hour.
//! let points: Vec<Point> = (0..30)
//!     .map(|i| Point::new(i as f64 * 60.0, (100 + 2 * i) as f64 * 1048576.0))
//!     .collect();
//! let a = analyze_series(&points, &SeriesOptions::default()).unwrap();
//! assert_eq!(a.classification, Classification::Moderate);
//! assert!((a.robust_per_min() / 1048576.0 - 2.0).abs() < 1e-9);
//! assert_eq!(a.rising_fraction, 1.0);
//! ```

mod fit;
mod leak;
mod profile_files;
mod profiles;
mod restart;
mod series;
mod sites;
mod text;

pub use fit::{LinearFit, Point, least_squares, theil_sen};
pub use leak::{Detector, LeakAssessment, LeakCriteria, assess_leak};
pub use profile_files::{
    RetainedFile, format_utc_basic, format_utc_seconds, profile_file_name, retention_victims,
    time_from_file_name,
};
pub use profiles::{
    ProfileTrendOptions, SiteReport, TimedProfile, TotalPoint, TrendReport, profile_trend, site_values,
};
pub use restart::{ProcessMark, Restart};
pub use series::{ClassThresholds, Classification, MIB, SeriesAnalysis, SeriesOptions, analyze_series};
pub use sites::{AgeSpread, SiteHistory, SiteOptions, SiteTrend, SiteVerdict, judge, site_name};

/// Why a series could not be analysed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrendError {
    /// Fewer points than the analysis needs.
    #[error("{have} point(s), at least {need} needed")]
    TooFewPoints {
        /// Points given.
        have: usize,
        /// Points needed.
        need: usize,
    },
    /// Every point has the same time: no rate can be measured.
    #[error("every point has the same time")]
    NoTimeSpan,
    /// A time or value is not a finite number.
    #[error("point {index} is not a finite number")]
    NonFinite {
        /// Its position in the input.
        index: usize,
    },
    /// A profile lacks the followed sample type.
    #[error("{profile}: no sample type {name}")]
    SampleTypeMissing {
        /// The sample type.
        name: String,
        /// Where the profile came from.
        profile: String,
    },
}
