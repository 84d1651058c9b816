//! What the benchmark drivers share: reading their options, finding peer tools,
//! reading the `key=value` lines the workloads print, and taking medians.

use std::path::{Path, PathBuf};

/// The number after `flag` in `args`, or `default` when the flag is absent.
pub fn flag_value(args: &[String], flag: &str, default: usize) -> Result<usize, String> {
    match args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| format!("{flag}: not a number: {v}")),
    }
}

/// `tool` on PATH, if it is there.
pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(tool)).find(|p| p.is_file())
}

/// The value of `key=value` in a workload's report line, or "?".
pub fn field(line: &str, key: &str) -> String {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or("?")
        .to_owned()
}

/// The median of `xs` (the upper one of an even count); `xs` must not be empty.
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
