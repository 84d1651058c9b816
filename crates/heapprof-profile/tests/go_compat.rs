//! Our reports against `go tool pprof`'s, on the Go heap profiles of the shared
//! corpus (profiles written by Go 1.19's runtime, reports by its `go tool pprof`).

use std::path::{Path, PathBuf};

use heapprof_profile::report::{BaseMode, Granularity, Report, ReportOptions, TopOptions, TrimOptions, View};
use heapprof_profile::{Profile, decode};

const SAMPLE_INDEXES: [&str; 4] = ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"];

/// `<workspace root>/../shared/corpus`, where the corpus sits beside the repository.
fn corpus() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    assert!(dir.join("go-heap").is_dir(), "the shared corpus is missing: expected it at {}", dir.display());
    dir
}

fn load(path: &Path) -> Profile {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn report(sources: &[&Profile], bases: &[&Profile], index: &str) -> Report {
    let view = View::with_base(sources, bases, BaseMode::default()).expect("merge");
    let opts = ReportOptions { sample_index: Some(index.to_string()), ..ReportOptions::default() };
    Report::new(view, &opts).expect("report")
}

/// `-top -nodefraction=0 -nodecount=100000`.
fn top_text(r: &Report) -> String {
    let top = r.top(&TopOptions {
        granularity: Granularity::Functions,
        trim: TrimOptions { node_fraction: 0.0, node_count: 100_000, ..TrimOptions::default() },
    });
    let mut out = String::new();
    top.write_text(&mut out).expect("write");
    out
}

/// The table rows: the lines after the `flat  flat%` heading.
fn rows(text: &str) -> Vec<&str> {
    text.lines().skip_while(|l| !l.trim_start().starts_with("flat  flat%")).skip(1).collect()
}

/// Compares two texts line by line; returns a description of the differences.
fn compare(what: &str, expected: &[&str], got: &[&str]) -> Option<String> {
    if expected == got {
        return None;
    }
    let mut msg = format!("{what}: {} expected lines, {} got\n", expected.len(), got.len());
    for i in 0..expected.len().max(got.len()) {
        let (e, g) = (expected.get(i), got.get(i));
        if e != g {
            msg += &format!("  line {}:\n    pprof:    {:?}\n    heapprof: {:?}\n", i + 1, e, g);
        }
    }
    Some(msg)
}

#[test]
fn top_rows_match_pprof_for_every_profile_and_sample_index() {
    let corpus = corpus();
    let mut failures = Vec::new();
    let mut compared = 0;
    for rate in ["default", "rate1"] {
        for name in ["cache", "full"] {
            let dir = corpus.join("go-heap").join(rate);
            let profile = load(&dir.join(format!("{name}.pb.gz")));
            for index in SAMPLE_INDEXES {
                let reference = dir.join(format!("{name}.top.{index}.txt"));
                let expected = std::fs::read_to_string(&reference).expect("reference");
                let got = top_text(&report(&[&profile], &[], index));
                let what = format!("{rate}/{name} {index}");
                failures.extend(compare(&what, &rows(&expected), &rows(&got)));
                // The whole output, header included, matches too.
                let (e, g): (Vec<_>, Vec<_>) = (expected.lines().collect(), got.lines().collect());
                failures.extend(compare(&format!("{what} (whole output)"), &e, &g));
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 16);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn base_subtraction_matches_pprof() {
    let corpus = corpus();
    let mut failures = Vec::new();
    for rate in ["default", "rate1"] {
        let dir = corpus.join("go-heap").join(rate);
        let full = load(&dir.join("full.pb.gz"));
        let cache = load(&dir.join("cache.pb.gz"));
        let expected =
            std::fs::read_to_string(dir.join("full-minus-cache.top.inuse_space.txt")).expect("reference");
        let got = top_text(&report(&[&full], &[&cache], "inuse_space"));
        let (e, g): (Vec<_>, Vec<_>) = (expected.lines().collect(), got.lines().collect());
        failures.extend(compare(&format!("{rate}/full-minus-cache"), &e, &g));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn traces_match_pprof() {
    let corpus = corpus();
    let mut failures = Vec::new();
    for rate in ["default", "rate1"] {
        for name in ["cache", "full"] {
            let dir = corpus.join("go-heap").join(rate);
            let profile = load(&dir.join(format!("{name}.pb.gz")));
            let expected =
                std::fs::read_to_string(dir.join(format!("{name}.traces.txt"))).expect("reference");
            let view = View::from_profiles(&[&profile]).expect("view");
            let r = Report::new(view, &ReportOptions::default()).expect("report");
            let mut got = String::new();
            r.traces(Granularity::Functions).write_text(&mut got).expect("write");
            let (e, g): (Vec<_>, Vec<_>) = (expected.lines().collect(), got.lines().collect());
            failures.extend(compare(&format!("{rate}/{name} traces"), &e, &g));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
