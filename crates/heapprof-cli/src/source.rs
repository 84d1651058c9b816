//! Reading profiles: a file path, or an `http(s)://` URL fetched with a small
//! blocking client (`?seconds=N` asks Go's endpoints for a delta profile).

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use anyhow::Result;
use heapprof_profile::{DEFAULT_MAX_DECOMPRESSED, DecodeOptions, Profile, decode_with, gunzip_bounded};

use crate::error::bad;

/// The environment variable that bounds a profile's size, compressed or not
/// (a gzip bomb stops there): bytes, default 1 GiB.
pub const MAX_BYTES_VAR: &str = "HEAPPROF_MAX_PROFILE_BYTES";

/// Largest file, response or decompressed profile accepted, in bytes: 1 GiB, or
/// `HEAPPROF_MAX_PROFILE_BYTES`.
pub fn max_input() -> Result<u64> {
    match std::env::var(MAX_BYTES_VAR) {
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_MAX_DECOMPRESSED),
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| bad(MAX_BYTES_VAR, format!("not a positive number of bytes: {v:?}"))),
        Err(std::env::VarError::NotUnicode(_)) => Err(bad(MAX_BYTES_VAR, "not UTF-8")),
    }
}

/// Extra time allowed over `--seconds` for a remote profile.
const SLACK: Duration = Duration::from_secs(60);

/// Whether `spec` names a URL rather than a file.
pub fn is_url(spec: &str) -> bool {
    spec.starts_with("http://") || spec.starts_with("https://")
}

/// The URL with `seconds=N` added to its query.
pub fn with_seconds(url: &str, seconds: Option<u64>) -> String {
    match seconds {
        None => url.to_string(),
        Some(s) if url.contains('?') => format!("{url}&seconds={s}"),
        Some(s) => format!("{url}?seconds={s}"),
    }
}

/// The raw bytes of a source.
pub fn fetch(spec: &str, seconds: Option<u64>) -> Result<Vec<u8>> {
    if !is_url(spec) {
        let meta = std::fs::metadata(spec).map_err(|e| bad(spec, io_problem(&e)))?;
        if meta.is_dir() {
            return Err(bad(spec, "is a directory"));
        }
        let max = max_input()?;
        let too_large = || bad(spec, format!("file is larger than {max} bytes (see {MAX_BYTES_VAR})"));
        if meta.len() > max {
            return Err(too_large());
        }
        // Devices, FIFOs and /proc files report a length of 0: the read itself is
        // bounded, one byte past the limit to tell a file that is just too large.
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        std::fs::File::open(spec)
            .and_then(|f| f.take(max.saturating_add(1)).read_to_end(&mut bytes))
            .map_err(|e| bad(spec, io_problem(&e)))?;
        if bytes.len() as u64 > max {
            return Err(too_large());
        }
        return Ok(bytes);
    }
    let url = with_seconds(spec, seconds);
    let timeout = SLACK + Duration::from_secs(seconds.unwrap_or(0));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .user_agent(concat!("heapprof/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut response = agent.get(&url).call().map_err(|e| bad(spec, http_problem(&e)))?;
    response
        .body_mut()
        .with_config()
        .limit(max_input()?)
        .read_to_vec()
        .map_err(|e| bad(spec, http_problem(&e)))
}

/// Whether [`load`] names nameless addresses from local files (`--symbolize`).
static NAME_ADDRESSES: AtomicBool = AtomicBool::new(true);

/// Sets what `--symbolize` asked for: `auto` (true) or `none`.
pub fn set_name_addresses(on: bool) {
    NAME_ADDRESSES.store(on, Relaxed);
}

/// Fetches and decodes one source (protobuf, gzipped or not, or legacy text), and
/// names addresses left without names from files found here (unless `--symbolize
/// none`).
pub fn load(spec: &str, seconds: Option<u64>) -> Result<Profile> {
    named(spec, load_unnamed(spec, seconds)?)
}

/// The profile with its nameless addresses named from files found here, unless
/// `--symbolize none`.
pub fn named(spec: &str, profile: Profile) -> Result<Profile> {
    if !NAME_ADDRESSES.load(Relaxed) {
        return Ok(profile);
    }
    crate::names::name_addresses(spec, profile)
}

/// Fetches and decodes one source as it is.
pub fn load_unnamed(spec: &str, seconds: Option<u64>) -> Result<Profile> {
    let bytes = fetch(spec, seconds)?;
    decode_any(spec, &bytes)
}

/// Whether `bytes` (after gunzip) look like a text profile rather than protobuf:
/// UTF-8 without control characters other than white space in the first kilobyte.
pub fn is_legacy_text(bytes: &[u8]) -> bool {
    let Ok(raw) = gunzip_bounded(bytes, max_input().unwrap_or(DEFAULT_MAX_DECOMPRESSED)) else {
        return false;
    };
    let head = &raw[..raw.len().min(1024)];
    let utf8 = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A character cut by the 1 KiB window is fine.
        Err(e) => e.error_len().is_none(),
    };
    utf8 && !head.is_empty()
        && head.iter().all(|&b| b >= 0x20 && b != 0x7f || b == b'\n' || b == b'\t' || b == b'\r')
}

/// Decodes protobuf (gzipped or not); text goes to the legacy parser.
pub fn decode_any(spec: &str, bytes: &[u8]) -> Result<Profile> {
    // `decode` reads protobuf (gzipped or not) and falls back to legacy text itself.
    decode_with(bytes, DecodeOptions { max_decompressed: max_input()? }).map_err(|e| bad(spec, e))
}

/// Fetches and decodes every source, in order.
pub fn load_all(specs: &[String], seconds: Option<u64>) -> Result<Vec<Profile>> {
    specs.iter().map(|s| load(s, seconds)).collect()
}

fn io_problem(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

fn http_problem(e: &ureq::Error) -> String {
    match e {
        ureq::Error::StatusCode(code) => format!("server answered HTTP {code}"),
        ureq::Error::Timeout(_) => "timed out".to_string(),
        ureq::Error::BodyExceedsLimit(limit) => format!("response is larger than {limit} bytes"),
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
            _ => io.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_go_into_the_query() {
        assert_eq!(
            with_seconds("http://h/debug/pprof/heap", Some(30)),
            "http://h/debug/pprof/heap?seconds=30"
        );
        assert_eq!(with_seconds("http://h/x?gc=1", Some(5)), "http://h/x?gc=1&seconds=5");
        assert_eq!(with_seconds("http://h/x", None), "http://h/x");
        assert!(is_url("https://a") && !is_url("file.pb.gz"));
    }
}
