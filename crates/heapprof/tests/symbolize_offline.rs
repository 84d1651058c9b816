//! Symbolization turned off in the process, then done offline from the same files:
//! the stacks read as the process would have named them, with the profiler's own
//! frames cut from the leaf end. And `HEAPPROF_SYMBOLIZE` as the `workflow` example
//! (built by `cargo test --workspace`) reads it.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use heapprof::pprof::Profile;
use heapprof::symbolize::{MappingOutcome, OfflineSymbolizer, SymbolizeOptions, symbolize_profile};

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

#[inline(never)]
fn allocate_for_the_offline_test(kept: &mut Vec<Vec<u8>>) {
    for i in 0..100 {
        kept.push(Vec::with_capacity(1000 + i));
    }
}

/// Per stack through `function` (names of every line, leaf first): the values.
fn stacks_through(p: &Profile, function: &str) -> BTreeMap<Vec<String>, Vec<i64>> {
    let functions: BTreeMap<u64, &str> = p.function.iter().map(|f| (f.id, p.str(f.name))).collect();
    let locations: BTreeMap<u64, Vec<String>> = p
        .location
        .iter()
        .map(|l| (l.id, l.line.iter().map(|line| functions[&line.function_id].to_string()).collect()))
        .collect();
    let mut out: BTreeMap<Vec<String>, Vec<i64>> = BTreeMap::new();
    for s in &p.sample {
        let names: Vec<String> = s.location_id.iter().flat_map(|id| locations[id].clone()).collect();
        if names.iter().any(|n| n.ends_with(function)) {
            let values = out.entry(names).or_insert_with(|| vec![0; s.value.len()]);
            for (v, x) in values.iter_mut().zip(&s.value) {
                *v += x;
            }
        }
    }
    out
}

/// This process's heap after `allocate_for_the_offline_test` at rate 1, unnamed and
/// named, taken once: the rate and symbolization are process-wide, and tests run at once.
fn profiles() -> &'static (Profile, Profile) {
    static PROFILES: OnceLock<(Profile, Profile)> = OnceLock::new();
    PROFILES.get_or_init(|| {
        let mut kept = Vec::with_capacity(100);
        heapprof::set_sample_rate(1);
        allocate_for_the_offline_test(&mut kept);
        heapprof::set_sample_rate(0);
        heapprof::set_symbolization(false);
        let raw = heapprof::heap_profile();
        heapprof::set_symbolization(true);
        let named = heapprof::heap_profile();
        std::mem::forget(kept);
        (raw, named)
    })
}

#[test]
fn a_profile_left_unsymbolized_is_named_offline_as_in_the_process() {
    let (raw, named) = profiles();
    let program = &raw.mapping[0];
    assert!(!program.has_functions, "the program's mapping claims functions");
    assert!(raw.location.iter().filter(|l| l.mapping_id == program.id).all(|l| l.line.is_empty()));
    let want = stacks_through(named, "allocate_for_the_offline_test");
    assert_eq!(want.len(), 1, "{want:#?}");
    assert_eq!(want.values().next().unwrap()[0], 100, "allocations at rate 1");

    // The test binary is found at the mapping's own path.
    let (offline, reports) = symbolize_profile(raw, &SymbolizeOptions::default()).unwrap();
    assert!(
        matches!(reports[0].outcome, MappingOutcome::Symbolized { resolved, .. } if resolved > 0),
        "{reports:?}"
    );
    assert!(offline.mapping[0].has_functions);
    assert_eq!(stacks_through(&offline, "allocate_for_the_offline_test"), want);
}

/// `raw` with the program's mapping at `path` and with `build_id`, and no file named
/// for the others (libc's), so that only the program's is read.
fn moved(raw: &Profile, path: &std::path::Path, build_id: &str) -> Profile {
    let mut p = raw.clone();
    for m in &mut p.mapping[1..] {
        m.filename = 0;
    }
    p.string_table.push(path.to_str().unwrap().to_string());
    p.mapping[0].filename = p.string_table.len() as i64 - 1;
    p.string_table.push(build_id.to_string());
    p.mapping[0].build_id = p.string_table.len() as i64 - 1;
    p
}

/// How many lines of the program's locations have a line number.
fn line_numbers(p: &Profile) -> usize {
    let program = p.location.iter().filter(|l| l.mapping_id == p.mapping[0].id);
    program.flat_map(|l| &l.line).filter(|line| line.line > 0).count()
}

fn outcome(p: Profile, symbolizer: &mut OfflineSymbolizer) -> (Profile, MappingOutcome) {
    let (out, reports) = symbolizer.symbolize(p).unwrap();
    (out, reports[0].outcome.clone())
}

/// One symbolizer serves a long run (`heapprof watch`): a file that appears later, or
/// that is rebuilt at the same path, is read then, and addresses a file names nothing
/// at are known to stay nameless until it changes.
#[test]
fn a_long_lived_symbolizer_reads_files_that_appear_or_change_later() {
    let (raw, _) = profiles();
    let exe = std::env::current_exe().unwrap();
    let build_id = raw.str(raw.mapping[0].build_id).to_string();
    assert!(!build_id.is_empty(), "the test binary has no build id");
    // As named from the binary where it is.
    let (reference, _) =
        symbolize_profile(&moved(raw, &exe, &build_id), &SymbolizeOptions::default()).unwrap();
    let want = stacks_through(&reference, "allocate_for_the_offline_test");
    assert_eq!(want.len(), 1, "{want:#?}");
    let dir = common::scratch_dir("offline-later");
    let mut symbolizer = OfflineSymbolizer::new(SymbolizeOptions::default());

    // With its build id: not there, then copied in.
    let app = moved(raw, &dir.join("app"), &build_id);
    let (out, how) = outcome(app.clone(), &mut symbolizer);
    assert!(matches!(how, MappingOutcome::NotFound { .. }), "{how:?}");
    assert_eq!(out, app, "nothing to read: the profile comes back as it was");
    assert!(!symbolizer.may_name_more(&app), "not found, and nothing changed");
    std::fs::copy(&exe, dir.join("app")).unwrap();
    assert!(symbolizer.may_name_more(&app), "copied in");
    let (out, how) = outcome(app, &mut symbolizer);
    assert!(matches!(how, MappingOutcome::Symbolized { .. }), "{how:?}");
    assert_eq!(stacks_through(&out, "allocate_for_the_offline_test"), want);

    // Without a build id, at first a stripped build, which names none of the program's
    // addresses.
    let Some(strip) = common::require_tool("strip") else { return };
    let stripped = dir.join("stripped");
    let status = Command::new(strip).arg("-o").arg(&stripped).arg(&exe).status().unwrap();
    assert!(status.success());
    std::fs::copy(&stripped, dir.join("rebuilt")).unwrap();
    let rebuilt = moved(raw, &dir.join("rebuilt"), "");
    assert!(symbolizer.may_name_more(&rebuilt));
    let (_, how) = outcome(rebuilt.clone(), &mut symbolizer);
    assert!(
        matches!(&how, MappingOutcome::NotFound { tried } if tried.iter().any(|t| t.contains("names none"))),
        "{how:?}"
    );
    assert!(!symbolizer.may_name_more(&rebuilt), "known to stay nameless");
    // Rebuilt at the same path (as a linker writes: a new file renamed over it),
    // unstripped: read anew.
    std::fs::copy(&exe, dir.join("new")).unwrap();
    std::fs::rename(dir.join("new"), dir.join("rebuilt")).unwrap();
    assert!(symbolizer.may_name_more(&rebuilt), "rebuilt");
    let (out, how) = outcome(rebuilt, &mut symbolizer);
    assert!(matches!(how, MappingOutcome::Symbolized { .. }), "{how:?}");
    assert_eq!(stacks_through(&out, "allocate_for_the_offline_test"), want);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A program without DWARF of its own whose debug file, named by `.gnu_debuglink`, is put
/// beside it during the run: read then, not only when the program itself changes.
#[test]
fn a_debug_file_named_by_debuglink_that_appears_later_is_read() {
    let (raw, _) = profiles();
    let Some(objcopy) = common::require_tool("objcopy") else { return };
    let exe = std::env::current_exe().unwrap();
    let (reference, _) = symbolize_profile(&moved(raw, &exe, ""), &SymbolizeOptions::default()).unwrap();
    let want = stacks_through(&reference, "allocate_for_the_offline_test");
    let dir = common::scratch_dir("offline-debuglink");
    let aside = dir.join("aside");
    std::fs::create_dir(&aside).unwrap();
    let objcopy = |args: &[&std::ffi::OsStr]| {
        let status = Command::new(&objcopy).args(args).status().unwrap();
        assert!(status.success(), "objcopy {args:?}");
    };
    let debug = aside.join("app.debug");
    objcopy(&["--only-keep-debug".as_ref(), exe.as_os_str(), debug.as_os_str()]);
    let link = format!("--add-gnu-debuglink={}", debug.display());
    objcopy(&["--strip-debug".as_ref(), link.as_ref(), exe.as_os_str(), dir.join("app").as_os_str()]);
    // No build id in the profile: the program is found by its path alone.
    let app = moved(raw, &dir.join("app"), "");
    let mut symbolizer = OfflineSymbolizer::new(SymbolizeOptions::default());

    let (out, how) = outcome(app.clone(), &mut symbolizer);
    assert!(matches!(how, MappingOutcome::Symbolized { .. }), "from the symbol table: {how:?}");
    assert_eq!(line_numbers(&out), 0, "no debug file yet, yet line numbers");
    std::fs::copy(&debug, dir.join("app.debug")).unwrap();
    assert!(symbolizer.may_name_more(&app));
    let (out, how) = outcome(app, &mut symbolizer);
    assert!(matches!(how, MappingOutcome::Symbolized { .. }), "{how:?}");
    assert!(line_numbers(&out) > 0, "the debug file that appeared was not read");
    assert_eq!(stacks_through(&out, "allocate_for_the_offline_test"), want);
    let _ = std::fs::remove_dir_all(&dir);
}

fn workflow_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe.parent().and_then(|d| d.parent()).expect("target dir").join("examples/workflow");
    assert!(bin.is_file(), "{} is not built: run `cargo test --workspace`", bin.display());
    bin
}

/// Runs the workflow example with `HEAPPROF_SYMBOLIZE=value`: (its stderr, whether
/// its profile names the program's functions).
fn workflow_with(value: &str) -> (String, bool) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(workflow_binary())
        .arg(dir.path())
        .env("HEAPPROF_RATE", "4096")
        .env("HEAPPROF_SYMBOLIZE", value)
        .output()
        .expect("run workflow");
    assert!(out.status.success(), "{value}: {}", String::from_utf8_lossy(&out.stderr));
    let p = heapprof::pprof::decode(&std::fs::read(dir.path().join("2-allocated.pb.gz")).unwrap()).unwrap();
    let named = p.function.iter().any(|f| p.str(f.name).starts_with("workflow::"));
    (String::from_utf8_lossy(&out.stderr).into_owned(), named)
}

#[test]
fn heapprof_symbolize_turns_names_off_and_bad_values_warn_in_one_line() {
    assert_eq!(workflow_with("0"), (String::new(), false));
    assert_eq!(workflow_with("on"), (String::new(), true));
    let (stderr, named) = workflow_with("maybe");
    assert!(named, "a bad value keeps the default");
    assert_eq!(stderr, "heapprof: HEAPPROF_SYMBOLIZE is not 0 or 1; symbolizing\n");
}
