//! `heapprof graph`: DOT against a golden file in tests/golden/ (`HEAPPROF_BLESS=1`
//! refreshes it; a missing one fails), SVG and PNG through Graphviz's `dot`, and
//! the errors. tests/pprof-ref/graph-*.txt compare the DOT with `go tool pprof -dot`.

mod common;

use std::path::PathBuf;
use std::process::Command;

/// Runs `heapprof graph ARGS -o <tmp>/<file>` in the corpus; returns the bytes.
fn graph_to(args: &[&str], file: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(file);
    let path_arg = path.to_str().expect("utf-8 temp path");
    let all: Vec<&str> = ["graph"].into_iter().chain(args.iter().copied()).chain(["-o", path_arg]).collect();
    let out = common::heapprof(&all);
    assert!(out.status.success(), "heapprof {all:?}: {}", common::stderr(&out));
    std::fs::read(&path).expect("output written")
}

/// Graphviz's `dot` on PATH; else prints why the test is skipped, or fails under
/// CI (CI=true), where .ci/run installs graphviz.
fn dot_or_skip(test: &str) -> Option<PathBuf> {
    let works = Command::new("dot").arg("-V").output().is_ok_and(|o| o.status.success());
    if works {
        return Some(PathBuf::from("dot"));
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: Graphviz's `dot` is required under CI (install graphviz)");
    }
    eprintln!("{test}: skipped: Graphviz's `dot` is not installed");
    None
}

#[test]
fn dot_golden() {
    let args = ["--sample-index", "alloc_space", "--nodecount", "6", "rate1/full.pb.gz"];
    let dot = String::from_utf8(graph_to(&args, "g.dot")).expect("UTF-8 DOT");
    common::check_golden("graph.dot", &dot, &format!("heapprof graph {args:?} -o graph.dot"));
    assert!(dot.starts_with("digraph \"gen\" {\n") && dot.ends_with("}\n"));
    assert!(dot.contains("Showing top 6 nodes out of 12"), "{dot}");
}

#[test]
fn dot_is_deterministic() {
    let args = ["--lines", "rate1/full.pb.gz"];
    assert_eq!(graph_to(&args, "a.dot"), graph_to(&args, "b.dot"));
}

#[test]
fn dot_renders_svg_and_png() {
    if dot_or_skip("dot_renders_svg_and_png").is_none() {
        return;
    }
    let svg = String::from_utf8(graph_to(&["default/full.pb.gz"], "g.svg")).expect("UTF-8 SVG");
    assert!(svg.contains("<svg"), "not an SVG: {}", &svg[..svg.len().min(200)]);
    // Node labels are split at '.' as pprof does.
    assert!(svg.contains(">bigBuffers</text>"), "node missing from the SVG");
    let png = graph_to(&["default/full.pb.gz"], "g.png");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
}

#[test]
fn missing_dot_is_one_clear_line() {
    let empty = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_heapprof"))
        .args(["graph", "default/full.pb.gz", "-o"])
        .arg(empty.path().join("g.svg"))
        .current_dir(common::go_heap())
        .env("PATH", empty.path())
        .output()
        .expect("run heapprof");
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("Graphviz's `dot` is not installed"), "{err}");
    assert!(!empty.path().join("g.svg").exists());
}

#[test]
fn unknown_extension_is_bad_usage() {
    let out = common::heapprof(&["graph", "default/full.pb.gz", "-o", "graph.pdf"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        common::stderr(&out),
        "heapprof: --output: graph.pdf: the name must end in .dot, .svg or .png\n"
    );
}

#[test]
fn stdout_gets_the_dot_text() {
    let out = common::heapprof(&["graph", "-o", "-", "default/full.pb.gz"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stdout(&out).starts_with("digraph \"gen\" {\n"));
}
