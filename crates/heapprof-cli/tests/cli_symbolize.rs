//! `heapprof symbolize`: the `workflow` example (which `cargo test --workspace`
//! builds) run stripped at rate 1 writes a profile of addresses; symbolized from the
//! unstripped build, or from a debug file found by build id, it reads as the same
//! program's profile symbolized in the process.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{go_or_skip, go_pprof, heapprof_in, stderr, stdout};
use heapprof_profile::{Location, Mapping, Profile, Sample, ValueType, encode_gzip};

fn workflow_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe.parent().and_then(|d| d.parent()).expect("target dir").join("examples/workflow");
    assert!(bin.is_file(), "{} is not built: run `cargo test --workspace`", bin.display());
    bin
}

/// Runs binutils' `tool` (`strip`, `objcopy`), which Rust's linker driver brings along.
fn binutils(tool: &str, args: &[&Path]) {
    let out =
        Command::new(tool).args(args).output().unwrap_or_else(|e| panic!("{tool}: {e} (install binutils)"));
    assert!(out.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Runs `program` at rate 1 writing its profiles to `out`, with its symbolization
/// on or off; returns the profile written after allocating the test data.
fn run_workflow(program: &Path, out: &Path, names: bool) -> PathBuf {
    let status = Command::new(program)
        .arg(out)
        .env("HEAPPROF_RATE", "1")
        .env("HEAPPROF_SYMBOLIZE", if names { "1" } else { "0" })
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run workflow");
    assert!(status.success(), "{}: {status}", program.display());
    out.join("2-allocated.pb.gz")
}

/// `heapprof top` of what the file holds (no names given by `top` itself), without
/// the header, whose file name and time differ between runs.
fn top_table(dir: &Path, profile: &Path) -> String {
    top_with(dir, profile, &["--symbolize", "none"], None).0
}

fn table(out: &std::process::Output) -> String {
    stdout(out).lines().skip_while(|l| !l.starts_with("Showing")).collect::<Vec<_>>().join("\n")
}

/// `heapprof top` with `extra` arguments first and `HEAPPROF_BINARY_PATH` set (or
/// not): (the table, stderr).
fn top_with(dir: &Path, profile: &Path, extra: &[&str], search_path: Option<&Path>) -> (String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_heapprof"));
    cmd.args(extra).args(["top", "--nodecount", "1000", profile.to_str().unwrap()]);
    cmd.current_dir(dir).env_remove("PPROF_BINARY_PATH").env_remove("HEAPPROF_BINARY_PATH");
    if let Some(p) = search_path {
        cmd.env("HEAPPROF_BINARY_PATH", p);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (table(&out), stderr(&out))
}

struct Runs {
    dir: tempfile::TempDir,
    unstripped: PathBuf,
    /// The profile of the unstripped run, symbolized in the process.
    reference: PathBuf,
    /// The profile of the stripped run: addresses only for the program.
    stripped_profile: PathBuf,
    /// The profile of the unstripped run with its symbolization off.
    unnamed_profile: PathBuf,
}

/// The same program unstripped and stripped, at paths of one length (argv[0] and the
/// output directory are allocated, so their sizes must agree for the figures to).
fn runs() -> Runs {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let unstripped = a.join("workflow");
    std::fs::copy(workflow_binary(), &unstripped).unwrap();
    let stripped = b.join("workflow");
    binutils("strip", &[Path::new("-o"), &stripped, &unstripped]);
    let reference = run_workflow(&unstripped, &a.join("out"), true);
    let stripped_profile = run_workflow(&stripped, &b.join("out"), true);
    let unnamed_profile = run_workflow(&unstripped, &a.join("raw"), false);
    Runs { dir, unstripped, reference, stripped_profile, unnamed_profile }
}

fn build_id(profile: &Path) -> String {
    let p = heapprof_profile::decode(&std::fs::read(profile).unwrap()).unwrap();
    let id = p.str(p.mapping[0].build_id).to_string();
    assert!(id.len() > 2, "the profile's first mapping has no build id");
    id
}

/// One pair of runs for the three checks: each run at rate 1 takes seconds in a
/// debug build.
#[test]
fn stripped_runs_are_symbolized_from_their_build_or_debug_file_never_another_build() {
    let r = runs();
    symbolized_from_the_build_reads_as_the_unstripped_run(&r);
    a_debug_file_is_found_by_build_id_on_the_search_path(&r);
    another_build_is_refused_in_one_line(&r);
    report_commands_name_addresses_from_files_found_here(&r);
}

fn symbolized_from_the_build_reads_as_the_unstripped_run(r: &Runs) {
    let dir = r.dir.path();
    let reference = top_table(dir, &r.reference);
    assert!(reference.contains("workflow::"), "{reference}");
    let before = top_table(dir, &r.stripped_profile);
    assert!(!before.contains("workflow::"), "the stripped run already has names:\n{before}");

    let out_path = dir.join("sym.pb.gz");
    let unstripped = r.unstripped.to_str().unwrap();
    let args = ["symbolize", r.stripped_profile.to_str().unwrap(), "--binary", unstripped, "-o"];
    let out = heapprof_in(dir, &[&args[..], &[out_path.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("resolved from {unstripped}")), "{}", stderr(&out));
    assert_eq!(top_table(dir, &out_path), reference, "symbolized offline vs in the process");

    // pprof's own reader agrees on the names, with files and lines.
    if let Some(go) = go_or_skip("stripped_runs_are_symbolized") {
        let top = go_pprof(&go, dir, &["-top", "-lines", out_path.to_str().unwrap()]);
        assert!(top.status.success(), "{}", stderr(&top));
        assert!(stdout(&top).contains("workflow::make_test_data"), "{}", stdout(&top));
        assert!(stdout(&top).contains("examples/workflow.rs:"), "{}", stdout(&top));
    }
}

fn a_debug_file_is_found_by_build_id_on_the_search_path(r: &Runs) {
    let dir = r.dir.path();
    let id = build_id(&r.stripped_profile);
    // The `.build-id` layout, as debuginfod caches and distributions install them.
    let debug_dir = dir.join("debug").join(&id[..2]);
    std::fs::create_dir_all(&debug_dir).unwrap();
    let debug_file = debug_dir.join(format!("{}.debug", &id[2..]));
    binutils("objcopy", &[Path::new("--only-keep-debug"), &r.unstripped, &debug_file]);

    let out_path = dir.join("from-debug-file.pb.gz");
    let out = Command::new(env!("CARGO_BIN_EXE_heapprof"))
        .args(["symbolize", r.stripped_profile.to_str().unwrap(), "-o", out_path.to_str().unwrap()])
        .env("HEAPPROF_BINARY_PATH", dir.join("debug"))
        .env_remove("PPROF_BINARY_PATH")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("resolved from {}", debug_file.display())), "{}", stderr(&out));
    assert_eq!(top_table(dir, &out_path), top_table(dir, &r.reference));
}

/// `heapprof top` names addresses itself, as `go tool pprof` does, unless told not to.
fn report_commands_name_addresses_from_files_found_here(r: &Runs) {
    let dir = r.dir.path();
    let reference = top_table(dir, &r.reference);

    // Written with HEAPPROF_SYMBOLIZE=0: the program is still at its path.
    let (named, err) = top_with(dir, &r.unnamed_profile, &[], None);
    assert_eq!((named.as_str(), err.as_str()), (reference.as_str(), ""), "names found at the mapping's path");
    let (unnamed, _) = top_with(dir, &r.unnamed_profile, &["--symbolize", "none"], None);
    assert!(!unnamed.contains("workflow::") && unnamed.contains("[workflow]"), "{unnamed}");

    // Stripped, with nothing here to name it: addresses, and one line that says why.
    let (table, err) = top_with(dir, &r.stripped_profile, &[], None);
    assert!(!table.contains("workflow::"), "{table}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("without names") && err.contains(&build_id(&r.stripped_profile)), "{err}");

    // The debug file that the test above put under the search path, found by build id.
    let (table, err) = top_with(dir, &r.stripped_profile, &[], Some(&dir.join("debug")));
    assert_eq!((table.as_str(), err.as_str()), (reference.as_str(), ""));

    // A series of the stripped run's three profiles: one line for its one mapping.
    let series = r.stripped_profile.parent().unwrap();
    let out = heapprof_in(dir, &["trend", series.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out).matches("without names").count(), 1, "{}", stderr(&out));
}

/// A profile of addresses in three mappings: `/nonexistent/a` (1 address), `[vdso]` (1)
/// and `/nonexistent/b` (4), the vdso between the two so that its id is not the last.
fn addresses_in_three_mappings() -> Profile {
    let strings = ["", "inuse_space", "bytes", "/nonexistent/a", "[vdso]", "/nonexistent/b"];
    let mapping = |id: u64, file: i64| Mapping {
        id,
        memory_start: id << 20,
        memory_limit: (id + 1) << 20,
        filename: file,
        ..Mapping::default()
    };
    let mut p = Profile {
        sample_type: vec![ValueType { r#type: 1, unit: 2 }],
        mapping: vec![mapping(1, 3), mapping(2, 4), mapping(3, 5)],
        string_table: strings.iter().map(|s| s.to_string()).collect(),
        ..Profile::default()
    };
    for (mapping_id, n) in [(1u64, 1u64), (2, 1), (3, 4)] {
        for k in 0..n {
            let id = p.location.len() as u64 + 1;
            p.location.push(Location {
                id,
                mapping_id,
                address: (mapping_id << 20) + 16 * (k + 1),
                ..Location::default()
            });
            p.sample.push(Sample { location_id: vec![id], value: vec![100], ..Sample::default() });
        }
    }
    p
}

#[test]
fn each_mapping_left_nameless_is_said_once_with_its_own_count() {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("series");
    std::fs::create_dir_all(&series).unwrap();
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        let mut p = addresses_in_three_mappings();
        p.time_nanos = 1_800_000_000_000_000_000 + i as i64 * 60_000_000_000;
        std::fs::write(series.join(format!("{name}.pb.gz")), encode_gzip(&p)).unwrap();
    }
    let a = series.join("a.pb.gz");

    let (table, err) = top_with(dir.path(), &a, &[], None);
    assert!(table.contains("[a]") && table.contains("[b]"), "{table}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].contains("1 address(es) in /nonexistent/a (no build id)"), "{err}");
    assert!(lines[1].contains("4 address(es) in /nonexistent/b (no build id)"), "{err}");
    assert!(lines.iter().all(|l| l.starts_with("heapprof: ") && l.contains("not found")), "{err}");

    let (_, err) = top_with(dir.path(), &a, &["--symbolize", "none"], None);
    assert_eq!(err, "", "--symbolize none reads the profile as it is");

    // Three profiles of the series: still one line per mapping.
    let out = heapprof_in(dir.path(), &["trend", "series"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 2, "{}", stderr(&out));
}

fn another_build_is_refused_in_one_line(r: &Runs) {
    let dir = r.dir.path();
    let out_path = dir.join("refused.pb.gz");
    // Any other program has another build id; its names would be wrong.
    let other = std::env::current_exe().unwrap();
    let args = ["symbolize", r.stripped_profile.to_str().unwrap(), "--binary", other.to_str().unwrap()];
    let out = heapprof_in(dir, &[&args[..], &["-o", out_path.to_str().unwrap()]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("heapprof: ") && err.contains("nothing symbolized"), "{err}");
    assert!(err.contains(&build_id(&r.stripped_profile)), "{err}");
    assert!(!out_path.exists(), "nothing is written when nothing could be resolved");
}

#[test]
fn bad_input_is_one_line_and_status_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("garbage.pb.gz"), b"not a profile").unwrap();
    let go_profile = common::go_heap().join("default/full.pb.gz");
    let go_profile = go_profile.to_str().unwrap();
    for args in [
        &["symbolize", go_profile, "--binary", "/no/such/binary", "-o", "out.pb.gz"][..],
        &["symbolize", "garbage.pb.gz", "-o", "out.pb.gz"],
        &["symbolize", "missing.pb.gz", "-o", "out.pb.gz"],
        &["symbolize", go_profile],
    ] {
        let out = heapprof_in(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("heapprof: "), "{}", stderr(&out));
    }
}

#[test]
fn a_symbolized_profile_is_left_as_it_was() {
    // Go's runtime symbolizes its own profiles: nothing to do, and nothing lost.
    let dir = tempfile::tempdir().unwrap();
    let go_profile = common::go_heap().join("default/full.pb.gz");
    let out = heapprof_in(dir.path(), &["symbolize", go_profile.to_str().unwrap(), "-o", "out.pb.gz"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("already symbolized"), "{}", stderr(&out));
    let want = top_table(dir.path(), &go_profile);
    assert_eq!(top_table(dir.path(), &dir.path().join("out.pb.gz")), want);
}
