//! The routes of `/debug/pprof`, as a pure function from a request to a response,
//! shared by the built-in server and the axum router.

use std::fmt::Write as _;
use std::time::Duration;

use crate::Stats;

/// An HTTP response, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra headers (name, value).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Self {
        let mut body = body.into();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: vec![],
            body: body.into_bytes(),
        }
    }
}

/// The profiles served, with Go's descriptions where Go has them.
const PROFILES: &[(&str, &str)] = &[
    ("allocs", "A sampling of all past memory allocations (the heap profile, viewed as alloc_space)."),
    ("heap", "A sampling of memory allocations of live objects (in-use and allocated since start)."),
    ("stats", "heapprof's exact allocation statistics, as JSON (never sampled)."),
];

/// Answers `GET path?query`. `max_seconds` bounds `?seconds=N`; `wait` sleeps
/// (a parameter so that callers on an async runtime can block elsewhere). What it
/// allocates is not sampled: answering does not change the next profile.
pub fn respond(path: &str, query: &str, max_seconds: u64, wait: &dyn Fn(Duration)) -> Response {
    crate::thread_state::quietly(|| dispatch(path, query, max_seconds, wait))
}

fn dispatch(path: &str, query: &str, max_seconds: u64, wait: &dyn Fn(Duration)) -> Response {
    let Some(name) = path.strip_prefix("/debug/pprof/") else {
        return not_found(path);
    };
    let params = match Params::parse(query) {
        Ok(p) => p,
        Err(e) => return Response::text(400, e),
    };
    match name {
        "" => index(),
        "heap" | "allocs" => heap_route(name, &params, max_seconds, wait),
        "stats" => stats_route(),
        _ => not_found(path),
    }
}

fn not_found(path: &str) -> Response {
    let names: Vec<&str> = PROFILES.iter().map(|(n, _)| *n).collect();
    Response::text(404, format!("unknown profile {path}: known profiles are {}", names.join(", ")))
}

/// The query parameters the routes know; anything else is ignored, as Go does.
#[derive(Debug, Default)]
struct Params {
    debug: u32,
    seconds: Option<u64>,
    gc: bool,
    peak: bool,
    min_age: Option<Duration>,
}

impl Params {
    /// Keys and values are percent-decoded; of a repeated key the first value counts,
    /// as in Go's `FormValue`.
    fn parse(query: &str) -> Result<Self, String> {
        let mut p = Params::default();
        let mut seen: Vec<String> = Vec::new();
        for pair in query.split('&').filter(|s| !s.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (key, value) = (decode_query_component(key)?, decode_query_component(value)?);
            if seen.contains(&key) {
                continue;
            }
            let value = value.as_str();
            match key.as_str() {
                "debug" => {
                    p.debug = value.parse().map_err(|_| {
                        format!("bad debug value {value:?}: want 0, 1 or another non-negative integer")
                    })?;
                }
                "seconds" => {
                    let s: i64 =
                        value.parse().map_err(|_| format!("bad seconds value {value:?}: want an integer"))?;
                    if s <= 0 {
                        return Err(format!("bad seconds value {s}: must be positive"));
                    }
                    p.seconds = Some(s as u64);
                }
                "gc" => p.gc = value.parse::<i64>().map_err(|_| format!("bad gc value {value:?}"))? > 0,
                "peak" => {
                    p.peak = value.parse::<i64>().map_err(|_| format!("bad peak value {value:?}"))? > 0;
                }
                "min_age" => p.min_age = Some(parse_age(value)?),
                _ => {}
            }
            seen.push(key);
        }
        Ok(p)
    }
}

/// Percent-decodes one key or value of a query string, `+` standing for a space, as
/// browsers and HTTP clients encode them; the result must be UTF-8.
pub fn decode_query_component(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(byte.ok_or_else(|| format!("bad escape in {s:?}"))?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8"))
}

fn heap_route(name: &str, params: &Params, max_seconds: u64, wait: &dyn Fn(Duration)) -> Response {
    // `gc` is accepted for compatibility: Rust has no collector to run.
    let _ = params.gc;
    let (mut profile, filename) = match params.seconds {
        Some(_) if params.peak || params.min_age.is_some() => {
            return Response::text(400, "seconds cannot be combined with peak or min_age");
        }
        Some(_) if params.debug > 0 => {
            return Response::text(
                400,
                "seconds and debug cannot be combined: a delta profile is binary only",
            );
        }
        Some(s) if s > max_seconds => {
            return Response::text(
                400,
                format!("seconds={s} is longer than the server's maximum of {max_seconds}"),
            );
        }
        Some(s) => {
            let before = crate::snapshot();
            wait(Duration::from_secs(s));
            (crate::snapshot().delta_since(&before), format!("{name}-delta"))
        }
        None if params.min_age.is_some() => match older_than(params.min_age.unwrap_or_default()) {
            Ok(p) => (p, format!("{name}-old")),
            Err(reason) => return Response::text(404, reason),
        },
        None if params.peak => match peak_profile() {
            Ok(p) => (p, format!("{name}-peak")),
            Err(reason) => return Response::text(404, reason),
        },
        None => (crate::heap_profile(), name.to_owned()),
    };
    if params.debug > 0 {
        let mut text = Vec::new();
        if let Err(e) = heapprof_profile::write_legacy_heap(&profile, &mut text) {
            return Response::text(500, format!("cannot render the profile as text: {e}"));
        }
        text.extend_from_slice(stats_comment(&crate::stats()).as_bytes());
        return Response {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            headers: vec![],
            body: text,
        };
    }
    if name == "allocs" {
        // "alloc_space" is in the string table already, as a sample type.
        if let Some(i) = profile.string_table.iter().position(|s| s == "alloc_space") {
            profile.default_sample_type = i as i64;
        }
    }
    Response {
        status: 200,
        content_type: "application/octet-stream",
        headers: vec![("Content-Disposition", format!("attachment; filename=\"{filename}\""))],
        body: heapprof_profile::encode_gzip(&profile),
    }
}

/// `min_age` values: `600` (seconds), `30s`, `10m`, `2h`.
fn parse_age(value: &str) -> Result<Duration, String> {
    let bad = || format!("bad min_age value {value:?}: want e.g. 600, 30s, 10m, 2h");
    let digits = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let n: u64 = value[..digits].parse().map_err(|_| bad())?;
    let unit = match &value[digits..] {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(bad()),
    };
    n.checked_mul(unit).map(Duration::from_secs).ok_or_else(bad)
}

/// The live heap restricted to blocks allocated at least `min_age` ago.
#[cfg(feature = "monitor")]
fn older_than(min_age: Duration) -> Result<heapprof_profile::Profile, &'static str> {
    Ok(crate::monitor::snapshot_older_than(min_age).to_profile())
}

#[cfg(not(feature = "monitor"))]
fn older_than(_: Duration) -> Result<heapprof_profile::Profile, &'static str> {
    Err("no age view: heapprof was built without the monitor feature")
}

/// The heap as it was at its highest live size, kept by the monitor.
#[cfg(feature = "monitor")]
fn peak_profile() -> Result<heapprof_profile::Profile, &'static str> {
    crate::monitor::peak_profile()
        .ok_or("no peak profile yet: it is kept by a running heapprof::monitor::HeapMonitor")
}

#[cfg(not(feature = "monitor"))]
fn peak_profile() -> Result<heapprof_profile::Profile, &'static str> {
    Err("no peak profile: heapprof was built without the monitor feature")
}

fn stats_route() -> Response {
    Response {
        status: 200,
        content_type: "application/json",
        headers: vec![],
        body: stats_json(&crate::stats()).into_bytes(),
    }
}

/// The statistics as `name value` pairs, in a fixed order (JSON and text share it).
fn stats_fields(s: &Stats) -> [(&'static str, u64); 17] {
    [
        ("allocated_objects", s.allocated_objects),
        ("allocated_bytes", s.allocated_bytes),
        ("freed_objects", s.freed_objects),
        ("freed_bytes", s.freed_bytes),
        ("reallocations", s.reallocations),
        ("live_objects", s.live_objects),
        ("live_bytes", s.live_bytes),
        ("peak_live_bytes", s.peak_live_bytes),
        ("peak_unix_nanos", s.peak_unix_nanos),
        ("threads", s.threads),
        ("rss_bytes", s.rss_bytes),
        ("virtual_bytes", s.virtual_bytes),
        ("sample_rate", s.sample_rate),
        ("live_samples", s.live_samples),
        ("stack_records", s.stack_records),
        ("dropped_samples", s.dropped_samples),
        ("profiler_bytes", s.profiler_bytes),
    ]
}

/// `Stats` as a flat JSON object with the field names of [`Stats`].
pub fn stats_json(s: &Stats) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in stats_fields(s).iter().enumerate() {
        let _ = write!(out, "{}\"{name}\":{value}", if i > 0 { "," } else { "" });
    }
    #[cfg(feature = "export")]
    for (name, value) in crate::export::counters().fields() {
        let _ = write!(out, ",\"{name}\":{value}");
    }
    out.push_str("}\n");
    out
}

/// The `# heapprof.Stats` block that follows the legacy text, like Go's
/// `# runtime.MemStats`.
fn stats_comment(s: &Stats) -> String {
    let mut out = String::from("\n# heapprof.Stats\n");
    for (name, value) in stats_fields(s) {
        let _ = writeln!(out, "# {name} = {value}");
    }
    #[cfg(feature = "export")]
    for (name, value) in crate::export::counters().fields() {
        let _ = writeln!(out, "# {name} = {value}");
    }
    out
}

fn index() -> Response {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>/debug/pprof/</title></head>\n<body>\n\
         <h1>/debug/pprof/</h1>\n<p>Profiles of this process, by heapprof. Binary profiles are gzipped pprof: \
         <code>go tool pprof URL</code> or <code>heapprof top URL</code> read them.</p>\n<table>\n\
         <tr><th>profile</th><th></th><th>description</th></tr>\n",
    );
    for (name, description) in PROFILES {
        let text =
            if *name == "stats" { String::new() } else { format!("<a href=\"{name}?debug=1\">text</a>") };
        let _ = writeln!(
            html,
            "<tr><td><a href=\"{name}\">{name}</a></td><td>{text}</td><td>{description}</td></tr>"
        );
    }
    html.push_str(
        "</table>\n<p><code>?peak=1</code> on heap and allocs: the heap at its highest, as kept by a running \
         monitor.</p>\n<p><code>?min_age=10m</code> on heap and allocs: only the live blocks allocated at least that \
         long ago (what survives, not churn).</p>\n<p><code>?seconds=N</code> on heap and allocs: what was allocated during the next N seconds \
         (alloc_* values are the difference, inuse_* values are those at the end).</p>\n</body></html>\n",
    );
    Response {
        status: 200,
        content_type: "text/html; charset=utf-8",
        headers: vec![],
        body: html.into_bytes(),
    }
}
