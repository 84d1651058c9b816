//! Settings read from the environment at start-up. Read with `getenv` (no lock,
//! no allocation) because the first read happens inside the first allocation.

use std::ffi::CStr;

/// `HEAPPROF_RATE`: bytes, with an optional `k`/`KiB`/`m`/`MiB`/`g`/`GiB` suffix.
pub(crate) fn rate_from_env() -> Option<u64> {
    let value = getenv(c"HEAPPROF_RATE")?;
    match parse_bytes(value) {
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
/// suffixes, powers of 1024). No allocation.
pub(crate) fn parse_bytes(s: &[u8]) -> Option<u64> {
    let s = s.trim_ascii();
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in &s[..digits] {
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    // Compared without allocating: this runs inside the allocator at start-up.
    let unit = s[digits..].trim_ascii_start();
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
    n.checked_mul(1u64 << shift)
}

/// Writes a one-line warning to stderr without allocating.
pub(crate) fn warn(msg: &[u8]) {
    // SAFETY: writing a valid buffer to fd 2; a failure is ignored on purpose.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

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
        assert_eq!(parse_bytes(b"-5"), None);
    }
}
