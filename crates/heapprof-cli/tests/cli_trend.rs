//! `heapprof trend` on a series of heap profiles written by Go's runtime: a Go
//! program (built in the test) leaks through one function, fills a cache that
//! then stops growing, and churns, writing a heap profile after each step at
//! `runtime.MemProfileRate = 1`. The leaking function is the top suspect, and
//! the only one.

mod common;
#[path = "common/go_series.rs"]
mod go_series;

#[test]
fn trend_ranks_the_leaking_go_function_first() {
    let Some(go) = common::go_or_skip("trend_ranks_the_leaking_go_function_first") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let profiles = work.path().join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    go_series::write_leaky_series(&go, work.path(), &profiles);
    let dir = profiles.to_str().unwrap();

    let json = common::heapprof_in(work.path(), &["trend", "--format", "json", dir]);
    assert!(json.status.success(), "{}", common::stderr(&json));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["sample_type"], "inuse_space");
    assert_eq!(report["profiles"], 18);
    assert_eq!(report["restarts"], 0);
    let sites = report["sites"].as_array().unwrap();
    assert!(!sites.is_empty(), "no suspect: {report:#}");
    assert_eq!(sites[0]["stack"][0], "main.leak", "{report:#}");
    assert_eq!(sites[0]["verdict"], "suspect");
    assert!(sites[0]["confidence"].as_f64().unwrap() > 0.9, "{:#}", sites[0]);
    for site in sites {
        let leaf = site["stack"][0].as_str().unwrap();
        assert!(leaf != "main.fillCache" && leaf != "main.churn", "{report:#}");
    }
    // 256 KiB per step, about; Go's estimate of the slope per minute is
    // large (the steps are milliseconds apart), so only its sign is checked.
    assert!(sites[0]["slope_per_min"].as_f64().unwrap() > 0.0);
    assert!(report["series"]["classification"] != "decreasing");

    let text = common::heapprof_in(work.path(), &["trend", dir]);
    assert!(text.status.success(), "{}", common::stderr(&text));
    let out = common::stdout(&text);
    assert!(out.starts_with("Profiles: 18 analysed"), "{out}");
    let first_site =
        out.lines().skip_while(|l| !l.starts_with("Top growing sites")).nth(2).unwrap_or_default();
    assert_eq!(first_site.trim(), "main.leak", "{out}");
}

#[test]
fn trend_needs_enough_profiles_and_says_so_in_one_line() {
    let work = tempfile::tempdir().unwrap();
    let empty = work.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = common::heapprof_in(work.path(), &["trend", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no profile files"), "{err}");

    let garbage = work.path().join("heap_1.pb.gz");
    std::fs::write(&garbage, b"not a profile").unwrap();
    let out = common::heapprof_in(work.path(), &["trend", garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(common::stderr(&out).lines().count(), 1);
}
