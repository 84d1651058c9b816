//! What the `heapprof run` tests share: building the binaries they drive,
//! compiling test programs, running them with bounded time, reading profiles.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use heapprof_profile::Profile;

// One implementation of the skip-or-fail-under-CI rule, shared with heapprof's tests.
#[path = "../../../heapprof/tests/common/mod.rs"]
mod heapprof_common;
#[allow(unused_imports)] // not every test binary needs it
pub use heapprof_common::require_tool;

/// Debian's `/usr/bin/python3`, a program not written here to run under the library (a
/// python3 found on PATH may be a shim script that starts several processes); None,
/// said, when it is missing, which fails under CI.
pub fn debian_python() -> Option<&'static Path> {
    let python = Path::new("/usr/bin/python3");
    if python.is_file() {
        return Some(python);
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "/usr/bin/python3 is required under CI");
    eprintln!("skipped: /usr/bin/python3 is not installed");
    None
}

/// The target directory this test binary was built in (target/release/deps/<test> → target).
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors().nth(3).expect("target directory above target/<profile>/deps").to_path_buf()
}

/// `target/<profile>/heapprof` and `libheapprof_preload.so` beside it, built now.
/// A dev-dependency cannot produce a cdylib or another package's binary, and
/// tests must not depend on the build order, so the test asks cargo for both with
/// `cargo build --workspace --all-features --all-targets`: selecting the tests
/// unifies the dev-dependencies' features as the README test command's build does,
/// so after that command this only links the cdylib (`cargo test` never builds it).
/// Anything else rebuilt heapprof, the CLI and this library (81 s in a release
/// build): another feature set, a `cargo build` without the tests, or the variables
/// cargo sets for this test, which build scripts watch (ring's); so those are removed.
pub fn binaries() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target = target_dir();
        let profile_dir = std::env::current_exe().unwrap().ancestors().nth(2).unwrap().to_path_buf();
        // target/debug is the dev profile's; any other directory is named after its profile.
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev",
            Some(name) => name,
            None => panic!("no profile directory above {}", profile_dir.display()),
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--workspace", "--all-features", "--all-targets", "--target-dir"]).arg(&target);
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(set_by_cargo_for_tests) {
                cmd.env_remove(name);
            }
        }
        cmd.args(["--profile", profile]);
        let out = cmd.output().expect("run cargo build");
        assert!(out.status.success(), "cargo build failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let bin = profile_dir.join("heapprof");
        let lib = profile_dir.join("libheapprof_preload.so");
        assert!(bin.is_file() && lib.is_file(), "{} and {} after cargo build", bin.display(), lib.display());
        (bin, lib)
    })
}

/// Variables cargo sets for the crate it runs (not configuration, which is kept).
fn set_by_cargo_for_tests(name: &str) -> bool {
    [
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_BIN_",
        "CARGO_CRATE_",
        "CARGO_PRIMARY_",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
        || name == "OUT_DIR"
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("heapprof-run-{name}-")).tempdir().expect("temp dir")
}

/// Compiles `source` (written to `dir/name`) with `compiler` and `args`; the
/// output is `dir/<out>`.
pub fn compile(compiler: &Path, dir: &Path, name: &str, source: &str, out: &str, args: &[&str]) -> PathBuf {
    let src = dir.join(name);
    std::fs::write(&src, source).unwrap();
    let exe = dir.join(out);
    let o =
        Command::new(compiler).args(args).arg(&src).arg("-o").arg(&exe).output().expect("run the compiler");
    assert!(
        o.status.success(),
        "{} {name} failed:\n{}",
        compiler.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    exe
}

/// Runs `cmd` with its output captured; kills it and fails after `limit` (every
/// program here ends in well under a second: the limit only turns a hang into a
/// failure).
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {limit:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output { status, stdout: out_reader.join().unwrap(), stderr: err_reader.join().unwrap() }
}

/// `heapprof run <args> -- <program...>` in `dir`, bounded in time.
pub fn heapprof_run(dir: &Path, args: &[&str], program: &[&str]) -> Output {
    let (bin, lib) = binaries();
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .env("HEAPPROF_PRELOAD_LIB", lib)
        .env_remove("LD_PRELOAD")
        .arg("run")
        .args(args)
        .arg("--");
    cmd.args(program);
    run_bounded(&mut cmd, Duration::from_secs(120))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn read_profile(path: &Path) -> Profile {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    heapprof_profile::decode(&data).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The function names of one sample's stack, leaf first.
pub fn stack_names(p: &Profile, sample: &heapprof_profile::Sample) -> Vec<String> {
    let mut names = Vec::new();
    for id in &sample.location_id {
        let Some(loc) = p.location.iter().find(|l| l.id == *id) else { continue };
        for line in &loc.line {
            if let Some(f) = p.function.iter().find(|f| f.id == line.function_id) {
                names.push(p.string_table[f.name as usize].clone());
            }
        }
    }
    names
}

/// (alloc_objects, alloc_space) summed over the samples with a frame whose name
/// satisfies `wanted`.
pub fn alloc_totals(p: &Profile, wanted: impl Fn(&str) -> bool) -> (i64, i64) {
    p.sample
        .iter()
        .filter(|s| stack_names(p, s).iter().any(|n| wanted(n)))
        .fold((0, 0), |(o, b), s| (o + s.value[0], b + s.value[1]))
}

/// (alloc_objects, alloc_space) of the whole profile.
pub fn all_totals(p: &Profile) -> (i64, i64) {
    p.sample.iter().fold((0, 0), |(o, b), s| (o + s.value[0], b + s.value[1]))
}

/// The `COUNTS allocs=N bytes=M` line a test program prints about itself.
pub fn self_counts(stdout: &str) -> (i64, i64) {
    let line =
        stdout.lines().find(|l| l.starts_with("COUNTS ")).unwrap_or_else(|| panic!("no COUNTS in {stdout}"));
    let field = |name: &str| -> i64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    (field("allocs="), field("bytes="))
}

/// How many samples the library reported dropped at exit (0 when it said nothing).
pub fn dropped_samples(stderr: &str) -> i64 {
    stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("heapprof: ")?.strip_suffix(
                " samples were dropped (contention or no memory); the profile undercounts by as many",
            )
        })
        .map_or(0, |n| n.parse().expect("dropped count"))
}

/// The profile's (objects, bytes) equal the program's own, exactly; or, when the
/// library reported dropped samples (a sample is dropped rather than make the
/// program wait on a contended lock), fall short by at most that many objects.
pub fn assert_totals(profile: (i64, i64), program: (i64, i64), stderr: &str, what: &str) {
    let dropped = dropped_samples(stderr);
    if dropped == 0 {
        assert_eq!(profile, program, "{what}: profile vs the program's own counts");
    } else {
        let short = program.0 - profile.0;
        assert!(
            (0..=dropped).contains(&short) && profile.1 <= program.1,
            "{what}: profile {profile:?} vs program {program:?} with {dropped} samples dropped"
        );
    }
}
