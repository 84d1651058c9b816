//! `heapprof run` on a C++ program (g++) and a Rust program (rustc), compiled
//! here: at rate 1 the profile holds exactly what they count for themselves, and
//! their frames are named (demangled C++ and Rust).

mod support;

use support::*;

#[test]
fn cxx_program_totals_and_demangled_names() {
    let dir = scratch("cxx");
    let Some(gxx) = require_tool("g++") else { return };
    let exe = compile(
        &gxx,
        dir.path(),
        "cxx_mix.cpp",
        include_str!("programs/cxx_mix.cpp"),
        "cxx_mix",
        &["-g", "-O1", "-pthread"],
    );
    let out = heapprof_run(dir.path(), &["--rate", "1"], &[exe.to_str().unwrap()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let profile = read_profile(&dir.path().join("heap.pb.gz"));
    // Every block the program's operator new made went through app_counted_new.
    assert_totals(
        alloc_totals(&profile, |n| n == "app_counted_new"),
        self_counts(&stdout),
        &stderr,
        "app_counted_new",
    );
    let names: std::collections::BTreeSet<String> =
        profile.sample.iter().flat_map(|s| stack_names(&profile, s)).collect();
    for want in ["app::Widget::build[abi:cxx11](int)", "app::churn(int)", "app::OnExit::~OnExit()"] {
        assert!(names.contains(want), "no demangled {want} among {names:?}");
    }
}

#[test]
fn rust_program_section_totals_and_names() {
    let dir = scratch("rust");
    let Some(rustc) = require_tool("rustc") else { return };
    let exe = compile(
        &rustc,
        dir.path(),
        "rust_mix.rs",
        include_str!("programs/rust_mix.rs"),
        "rust_mix",
        &["--edition", "2024", "-O", "-g"],
    );
    let out = heapprof_run(dir.path(), &["--rate", "1"], &[exe.to_str().unwrap()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let profile = read_profile(&dir.path().join("heap.pb.gz"));
    assert_totals(
        alloc_totals(&profile, |n| n == "rust_mix::counted"),
        self_counts(&stdout),
        &stderr,
        "counted sections",
    );
    // Everything the global allocator saw is in the profile (plus what std
    // allocates with System directly).
    let field = |f: &str| -> i64 {
        stdout.split_whitespace().find_map(|w| w.strip_prefix(f)).and_then(|v| v.parse().ok()).unwrap()
    };
    let rust_leaf = profile
        .sample
        .iter()
        .filter(|s| stack_names(&profile, s).first().is_some_and(|n| n.contains("::")))
        .fold((0, 0), |(o, b), s| (o + s.value[0], b + s.value[1]));
    assert!(
        rust_leaf.0 >= field("all_allocs=") && rust_leaf.1 >= field("all_bytes="),
        "{rust_leaf:?} vs {stdout}"
    );
    let names: std::collections::BTreeSet<String> =
        profile.sample.iter().flat_map(|s| stack_names(&profile, s)).collect();
    for want in
        ["rust_mix::build_index", "rust_mix::main", "<rust_mix::Farewell as core::ops::drop::Drop>::drop"]
    {
        assert!(names.contains(want), "no {want} among the frames");
    }
}
