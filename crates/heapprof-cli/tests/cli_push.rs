//! `heapprof push` against a receiver on loopback implementing Pyroscope's
//! `/ingest` and Parca's `WriteRaw` (the same receiver as the library's export tests).

mod common;
#[path = "../../heapprof/tests/export_receiver/mod.rs"]
mod export_receiver;

use common::{go_heap, heapprof, heapprof_in, stderr, stdout};
use export_receiver::{Mode, Receiver, parca_series, pyroscope_profile};
use heapprof::pprof::Profile;

fn total(p: &Profile, ty: &str) -> i64 {
    let idx = p.sample_type.iter().position(|t| p.str(t.r#type) == ty).expect("sample type");
    p.sample.iter().map(|s| s.value[idx]).sum()
}

fn load(name: &str) -> Profile {
    heapprof::pprof::decode(&std::fs::read(go_heap().join(name)).unwrap()).unwrap()
}

#[test]
fn pushes_each_file_to_pyroscope_with_labels() {
    let receiver = Receiver::start();
    let out = heapprof(&[
        "push",
        &receiver.url(),
        "default/cache.pb.gz",
        "default/full.pb.gz",
        "--app",
        "cli.app",
        "--label",
        "env=ci",
        "--org-id",
        "t1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), format!("pushed 2 profiles to {}", receiver.url()));
    let reqs = receiver.requests();
    assert_eq!(reqs.len(), 2);
    for (req, file) in reqs.iter().zip(["default/cache.pb.gz", "default/full.pb.gz"]) {
        assert_eq!(req.query["name"], "cli.app{env=ci,service_name=cli.app}");
        assert_eq!(req.headers.get("x-scope-orgid").map(String::as_str), Some("t1"));
        let got = pyroscope_profile(req);
        let want = load(file);
        assert_eq!(total(&got, "inuse_space"), total(&want, "inuse_space"));
        assert_eq!(total(&got, "alloc_space"), total(&want, "alloc_space"));
    }
}

#[test]
fn delta_sends_alloc_differences_and_inuse_snapshots_to_parca() {
    let receiver = Receiver::start();
    let out = heapprof(&[
        "push",
        "--format",
        "parca",
        "--delta",
        &receiver.url(),
        "default/cache.pb.gz",
        "default/full.pb.gz",
        "--app",
        "cli",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reqs = receiver.requests();
    assert_eq!(reqs.len(), 1, "the first file is only the base");
    let series = parca_series(&reqs[0]);
    assert_eq!(series[0].0.get("__name__").map(String::as_str), Some("memory"));
    let got = &series[0].1[0];
    let (earlier, later) = (load("default/cache.pb.gz"), load("default/full.pb.gz"));
    assert_eq!(total(got, "alloc_space"), total(&later, "alloc_space") - total(&earlier, "alloc_space"));
    assert_eq!(
        total(got, "alloc_objects"),
        total(&later, "alloc_objects") - total(&earlier, "alloc_objects")
    );
    assert_eq!(total(got, "inuse_space"), total(&later, "inuse_space"));
}

#[test]
fn delta_sends_a_restarted_process_profile_whole() {
    // The later profile as another process would write it: the same program,
    // mapped elsewhere, having allocated more than the earlier process had.
    let dir = tempfile::tempdir().unwrap();
    let earlier = load("default/cache.pb.gz");
    let mut later = load("default/full.pb.gz");
    assert!(total(&later, "alloc_space") > total(&earlier, "alloc_space"));
    let shift = 0x1000_0000;
    later.mapping[0].memory_start += shift;
    later.mapping[0].memory_limit += shift;
    for l in &mut later.location {
        if l.mapping_id == later.mapping[0].id {
            l.address += shift;
        }
    }
    std::fs::copy(go_heap().join("default/cache.pb.gz"), dir.path().join("earlier.pb.gz")).unwrap();
    std::fs::write(dir.path().join("later.pb.gz"), heapprof::pprof::encode_gzip(&later)).unwrap();
    let receiver = Receiver::start();
    let args = ["push", "--format", "parca", "--delta", &receiver.url(), "earlier.pb.gz", "later.pb.gz"];
    let out = heapprof_in(dir.path(), &[&args[..], &["--app", "cli"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let series = parca_series(&receiver.requests()[0]);
    let got = &series[0].1[0];
    assert_eq!(
        total(got, "alloc_space"),
        total(&later, "alloc_space"),
        "a difference across a restart was sent"
    );
    assert_eq!(total(got, "inuse_space"), total(&later, "inuse_space"));
}

#[test]
fn bad_input_is_one_line_and_status_2() {
    let receiver = Receiver::start();
    for args in [
        &["push", &receiver.url(), "default/cache.pb.gz", "--app", "a", "--label", "novalue"][..],
        &["push", &receiver.url(), "default/cache.pb.gz", "--app", "a", "--label", "bad-name=x"],
        &["push", "localhost:4040", "default/cache.pb.gz", "--app", "a"],
        &["push", &receiver.url(), "no-such-file.pb.gz", "--app", "a"],
        &["push", &receiver.url(), "default/full.top.alloc_space.txt", "--app", "a"],
        &["push", &receiver.url(), "default/cache.pb.gz"],
        &["push", &receiver.url(), "default/cache.pb.gz", "--app", "a", "--ca-cert", "/dev/zero"],
        &["push", &receiver.url(), "default/cache.pb.gz", "--app", "a", "--ca-cert", "/no/such.pem"],
    ] {
        let out = heapprof(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("heapprof: "), "{}", stderr(&out));
    }
    // A header value with a line break is named by where it came from; a token is
    // not repeated.
    let out =
        heapprof(&["push", &receiver.url(), "default/cache.pb.gz", "--app", "a", "--org-id", "t\r\nX: 1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("heapprof: --org-id: bad org id"), "{}", stderr(&out));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_heapprof"))
        .args(["push", &receiver.url(), "default/cache.pb.gz", "--app", "a"])
        .current_dir(go_heap())
        .env("HEAPPROF_PUSH_TOKEN", "s3cret\nX: 1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("heapprof: HEAPPROF_PUSH_TOKEN: bad bearer token") && !err.contains("s3cret"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(receiver.requests().is_empty(), "nothing is sent when an input is bad");
}

#[test]
fn server_errors_are_one_line_and_status_1() {
    let receiver = Receiver::start();
    receiver.set_mode(Mode::Status(500));
    // Port 9 (discard): nothing listens there, and no parallel test binds it.
    let url = "http://127.0.0.1:9".to_string();
    for url in [receiver.url(), url] {
        let out = heapprof(&["push", &url, "default/cache.pb.gz", "--app", "a", "--timeout", "5"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
        assert!(stderr(&out).contains("pushing default/cache.pb.gz"), "{}", stderr(&out));
    }
}
