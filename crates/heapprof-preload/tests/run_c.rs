//! `heapprof run` on a C program compiled here with gcc: threads, frees from
//! other threads, TLS destructors that allocate, every C allocation function,
//! large alignments, realloc to zero, a library dlopen'ed after start, fork, exit
//! and _exit. At rate 1 the profile must hold exactly what the program counted.

mod support;

use std::path::{Path, PathBuf};

use support::*;

const PROGRAM: &str = include_str!("programs/alloc_mix.c");
const PLUGIN: &str = include_str!("programs/plugin.c");

/// The program (with debug info) and the plugin (without: names from .symtab).
fn build(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let gcc = require_tool("gcc")?;
    let exe = compile(&gcc, dir, "alloc_mix.c", PROGRAM, "alloc_mix", &["-g", "-O1", "-pthread", "-ldl"]);
    let plugin = compile(&gcc, dir, "plugin.c", PLUGIN, "plugin.so", &["-O1", "-shared", "-fPIC"]);
    Some((exe, plugin))
}

fn is_counted(name: &str) -> bool {
    name.starts_with("app_") || name.starts_with("plugin_")
}

#[test]
fn rate_1_profile_holds_exactly_what_the_c_program_allocated() {
    let dir = scratch("c-exact");
    let Some((exe, plugin)) = build(dir.path()) else { return };
    let out = heapprof_run(
        dir.path(),
        &["--rate", "1", "-o", "heap.pb.gz", "--follow-fork"],
        &[exe.to_str().unwrap(), plugin.to_str().unwrap(), "exit", "fork"],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "status {:?}\n{stdout}\n{stderr}", out.status);
    let (allocs, bytes) = self_counts(&stdout);

    let profile = read_profile(&dir.path().join("heap.pb.gz"));
    assert_eq!(profile.period, 1);
    let (objects, space) = alloc_totals(&profile, is_counted);
    // Exact, unless the library reported samples dropped under lock contention.
    assert_totals(
        (objects, space),
        (allocs, bytes),
        &stderr,
        "alloc_objects/alloc_space through app_*/plugin_*",
    );

    // In-use values: exactly the blocks the program kept (frees of sampled blocks
    // count the size asked for, not malloc_usable_size).
    let live_line = stdout.lines().find(|l| l.starts_with("COUNTS")).unwrap();
    let field = |f: &str| -> i64 {
        live_line.split_whitespace().find_map(|w| w.strip_prefix(f)).unwrap().parse().unwrap()
    };
    let inuse = profile
        .sample
        .iter()
        .filter(|s| stack_names(&profile, s).iter().any(|n| is_counted(n)))
        .fold((0, 0), |(o, b), s| (o + s.value[2], b + s.value[3]));
    assert_totals(
        inuse,
        (field("live_allocs="), field("live_bytes=")),
        &stderr,
        "inuse_objects/inuse_space of app_*/plugin_*",
    );

    // Leaf frames are the program's functions, not the allocator or the profiler.
    let names: Vec<String> =
        profile.sample.iter().filter_map(|s| stack_names(&profile, s).into_iter().next()).collect();
    for want in [
        "app_malloc",
        "app_calloc",
        "app_realloc",
        "app_memalign_posix",
        "app_aligned_alloc",
        "app_pvalloc",
        "plugin_alloc",
    ] {
        assert!(names.iter().any(|n| n == want), "no leaf {want} in {names:?}");
    }
    assert!(
        !names.iter().any(|n| n == "malloc" || n.starts_with("heapprof") || n.contains("__preload")),
        "allocator frames left at the leaf: {names:?}"
    );
    // The dlopen'ed plugin's frames carry its name (symbol table only) and caller.
    assert!(profile.sample.iter().any(|s| {
        let st = stack_names(&profile, s);
        st.first().is_some_and(|n| n == "plugin_alloc")
            && st.iter().any(|n| n == "plugin_work")
            && st.iter().any(|n| n == "main")
    }));
    // The TLS destructor's allocation at thread exit is in the profile.
    assert!(profile.sample.iter().any(|s| stack_names(&profile, s).iter().any(|n| n == "tls_destructor")));
    assert!(
        !profile.sample.iter().any(|s| stack_names(&profile, s).iter().any(|n| n == "app_child_work")),
        "the child's work is not the parent's"
    );

    // The forked child wrote its own profile, named with its pid.
    let child: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().unwrap().to_str().unwrap().starts_with("heap.")
                && p.to_str().unwrap().ends_with(".pb.gz")
                && !p.ends_with("heap.pb.gz")
        })
        .collect();
    assert_eq!(child.len(), 1, "one child profile: {child:?}\n{stderr}");
    let child_profile = read_profile(&child[0]);
    let (child_objects, child_space) = alloc_totals(&child_profile, |n| n == "app_child_work");
    assert_eq!((child_objects, child_space), (101, 100 * 1000 + 12345));
    assert!(stderr.contains("child profile"), "{stderr}");
    assert!(stderr.contains("profile written to") && stderr.contains("app_malloc"), "summary: {stderr}");
}

#[test]
fn without_follow_fork_the_child_writes_nothing() {
    let dir = scratch("c-nofork");
    let Some((exe, plugin)) = build(dir.path()) else { return };
    let out = heapprof_run(
        dir.path(),
        &["--rate", "64k"],
        &[exe.to_str().unwrap(), plugin.to_str().unwrap(), "exit", "fork"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(files.iter().filter(|n| n.to_str().unwrap().ends_with(".pb.gz")).count(), 1, "{files:?}");
}

/// A forked child that lives on writes periodic profiles of its own: the parent's
/// writer thread did not survive the fork, and the child starts one at its first
/// allocation. The child lives until its first periodic profile exists (at most 30 s:
/// a debug build takes a second or more to write one).
#[test]
fn a_long_lived_forked_child_writes_periodic_profiles_of_its_own() {
    let dir = scratch("c-fork-periodic");
    let Some((exe, plugin)) = build(dir.path()) else { return };
    let out = heapprof_run(
        dir.path(),
        &["--rate", "1", "--every", "200ms", "--dir", "periodic", "--follow-fork"],
        &[
            exe.to_str().unwrap(),
            plugin.to_str().unwrap(),
            "exit",
            "fork",
            "30000",
            "periodic/heap.%d.0001.pb.gz",
        ],
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // heap.<pid>.<n>.pb.gz: group the periodic profiles by process.
    let mut by_pid: std::collections::BTreeMap<String, Vec<PathBuf>> = Default::default();
    for path in std::fs::read_dir(dir.path().join("periodic")).unwrap().flatten().map(|e| e.path()) {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let pid = name.split('.').nth(1).unwrap_or_default().to_owned();
        by_pid.entry(pid).or_default().push(path);
    }
    let child_work = |p: &Path| alloc_totals(&read_profile(p), |n| n == "app_child_work");
    let children: Vec<_> =
        by_pid.values().filter(|files| files.iter().any(|f| child_work(f).0 > 0)).collect();
    assert_eq!(
        children.len(),
        1,
        "one process's periodic profiles hold the child's work: {by_pid:?}\n{stderr}"
    );
    let child = children[0];
    for f in child {
        assert_eq!(child_work(f), (101, 100 * 1000 + 12345), "{}", f.display());
    }
}

#[test]
fn underscore_exit_passes_the_status_and_periodic_profiles_survive() {
    let dir = scratch("c-exit");
    let Some((exe, plugin)) = build(dir.path()) else { return };
    // sh sleeps (its periodic profiles are written meanwhile), then execs the
    // program in the same process, which ends with _exit(3).
    let script = format!("sleep 1; exec '{}' '{}' _exit", exe.display(), plugin.display());
    let out = heapprof_run(dir.path(), &["--every", "200ms", "--dir", "periodic"], &["sh", "-c", &script]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(text(&out.stdout).contains("COUNTS"));
    assert!(!dir.path().join("heap.pb.gz").exists(), "no exit profile after _exit");
    assert!(stderr.contains("no profile at"), "{stderr}");
    let periodic: Vec<_> =
        std::fs::read_dir(dir.path().join("periodic")).unwrap().flatten().map(|e| e.path()).collect();
    assert!(!periodic.is_empty(), "periodic profiles: {stderr}");
    for p in &periodic {
        read_profile(p); // whole, decodable files
    }
    assert!(stderr.contains("periodic profiles"), "{stderr}");
}

#[test]
fn go_tool_pprof_reads_the_profile_and_names_the_c_functions() {
    let dir = scratch("c-pprof");
    let Some((exe, plugin)) = build(dir.path()) else { return };
    let Some(go) = require_tool("go") else { return };
    let out = heapprof_run(
        dir.path(),
        &["--rate", "4k"],
        &[exe.to_str().unwrap(), plugin.to_str().unwrap(), "exit"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let top = run_bounded(
        std::process::Command::new(go)
            .args(["tool", "pprof", "-top", "-sample_index=alloc_space"])
            .arg(dir.path().join("heap.pb.gz"))
            .env("HOME", dir.path()),
        std::time::Duration::from_secs(120),
    );
    let report = text(&top.stdout);
    assert!(top.status.success(), "{}\n{}", report, text(&top.stderr));
    // pprof names the program, not the first library a stack passed through.
    let file = format!("File: {}", exe.file_name().unwrap().to_str().unwrap());
    assert!(report.lines().next() == Some(file.as_str()), "{report}");
    // The first rows (by flat alloc_space) are the program's allocation functions.
    let rows: Vec<&str> =
        report.lines().skip_while(|l| !l.trim_start().starts_with("flat")).skip(1).take(3).collect();
    assert!(
        rows.len() == 3
            && rows.iter().all(|r| r.split_whitespace().last().is_some_and(|f| f.starts_with("app_"))),
        "{report}"
    );
}

#[test]
fn bad_input_is_one_line_and_status_2() {
    let dir = scratch("c-bad");
    for (args, want) in [
        (vec!["--rate", "lots"], "--rate"),
        (vec!["--every", "soon"], "--every"),
        (vec!["--http", "8.8.8.8:80"], "--http"),
    ] {
        let out = heapprof_run(dir.path(), &args, &["true"]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(want), "{stderr}");
    }
    let (bin, _) = binaries();
    let out = run_bounded(
        std::process::Command::new(bin)
            .args(["run", "--", "true"])
            .env("HEAPPROF_PRELOAD_LIB", dir.path().join("missing.so")),
        std::time::Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stderr).lines().count(), 1);
}
