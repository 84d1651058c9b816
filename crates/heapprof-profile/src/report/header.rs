//! The lines pprof prints above every report: `File:`, `Build ID:`, comments,
//! `Type:`, `Time:`, `Duration:`.

use serde::Serialize;

use super::units::{percentage, scale, scaled_label};
use super::view::View;

/// What a report says about the profile it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    /// Base name of the first mapping's file (the main binary), if known.
    pub file: Option<String>,
    /// Build id of the first mapping, if known.
    pub build_id: Option<String>,
    /// The profile's comments (those starting with `#` are not printed).
    pub comments: Vec<String>,
    /// The sample type reported on (`inuse_space`…).
    pub sample_type: String,
    /// Its unit (`bytes`, `count`…).
    pub sample_unit: String,
    /// When the profile was taken, nanoseconds since the Unix epoch.
    pub time_nanos: Option<i64>,
    /// How long the profile covers, in nanoseconds (delta profiles).
    pub duration_nanos: Option<i64>,
}

impl Header {
    pub(crate) fn new(view: &View, index: usize) -> Header {
        let first = view.mappings.first();
        let text = |id: Option<u32>| id.map(|id| view.str(id)).filter(|s| !s.is_empty()).map(str::to_string);
        let (t, u) = view.sample_types.get(index).copied().unwrap_or((0, 0));
        Header {
            file: text(first.map(|m| m.file)).map(|f| super::paths::base_name(&f).to_string()),
            build_id: text(first.map(|m| m.build_id)),
            comments: view.comments.iter().map(|&c| view.str(c).to_string()).collect(),
            sample_type: view.str(t).to_string(),
            sample_unit: view.str(u).to_string(),
            time_nanos: Some(view.time_nanos).filter(|&t| t != 0),
            duration_nanos: Some(view.duration_nanos).filter(|&d| d != 0),
        }
    }

    /// The header lines; `total` and `unit` fill the `Duration:` line as pprof
    /// does (`Total samples = …`).
    pub fn lines(&self, total: i64, unit: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(f) = &self.file {
            out.push(format!("File: {f}"));
        }
        if let Some(b) = &self.build_id {
            out.push(format!("Build ID: {b}"));
        }
        out.extend(self.comments.iter().filter(|c| !c.starts_with('#')).cloned());
        if !self.sample_type.is_empty() {
            out.push(format!("Type: {}", self.sample_type));
        }
        if let Some(t) = self.time_nanos {
            out.push(format!("Time: {}", format_time(t)));
        }
        if let Some(d) = self.duration_nanos {
            let duration = scaled_label(d, "nanoseconds", "auto");
            let (total_nanos, total_unit) = scale(total, &self.sample_unit, "nanoseconds");
            let ratio = if total_unit == "ns" && total_nanos != 0.0 {
                format!("({})", percentage(total_nanos as i64, d))
            } else {
                String::new()
            };
            out.push(format!(
                "Duration: {duration}, Total samples = {} {ratio}",
                scaled_label(total, &self.sample_unit, unit)
            ));
        }
        out
    }
}

/// A time as pprof prints it (`Nov 25, 2026 at 7:05pm (UTC)`), always in UTC.
pub fn format_time(nanos: i64) -> String {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = nanos.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute) = (of_day / 3600, (of_day % 3600) / 60);
    let (h12, ampm) = match hour {
        0 => (12, "am"),
        1..=11 => (hour, "am"),
        12 => (12, "pm"),
        _ => (hour - 12, "pm"),
    };
    format!("{} {day}, {year} at {h12}:{minute:02}{ampm} (UTC)", MONTHS[(month - 1) as usize])
}

/// (year, month 1-12, day 1-31) of a count of days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::format_time;

    #[test]
    fn time_like_pprof_in_utc() {
        assert_eq!(format_time(0), "Jan 1, 1970 at 12:00am (UTC)");
        // 2026-11-25 19:05:30 UTC
        assert_eq!(format_time(1_795_633_530_000_000_000), "Nov 25, 2026 at 7:05pm (UTC)");
    }
}
