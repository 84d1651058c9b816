//! Source file names as pprof shows them: prefixes such as `/proc/self/cwd/`
//! trimmed, then cleaned lexically (Go's `filepath.Clean`).

/// Trims what pprof trims from a profile's file name (`trimPath`): with a source
/// path, everything up to the base name of one of its directories; else the
/// configured `trim` prefixes and `/proc/self/cwd/`.
pub(crate) fn trim_path(path: &str, trim: &[String], search: &[String]) -> String {
    if trim.is_empty() {
        for dir in search {
            let base = base_name(dir);
            let want = format!("/{base}/");
            if let Some(found) = path.find(&want) {
                return path[found + want.len()..].to_string();
            }
        }
    }
    let defaults = ["/proc/self/cwd/./".to_string(), "/proc/self/cwd/".to_string()];
    for prefix in trim.iter().chain(defaults.iter()) {
        let prefix = if prefix.ends_with('/') { prefix.clone() } else { format!("{prefix}/") };
        if let Some(rest) = path.strip_prefix(&prefix) {
            return rest.to_string();
        }
    }
    path.to_string()
}

/// The last element of a slash-separated path (Go's `filepath.Base`).
pub(crate) fn base_name(path: &str) -> &str {
    if path.is_empty() {
        return ".";
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/";
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// The shortest lexically equivalent path (Go's `filepath.Clean`).
pub(crate) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_like_go() {
        assert_eq!(clean("a/b/../c"), "a/c");
        assert_eq!(clean("/../a//b/./"), "/a/b");
        assert_eq!(clean("../x"), "../x");
        assert_eq!(clean("heapcorpus/main.go"), "heapcorpus/main.go");
    }

    #[test]
    fn trims_cwd_and_search_path() {
        assert_eq!(trim_path("/proc/self/cwd/src/a.rs", &[], &[]), "src/a.rs");
        let search = vec!["/home/me/proj".to_string()];
        assert_eq!(trim_path("/build/proj/src/a.rs", &[], &search), "src/a.rs");
        assert_eq!(base_name("/a/b/gen"), "gen");
    }
}
