//! Where the exit profile goes: `heapprof run` finds the profile of a program that
//! ends at once, and refuses an output it cannot write before starting the
//! program; the library used directly says at start-up that it cannot write
//! `HEAPPROF_OUTPUT`, even for programs that close stderr before it could say so at exit.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use support::*;

/// Regression: a quick program's profile was reported missing ("no profile at") in
/// most runs, its modification time (a coarse kernel tick) being older than the clock
/// read before the program started.
#[test]
fn the_profile_of_a_program_that_ends_at_once_is_found_every_time() {
    let dir = scratch("quick");
    for run in 0..10 {
        let out = heapprof_run(dir.path(), &["-o", "quick.pb.gz"], &["true"]);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "run {run}: {stderr}");
        assert!(!stderr.contains("no profile"), "run {run}: {stderr}");
        assert!(stderr.contains("profile written to"), "run {run}: {stderr}");
        read_profile(&dir.path().join("quick.pb.gz"));
    }
}

/// A profile left by an earlier run is not this run's, whatever its time stamp says.
#[test]
fn an_old_profile_is_not_taken_for_a_new_one() {
    let dir = scratch("stale");
    let path = dir.path().join("heap.pb.gz");
    std::fs::write(&path, b"old").unwrap();
    // Stamped in the future, as after a clock step back; the program then dies by a signal.
    let later = SystemTime::now() + Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(later).unwrap();
    let out = heapprof_run(dir.path(), &[], &["sh", "-c", "kill -9 $$"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(128 + 9), "{stderr}");
    assert!(stderr.contains("no profile at"), "{stderr}");
    assert!(!stderr.contains("profile written to"), "{stderr}");
}

/// Regression: `-o /nonexistent/x.pb.gz` ran the program, then printed "cannot write"
/// and "did not return from main" and exited 0.
#[test]
fn an_output_that_cannot_be_written_is_refused_before_the_program_runs() {
    let dir = scratch("bad-output");
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let cases = [
        (dir.path().join("missing/x.pb.gz"), "missing"),
        (file.join("x.pb.gz"), "is not a directory"),
        (dir.path().to_path_buf(), "is a directory"),
        // Every other command takes `-` for stdout; here the program writes there.
        (PathBuf::from("-"), "stdout"),
    ];
    for (output, want) in cases {
        let out = heapprof_run(dir.path(), &["-o", output.to_str().unwrap()], &["touch", "ran"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", output.display());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("heapprof: -o: ") && stderr.contains(want), "{stderr}");
        assert!(!dir.path().join("ran").exists(), "the program ran with -o {}", output.display());
    }
}

/// The program run with the library preloaded directly, with `output` as HEAPPROF_OUTPUT.
fn preloaded(dir: &Path, output: &Path, program: &[&str]) -> Output {
    let (_, lib) = binaries();
    let mut cmd = Command::new(program[0]);
    cmd.args(&program[1..])
        .current_dir(dir)
        .env("LD_PRELOAD", lib)
        .env("HEAPPROF_OUTPUT", output)
        .env_remove("HEAPPROF_MAIN_PID");
    run_bounded(&mut cmd, Duration::from_secs(120))
}

/// Regression: an unwritable HEAPPROF_OUTPUT was reported only at exit, where `ls`
/// (coreutils' `close_stdout`) has already closed stderr: nothing was said.
#[test]
fn an_unwritable_heapprof_output_is_reported_at_start_up() {
    let dir = scratch("bad-env-output");
    std::fs::write(dir.path().join("listed"), b"").unwrap();
    for (output, want) in
        [(dir.path().join("missing/x.pb.gz"), "missing"), (dir.path().to_path_buf(), "is a directory")]
    {
        let out = preloaded(dir.path(), &output, &["ls"]);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(text(&out.stdout), "listed\n", "{stderr}");
        let warning = format!("heapprof: HEAPPROF_OUTPUT={}: ", output.display());
        assert!(
            stderr.lines().any(|l| l.starts_with(&warning) && l.contains(want)),
            "no start-up warning: {stderr:?}"
        );
        assert!(stderr.lines().all(|l| l.starts_with("heapprof: ")), "{stderr}");
    }
    // A writable one: no warning, and the profile is there.
    let output = dir.path().join("ok.pb.gz");
    let out = preloaded(dir.path(), &output, &["ls"]);
    assert_eq!(text(&out.stderr), "");
    read_profile(&output);
}

/// A program that keeps stderr open hears it at start-up and again when the write
/// fails at exit, and its exit status is its own.
#[test]
fn python_with_an_unwritable_heapprof_output_runs_as_usual() {
    let Some(python) = debian_python() else { return };
    let dir = scratch("bad-env-python");
    let output = dir.path().join("missing/x.pb.gz");
    let script = "import sys; x = [bytearray(100000) for i in range(100)]; sys.exit(3)";
    let out = preloaded(dir.path(), &output, &[python.to_str().unwrap(), "-c", script]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].starts_with("heapprof: HEAPPROF_OUTPUT="), "{stderr}");
    assert!(lines[1].starts_with("heapprof: cannot write"), "{stderr}");
}
