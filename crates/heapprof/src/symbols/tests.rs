//! Symbolizing this very test binary, libc and files made on the spot. Run in debug and in
//! release (`debug = "line-tables-only"`): names, files and lines must hold in both.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::debug_info::DebugInfo;
use super::*;

const UNLIMITED: usize = usize::MAX;

pub(super) fn open_file(path: &Path, build_id: Option<&str>) -> Result<DebugInfo, String> {
    DebugInfo::open(path, path, build_id)
}

/// Call addresses (return address - 1) of the current stack, innermost first, via glibc.
#[inline(never)]
fn call_addresses() -> Vec<u64> {
    let mut buf = [std::ptr::null_mut::<libc::c_void>(); 64];
    // SAFETY: `buf` has room for the 64 entries `backtrace` may write.
    let n = unsafe { libc::backtrace(buf.as_mut_ptr(), buf.len() as libc::c_int) };
    buf[..n.max(0) as usize]
        .iter()
        .map(|&p| p as u64 - 1)
        .collect()
}

const MARKER_LINE: u32 = line!() + 2;
#[inline(never)]
fn marker_function(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(31)
}

/// Returns (call address of the `call_addresses` call, its line).
#[inline(never)]
fn not_inlined_caller() -> (u64, u32) {
    let (addrs, line) = (std::hint::black_box(call_addresses()), line!());
    (addrs[1], line)
}

#[inline(always)]
fn inlined_callee() -> (Vec<u64>, u32) {
    (std::hint::black_box(call_addresses()), line!())
}

/// Returns (call address inside `inlined_callee`'s inlined body, callee's line, caller's line).
#[inline(never)]
fn inlining_caller() -> (u64, u32, u32) {
    let ((addrs, callee_line), caller_line) = (inlined_callee(), line!());
    (addrs[1], callee_line, caller_line)
}

fn function_address(f: fn(u64) -> u64) -> u64 {
    f as usize as u64
}

fn ends_with_path(file: &str, suffix: &str) -> bool {
    file.replace('\\', "/").ends_with(suffix)
}

#[test]
fn a_function_resolves_to_its_demangled_name_file_and_line() {
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    let frames = symbolizer
        .resolve(function_address(marker_function))
        .to_vec();
    let outer = frames
        .last()
        .expect("the test binary's own function resolves");
    assert!(
        outer.name.ends_with("symbols::tests::marker_function"),
        "{outer:?}"
    );
    assert!(
        !outer.name.contains("::h"),
        "the hash is dropped: {outer:?}"
    );
    assert!(
        outer.system_name.starts_with("_R") || outer.system_name.starts_with("_ZN"),
        "{outer:?}"
    );
    assert!(
        ends_with_path(&outer.file, "src/symbols/tests.rs"),
        "{outer:?}"
    );
    assert!(
        (MARKER_LINE..MARKER_LINE + 3).contains(&outer.line),
        "{outer:?} vs {MARKER_LINE}"
    );
    // Debug builds carry DW_AT_decl_line; line-tables-only builds may not.
    assert!(
        outer.start_line == 0 || outer.start_line == MARKER_LINE,
        "{outer:?}"
    );
}

#[test]
fn a_call_address_resolves_to_the_line_of_the_call() {
    let (addr, line) = not_inlined_caller();
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    let frames = symbolizer.resolve(addr);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert!(
        frames[0]
            .name
            .ends_with("symbols::tests::not_inlined_caller"),
        "{frames:?}"
    );
    assert!(
        ends_with_path(&frames[0].file, "src/symbols/tests.rs"),
        "{frames:?}"
    );
    assert_eq!(frames[0].line, line, "{frames:?}");
}

#[test]
fn an_inlined_function_gives_two_frames_callee_first() {
    let (addr, callee_line, caller_line) = inlining_caller();
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    let frames = symbolizer.resolve(addr);
    assert_eq!(frames.len(), 2, "{frames:?}");
    // rustc's line-tables-only DWARF (the workspace's release profile) names inlined
    // functions without their path; the outermost frame gets its path from the symbol table.
    let short_names = !cfg!(debug_assertions);
    let callee = &frames[0].name;
    assert!(
        callee.ends_with("symbols::tests::inlined_callee")
            || (short_names && &**callee == "inlined_callee"),
        "{frames:?}"
    );
    assert_eq!(frames[0].line, callee_line, "{frames:?}");
    assert!(
        frames[1].name.ends_with("symbols::tests::inlining_caller"),
        "{frames:?}"
    );
    assert_eq!(frames[1].line, caller_line, "{frames:?}");
    assert!(
        frames
            .iter()
            .all(|f| ends_with_path(&f.file, "src/symbols/tests.rs")),
        "{frames:?}"
    );
}

fn libc_function(name: &std::ffi::CStr) -> u64 {
    // SAFETY: `dlsym` with RTLD_DEFAULT and a NUL-terminated name only reads.
    let addr = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    assert!(!addr.is_null());
    addr as u64
}

#[test]
fn a_libc_function_resolves_from_the_symbol_table() {
    let malloc = libc_function(c"malloc");
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    let module = symbolizer.module_of(malloc).expect("malloc is in a module");
    assert!(
        symbolizer.modules()[module].path.contains("libc.so"),
        "{:?}",
        symbolizer.modules()[module]
    );
    // A call address a few bytes into malloc, as a stack would hold.
    let frames = symbolizer.resolve(malloc + 4).to_vec();
    assert_eq!(frames.len(), 1, "{frames:?}");
    match symbolizer.debug_file(module) {
        // `malloc` and `__libc_malloc` share the address; the public name wins.
        None => {
            assert_eq!(
                (&*frames[0].name, &*frames[0].system_name),
                ("malloc", "malloc")
            );
            assert_eq!((&*frames[0].file, frames[0].line), ("", 0));
        }
        // With libc6-dbg installed, DWARF names the function by its source name.
        Some(_) => {
            assert!(
                ["malloc", "__libc_malloc"].contains(&&*frames[0].name),
                "{frames:?}"
            );
            assert!(
                frames[0].file.ends_with("malloc.c") && frames[0].line > 0,
                "{frames:?}"
            );
        }
    }
    assert!(
        symbolizer.warnings().is_empty(),
        "{:?}",
        symbolizer.warnings()
    );

    // The symbol table alone, whatever debug files this machine has.
    let libc = symbolizer.modules()[module].clone();
    let bytes = std::fs::read(&libc.path).unwrap();
    let object = object::File::parse(&*bytes).unwrap();
    let table = super::symbol_table::SymbolTable::new(&[&object]);
    assert_eq!(
        table.lookup(malloc + 4 - libc.bias.unwrap()),
        Some("malloc")
    );
}

fn readelf_build_id(path: &Path) -> Option<String> {
    let output = Command::new("readelf").arg("-n").arg(path).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: ").map(str::to_owned))
}

#[test]
fn the_build_id_is_the_one_readelf_prints() {
    let exe = std::env::current_exe().unwrap();
    let Some(expected) = readelf_build_id(&exe) else {
        eprintln!("skipped: readelf unavailable or the test binary has no build id");
        return;
    };
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    let module = symbolizer
        .module_of(function_address(marker_function))
        .unwrap();
    assert_eq!(
        symbolizer.modules()[module].build_id.as_deref(),
        Some(expected.as_str())
    );

    let malloc = libc_function(c"malloc");
    let libc_module = symbolizer.module_of(malloc).unwrap();
    let libc_path = PathBuf::from(&symbolizer.modules()[libc_module].path);
    assert_eq!(
        symbolizer.modules()[libc_module].build_id,
        readelf_build_id(&libc_path)
    );
}

#[test]
fn modules_are_the_executable_mappings_of_maps() {
    let exe = std::env::current_exe().unwrap();
    let exe = std::fs::canonicalize(exe).unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    // (start, limit, offset) of the executable mappings of a path, parsed independently.
    let expected = |path: &str| -> Vec<(u64, u64, u64)> {
        maps.lines()
            .filter(|l| {
                l.split_whitespace().nth(1).is_some_and(|p| p.contains('x')) && l.ends_with(path)
            })
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let (s, e) = f[0].split_once('-').unwrap();
                let hex = |x: &str| u64::from_str_radix(x, 16).unwrap();
                (hex(s), hex(e), hex(f[2]))
            })
            .collect()
    };
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    let modules = symbolizer.modules().to_vec();
    assert!(
        modules.windows(2).all(|w| w[0].limit <= w[1].start),
        "sorted, disjoint"
    );

    let ranges = |path: &str| -> Vec<(u64, u64, u64)> {
        modules
            .iter()
            .filter(|m| m.path == path)
            .map(|m| (m.start, m.limit, m.file_offset))
            .collect()
    };
    let exe = exe.to_str().unwrap();
    assert!(!ranges(exe).is_empty(), "{modules:#?}");
    assert_eq!(ranges(exe), expected(exe));
    let marker = function_address(marker_function);
    assert!(
        ranges(exe)
            .iter()
            .any(|&(s, e, _)| (s..e).contains(&marker))
    );

    let malloc = libc_function(c"malloc");
    let libc_index = symbolizer.module_of(malloc).unwrap();
    let libc = &modules[libc_index];
    assert!(libc.start <= malloc && malloc < libc.limit);
    assert_eq!(ranges(&libc.path), expected(&libc.path));
    assert!(
        libc.bias.is_some()
            && modules[symbolizer.module_of(marker).unwrap()]
                .bias
                .is_some()
    );
}

#[test]
fn the_bias_computed_from_the_file_matches_the_loader() {
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    let marker = function_address(marker_function);
    let malloc = libc_function(c"malloc");
    for addr in [marker, malloc] {
        let index = symbolizer.module_of(addr).unwrap();
        let module = symbolizer.modules()[index].clone();
        let info = open_file(module.path.as_ref(), module.build_id.as_deref()).unwrap();
        assert_eq!(
            info.bias_for(module.start, module.file_offset),
            module.bias,
            "{module:?}"
        );
    }
}

#[test]
fn a_second_resolve_is_a_cache_hit() {
    let addrs = [
        function_address(marker_function),
        libc_function(c"malloc") + 4,
        inlining_caller().0,
    ];
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    let first: Vec<Vec<Frame>> = addrs
        .iter()
        .map(|&a| symbolizer.resolve(a).to_vec())
        .collect();
    let before = symbolizer.stats();
    let second: Vec<Vec<Frame>> = addrs
        .iter()
        .map(|&a| symbolizer.resolve(a).to_vec())
        .collect();
    let after = symbolizer.stats();
    assert_eq!(first, second);
    assert_eq!(after.cache_hits - before.cache_hits, addrs.len() as u64);
    assert_eq!(after.contexts_built, before.contexts_built);
}

#[test]
fn prefetch_builds_each_context_once_under_a_budget_for_one() {
    let marker = function_address(marker_function);
    let malloc = libc_function(c"malloc");
    let (inlined, _, _) = inlining_caller();
    let (call, _) = not_inlined_caller();
    // Stacks alternate between the test binary and libc.
    let stacks = [marker, malloc + 4, inlined, malloc + 8, call, malloc + 12];
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    symbolizer.resolve(marker);
    let one_context = symbolizer.memory_bytes();
    let mut symbolizer = Symbolizer::new(one_context + one_context / 2);
    symbolizer.prefetch(stacks);
    assert_eq!(
        symbolizer.stats().contexts_built,
        2,
        "{:?}",
        symbolizer.stats()
    );
    let hits = symbolizer.stats().cache_hits;
    for addr in stacks {
        assert!(!symbolizer.resolve(addr).is_empty());
    }
    assert_eq!(symbolizer.stats().cache_hits - hits, stacks.len() as u64);
    assert_eq!(symbolizer.stats().contexts_built, 2);
}

#[test]
fn a_tiny_budget_evicts_and_resolution_still_works() {
    let marker = function_address(marker_function);
    let malloc = libc_function(c"malloc");
    let (inlined, _, _) = inlining_caller();
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    let expected = symbolizer.resolve(marker).to_vec();
    symbolizer.resolve(malloc + 4);
    let full = symbolizer.memory_bytes();
    assert!(
        full > 100_000,
        "parsed DWARF of the test binary is counted: {full}"
    );

    symbolizer.set_memory_budget(1);
    symbolizer.trim_to_budget();
    let trimmed = symbolizer.memory_bytes();
    assert!(trimmed < full / 10, "{trimmed} vs {full}");
    assert!(symbolizer.stats().contexts_evicted >= 2);

    // Rebuilt on demand: an address not cached, then one whose result was dropped.
    let built = symbolizer.stats().contexts_built;
    assert_eq!(symbolizer.resolve(inlined).len(), 2);
    assert_eq!(symbolizer.resolve(marker), &expected[..]);
    assert!(symbolizer.stats().contexts_built > built);
    symbolizer.trim_to_budget();
    assert!(symbolizer.memory_bytes() < full / 10);
}

#[test]
fn contexts_are_evicted_least_recently_used_first() {
    let marker = function_address(marker_function);
    let malloc = libc_function(c"malloc");
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    symbolizer.resolve(malloc + 4);
    let libc_only = symbolizer.memory_bytes();
    symbolizer.resolve(marker);
    // A budget that holds the test binary's context but not both.
    symbolizer.set_memory_budget(symbolizer.memory_bytes() - libc_only / 2);
    symbolizer.trim_to_budget();
    assert_eq!(symbolizer.stats().contexts_evicted, 1);
    let built = symbolizer.stats().contexts_built;
    symbolizer.resolve(marker + 1);
    assert_eq!(
        symbolizer.stats().contexts_built,
        built,
        "the test binary's context was kept"
    );
}

#[test]
fn unknown_addresses_and_kernel_images_give_no_frames() {
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    assert!(symbolizer.resolve(0x10).is_empty());
    assert!(symbolizer.resolve(u64::MAX).is_empty());
    let reads = symbolizer.stats().module_reads;
    assert!(symbolizer.resolve(0x20).is_empty());
    assert!(
        symbolizer.stats().module_reads <= reads + 1,
        "maps re-reads are rate-limited"
    );
    let vdso = symbolizer
        .modules()
        .iter()
        .find(|m| m.path == "[vdso]")
        .cloned();
    if let Some(vdso) = vdso {
        assert!(symbolizer.resolve(vdso.start + 16).is_empty());
    }
    assert!(
        symbolizer.warnings().is_empty(),
        "{:?}",
        symbolizer.warnings()
    );
}

#[test]
fn corrupt_truncated_and_missing_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "garbage",
            (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
        ("empty", Vec::new()),
        ("elf-header-only", exe[..64].to_vec()),
        ("truncated", exe[..exe.len().min(200_000)].to_vec()),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(mut info) = open_file(&path, None) {
            // Parsing may succeed on a prefix; lookups must still not panic.
            for svma in [0, 0x1000, 0x10_0000, u64::MAX] {
                let _ = info.frames(svma);
            }
        }
    }
    assert!(open_file(&dir.path().join("missing"), None).is_err());
    assert!(open_file(dir.path(), None).is_err());
    // A build id that does not match the file is refused.
    let mismatch = open_file(&std::env::current_exe().unwrap(), Some("00")).unwrap_err();
    assert!(mismatch.contains("build id"), "{mismatch}");
}

/// Maps `path` executable into this process, as a loader would.
fn map_executable(path: &Path) -> (u64, usize) {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).unwrap();
    let len = file.metadata().unwrap().len() as usize;
    // SAFETY: a fresh private mapping of an open file; the kernel picks the address.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_EXEC,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        )
    };
    assert_ne!(ptr, libc::MAP_FAILED, "{}", std::io::Error::last_os_error());
    (ptr as u64, len)
}

#[test]
fn a_corrupt_or_deleted_module_warns_once_and_gives_no_frames() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.so");
    std::fs::write(&corrupt, vec![0x5a; 8192]).unwrap();
    let (start, len) = map_executable(&corrupt);
    let deleted = dir.path().join("deleted.so");
    std::fs::write(&deleted, vec![0xa5; 8192]).unwrap();
    let (deleted_start, deleted_len) = map_executable(&deleted);
    std::fs::remove_file(&deleted).unwrap();

    let mut symbolizer = Symbolizer::new(UNLIMITED);
    symbolizer.refresh_modules();
    let index = symbolizer
        .module_of(start + 8)
        .expect("the mapping is a module");
    assert_eq!(symbolizer.modules()[index].path, corrupt.to_str().unwrap());
    let deleted_index = symbolizer
        .module_of(deleted_start)
        .expect("the deleted mapping is a module");
    assert!(symbolizer.modules()[deleted_index].deleted);
    for offset in [8, 16, 4000] {
        assert!(symbolizer.resolve(start + offset).is_empty());
        assert!(symbolizer.resolve(deleted_start + offset).is_empty());
    }
    assert_eq!(
        symbolizer.warnings().len(),
        2,
        "{:?}",
        symbolizer.warnings()
    );
    assert!(
        symbolizer
            .warnings()
            .iter()
            .any(|w| w.contains("corrupt.so"))
    );
    assert!(
        symbolizer
            .warnings()
            .iter()
            .any(|w| w.contains("deleted.so"))
    );
    // SAFETY: unmapping exactly what `map_executable` mapped; nothing refers to it any more.
    unsafe {
        libc::munmap(start as *mut libc::c_void, len);
        libc::munmap(deleted_start as *mut libc::c_void, deleted_len);
    }
    // Unmapped: after a refresh the range is no module and its cached results are gone.
    symbolizer.refresh_modules();
    assert!(symbolizer.module_of(start + 8).is_none());
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(command: &mut Command) {
    let status = command.status().unwrap();
    assert!(status.success(), "{command:?}");
}

/// Compiles a shared library `name` in `dir` from `DEMO_C`, with DWARF; `None` without gcc.
fn compile_demo_library(dir: &Path, name: &str, extra: &[&str]) -> Option<PathBuf> {
    if !have("gcc") {
        eprintln!("skipped: gcc unavailable");
        return None;
    }
    let source = dir.join("demo.c");
    std::fs::write(&source, DEMO_C).unwrap();
    let library = dir.join(name);
    run(Command::new("gcc")
        .args(["-g", "-O0", "-shared", "-fPIC"])
        .args(extra)
        .arg("-o")
        .arg(&library)
        .arg(&source));
    Some(library)
}

const DEMO_C: &str =
    "int helper(int x) {\n  return x * 3;\n}\nint entry(void) {\n  return helper(2);\n}\n";

#[test]
fn a_deleted_library_resolves_through_map_files_and_is_forgotten_when_unloaded() {
    let dir = tempfile::tempdir().unwrap();
    let Some(library) = compile_demo_library(dir.path(), "libgone.so", &[]) else {
        return;
    };
    let path = std::ffi::CString::new(library.to_str().unwrap()).unwrap();
    // SAFETY: loading a library built above, whose constructors do nothing.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    assert!(!handle.is_null());
    // SAFETY: `handle` is live; the name is NUL-terminated.
    let helper = unsafe { libc::dlsym(handle, c"helper".as_ptr()) } as u64;
    assert_ne!(helper, 0);
    std::fs::remove_file(&library).unwrap();

    let mut symbolizer = Symbolizer::new(UNLIMITED);
    let index = symbolizer.module_of(helper).unwrap();
    assert!(
        symbolizer.modules()[index].deleted,
        "{:?}",
        symbolizer.modules()[index]
    );
    let frames = symbolizer.resolve(helper + 4).to_vec();
    if frames.is_empty() {
        // /proc/self/map_files needs privileges on some kernels: one warning, no frames.
        symbolizer.resolve(helper + 8);
        assert_eq!(
            symbolizer.warnings().len(),
            1,
            "{:?}",
            symbolizer.warnings()
        );
        assert!(symbolizer.warnings()[0].contains("libgone.so"));
    } else {
        assert_eq!(&*frames[0].name, "helper");
        assert!(frames[0].file.ends_with("demo.c"), "{frames:?}");
    }

    // SAFETY: nothing refers to the library's code any more.
    unsafe { libc::dlclose(handle) };
    symbolizer.refresh_modules();
    if symbolizer.module_of(helper).is_none() {
        assert!(
            symbolizer.resolve(helper + 4).is_empty(),
            "results for an unloaded module are dropped"
        );
    }
}

#[test]
fn dwarf_in_the_file_through_gnu_debuglink_or_only_dynsym() {
    if !have("objcopy") {
        eprintln!("skipped: objcopy unavailable");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(full) = compile_demo_library(dir.path(), "libfull.so", &["-Wl,--build-id=none"])
    else {
        return;
    };
    let debug = dir.path().join("libdemo.debug");
    let linked = dir.path().join("liblinked.so");
    let stripped = dir.path().join("libstripped.so");
    run(Command::new("objcopy")
        .arg("--only-keep-debug")
        .arg(&full)
        .arg(&debug));
    run(Command::new("objcopy")
        .arg("--strip-all")
        .arg(&full)
        .arg(&stripped));
    run(Command::new("objcopy")
        .arg("--strip-all")
        .arg("--add-gnu-debuglink=libdemo.debug")
        .arg(&full)
        .arg(&linked)
        .current_dir(dir.path()));

    let full_bytes = std::fs::read(&full).unwrap();
    let full_object = object::File::parse(&*full_bytes).unwrap();
    use object::{Object, ObjectSymbol};
    let helper = full_object
        .symbols()
        .find(|s| s.name() == Ok("helper"))
        .unwrap()
        .address();

    for path in [&full, &linked] {
        let mut info = open_file(path, None).unwrap();
        assert!(info.has_dwarf());
        let frames = info.frames(helper + 4);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_eq!(frames[0].name, Some("helper"));
        assert!(
            frames[0].file.is_some_and(|f| f.ends_with("demo.c")),
            "{frames:?}"
        );
        assert!((1..=2).contains(&frames[0].line), "{frames:?}");
        assert_eq!(frames[0].start_line, 1);
    }
    assert_eq!(
        open_file(&linked, None).unwrap().debug_path.as_deref(),
        Some(debug.as_path())
    );

    let mut info = open_file(&stripped, None).unwrap();
    assert!(!info.has_dwarf());
    let frames = info.frames(helper + 4);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(
        (frames[0].name, frames[0].file, frames[0].line),
        (Some("helper"), None, 0)
    );
}

#[test]
fn the_symbolizer_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Symbolizer>();
}
