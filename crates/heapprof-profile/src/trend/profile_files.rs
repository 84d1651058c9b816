//! Profile files of a series: names `heap_<reason>_<UTC time>.pb.gz` (the
//! UTC time in ISO 8601 basic form with milliseconds, `20240102T030405.123Z`,
//! which sorts as it reads and needs no character a file system dislikes),
//! times read back from names, and which files retention removes.

use std::sync::OnceLock;

use regex::Regex;

/// `heap_<reason>_<UTC time>.pb.gz` for a profile taken at `unix_nanos`.
pub fn profile_file_name(reason: &str, unix_nanos: i64) -> String {
    format!("heap_{reason}_{}.pb.gz", format_utc_basic(unix_nanos))
}

/// `20240102T030405.123Z`: the UTC time of `unix_nanos`, to the millisecond.
pub fn format_utc_basic(unix_nanos: i64) -> String {
    let millis = unix_nanos.div_euclid(1_000_000);
    let secs = millis.div_euclid(1000);
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        millis.rem_euclid(1000)
    )
}

/// `2024-01-02T03:04:05Z`: the UTC time of `unix_nanos`, to the second (RFC 3339).
pub fn format_utc_seconds(unix_nanos: i64) -> String {
    let secs = unix_nanos.div_euclid(1_000_000_000);
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", of_day / 3600, of_day % 3600 / 60, of_day % 60)
}

/// A file that retention may remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetainedFile {
    /// When its profile was taken (from its name, else its modification
    /// time), nanoseconds since the Unix epoch.
    pub time_nanos: i64,
    /// Its name, to order files of the same time.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Which files to remove, oldest first, so that at most `max_files` files and
/// `max_bytes` bytes remain. The newest file always stays, even alone over
/// `max_bytes`. Returns indexes into `files`.
pub fn retention_victims(
    files: &[RetainedFile],
    max_files: Option<usize>,
    max_bytes: Option<u64>,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|&a, &b| (files[a].time_nanos, &files[a].name).cmp(&(files[b].time_nanos, &files[b].name)));
    let mut count = files.len();
    let mut total: u64 = files.iter().map(|f| f.bytes).sum();
    let mut victims = Vec::new();
    for &i in order.iter().take(files.len().saturating_sub(1)) {
        let over_count = max_files.is_some_and(|m| count > m);
        let over_bytes = max_bytes.is_some_and(|m| total > m);
        if !over_count && !over_bytes {
            break;
        }
        victims.push(i);
        count -= 1;
        total = total.saturating_sub(files[i].bytes);
    }
    victims
}

/// The time written in a file name, nanoseconds since the Unix epoch: the
/// basic form above (`20240102T030405Z`, fraction optional) or the extended
/// one (`2024-01-02T03:04:05Z`, `2024-01-02T03-04-05.5Z`, `Z` optional, read
/// as UTC). `None` when the name holds no such time or an impossible one.
pub fn time_from_file_name(name: &str) -> Option<i64> {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    let re = PATTERN.get_or_init(|| {
        Regex::new(r"(\d{4})-?(\d{2})-?(\d{2})[T_](\d{2})[:-]?(\d{2})[:-]?(\d{2})(?:[.,](\d{1,9}))?")
            .expect("a valid pattern")
    });
    let caps = re.captures_iter(name).last()?;
    let num = |i: usize| caps.get(i).and_then(|m| m.as_str().parse::<i64>().ok());
    let (y, mo, d, h, mi, s) = (num(1)?, num(2)?, num(3)?, num(4)?, num(5)?, num(6)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let fraction = caps.get(7).map_or(0, |m| {
        let digits = m.as_str();
        let value: i64 = digits.parse().unwrap_or(0);
        value * 10i64.pow(9 - digits.len() as u32)
    });
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s;
    secs.checked_mul(1_000_000_000)?.checked_add(fraction)
}

/// (year, month 1-12, day 1-31) of a count of days since 1970-01-01
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date (the inverse of [`civil_from_days`]).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_utc_time_to_the_millisecond() {
        // 2024-02-29 23:59:58.007 UTC
        let t = 1_709_251_198_007_000_000;
        assert_eq!(format_utc_basic(t), "20240229T235958.007Z");
        assert_eq!(profile_file_name("potential_leak", t), "heap_potential_leak_20240229T235958.007Z.pb.gz");
        assert_eq!(time_from_file_name(&profile_file_name("new_peak", t)), Some(t));
        assert_eq!(format_utc_basic(0), "19700101T000000.000Z");
    }

    #[test]
    fn other_spellings_of_a_time_are_read() {
        let t = 1_700_000_000 * 1_000_000_000; // 2023-11-14 22:13:20 UTC
        for name in [
            "heap-2023-11-14T22:13:20Z.pb.gz",
            "svc_2023-11-14T22-13-20.pb.gz",
            "20231114T221320Z",
            "dump_2023-11-14_22-13-20.pprof",
        ] {
            assert_eq!(time_from_file_name(name), Some(t), "{name}");
        }
        assert_eq!(time_from_file_name("x_20231114T221320.5Z"), Some(t + 500_000_000));
    }

    #[test]
    fn names_without_a_time_or_with_an_impossible_one_give_none() {
        for name in ["heap.pb.gz", "heap_1.pb.gz", "20231314T221320Z", "20231114T251320Z", ""] {
            assert_eq!(time_from_file_name(name), None, "{name}");
        }
    }

    #[test]
    fn readable_utc_seconds() {
        assert_eq!(format_utc_seconds(1_709_251_198_007_000_000), "2024-02-29T23:59:58Z");
    }

    fn file(t: i64, name: &str, bytes: u64) -> RetainedFile {
        RetainedFile { time_nanos: t, name: name.to_string(), bytes }
    }

    #[test]
    fn retention_removes_the_oldest_first() {
        let files = [file(30, "c", 10), file(10, "a", 10), file(20, "b", 10), file(20, "b2", 10)];
        assert_eq!(retention_victims(&files, Some(2), None), [1, 2]);
        assert_eq!(retention_victims(&files, None, Some(25)), [1, 2]);
        assert_eq!(retention_victims(&files, Some(10), Some(100)), Vec::<usize>::new());
        // The newest stays even when it alone is over the byte limit.
        assert_eq!(retention_victims(&files, None, Some(1)), [1, 2, 3]);
        assert!(retention_victims(&[], Some(0), Some(0)).is_empty());
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-800_000, -1, 0, 59, 60, 11_016, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
