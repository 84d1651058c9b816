//! `go tool pprof` reads what `heapprof merge` and `heapprof convert` write, and
//! reports the same as on the inputs. Skipped (with a message) where Go is not
//! installed, except under CI (CI=true), where it fails.

mod common;

use std::path::Path;

fn pprof_top(go: &Path, dir: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["-top", "-nodefraction=0"];
    all.extend_from_slice(args);
    let out = common::go_pprof(go, dir, &all);
    assert!(out.status.success(), "go tool pprof {all:?}: {}", common::stderr(&out));
    common::top_rows(&common::stdout(&out))
}

#[test]
fn go_reads_merged_profiles() {
    let Some(go) = common::go_or_skip("go_reads_merged_profiles") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let merged = tmp.path().join("merged.pb.gz");
    let corpus = common::go_heap();
    let (a, b) = (corpus.join("default/full.pb.gz"), corpus.join("rate1/cache.pb.gz"));
    let (a, b, m) = (a.to_string_lossy(), b.to_string_lossy(), merged.to_string_lossy());
    let out = common::heapprof(&["merge", "-o", &m, &a, &b]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    for index in ["alloc_space", "inuse_objects"] {
        let flag = format!("-sample_index={index}");
        let ours = pprof_top(&go, tmp.path(), &[&flag, &m]);
        let theirs = pprof_top(&go, tmp.path(), &[&flag, &a, &b]);
        assert_eq!(ours, theirs, "{index}: pprof on our merge vs pprof merging itself");
        assert!(!ours.is_empty());
    }
}

/// The total pprof reports ("… of X total"), in bytes or counts.
fn pprof_total(go: &Path, dir: &Path, index: &str, file: &str) -> String {
    let flag = format!("-sample_index={index}");
    let out = common::go_pprof(go, dir, &["-top", "-unit=B", &flag, file]);
    assert!(out.status.success(), "go tool pprof {file}: {}", common::stderr(&out));
    let text = common::stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("Showing nodes accounting for"))
        .unwrap_or_else(|| panic!("no total in pprof's output on {file}:\n{text}"));
    line.rsplit(" of ").next().unwrap_or(line).to_string()
}

/// pprof ignores the symbols of legacy text (its `#` lines) where we read them,
/// so the rows differ between the two readings; the totals must not.
#[test]
fn go_reads_converted_profiles() {
    let Some(go) = common::go_or_skip("go_reads_converted_profiles") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let corpus = common::go_heap();
    for rate in ["default", "rate1"] {
        let text = corpus.join(rate).join("full.debug1.txt");
        let text = text.to_string_lossy();
        let pb = tmp.path().join(format!("{rate}.pb.gz"));
        let pb = pb.to_string_lossy();
        let out = common::heapprof(&["convert", &text, "-o", &pb]);
        assert!(out.status.success(), "{}", common::stderr(&out));

        let original = corpus.join(rate).join("full.pb.gz");
        let original = original.to_string_lossy();
        let back = tmp.path().join(format!("{rate}.txt"));
        let back = back.to_string_lossy();
        let out = common::heapprof(&["convert", &original, "-o", &back]);
        assert!(out.status.success(), "{}", common::stderr(&out));

        for index in ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"] {
            let d = tmp.path();
            assert_eq!(
                pprof_total(&go, d, index, &pb),
                pprof_total(&go, d, index, &text),
                "{rate} {index}: legacy text converted to pprof"
            );
            assert_eq!(
                pprof_total(&go, d, index, &back),
                pprof_total(&go, d, index, &original),
                "{rate} {index}: pprof converted to legacy text"
            );
        }
        // The pprof file we wrote carries the text's symbols (the `#` lines), which
        // pprof's own reading of the text leaves out. (Most stacks are pruned at
        // `runtime.main` by the legacy format's drop_frames, in both.)
        let rows = pprof_top(&go, tmp.path(), &["-sample_index=alloc_space", &pb]);
        assert!(rows.iter().any(|r| r.ends_with("runtime.malg")), "{rows:?}");
    }
}
