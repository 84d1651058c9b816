//! Helpers shared by the CLI's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `<workspace root>/../shared/corpus`: the corpus sits beside the repository.
pub fn corpus() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    assert!(dir.join("go-heap").is_dir(), "the shared corpus is missing: expected it at {}", dir.display());
    dir
}

/// The corpus's Go heap profiles.
pub fn go_heap() -> PathBuf {
    corpus().join("go-heap")
}

/// Runs the built `heapprof` with `args` in directory `dir`.
pub fn heapprof_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_heapprof"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run heapprof")
}

/// Runs `heapprof` in the corpus's go-heap folder.
pub fn heapprof(args: &[&str]) -> Output {
    heapprof_in(&go_heap(), args)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `go` if it is installed; else prints why the test is skipped, or fails when
/// running under CI (CI=true), where Go must be there.
pub fn go_or_skip(test: &str) -> Option<PathBuf> {
    let go = PathBuf::from("/usr/bin/go");
    let works = Command::new(&go).arg("version").output().is_ok_and(|o| o.status.success());
    if works {
        return Some(go);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: /usr/bin/go is required under CI (install golang-go)");
    }
    eprintln!("{test}: skipped: /usr/bin/go is not installed");
    None
}

/// `go tool pprof <args>` in `dir`.
pub fn go_pprof(go: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(go)
        .args(["tool", "pprof"])
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("PPROF_TMPDIR", dir)
        .output()
        .expect("run go tool pprof")
}

/// The table rows of a `-top` output: the lines after the `flat  flat%` heading.
pub fn top_rows(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.trim_start().starts_with("flat  flat%"))
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// Compares `got` with `tests/golden/<name>`. `HEAPPROF_BLESS=1` rewrites the
/// golden file; a missing one fails (it is never created silently). `what` says
/// which command made the output.
pub fn check_golden(name: &str, got: &str, what: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var("HEAPPROF_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, got).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; run with HEAPPROF_BLESS=1 to create it from the current output", path.display())
    });
    assert!(
        expected == got,
        "{} differs from the output of {what} (HEAPPROF_BLESS=1 refreshes it):\n{got}",
        path.display()
    );
}
