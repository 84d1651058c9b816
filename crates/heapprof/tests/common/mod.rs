//! Shared by the integration tests of this crate.
#![allow(dead_code)]

use std::path::PathBuf;

/// The path of `tool` on PATH. When it is missing the test is skipped with a
/// printed reason (returns None), except under CI (`CI=true`), where it fails.
pub fn require_tool(tool: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(tool)).find(|p| p.is_file()));
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is required under CI but is not installed"
        );
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

/// A fresh directory under the target directory, removed first if it exists.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("heapprof-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Sum of one value (by index) over the samples whose stack passes through a
/// function whose name contains `function`.
pub fn through(p: &heapprof::pprof::Profile, function: &str, index: usize) -> i64 {
    p.sample
        .iter()
        .filter(|s| {
            s.location_id.iter().any(|&id| {
                p.location[id as usize - 1]
                    .line
                    .iter()
                    .any(|l| p.str(p.function[l.function_id as usize - 1].name).contains(function))
            })
        })
        .map(|s| s.value[index])
        .sum()
}
