//! `go tool pprof` reads what heapprof writes: the allocating functions appear with
//! their demangled names, and with file:line in `-lines` mode.

mod common;

use std::process::Command;

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

#[inline(never)]
fn go_visible_site(kept: &mut Vec<Vec<u8>>) {
    for i in 0..200 {
        kept.push(vec![7u8; 4096 + i]);
    }
}

fn pprof(go: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(go).arg("tool").arg("pprof").args(args).output().expect("run go tool pprof");
    assert!(out.status.success(), "go tool pprof {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn go_tool_pprof_lists_demangled_functions_and_lines() {
    let Some(go) = common::require_tool("go") else {
        return;
    };
    heapprof::set_sample_rate(1);
    let mut kept = Vec::with_capacity(200);
    go_visible_site(&mut kept);
    let dir = common::scratch_dir("go-reads");
    let path = dir.join("heap.pb.gz");
    heapprof::write_heap_profile(&path).expect("write profile");
    let path = path.to_str().expect("utf-8 path");

    let top = pprof(&go, &["-top", "-nodefraction=0", "-sample_index=alloc_space", path]);
    let row = top
        .lines()
        .find(|l| l.contains("go_pprof_reads_profile::go_visible_site"))
        .unwrap_or_else(|| panic!("site missing from go tool pprof -top:\n{top}"));
    assert!(!row.contains("_ZN"), "name not demangled: {row}");
    assert!(!top.contains("heapprof::profiler"), "profiler frames leak into the profile:\n{top}");

    let lines = pprof(&go, &["-top", "-lines", "-nodefraction=0", "-sample_index=inuse_space", path]);
    assert!(
        lines.lines().any(|l| l.contains("go_visible_site") && l.contains("go_pprof_reads_profile.rs:")),
        "no file:line for the site in -lines mode:\n{lines}"
    );
    drop(kept);
}

#[test]
fn go_tool_pprof_reads_the_workflow_example() {
    let Some(go) = common::require_tool("go") else {
        return;
    };
    // `cargo test` builds the examples into target/<profile>/examples.
    let exe = std::env::current_exe().expect("current exe");
    let example = exe.parent().and_then(|d| d.parent()).expect("target dir").join("examples/workflow");
    assert!(example.is_file(), "{} is not built: run `cargo test` for the whole crate", example.display());
    let dir = common::scratch_dir("workflow");
    let out = Command::new(&example).arg(&dir).output().expect("run the workflow example");
    assert!(out.status.success(), "workflow failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().filter(|l| l.contains(".pb.gz: live")).count(), 3, "{stdout}");
    let allocated = dir.join("2-allocated.pb.gz");
    let top =
        pprof(&go, &["-top", "-nodefraction=0", "-sample_index=inuse_space", allocated.to_str().unwrap()]);
    assert!(top.contains("workflow::make_test_data"), "{top}");
    assert!(top.contains("workflow::make_labels"), "{top}");
}
