//! JSON outputs against golden files in tests/golden/. `HEAPPROF_BLESS=1`
//! rewrites them; a missing golden file fails (it is never created silently).

mod common;

fn check_golden(name: &str, args: &[&str]) {
    let out = common::heapprof(args);
    assert!(out.status.success(), "heapprof {args:?}: {}", common::stderr(&out));
    let got = common::stdout(&out);
    serde_json::from_str::<serde_json::Value>(&got).expect("valid JSON");
    common::check_golden(name, &got, &format!("heapprof {args:?}"));
}

#[test]
fn top_json() {
    check_golden(
        "top.json",
        &["top", "--format", "json", "--sample-index", "alloc_space", "default/full.pb.gz"],
    );
}

#[test]
fn diff_json() {
    check_golden("diff.json", &["diff", "--format", "json", "default/cache.pb.gz", "default/full.pb.gz"]);
}

#[test]
fn traces_json() {
    check_golden("traces.json", &["traces", "--format", "json", "default/cache.pb.gz"]);
}

#[test]
fn tags_json() {
    check_golden("tags.json", &["tags", "--format", "json", "default/full.pb.gz"]);
}

#[test]
fn peek_json() {
    check_golden("peek.json", &["peek", "--format", "json", "main\\.main", "default/full.pb.gz"]);
}

#[test]
fn list_json() {
    check_golden(
        "list.json",
        &["list", "--format", "json", "--source-path", "/nonexistent", "fillCache", "default/full.pb.gz"],
    );
}
