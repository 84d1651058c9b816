//! Files made on the spot: corrupt, truncated, deleted while mapped, stripped with a
//! `.gnu_debuglink`, with only `.dynsym`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

#[test]
fn corrupt_truncated_and_missing_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect()),
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
    let index = symbolizer.module_of(start + 8).expect("the mapping is a module");
    assert_eq!(symbolizer.modules()[index].path, corrupt.to_str().unwrap());
    let deleted_index = symbolizer.module_of(deleted_start).expect("the deleted mapping is a module");
    assert!(symbolizer.modules()[deleted_index].deleted);
    for offset in [8, 16, 4000] {
        assert!(symbolizer.resolve(start + offset).is_empty());
        assert!(symbolizer.resolve(deleted_start + offset).is_empty());
    }
    assert_eq!(symbolizer.warnings().len(), 2, "{:?}", symbolizer.warnings());
    assert!(symbolizer.warnings().iter().any(|w| w.contains("corrupt.so")));
    assert!(symbolizer.warnings().iter().any(|w| w.contains("deleted.so")));
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
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
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

const DEMO_C: &str = "int helper(int x) {\n  return x * 3;\n}\nint entry(void) {\n  return helper(2);\n}\n";

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
    assert!(symbolizer.modules()[index].deleted, "{:?}", symbolizer.modules()[index]);
    let frames = symbolizer.resolve(helper + 4).to_vec();
    if frames.is_empty() {
        // /proc/self/map_files needs privileges on some kernels: one warning, no frames.
        symbolizer.resolve(helper + 8);
        assert_eq!(symbolizer.warnings().len(), 1, "{:?}", symbolizer.warnings());
        assert!(symbolizer.warnings()[0].contains("libgone.so"));
    } else {
        assert_eq!(&*frames[0].name, "helper");
        assert!(frames[0].file.ends_with("demo.c"), "{frames:?}");
    }

    // SAFETY: nothing refers to the library's code any more.
    unsafe { libc::dlclose(handle) };
    symbolizer.refresh_modules();
    if symbolizer.module_of(helper).is_none() {
        assert!(symbolizer.resolve(helper + 4).is_empty(), "results for an unloaded module are dropped");
    }
}

#[test]
fn dwarf_in_the_file_through_gnu_debuglink_or_only_dynsym() {
    if !have("objcopy") {
        eprintln!("skipped: objcopy unavailable");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(full) = compile_demo_library(dir.path(), "libfull.so", &["-Wl,--build-id=none"]) else {
        return;
    };
    let debug = dir.path().join("libdemo.debug");
    let linked = dir.path().join("liblinked.so");
    let stripped = dir.path().join("libstripped.so");
    run(Command::new("objcopy").arg("--only-keep-debug").arg(&full).arg(&debug));
    run(Command::new("objcopy").arg("--strip-all").arg(&full).arg(&stripped));
    run(Command::new("objcopy")
        .arg("--strip-all")
        .arg("--add-gnu-debuglink=libdemo.debug")
        .arg(&full)
        .arg(&linked)
        .current_dir(dir.path()));

    let full_bytes = std::fs::read(&full).unwrap();
    let full_object = object::File::parse(&*full_bytes).unwrap();
    use object::{Object, ObjectSymbol};
    let helper = full_object.symbols().find(|s| s.name() == Ok("helper")).unwrap().address();

    for path in [&full, &linked] {
        let mut info = open_file(path, None).unwrap();
        assert!(info.has_dwarf());
        let frames = info.frames(helper + 4);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_eq!(frames[0].name, Some("helper"));
        assert!(frames[0].file.is_some_and(|f| f.ends_with("demo.c")), "{frames:?}");
        assert!((1..=2).contains(&frames[0].line), "{frames:?}");
        assert_eq!(frames[0].start_line, 1);
    }
    assert_eq!(open_file(&linked, None).unwrap().debug_path.as_deref(), Some(debug.as_path()));

    let mut info = open_file(&stripped, None).unwrap();
    assert!(!info.has_dwarf());
    let frames = info.frames(helper + 4);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!((frames[0].name, frames[0].file, frames[0].line), (Some("helper"), None, 0));
}

/// A release build with `debug = "line-tables-only"` names the standard library's inlined
/// functions without their paths; their files give the module back.
#[test]
fn line_tables_only_library_frames_get_their_module_paths() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("grow.rs");
    std::fs::write(
        &source,
        "#[unsafe(no_mangle)]\npub extern \"C\" fn grow(n: usize) -> usize {\n    \
         let mut v: Vec<u8> = Vec::with_capacity(n);\n    v.push(1);\n    \
         let s = format!(\"{n}\");\n    v.len() + s.len() + v.capacity()\n}\n",
    )
    .unwrap();
    let library = dir.path().join("libgrow.so");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    run(Command::new(rustc)
        .args(["--edition", "2024", "-O", "-C", "debuginfo=line-tables-only", "--crate-type", "cdylib", "-o"])
        .arg(&library)
        .arg(&source));

    let bytes = std::fs::read(&library).unwrap();
    let object = object::File::parse(&*bytes).unwrap();
    use object::{Object, ObjectSymbol};
    let grow = object.symbols().find(|s| s.name() == Ok("grow")).unwrap();
    let mut info = open_file(&library, None).unwrap();
    let mut intern = |s: &str| Arc::<str>::from(s);
    let mut library_frames = Vec::new();
    for svma in grow.address()..grow.address() + grow.size() {
        for found in info.frames(svma) {
            let frame = frame(&found, &mut intern);
            if frame.file.contains("library/alloc/src/") || frame.file.contains("library/core/src/") {
                library_frames.push(frame);
            }
        }
    }
    assert!(!library_frames.is_empty(), "no inlined library frames in grow");
    for frame in &library_frames {
        let crate_path = if frame.file.contains("library/alloc/") { "alloc::" } else { "core::" };
        assert!(frame.name.starts_with(crate_path), "{frame:?}");
    }
    assert!(
        library_frames.iter().any(|f| f.name.starts_with("alloc::vec::with_capacity")),
        "{:?}",
        library_frames.iter().map(|f| &f.name).collect::<HashSet<_>>()
    );
}

/// Under `debug = "line-tables-only"` the program's own inlined functions are bare too
/// (`line_of`, `{closure#0}`); the crate's source directory, named by its compile units,
/// gives their modules.
#[test]
fn line_tables_only_program_frames_get_their_crate_and_module() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src/parse")).unwrap();
    std::fs::write(
        dir.path().join("src/lib.rs"),
        "mod parse;\n#[unsafe(no_mangle)]\npub extern \"C\" fn lines(n: usize) -> usize {\n    \
         parse::all(n).iter().map(|l| l.len()).sum()\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("src/parse/mod.rs"),
        "#[inline(always)]\nfn line_of(i: usize) -> Vec<u8> {\n    vec![b'x'; i * 3 + 1]\n}\n\
         pub fn all(n: usize) -> Vec<Vec<u8>> {\n    (0..n).map(|i| line_of(i)).collect()\n}\n",
    )
    .unwrap();
    let library = dir.path().join("liblines.so");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    // From the crate's directory with a relative root, as cargo runs rustc.
    run(Command::new(rustc)
        .current_dir(dir.path())
        .args(["--edition", "2024", "-O", "-C", "debuginfo=line-tables-only", "--crate-type", "cdylib"])
        .args(["--crate-name", "lines", "-o"])
        .arg(&library)
        .arg("src/lib.rs"));

    let mut info = open_file(&library, None).unwrap();
    let mut intern = |s: &str| Arc::<str>::from(s);
    let text = object_text_range(&library);
    let mut own: HashSet<String> = HashSet::new();
    for svma in text.0..text.1 {
        for found in info.frames(svma) {
            let frame = frame(&found, &mut intern);
            if frame.file.starts_with(dir.path().to_str().unwrap()) {
                own.insert(frame.name.to_string());
            }
        }
    }
    assert!(own.iter().any(|n| n.starts_with("lines::parse::line_of")), "{own:?}");
    assert!(own.iter().any(|n| n.starts_with("lines::parse::all")), "{own:?}");
    // `lines` itself is `#[no_mangle]`: its C name stays.
    assert!(own.contains("lines") && !own.contains("lines::lines"), "{own:?}");
    assert!(own.contains("lines::parse::{closure#0}"), "{own:?}");
    // `all` is not inlined: the symbol table's mangled name, a full path, wins over
    // DWARF's bare one and gets no second module.
    assert!(own.contains("lines::parse::all"), "{own:?}");
    assert!(!own.iter().any(|n| n.starts_with("lines::parse::lines::")), "{own:?}");
}

/// The `.text` section's address range.
fn object_text_range(path: &Path) -> (u64, u64) {
    use object::{Object, ObjectSection};
    let bytes = std::fs::read(path).unwrap();
    let object = object::File::parse(&*bytes).unwrap();
    let text = object.section_by_name(".text").unwrap();
    (text.address(), text.address() + text.size())
}
