//! `heapprof` against `go tool pprof` on the cases in tests/pprof-ref/: each
//! file's first line is our command line, the rest is what pprof printed for the
//! same report (regen.sh there makes them).

mod common;

use std::path::Path;

#[test]
fn every_report_prints_what_pprof_prints() {
    let refs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pprof-ref");
    let src = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(src.path().join("heapcorpus")).expect("mkdir");
    std::fs::copy(common::go_heap().join("main.go"), src.path().join("heapcorpus/main.go"))
        .expect("copy main.go");
    let src_dir = src.path().to_string_lossy().into_owned();

    let mut entries: Vec<_> = std::fs::read_dir(&refs)
        .expect("pprof-ref")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    entries.sort();
    assert!(entries.len() >= 20, "reference cases are missing");
    let mut failures = Vec::new();
    for path in &entries {
        let text = std::fs::read_to_string(path).expect("read reference");
        let (command, expected) = text.split_once('\n').expect("command line");
        let command = command.replace("{src}", &src_dir);
        let args: Vec<&str> = command.split_whitespace().collect();
        let out = common::heapprof(&args);
        let got = common::stdout(&out);
        if !out.status.success() || got != expected {
            let mut msg = format!("{}: heapprof {command}\n", path.display());
            msg += &common::stderr(&out);
            let (e, g): (Vec<_>, Vec<_>) = (expected.lines().collect(), got.lines().collect());
            for i in 0..e.len().max(g.len()) {
                if e.get(i) != g.get(i) {
                    msg += &format!(
                        "  line {}: pprof {:?}\n          heapprof {:?}\n",
                        i + 1,
                        e.get(i),
                        g.get(i)
                    );
                }
            }
            failures.push(msg);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
