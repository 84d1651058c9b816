//! The Source view: per-line values of the functions matching `re=` (the
//! `list` report, as `heapprof list`), beside their source text when the file
//! lies under one of the source directories. Unlike `heapprof list`, which
//! searches as pprof does (absolute names as they are, parents of the source
//! directories too), a page may only make the server read files inside the
//! directories it was given: a profile's file names are not trusted to stay
//! there (`../../etc/passwd` or an absolute path is simply "not found").

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use heapprof_profile::report::{ListOptions, ReportError, read_source_file};
use regex::Regex;
use serde_json::{Value, json};

use super::query::Query;
use super::views::{diff_report, one_line};
use super::{HttpError, Profiles};

/// `heapprof.list.v1` for `re=`, with the directories searched.
pub(crate) fn list(p: &Profiles, q: &Query) -> Result<Value, HttpError> {
    let re = q.get("re").ok_or_else(|| HttpError::new(400, "re= (a regular expression) is required"))?;
    let re = Regex::new(re).map_err(|e| HttpError::new(400, format!("re: {}", one_line(&e))))?;
    let report = diff_report(p, q)?;
    let opts = ListOptions { source_path: p.source_dirs.clone(), trim_path: p.trim_path.clone() };
    let roots: Vec<PathBuf> = p.source_dirs.iter().filter_map(|d| d.canonicalize().ok()).collect();
    // Each file is looked for and read once per request.
    let mut cache: HashMap<String, Option<String>> = HashMap::new();
    let mut read =
        |file: &str| cache.entry(file.to_string()).or_insert_with(|| read_inside(file, &roots)).clone();
    let listing = report.list(&re, &opts, &mut read).map_err(|e| match e {
        ReportError::NoMatches(_) => HttpError::new(404, e),
        e => HttpError::new(400, e),
    })?;
    let mut value = serde_json::to_value(&listing).map_err(|e| HttpError::new(500, e))?;
    let dirs: Vec<String> = p.source_dirs.iter().map(|d| d.display().to_string()).collect();
    value["source_path"] = json!(dirs);
    Ok(value)
}

/// The text of `file` (a name from the profile) when it resolves, links
/// followed, to a regular file inside one of `roots` (canonical directories).
fn read_inside(file: &str, roots: &[PathBuf]) -> Option<String> {
    let name = Path::new(file);
    for root in roots {
        // An absolute name is accepted only when it already points inside.
        let candidate = if name.is_absolute() { name.to_path_buf() } else { root.join(name) };
        let Ok(real) = candidate.canonicalize() else { continue };
        if !real.starts_with(root) {
            continue;
        }
        if let Some(text) = read_source_file(&real) {
            return Some(text);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_inside_the_roots_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("src");
        std::fs::create_dir_all(root.join("pkg")).unwrap();
        std::fs::write(root.join("pkg/main.go"), "package main\n").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "no\n").unwrap();
        let roots = [root.canonicalize().unwrap()];
        assert_eq!(read_inside("pkg/main.go", &roots).as_deref(), Some("package main\n"));
        let inside = roots[0].join("pkg/main.go");
        assert!(read_inside(inside.to_str().unwrap(), &roots).is_some());
        for outside in ["../secret.txt", "pkg/../../secret.txt", "/etc/passwd", "pkg", "missing.go"] {
            assert_eq!(read_inside(outside, &roots), None, "{outside}");
        }
    }
}
