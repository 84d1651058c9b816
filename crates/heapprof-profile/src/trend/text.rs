//! The trend report as text.

use std::fmt;

use super::leak::Detector;
use super::profile_files::format_utc_seconds;
use super::profiles::TrendReport;
use crate::report::units::scaled_label;

impl TrendReport {
    /// Writes the report: the span, the total's growth, rate and class, the
    /// leak detectors, then the growing sites with their stacks.
    pub fn write_text(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        let (first, last) = match (self.totals.first(), self.totals.last()) {
            (Some(f), Some(l)) => (f, l),
            _ => return writeln!(w, "No profiles."),
        };
        let s = &self.series;
        let value = |v: f64| scaled_label(v as i64, &self.unit, "auto");
        let rate = |per_sec: f64| {
            let per_min = per_sec * 60.0;
            let sign = if per_min >= 0.0 { "+" } else { "" };
            format!("{sign}{}/min", scaled_label(per_min as i64, &self.unit, "auto"))
        };
        write!(
            w,
            "Profiles: {} analysed, from {} to {} ({})",
            self.totals.len(),
            format_utc_seconds(first.time_nanos),
            format_utc_seconds(last.time_nanos),
            format_span(s.span_secs)
        )?;
        if self.restarts > 0 {
            write!(
                w,
                "; {} earlier left out: the target restarted {} time(s)",
                self.profiles - self.totals.len(),
                self.restarts
            )?;
        }
        writeln!(w)?;
        if s.out_of_order > 0 {
            writeln!(w, "Note: {} profile(s) out of time order, sorted by time", s.out_of_order)?;
        }
        let sign = if s.growth >= 0.0 { "+" } else { "" };
        writeln!(
            w,
            "{}: {} -> {} ({sign}{})",
            self.sample_type,
            value(s.first),
            value(s.last),
            value(s.growth)
        )?;
        writeln!(
            w,
            "Trend: {} (least squares, R² {:.2}); {} (Theil-Sen): {}",
            rate(s.fit.slope),
            s.fit.r_squared,
            rate(s.robust_slope),
            s.classification.name()
        )?;
        let l = &self.leak;
        writeln!(
            w,
            "Potential leak: {} (growth over baseline {}; rising intervals {}; trend fit {})",
            if l.potential_leak { "yes" } else { "no" },
            detector(&l.baseline, |v| format!("{v:.2}x"), s.growth_ratio.is_none()),
            detector(&l.persistent, |v| format!("{:.0}%", v * 100.0), false),
            detector(&l.trend, |v| format!("R² {v:.2}"), false),
        )?;
        writeln!(w)?;
        if self.sites.is_empty() {
            writeln!(w, "No growing site.")?;
        } else {
            writeln!(w, "Top growing sites ({}):", self.sample_type)?;
        }
        for (i, site) in self.sites.iter().enumerate() {
            writeln!(
                w,
                "{:>3}. {}  confidence {:.2}  R² {:.2}  {} -> {}",
                i + 1,
                rate(site.slope_per_min / 60.0),
                site.confidence,
                site.r_squared,
                value(site.first as f64),
                value(site.last as f64)
            )?;
            for frame in &site.stack {
                writeln!(w, "       {frame}")?;
            }
        }
        if !self.unlisted.is_empty() {
            let parts: Vec<String> = self
                .unlisted
                .iter()
                .map(|(verdict, n)| format!("{n} {}", verdict.replace('_', " ")))
                .collect();
            writeln!(w, "Other sites: {}", parts.join(", "))?;
        }
        Ok(())
    }
}

fn detector(d: &Detector, show: impl Fn(f64) -> String, zero_base: bool) -> String {
    if !d.enabled {
        return "off".to_string();
    }
    let figure = match d.value {
        Some(v) => show(v),
        None if zero_base => "zero baseline".to_string(),
        None => "not measured yet".to_string(),
    };
    let mark = if d.fired { "fired" } else { "quiet" };
    format!("{figure}, {mark}")
}

/// `45s`, `12m30s`, `3h05m`.
fn format_span(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let total = secs.round() as u64;
    if total < 3600 {
        return format!("{}m{:02}s", total / 60, total % 60);
    }
    format!("{}h{:02}m", total / 3600, total % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trend::{ProfileTrendOptions, TimedProfile, profile_trend};
    use crate::{Line, ProfileBuilder, Sample};

    #[test]
    fn the_report_names_the_suspect_and_its_stack() {
        let profiles: Vec<crate::Profile> = (0..8i64)
            .map(|i| {
                let mut b = ProfileBuilder::new(&[("inuse_space", "bytes")]);
                let f = b.function("main.leak", "main.leak", "m.go", 1);
                let g = b.function("main.main", "main.main", "m.go", 9);
                let l1 = b.add_location(0, 0x10, vec![Line { function_id: f, line: 2, column: 0 }]);
                let l2 = b.add_location(0, 0x20, vec![Line { function_id: g, line: 10, column: 0 }]);
                let p = b.profile_mut();
                p.sample.push(Sample {
                    location_id: vec![l1, l2],
                    value: vec![(i + 1) << 20],
                    label: vec![],
                });
                p.time_nanos = 1_700_000_000_000_000_000 + i * 60_000_000_000;
                b.finish()
            })
            .collect();
        let timed: Vec<TimedProfile<'_>> = profiles
            .iter()
            .map(|p| TimedProfile { time_nanos: p.time_nanos, source: "f", profile: p })
            .collect();
        let report = profile_trend(&timed, &ProfileTrendOptions::default()).unwrap();
        let mut text = String::new();
        report.write_text(&mut text).unwrap();
        let expected = "\
Profiles: 8 analysed, from 2023-11-14T22:13:20Z to 2023-11-14T22:20:20Z (7m00s)
inuse_space: 1MB -> 8MB (+7MB)
Trend: +1MB/min (least squares, R² 1.00); +1MB/min (Theil-Sen): moderate
Potential leak: yes (growth over baseline 8.00x, fired; rising intervals 100%, fired; trend fit R² 1.00, fired)

Top growing sites (inuse_space):
  1. +1MB/min  confidence 1.00  R² 1.00  1MB -> 8MB
       main.leak
       main.main
";
        assert_eq!(text, expected);
    }

    #[test]
    fn spans_read_naturally() {
        assert_eq!(format_span(4.25), "4.2s");
        assert_eq!(format_span(750.0), "12m30s");
        assert_eq!(format_span(11_100.0), "3h05m");
    }
}
