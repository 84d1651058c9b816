//! The Timeline view: the total of a series of profiles over time, its growth
//! class, the leak verdict and the leak suspects — the report of `heapprof
//! trend` (one implementation: `heapprof_profile::trend::profile_trend`), with
//! each point tied to the profile id the other views take as `p=`.

use heapprof_profile::trend::{ProfileTrendOptions, TimedProfile, profile_trend};
use serde_json::{Value, json};

use super::query::Query;
use super::{HttpError, Profiles};

/// `heapprof.trend` JSON for the sample type `si=` (default `inuse_space`),
/// with `schema` and, per point of `totals`, the profile's `id`.
pub(crate) fn timeline(p: &Profiles, q: &Query) -> Result<Value, HttpError> {
    if p.sources.len() < 2 {
        return Err(HttpError::new(
            404,
            "no timeline: it needs a series (several profiles, or a directory of them)",
        ));
    }
    let mut timed = Vec::with_capacity(p.sources.len());
    for ((name, profile), time) in p.names.iter().zip(&p.sources).zip(&p.times) {
        let time_nanos = time.ok_or_else(|| {
            HttpError::new(
                404,
                format!("no timeline: {name} has no time (in the profile, its name or its file)"),
            )
        })?;
        timed.push(TimedProfile { time_nanos, source: name, profile });
    }
    let opts = ProfileTrendOptions { sample_type: q.get("si").map(str::to_string), ..Default::default() };
    let report =
        profile_trend(&timed, &opts).map_err(|e| HttpError::new(400, format!("no timeline: {e}")))?;
    let mut value = serde_json::to_value(&report).map_err(|e| HttpError::new(500, e))?;
    value["schema"] = json!("heapprof.web.timeline.v1");
    if let Some(points) = value["totals"].as_array_mut() {
        for point in points {
            let id = point["source"].as_str().and_then(|s| p.names.iter().position(|n| n == s));
            point["id"] = json!(id.map(|i| i.to_string()));
        }
    }
    Ok(value)
}
