//! Which frames are allocator plumbing, to be trimmed from the leaf end of a sampled stack.
//!
//! pprof users expect the leaf to be the code that asked for memory. Go keeps
//! `runtime.mallocgc` out of heap profiles but keeps `runtime.growslice`; the Rust
//! equivalent drops everything from the allocator up to and including the `__rust_*`
//! shims, `alloc::alloc::*` and the `Allocator`/`GlobalAlloc` impls, and keeps the
//! collections that decided to allocate: `alloc::raw_vec::*` (`finish_grow`, `grow_one`:
//! "a Vec or String grew", the analogue of `growslice`), `Vec::push`, `String::push_str`,
//! `Box::new`.

use heapprof_profile::function_names::{is_rust_library_function, qualified_self, strip_references};

/// The allocator shims rustc generates; since Rust 1.89 they are mangled as
/// `__rustc::__rust_alloc` and demangle with that prefix.
const SHIMS: &[&str] = &[
    "__rust_alloc",
    "__rust_alloc_zeroed",
    "__rust_realloc",
    "__rust_dealloc",
    "__rust_no_alloc_shim_is_unstable",
    "__rust_no_alloc_shim_is_unstable_v2",
];

/// The C allocator's entry points (the preload library intercepts these).
const C_ENTRY_POINTS: &[&str] = &[
    "malloc",
    "calloc",
    "realloc",
    "reallocarray",
    "free",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "__libc_malloc",
    "__libc_calloc",
    "__libc_realloc",
    "__libc_free",
    "__libc_memalign",
    "__posix_memalign",
];

/// Paths whose every function is allocator plumbing.
const PLUMBING_PATHS: &[&str] = &[
    "alloc::alloc::",
    "std::alloc::",
    "std::sys::alloc::",
    "std::sys::pal::unix::alloc::",
    "core::alloc::global::GlobalAlloc::",
    "heapprof::",
    "heapprof_preload::",
];

/// The allocator traits: any implementation's methods are plumbing (a `GlobalAlloc`
/// wrapping heapprof, `Global`'s and `System`'s `Allocator` impls).
const ALLOCATOR_TRAITS: &[&str] = &["core::alloc::global::GlobalAlloc", "core::alloc::Allocator"];

/// True for the frames where the allocator is entered: the `__rust_*` shims, a
/// `GlobalAlloc` implementation, the C allocation functions. Everything on the leaf
/// side of the first such frame belongs to the allocator or the profiler, even frames
/// that are not plumbing themselves (std's thread-local access inside the profiler).
pub(crate) fn is_allocator_entry(name: &str) -> bool {
    let shim = name.strip_prefix("__rustc::").unwrap_or(name);
    SHIMS.contains(&shim)
        || shim.starts_with("__rg_")
        || shim.starts_with("__rdl_")
        || C_ENTRY_POINTS.contains(&name)
        || name.starts_with("operator new")
        || name.starts_with("operator delete")
        || qualified_self(name).is_some_and(|(_, t)| path_is(t, "core::alloc::global::GlobalAlloc"))
}

/// True when a demangled frame name (as in [`super::Frame::name`]) is allocator plumbing
/// that should not appear as a sample's leaf: drop leaf frames while this holds.
pub(crate) fn is_allocator_frame(name: &str) -> bool {
    let shim = name.strip_prefix("__rustc::").unwrap_or(name);
    if SHIMS.contains(&shim) || shim.starts_with("__rg_") || shim.starts_with("__rdl_") {
        return true;
    }
    if C_ENTRY_POINTS.contains(&name)
        || name.starts_with("operator new")
        || name.starts_with("operator delete")
    {
        return true;
    }
    if let Some((self_type, trait_path)) = qualified_self(name) {
        let self_type = strip_references(self_type);
        return ALLOCATOR_TRAITS.iter().any(|t| path_is(trait_path, t))
            || PLUMBING_PATHS.iter().any(|p| self_type.starts_with(p));
    }
    PLUMBING_PATHS.iter().any(|p| name.starts_with(p))
}

/// Rust's allocator source files: everything defined in them is plumbing.
const PLUMBING_FILES: &[&str] = &[
    "library/alloc/src/alloc.rs",
    "library/std/src/alloc.rs",
    "library/core/src/alloc/global.rs",
    "library/std/src/sys/pal/unix/alloc.rs",
];
const PLUMBING_DIRECTORIES: &[&str] = &["library/std/src/sys/alloc/"];

/// [`is_allocator_frame`], and also knowing the frame's source file: rustc's
/// line-tables-only DWARF (the usual release setting) names inlined functions without
/// their path (`alloc_impl`, `exchange_malloc`), and those defined in Rust's allocator
/// sources are plumbing too.
pub(crate) fn is_allocator_frame_at(frame: &super::Frame) -> bool {
    if is_allocator_frame(&frame.name) {
        return true;
    }
    // A program's function in a file of that name is not plumbing; a bare name, or one
    // that `library_paths` gave its module, is judged by the file.
    let library = !frame.name.contains("::") || is_rust_library_function(&frame.name);
    let file = frame.file.replace('\\', "/");
    library
        && (PLUMBING_FILES.iter().any(|f| file.ends_with(f))
            || PLUMBING_DIRECTORIES.iter().any(|d| file.contains(d)))
}

/// How many lines (inlined or not) at the leaf end may belong to the profiler and
/// the allocator: the capture starts inside the profiler, a dozen frames deep.
const LEAF_WINDOW: usize = 48;

/// Where the application's part of a stack starts: (frame, lines of that frame to
/// skip). That is past the first allocator entry near the leaf (`__rust_alloc`, a
/// `GlobalAlloc` impl, `malloc`), or past the last of the profiler's allocation hooks
/// if that is further (the entry's inlined lines may be missing from the debug info
/// of the hook's call site), and past the allocator plumbing right after it
/// (`alloc::alloc::*`, `Global::allocate`); the collections above it are kept.
pub(crate) fn leaf_cut<L: AsRef<[super::Frame]>>(resolved: &[L]) -> (usize, usize) {
    let lines: Vec<(usize, usize, &super::Frame)> = resolved
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.as_ref().iter().enumerate().map(move |(j, f)| (i, j, f)))
        .take(LEAF_WINDOW)
        .collect();
    let first_entry = lines.iter().position(|(_, _, f)| is_allocator_entry(&f.name));
    let last_hook = lines.iter().rposition(|(_, _, f)| f.name.starts_with("heapprof::profiler::"));
    let Some(entry) = first_entry.max(last_hook) else {
        return (0, 0);
    };
    let end = lines[entry..]
        .iter()
        .position(|(_, _, f)| !is_allocator_frame_at(f))
        .map_or(lines.len(), |k| entry + k);
    match lines.get(end) {
        Some(&(i, j, _)) => (i, j),
        None => lines.last().map_or((0, 0), |&(i, j, _)| (i, j + 1)),
    }
}

/// `trait_path` is `wanted`, possibly followed by generic arguments.
fn path_is(trait_path: &str, wanted: &str) -> bool {
    trait_path.strip_prefix(wanted).is_some_and(|rest| rest.is_empty() || rest.starts_with('<'))
}

#[cfg(test)]
mod tests {
    use super::super::Frame;
    use super::{is_allocator_frame, is_allocator_frame_at};

    #[test]
    fn allocator_plumbing_is_recognised() {
        for name in [
            "__rust_alloc",
            "__rust_realloc",
            "__rust_alloc_zeroed",
            "__rust_dealloc",
            "__rustc::__rust_alloc",
            "__rustc::__rust_realloc",
            "__rg_alloc",
            "__rustc::__rg_alloc_zeroed",
            "__rdl_alloc",
            "alloc::alloc::alloc",
            "alloc::alloc::alloc_zeroed",
            "alloc::alloc::realloc",
            "alloc::alloc::exchange_malloc",
            "alloc::alloc::Global::alloc_impl",
            "alloc::alloc::Global::grow_impl",
            "<alloc::alloc::Global as core::alloc::Allocator>::allocate",
            "<alloc::alloc::Global as core::alloc::Allocator>::grow",
            "<&alloc::alloc::Global as core::alloc::Allocator>::allocate",
            "<std::alloc::System as core::alloc::global::GlobalAlloc>::alloc",
            "std::alloc::rust_oom",
            "std::sys::alloc::unix::realloc_fallback",
            "core::alloc::global::GlobalAlloc::realloc",
            "heapprof::stack::capture",
            "heapprof::sampler::Sampler::sample::{closure#0}",
            "<heapprof::Profiler<std::alloc::System> as core::alloc::global::GlobalAlloc>::alloc",
            "<myapp::Tracking as core::alloc::global::GlobalAlloc>::alloc",
            "<bumpalo::Bump as core::alloc::Allocator>::allocate",
            "malloc",
            "__libc_malloc",
            "calloc",
            "posix_memalign",
            "operator new(unsigned long)",
            "operator new[](unsigned long, std::nothrow_t const&)",
        ] {
            assert!(is_allocator_frame(name), "{name} should be dropped from the leaf");
        }
    }

    #[test]
    fn the_code_that_asked_for_memory_is_kept() {
        for name in [
            "alloc::raw_vec::finish_grow",
            "alloc::raw_vec::RawVec<T,A>::grow_one",
            "alloc::raw_vec::RawVecInner<A>::grow_amortized",
            "alloc::vec::Vec<T,A>::push",
            "alloc::string::String::push_str",
            "alloc::boxed::Box<T>::new",
            "<alloc::string::String as core::clone::Clone>::clone",
            "<alloc::vec::Vec<T> as alloc::vec::spec_from_iter::SpecFromIter<T,I>>::from_iter",
            "<myapp::Cache<fn() -> u8> as myapp::Fill>::fill",
            // Generic arguments that mention allocators do not make a frame plumbing.
            "<alloc::vec::Vec<u8,alloc::alloc::Global> as core::clone::Clone>::clone",
            "<myapp::Wrapper<<A as core::alloc::Allocator>::Error> as myapp::Grow>::grow",
            "heapprof_profile::encode",
            "heapprofile",
            "myapp::main",
            "main",
            "mallocator::new",
            "__rust_begin_short_backtrace",
            "std::sys::backtrace::__rust_begin_short_backtrace",
            "",
            "<",
            "<>",
            "<unterminated as core::alloc::Allocator",
        ] {
            assert!(!is_allocator_frame(name), "{name} should be kept");
        }
    }

    fn frame(name: &str, file: &str) -> Frame {
        Frame {
            name: name.into(),
            system_name: name.into(),
            file: file.into(),
            line: 1,
            column: 1,
            start_line: 0,
        }
    }

    #[test]
    fn short_inlined_names_are_judged_by_their_file() {
        let rustc = "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/";
        for (name, file) in [
            ("alloc_impl", "library/alloc/src/alloc.rs"),
            ("exchange_malloc", "library/alloc/src/alloc.rs"),
            ("allocate", "library/alloc/src/alloc.rs"),
            ("realloc_fallback", "library/std/src/sys/alloc/unix.rs"),
            ("__rust_alloc", ""),
            ("alloc::alloc::alloc", ""),
            // As `library_paths` names them.
            ("core::alloc::global::realloc<myapp::Arena>", "library/core/src/alloc/global.rs"),
            ("std::sys::alloc::unix::realloc_fallback", "library/std/src/sys/alloc/unix.rs"),
        ] {
            let file = if file.is_empty() { String::new() } else { format!("{rustc}{file}") };
            assert!(is_allocator_frame_at(&frame(name, &file)), "{name} in {file}");
        }
        for (name, file) in [
            ("grow_one<u8, alloc::alloc::Global>", "library/alloc/src/raw_vec/mod.rs"),
            ("push<u8, alloc::alloc::Global>", "library/alloc/src/vec/mod.rs"),
            ("alloc::vec::push<u8, alloc::alloc::Global>", "library/alloc/src/vec/mod.rs"),
            ("new<u64>", "library/alloc/src/boxed.rs"),
            ("myapp::alloc", "library/alloc/src/alloc.rs"),
            ("fill", "/home/me/myapp/src/alloc.rs"),
        ] {
            assert!(!is_allocator_frame_at(&frame(name, &format!("{rustc}{file}"))), "{name} in {file}");
        }
    }
}
