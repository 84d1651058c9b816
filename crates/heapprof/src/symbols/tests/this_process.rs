//! The test binary's own functions, libc's, this process's modules; caching and budgets.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

/// Call addresses (return address - 1) of the current stack, innermost first, via glibc.
#[inline(never)]
fn call_addresses() -> Vec<u64> {
    let mut buf = [std::ptr::null_mut::<libc::c_void>(); 64];
    // SAFETY: `buf` has room for the 64 entries `backtrace` may write.
    let n = unsafe { libc::backtrace(buf.as_mut_ptr(), buf.len() as libc::c_int) };
    buf[..n.max(0) as usize].iter().map(|&p| p as u64 - 1).collect()
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
    let frames = symbolizer.resolve(function_address(marker_function)).to_vec();
    let outer = frames.last().expect("the test binary's own function resolves");
    assert!(outer.name.ends_with("symbols::tests::this_process::marker_function"), "{outer:?}");
    assert!(!outer.name.contains("::h"), "the hash is dropped: {outer:?}");
    assert!(outer.system_name.starts_with("_R") || outer.system_name.starts_with("_ZN"), "{outer:?}");
    assert!(ends_with_path(&outer.file, "src/symbols/tests/this_process.rs"), "{outer:?}");
    assert!((MARKER_LINE..MARKER_LINE + 3).contains(&outer.line), "{outer:?} vs {MARKER_LINE}");
    // Debug builds carry DW_AT_decl_line; line-tables-only builds may not.
    assert!(outer.start_line == 0 || outer.start_line == MARKER_LINE, "{outer:?}");
}

#[test]
fn a_call_address_resolves_to_the_line_of_the_call() {
    let (addr, line) = not_inlined_caller();
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    let frames = symbolizer.resolve(addr);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert!(frames[0].name.ends_with("symbols::tests::this_process::not_inlined_caller"), "{frames:?}");
    assert!(ends_with_path(&frames[0].file, "src/symbols/tests/this_process.rs"), "{frames:?}");
    assert_eq!(frames[0].line, line, "{frames:?}");
}

#[test]
fn an_inlined_function_gives_two_frames_callee_first() {
    let (addr, callee_line, caller_line) = inlining_caller();
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    let frames = symbolizer.resolve(addr);
    assert_eq!(frames.len(), 2, "{frames:?}");
    // rustc's line-tables-only DWARF (the workspace's release profile, or a dev profile
    // set so) names inlined functions without their path, and has no declaration lines;
    // the outermost frame gets its path from the symbol table.
    let short_names = !cfg!(debug_assertions) || frames[1].start_line == 0;
    let callee = &frames[0].name;
    assert!(
        callee.ends_with("symbols::tests::this_process::inlined_callee")
            || (short_names && &**callee == "inlined_callee"),
        "{frames:?}"
    );
    assert_eq!(frames[0].line, callee_line, "{frames:?}");
    assert!(frames[1].name.ends_with("symbols::tests::this_process::inlining_caller"), "{frames:?}");
    assert_eq!(frames[1].line, caller_line, "{frames:?}");
    assert!(
        frames.iter().all(|f| ends_with_path(&f.file, "src/symbols/tests/this_process.rs")),
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
    assert!(symbolizer.modules()[module].path.contains("libc.so"), "{:?}", symbolizer.modules()[module]);
    // A call address a few bytes into malloc, as a stack would hold.
    let frames = symbolizer.resolve(malloc + 4).to_vec();
    assert_eq!(frames.len(), 1, "{frames:?}");
    match symbolizer.debug_file(module) {
        // `malloc` and `__libc_malloc` share the address; the public name wins.
        None => {
            assert_eq!((&*frames[0].name, &*frames[0].system_name), ("malloc", "malloc"));
            assert_eq!((&*frames[0].file, frames[0].line), ("", 0));
        }
        // With libc6-dbg installed, DWARF names the function by its source name.
        Some(_) => {
            assert!(["malloc", "__libc_malloc"].contains(&&*frames[0].name), "{frames:?}");
            assert!(frames[0].file.ends_with("malloc.c") && frames[0].line > 0, "{frames:?}");
        }
    }
    assert!(symbolizer.warnings().is_empty(), "{:?}", symbolizer.warnings());

    // The symbol table alone, whatever debug files this machine has.
    let libc = symbolizer.modules()[module].clone();
    let bytes = std::fs::read(&libc.path).unwrap();
    let object = object::File::parse(&*bytes).unwrap();
    let table = super::symbol_table::SymbolTable::new(&[&object]);
    assert_eq!(table.lookup(malloc + 4 - libc.bias.unwrap()), Some("malloc"));
}

fn readelf_build_id(path: &Path) -> Option<String> {
    let output = Command::new("readelf").arg("-n").arg(path).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    text.lines().find_map(|l| l.trim().strip_prefix("Build ID: ").map(str::to_owned))
}

#[test]
fn the_build_id_is_the_one_readelf_prints() {
    let exe = std::env::current_exe().unwrap();
    let Some(expected) = readelf_build_id(&exe) else {
        eprintln!("skipped: readelf unavailable or the test binary has no build id");
        return;
    };
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    let module = symbolizer.module_of(function_address(marker_function)).unwrap();
    assert_eq!(symbolizer.modules()[module].build_id.as_deref(), Some(expected.as_str()));

    let malloc = libc_function(c"malloc");
    let libc_module = symbolizer.module_of(malloc).unwrap();
    let libc_path = PathBuf::from(&symbolizer.modules()[libc_module].path);
    assert_eq!(symbolizer.modules()[libc_module].build_id, readelf_build_id(&libc_path));
}

#[test]
fn modules_are_the_executable_mappings_of_maps() {
    let exe = std::env::current_exe().unwrap();
    let exe = std::fs::canonicalize(exe).unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    // (start, limit, offset) of the executable mappings of a path, parsed independently.
    let expected = |path: &str| -> Vec<(u64, u64, u64)> {
        maps.lines()
            .filter(|l| l.split_whitespace().nth(1).is_some_and(|p| p.contains('x')) && l.ends_with(path))
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
    assert!(modules.windows(2).all(|w| w[0].limit <= w[1].start), "sorted, disjoint");

    let ranges = |path: &str| -> Vec<(u64, u64, u64)> {
        modules.iter().filter(|m| m.path == path).map(|m| (m.start, m.limit, m.file_offset)).collect()
    };
    let exe = exe.to_str().unwrap();
    assert!(!ranges(exe).is_empty(), "{modules:#?}");
    assert_eq!(ranges(exe), expected(exe));
    let marker = function_address(marker_function);
    assert!(ranges(exe).iter().any(|&(s, e, _)| (s..e).contains(&marker)));

    let malloc = libc_function(c"malloc");
    let libc_index = symbolizer.module_of(malloc).unwrap();
    let libc = &modules[libc_index];
    assert!(libc.start <= malloc && malloc < libc.limit);
    assert_eq!(ranges(&libc.path), expected(&libc.path));
    assert!(libc.bias.is_some() && modules[symbolizer.module_of(marker).unwrap()].bias.is_some());
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
        assert_eq!(info.bias_for(module.start, module.file_offset), module.bias, "{module:?}");
    }
}

#[test]
fn a_second_resolve_is_a_cache_hit() {
    let addrs = [function_address(marker_function), libc_function(c"malloc") + 4, inlining_caller().0];
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    let first: Vec<Vec<Frame>> = addrs.iter().map(|&a| symbolizer.resolve(a).to_vec()).collect();
    let before = symbolizer.stats();
    let second: Vec<Vec<Frame>> = addrs.iter().map(|&a| symbolizer.resolve(a).to_vec()).collect();
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
    assert_eq!(symbolizer.stats().contexts_built, 2, "{:?}", symbolizer.stats());
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
    assert!(full > 100_000, "parsed DWARF of the test binary is counted: {full}");

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
    assert_eq!(symbolizer.stats().contexts_built, built, "the test binary's context was kept");
}

#[test]
fn unknown_addresses_and_kernel_images_give_no_frames() {
    let mut symbolizer = Symbolizer::new(UNLIMITED);
    assert!(symbolizer.resolve(0x10).is_empty());
    assert!(symbolizer.resolve(u64::MAX).is_empty());
    let reads = symbolizer.stats().module_reads;
    assert!(symbolizer.resolve(0x20).is_empty());
    assert!(symbolizer.stats().module_reads <= reads + 1, "maps re-reads are rate-limited");
    let vdso = symbolizer.modules().iter().find(|m| m.path == "[vdso]").cloned();
    if let Some(vdso) = vdso {
        assert!(symbolizer.resolve(vdso.start + 16).is_empty());
    }
    assert!(symbolizer.warnings().is_empty(), "{:?}", symbolizer.warnings());
}
