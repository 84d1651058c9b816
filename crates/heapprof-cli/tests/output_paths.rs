//! Where `-o` writes: a regular file is replaced atomically, but a device node or
//! a FIFO is written to and a symlink written through (never replaced by a
//! regular file); `-` is stdout for every command; a path that cannot be is
//! one line and status 2.

mod common;

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::process::Command;

fn corpus_profile() -> String {
    common::go_heap().join("default/full.pb.gz").to_string_lossy().into_owned()
}

/// Runs `heapprof` in `dir` and asserts it succeeded.
fn ok_in(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = common::heapprof_in(dir, args);
    assert!(out.status.success(), "heapprof {args:?}: {}", common::stderr(&out));
    out.stdout
}

/// Runs `mknod`/`mkfifo`-like setup commands; false (with the reason printed) when
/// they cannot run here, which fails under CI (CI=true), where the tests run as root.
fn setup(test: &str, program: &str, args: &[&str]) -> bool {
    match Command::new(program).args(args).output() {
        Ok(o) if o.status.success() => true,
        result => {
            let why = match result {
                Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                Err(e) => e.to_string(),
            };
            assert!(!std::env::var("CI").is_ok_and(|v| v == "true"), "{test}: {program} {args:?}: {why}");
            eprintln!("{test}: skipped: {program} {args:?} failed ({why}); it needs root");
            false
        }
    }
}

/// Regression: `merge -o mynull` (a character device) turned the device into a
/// regular file; as root, `-o /dev/null` would have replaced the real one.
#[test]
fn a_device_node_is_written_to_not_replaced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let null = dir.path().join("mynull");
    let null_arg = null.to_str().expect("utf-8 temp path");
    if !setup("a_device_node_is_written_to_not_replaced", "mknod", &["-m", "666", null_arg, "c", "1", "3"]) {
        return;
    }
    let profile = corpus_profile();
    for args in [
        &["merge", "-o", null_arg, &profile][..],
        &["flamegraph", "-o", null_arg, &profile],
        &["flamegraph", "--folded", "-o", null_arg, &profile],
        &["convert", "-o", null_arg, &profile],
    ] {
        ok_in(dir.path(), args);
        let kind = std::fs::symlink_metadata(&null).expect("still there").file_type();
        assert!(kind.is_char_device(), "heapprof {args:?} replaced the device with {kind:?}");
    }
    // Nothing else was left in the directory (no temporary file).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_fifo_is_written_to_not_replaced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("out.fifo");
    let fifo_arg = fifo.to_str().expect("utf-8 temp path").to_string();
    if !setup("a_fifo_is_written_to_not_replaced", "mkfifo", &[&fifo_arg]) {
        return;
    }
    // A second name for the FIFO, to reach it even if the first is replaced.
    let keep = dir.path().join("keep.fifo");
    std::fs::hard_link(&fifo, &keep).expect("link the FIFO");
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        std::fs::File::open(reader_path).and_then(|mut f| f.read_to_end(&mut got)).map(|_| got)
    });
    let out = common::heapprof_in(dir.path(), &["merge", "-o", &fifo_arg, &corpus_profile()]);
    // Unblock the reader if heapprof never opened the FIFO (O_NONBLOCK, Linux's
    // 0o4000: this open fails rather than waits when no reader is left).
    let _ = std::fs::OpenOptions::new().write(true).custom_flags(0o4000).open(&keep);
    let got = reader.join().expect("reader thread").expect("read the FIFO");
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(got.starts_with(&[0x1f, 0x8b]), "the FIFO's reader got the gzipped profile");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO was replaced");
}

/// Regression: a symlink given as output was replaced by a regular file.
#[test]
fn a_symlink_is_written_through() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::fs::write(dir.path().join("real/heap.svg"), "old").unwrap();
    // Relative links, resolved from the link's directory; the second dangles.
    std::os::unix::fs::symlink("real/heap.svg", dir.path().join("link.svg")).unwrap();
    std::os::unix::fs::symlink("real/new.pb.gz", dir.path().join("dangling.pb.gz")).unwrap();
    let profile = corpus_profile();
    ok_in(dir.path(), &["flamegraph", "-o", "link.svg", &profile]);
    ok_in(dir.path(), &["merge", "-o", "dangling.pb.gz", &profile]);
    for link in ["link.svg", "dangling.pb.gz"] {
        let kind = std::fs::symlink_metadata(dir.path().join(link)).unwrap().file_type();
        assert!(kind.is_symlink(), "{link} was replaced by {kind:?}");
    }
    let svg = std::fs::read_to_string(dir.path().join("real/heap.svg")).unwrap();
    assert!(svg.starts_with("<?xml"), "the link's target holds the SVG");
    let merged = std::fs::read(dir.path().join("real/new.pb.gz")).expect("the dangling link's target made");
    assert!(merged.starts_with(&[0x1f, 0x8b]));
    // The temporary files went into the target's directory and were renamed away.
    assert_eq!(std::fs::read_dir(dir.path().join("real")).unwrap().count(), 2);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}

/// Regression: `flamegraph -o -` wrote a file named `-` while `graph -o -` wrote
/// to stdout.
#[test]
fn dash_is_stdout_for_every_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let profile = corpus_profile();
    let svg = ok_in(dir.path(), &["flamegraph", "-o", "-", &profile]);
    assert!(svg.starts_with(b"<?xml") && svg.ends_with(b"</svg>"));
    let folded = ok_in(dir.path(), &["flamegraph", "--folded", "-o", "-", &profile]);
    assert!(String::from_utf8_lossy(&folded).contains("main.bigBuffers 67911012\n"));
    let dot = ok_in(dir.path(), &["graph", "-o", "-", &profile]);
    assert!(dot.starts_with(b"digraph"));
    for args in [&["merge", "-o", "-", &profile][..], &["convert", "--to", "pprof", "-o", "-", &profile]] {
        let gz = ok_in(dir.path(), args);
        heapprof_profile::decode(&gz).unwrap_or_else(|e| panic!("heapprof {args:?}: {e}"));
    }
    let text = ok_in(dir.path(), &["convert", "-o", "-", &profile]);
    assert!(text.starts_with(b"heap profile: "), "{}", String::from_utf8_lossy(&text[..40]));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "a file was written");
}

#[test]
fn an_impossible_output_path_is_one_line_and_status_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("a-file"), "").unwrap();
    std::fs::create_dir(dir.path().join("a-dir")).unwrap();
    let profile = corpus_profile();
    for (out, problem) in [
        ("missing/x.pb.gz", "no such directory: missing"),
        ("a-file/x.pb.gz", "not a directory: a-file"),
        ("a-dir", "Is a directory"),
        (".", "not a file path"),
        // procfs has no room for a temporary file; it exists (as a regular file).
        ("/proc/version", "cannot create a file in /proc"),
    ] {
        let result = common::heapprof_in(dir.path(), &["merge", "-o", out, &profile]);
        let err = common::stderr(&result);
        assert_eq!(result.status.code(), Some(2), "-o {out}: {err}");
        assert_eq!(err.lines().count(), 1, "-o {out}: {err}");
        assert!(err.starts_with(&format!("heapprof: {out}: ")) && err.contains(problem), "-o {out}: {err}");
    }
}
