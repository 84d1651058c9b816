//! Settings read from the environment at start-up. Read with `getenv` (no lock,
//! no allocation) because the first read happens inside the first allocation.

use std::ffi::CStr;

/// `HEAPPROF_RATE`: bytes, with an optional `k`/`KiB`/`m`/`MiB`/`g`/`GiB` suffix.
pub(crate) fn rate_from_env() -> Option<u64> {
    let value = getenv(c"HEAPPROF_RATE")?;
    match parse_bytes(value) {
        Some(v) if v > crate::sampler::MAX_MEAN => {
            warn(b"heapprof: HEAPPROF_RATE is above the largest mean the sampler draws with; using 117440512 (112 MiB)\n");
            Some(v)
        }
        Some(v) => Some(v),
        None => {
            warn(b"heapprof: HEAPPROF_RATE is not a byte count (e.g. 524288 or 512KiB); using the default 524288\n");
            None
        }
    }
}

/// `HEAPPROF_SEED`: a nonzero integer, for reproducible sampling.
pub(crate) fn seed_from_env() -> Option<u64> {
    let value = getenv(c"HEAPPROF_SEED")?;
    match std::str::from_utf8(value).ok().and_then(|s| s.trim().parse::<u64>().ok()) {
        Some(v) if v != 0 => Some(v),
        _ => {
            warn(b"heapprof: HEAPPROF_SEED is not a nonzero integer; ignored\n");
            None
        }
    }
}

/// `HEAPPROF_SYMBOLIZE`: `0`/`off`/`false`/`no` or `1`/`on`/`true`/`yes`.
pub(crate) fn symbolization_from_env() -> Option<bool> {
    let value = getenv(c"HEAPPROF_SYMBOLIZE")?.trim_ascii();
    let is = |names: &[&[u8]]| names.iter().any(|n| value.eq_ignore_ascii_case(n));
    if is(&[b"0", b"off", b"false", b"no"]) {
        Some(false)
    } else if is(&[b"1", b"on", b"true", b"yes"]) {
        Some(true)
    } else {
        warn(b"heapprof: HEAPPROF_SYMBOLIZE is not 0 or 1; symbolizing\n");
        None
    }
}

fn getenv(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: `name` is NUL-terminated; the returned string lives in the environment
    // block, which this process does not free while running.
    let p = unsafe { libc::getenv(name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: getenv returns a NUL-terminated string.
    Some(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// Parses `512`, `512k`, `512KiB`, `1m`, `1MiB`, `1g`, `1GiB` (case-insensitive
/// suffixes, powers of 1024). None above `i64::MAX`: profiles hold byte counts as
/// signed 64-bit values (a rate is a profile's period). No allocation.
pub(crate) fn parse_bytes(s: &[u8]) -> Option<u64> {
    let (n, rest) = leading_number(s.trim_ascii())?;
    // Compared without allocating: this runs inside the allocator at start-up.
    let unit = rest.trim_ascii_start();
    let is = |name: &[u8]| unit.eq_ignore_ascii_case(name);
    let shift = if unit.is_empty() || is(b"b") {
        0
    } else if is(b"k") || is(b"kb") || is(b"kib") {
        10
    } else if is(b"m") || is(b"mb") || is(b"mib") {
        20
    } else if is(b"g") || is(b"gb") || is(b"gib") {
        30
    } else {
        return None;
    };
    n.checked_mul(1u64 << shift).filter(|&v| i64::try_from(v).is_ok())
}

/// Parses a duration — `500ms`, `30s`, `5m`, `2h`, `1h30m`, or a bare number of
/// seconds — without allocating. None for anything else, for zero and for overflow.
pub(crate) fn parse_duration(s: &[u8]) -> Option<std::time::Duration> {
    let mut rest = s.trim_ascii();
    if rest.is_empty() {
        return None;
    }
    let mut millis: u64 = 0;
    while !rest.is_empty() {
        let n;
        (n, rest) = leading_number(rest)?;
        let unit = rest.iter().take_while(|c| c.is_ascii_alphabetic()).count();
        let per: u64 = match &rest[..unit] {
            b"ms" => 1,
            b"" | b"s" => 1000,
            b"m" => 60_000,
            b"h" => 3_600_000,
            _ => return None,
        };
        millis = millis.checked_add(n.checked_mul(per)?)?;
        rest = &rest[unit..];
    }
    (millis > 0).then(|| std::time::Duration::from_millis(millis))
}

/// The decimal number at the start of `s` and what follows it; None if `s` does not
/// start with a digit or the number overflows.
pub(crate) fn leading_number(s: &[u8]) -> Option<(u64, &[u8])> {
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in &s[..digits] {
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some((n, &s[digits..]))
}

/// Writes a one-line warning to stderr without allocating.
pub(crate) fn warn(msg: &[u8]) {
    // SAFETY: writing a valid buffer to fd 2; a failure is ignored on purpose.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

#[cfg(test)]
mod tests {
    use super::{parse_bytes, parse_duration};
    use std::time::Duration;

    #[test]
    fn parses_byte_counts_with_suffixes() {
        assert_eq!(parse_bytes(b"524288"), Some(524288));
        assert_eq!(parse_bytes(b"512KiB"), Some(524288));
        assert_eq!(parse_bytes(b"64k"), Some(65536));
        assert_eq!(parse_bytes(b" 1 MiB "), Some(1 << 20));
        assert_eq!(parse_bytes(b"0"), Some(0));
        assert_eq!(parse_bytes(b"1"), Some(1));
        assert_eq!(parse_bytes(b""), None);
        assert_eq!(parse_bytes(b"abc"), None);
        assert_eq!(parse_bytes(b"12xb"), None);
        assert_eq!(parse_bytes(b"99999999999999999999"), None);
        assert_eq!(parse_bytes(b"9223372036854775807"), Some(i64::MAX as u64));
        assert_eq!(parse_bytes(b"9223372036854775808"), None);
        assert_eq!(parse_bytes(b"8589934592g"), None);
        assert_eq!(parse_bytes(b"-5"), None);
    }

    #[test]
    fn parses_durations_without_allocating() {
        assert_eq!(parse_duration(b"30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration(b"30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration(b"500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration(b"5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration(b"1h30m"), Some(Duration::from_secs(5400)));
        for bad in [&b""[..], b"0", b"0s", b"s", b"5x", b"-1s", b"1.5s", b"99999999999999999999h"] {
            assert_eq!(parse_duration(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
