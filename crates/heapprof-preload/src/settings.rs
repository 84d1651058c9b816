//! The library's settings, read from the environment in its constructor with
//! `getenv` (no allocation). A bad value is reported on one stderr line naming
//! the variable, and a safe fallback is used: the host program is never stopped.
//! `HEAPPROF_RATE` and `HEAPPROF_SEED` are read by the sampler itself.

use std::ffi::CStr;
use std::time::Duration;

use heapprof::__preload::{parse_duration, warn};

/// Where the profile at exit goes when `HEAPPROF_OUTPUT` is not set: `%p` is the pid.
pub(crate) const DEFAULT_OUTPUT: &[u8] = b"heap.%p.pb.gz";

/// The parsed settings. Strings point into the environment block, which lives as
/// long as the process.
#[derive(Debug)]
pub(crate) struct Settings {
    /// `HEAPPROF_OUTPUT`: the profile written at exit (`%p` → pid).
    pub(crate) output: &'static [u8],
    /// `HEAPPROF_DIR`: where periodic profiles go (default: the output's directory).
    pub(crate) dir: Option<&'static [u8]>,
    /// `HEAPPROF_EVERY`: the period of periodic profiles.
    pub(crate) every: Option<Duration>,
    /// `HEAPPROF_HTTP`: the address to serve `/debug/pprof` on.
    pub(crate) http: Option<&'static [u8]>,
    /// `HEAPPROF_FOLLOW_FORK`: forked children write their own profile (else none).
    pub(crate) follow_fork: bool,
    /// `HEAPPROF_FOLLOW_EXEC`: programs this one `exec`s keep the library preloaded.
    pub(crate) follow_exec: bool,
}

pub(crate) fn getenv(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: `name` is NUL-terminated; the returned string lives in the
    // environment block, which is never freed while the process runs.
    let p = unsafe { libc::getenv(name.as_ptr()) };
    // SAFETY: getenv returns null or a NUL-terminated string.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// One stderr line, assembled on the stack (no allocation; cut at 512 bytes).
pub(crate) fn warn_parts(parts: &[&[u8]]) {
    let mut buf = [0u8; 512];
    let mut n = 0;
    for part in parts {
        let take = part.len().min(buf.len() - 1 - n);
        buf[n..n + take].copy_from_slice(&part[..take]);
        n += take;
    }
    buf[n] = b'\n';
    warn(&buf[..=n]);
}

fn parse_bool(v: &[u8]) -> Option<bool> {
    let v = v.trim_ascii();
    let is = |words: &[&[u8]]| words.iter().any(|w| v.eq_ignore_ascii_case(w));
    if is(&[b"1", b"true", b"yes", b"on"]) {
        Some(true)
    } else if is(&[b"0", b"false", b"no", b"off", b""]) {
        Some(false)
    } else {
        None
    }
}

fn bool_var(name: &CStr, default: bool) -> bool {
    let Some(v) = getenv(name) else { return default };
    parse_bool(v).unwrap_or_else(|| {
        warn_parts(&[
            b"heapprof: ",
            name.to_bytes(),
            b"=",
            v,
            b" is not 1 or 0; using ",
            if default { b"1" } else { b"0" },
        ]);
        default
    })
}

fn text_var(name: &CStr) -> Option<&'static [u8]> {
    let v = getenv(name)?;
    if v.trim_ascii().is_empty() {
        warn_parts(&[b"heapprof: ", name.to_bytes(), b" is empty; ignored"]);
        return None;
    }
    Some(v)
}

/// Reads the settings (called once, from the constructor).
pub(crate) fn load() -> Settings {
    let every = getenv(c"HEAPPROF_EVERY").and_then(|v| {
        let d = parse_duration(v);
        if d.is_none() {
            warn_parts(&[
                b"heapprof: HEAPPROF_EVERY=",
                v,
                b" is not a duration (e.g. 30s, 5m, 1h); no periodic profiles",
            ]);
        }
        d
    });
    Settings {
        output: text_var(c"HEAPPROF_OUTPUT").unwrap_or(DEFAULT_OUTPUT),
        dir: text_var(c"HEAPPROF_DIR"),
        every,
        http: text_var(c"HEAPPROF_HTTP"),
        follow_fork: bool_var(c"HEAPPROF_FOLLOW_FORK", false),
        follow_exec: bool_var(c"HEAPPROF_FOLLOW_EXEC", true),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bool;

    #[test]
    fn booleans() {
        assert_eq!(parse_bool(b"1"), Some(true));
        assert_eq!(parse_bool(b" Yes "), Some(true));
        assert_eq!(parse_bool(b"off"), Some(false));
        assert_eq!(parse_bool(b"2"), None);
    }
}
