//! How the binary writes: a closed pipe ends quietly with status 0; no colour
//! when stdout is not a terminal.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

#[test]
fn closed_pipe_exits_quietly_with_success() {
    // Its traces (over 100 kB) do not fit in a pipe's buffer.
    let big = common::go_heap().join("rate1/full.pb.gz");
    let mut child = Command::new(env!("CARGO_BIN_EXE_heapprof"))
        .arg("traces")
        .arg(&big)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 64];
    stdout.read_exact(&mut first).expect("some output");
    drop(stdout); // like `| head`
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn no_escape_codes_when_piped() {
    let out = Command::new(env!("CARGO_BIN_EXE_heapprof"))
        .args(["diff", "default/cache.pb.gz", "default/full.pb.gz"])
        .current_dir(common::go_heap())
        .env_remove("NO_COLOR")
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(!out.stdout.contains(&0x1b));
}

#[test]
fn help_has_an_example_per_subcommand() {
    for cmd in ["top", "list", "peek", "traces", "tags", "diff", "merge", "convert"] {
        let out = common::heapprof(&[cmd, "--help"]);
        assert!(out.status.success(), "{cmd} --help");
        let text = common::stdout(&out);
        assert!(text.contains(&format!("heapprof {cmd} ")), "{cmd} --help has no example:\n{text}");
    }
}
