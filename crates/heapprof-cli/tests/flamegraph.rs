//! `heapprof flamegraph`: SVG and folded outputs against golden files in
//! tests/golden/ (`HEAPPROF_BLESS=1` refreshes them; a missing one fails).

mod common;

use std::path::Path;

use heapprof_profile::{ProfileBuilder, encode_gzip};

/// Runs `heapprof` in the corpus with `args` plus `-o <tmp>/<file>` and returns
/// what it wrote.
fn run_to_file(args: &[&str], file: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join(file);
    let out_arg = out_path.to_str().expect("utf-8 temp path");
    let all: Vec<&str> = args.iter().copied().chain(["-o", out_arg]).collect();
    let out = common::heapprof(&all);
    assert!(out.status.success(), "heapprof {all:?}: {}", common::stderr(&out));
    std::fs::read_to_string(&out_path).expect("output written")
}

fn check(name: &str, args: &[&str]) -> String {
    let got = run_to_file(args, name);
    common::check_golden(name, &got, &format!("heapprof {args:?} -o {name}"));
    got
}

#[test]
fn flamegraph_svg() {
    let svg = check("flamegraph.svg", &["flamegraph", "default/full.pb.gz"]);
    assert!(svg.contains(">inuse_space: 140.23MB total<"), "title with the sample type and total");
    assert!(svg.contains("<title>main.bigBuffers (67,911,012 bytes, 46.18%)</title>"));
}

#[test]
fn differential_flamegraph_svg() {
    let svg =
        check("flamegraph-diff.svg", &["flamegraph", "--base", "default/cache.pb.gz", "default/full.pb.gz"]);
    assert!(svg.contains(">inuse_space: 62.93MB → 140.23MB (+77.30MB)<"));
    // Growth is drawn in red.
    assert!(svg.contains("<title>main.bigBuffers (67,911,012 bytes, 46.18%; +46.18%)</title>"));
}

#[test]
fn folded_stacks_are_sorted_and_add_up_to_the_total() {
    let folded = check(
        "flamegraph-alloc.folded",
        &["flamegraph", "--folded", "--sample-index", "alloc_space", "default/full.pb.gz"],
    );
    let lines: Vec<&str> = folded.lines().collect();
    let mut sorted = lines.clone();
    sorted.sort_unstable();
    assert_eq!(lines, sorted);
    let sum: i64 =
        lines.iter().map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<i64>().ok()).expect("value")).sum();
    let top =
        common::heapprof(&["top", "--format", "json", "--sample-index", "alloc_space", "default/full.pb.gz"]);
    let top: serde_json::Value = serde_json::from_str(&common::stdout(&top)).expect("top JSON");
    assert_eq!(Some(sum), top["total"].as_i64());
}

#[test]
fn differential_folded_pairs_base_and_new() {
    check(
        "flamegraph-diff.folded",
        &["flamegraph", "--folded", "--base", "default/cache.pb.gz", "default/full.pb.gz"],
    );
}

#[test]
fn reverse_puts_allocation_sites_at_the_root() {
    let folded = run_to_file(&["flamegraph", "--folded", "--reverse", "default/full.pb.gz"], "r.folded");
    assert!(folded.contains("main.bigBuffers;main.main;runtime.main 67911012\n"), "{folded}");
}

#[test]
fn inverted_draws_an_icicle_graph() {
    let svg = run_to_file(&["flamegraph", "--inverted", "default/full.pb.gz"], "i.svg");
    assert!(svg.contains("var inverted = true;"));
}

#[test]
fn filters_apply_as_in_top() {
    let folded =
        run_to_file(&["flamegraph", "--folded", "--focus", "fillCache", "default/full.pb.gz"], "f.folded");
    assert_eq!(folded, "runtime.main;main.main;main.fillCache 64936596\n");
}

#[test]
fn output_is_deterministic() {
    let args = ["flamegraph", "--sample-index", "alloc_objects", "default/full.pb.gz"];
    assert_eq!(run_to_file(&args, "a.svg"), run_to_file(&args, "b.svg"));
}

#[test]
fn bad_sample_index_is_one_line_and_status_2() {
    let out =
        common::heapprof(&["flamegraph", "--sample-index", "nope", "default/full.pb.gz", "-o", "/dev/null"]);
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("heapprof: default/full.pb.gz: sample_index \"nope\""), "{err}");
}

#[test]
fn output_in_a_missing_directory_is_bad_input() {
    let out = common::heapprof(&["flamegraph", "default/full.pb.gz", "-o", "/nonexistent/dir/x.svg"]);
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("/nonexistent/dir/x.svg") && err.contains("no such directory: /nonexistent/dir"),
        "{err}"
    );
    assert!(!Path::new("/nonexistent/dir/x.svg").exists());
}

/// Regression: no samples to draw was an internal error (status 1, "No stack
/// counts found") where `--folded` and `graph` print an empty result.
#[test]
fn no_samples_draw_an_empty_flame_graph() {
    let empty = ProfileBuilder::new(&[("inuse_space", "bytes")]).finish();
    let dir = tempfile::tempdir().expect("temp dir");
    let empty_path = dir.path().join("empty.pb.gz");
    std::fs::write(&empty_path, encode_gzip(&empty)).expect("write the profile");
    let empty_path = empty_path.to_str().expect("utf-8 temp path");
    for args in [
        &["flamegraph", "--focus", "zzz", "default/full.pb.gz"][..],
        &["flamegraph", "--ignore", ".", "default/full.pb.gz"],
        &["flamegraph", empty_path],
        &["flamegraph", "--focus", "zzz", "--base", "default/cache.pb.gz", "default/full.pb.gz"],
    ] {
        let svg = run_to_file(args, "empty.svg");
        assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"), "{args:?}: {svg}");
        assert!(svg.contains(">inuse_space: 0") && svg.contains("No samples to draw"), "{args:?}: {svg}");
    }
}
