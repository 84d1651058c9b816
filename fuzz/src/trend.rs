//! The checks of the `trend` target: heapprof-profile's growth analysis on arbitrary
//! series of points and on series of arbitrary (decoded) profiles.

use heapprof_profile::trend::{
    Point, ProfileTrendOptions, SeriesOptions, SiteHistory, SiteOptions, TimedProfile, analyze_series,
    assess_leak, profile_trend,
};
use heapprof_profile::{DecodeOptions, decode_with};

/// Most points of a series input.
const MAX_POINTS: usize = 256;

/// Separates the profiles of a `profiles` input.
pub const PROFILE_SEPARATOR: &[u8] = b"\n--heapprof-fuzz-next--\n";

/// The first byte picks the mode: even, a series of points; odd, a series of profiles.
pub fn trend(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 { series(mode, rest) } else { profiles(mode, rest) }
}

fn one_line(e: &impl std::fmt::Display) {
    let text = e.to_string();
    assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
}

/// Points from 16-byte records (`f64` time and value, raw bits: NaN, infinities and
/// extremes included) when bit 1 of `mode` is set, else from 4-byte records (`i16`
/// seconds and `i16` kilobytes: ordinary series, ties and reversals).
fn points(mode: u8, data: &[u8]) -> Vec<Point> {
    // Theil–Sen is quadratic in the points: a monitor's history or a directory of
    // profiles has hundreds, not the thousands a long input would make.
    let data = &data[..data.len().min(MAX_POINTS * 16)];
    let f = |b: &[u8]| f64::from_le_bytes(b.try_into().expect("8 bytes"));
    let i = |b: &[u8]| f64::from(i16::from_le_bytes(b.try_into().expect("2 bytes")));
    if mode & 2 != 0 {
        data.chunks_exact(16).map(|c| Point::new(f(&c[..8]), f(&c[8..]))).collect()
    } else {
        data.chunks_exact(4).take(MAX_POINTS).map(|c| Point::new(i(&c[..2]), i(&c[2..]) * 1024.0)).collect()
    }
}

fn series(mode: u8, data: &[u8]) {
    let Some((opts, data)) = data.split_first_chunk::<4>() else { return };
    let options = SeriesOptions {
        warmup_secs: f64::from(opts[0]) * 10.0,
        rising_window: usize::from(opts[1]),
        rising_tolerance: f64::from(opts[2]),
        min_points: usize::from(opts[3] % 8),
        ..SeriesOptions::default()
    };
    let points = points(mode, data);
    match analyze_series(&points, &options) {
        Err(e) => one_line(&e),
        Ok(a) => {
            assert_eq!(a.points, points.len());
            assert!(a.out_of_order < a.points);
            assert!(a.min <= a.max && a.min <= a.first.min(a.last) && a.max >= a.first.max(a.last));
            assert!(a.span_secs >= 0.0, "{a:?}");
            assert!(a.intervals >= 1 && a.intervals < a.points && a.rising_intervals <= a.intervals);
            assert!((0.0..=1.0).contains(&a.rising_fraction));
            let _ = assess_leak(&a, &Default::default());
        }
    }
    // The same points as four sites' histories: each point goes to site `index % 4`.
    let mut history: SiteHistory<u8> = SiteHistory::new();
    for (index, p) in points.iter().enumerate() {
        history.push(p.t, [((index % 4) as u8, p.value)]);
    }
    let ranked = history.rank(&SiteOptions::default());
    assert!(ranked.len() <= history.site_count());
    for t in &ranked {
        assert!(!t.verdict.name().is_empty());
    }
    history.keep_last(usize::from(mode >> 4));
    let _ = history.rank(&SiteOptions::default());
}

/// Profiles separated by [`PROFILE_SEPARATOR`], each an 8-byte little-endian time in
/// nanoseconds then the profile in any format `decode` reads. Inputs that do not decode
/// are left out (the decoder has its own target).
fn profiles(mode: u8, data: &[u8]) {
    let mut decoded = Vec::new();
    let mut rest = data;
    loop {
        let (part, next) = match find(rest, PROFILE_SEPARATOR) {
            Some(at) => (&rest[..at], Some(&rest[at + PROFILE_SEPARATOR.len()..])),
            None => (rest, None),
        };
        if let Some((time, bytes)) = part.split_first_chunk::<8>()
            && let Ok(p) = decode_with(bytes, DecodeOptions { max_decompressed: 1 << 20 })
        {
            decoded.push((i64::from_le_bytes(*time), p));
        }
        match next {
            Some(n) => rest = n,
            None => break,
        }
    }
    let sources: Vec<String> = (0..decoded.len()).map(|i| format!("p{i}")).collect();
    let timed: Vec<TimedProfile<'_>> = decoded
        .iter()
        .zip(&sources)
        .map(|((time_nanos, profile), source)| TimedProfile { time_nanos: *time_nanos, source, profile })
        .collect();
    let mut options = ProfileTrendOptions { max_sites: usize::from(mode >> 4), ..Default::default() };
    if mode & 2 != 0 {
        options.sample_type = Some("alloc_space".into());
    }
    match profile_trend(&timed, &options) {
        Err(e) => one_line(&e),
        Ok(report) => {
            assert!(report.totals.len() <= timed.len());
            assert_eq!(report.series.points, report.totals.len());
            assert!(report.sites.len() <= options.max_sites);
            assert_eq!(report.suspects().count(), report.sites.len());
            let mut text = String::new();
            report.write_text(&mut text).expect("writing to a String");
            assert!(!text.is_empty());
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
