//! Paths for the standard library's functions that DWARF names without one.
//!
//! With `debug = "line-tables-only"` (or `debug = 1`), rustc names inlined functions by
//! their bare name: `with_capacity_in<u8, alloc::alloc::Global>`, `format`. Most inlined
//! frames of a release build are std's generics, and a bare name hides that they are
//! library code from everything that goes by path: the allocator-frame cut, the monitor's
//! and `watch`'s site names (first frame outside `alloc::`, `core::`, `std::`), and users
//! reading `top`. Their source file says where they live
//! (`/rustc/<commit>/library/alloc/src/vec/mod.rs`), and the module path follows from it:
//! `alloc::vec::with_capacity_in<u8, alloc::alloc::Global>`. The type of an `impl`
//! (`Vec<T,A>::`) stays unknown; the module is right.

use std::borrow::Cow;

use heapprof_profile::function_names::RUST_LIBRARY_CRATES;

/// True for a frame of Rust's standard library, by its file (`/rustc/<commit>/library/`,
/// a toolchain's `rust-src`) or, for frames from the symbol table alone, by its name.
pub(crate) fn is_rust_library_frame(frame: &super::Frame) -> bool {
    frame.file.starts_with("/rustc/")
        || frame.file.contains("/lib/rustlib/src/rust/library/")
        || heapprof_profile::function_names::is_rust_library_function(&frame.name)
}

/// `name` prefixed with its module path when it has no path of its own and `file` is a
/// source file of Rust's standard library; `None` otherwise.
pub(super) fn qualify_library_function(name: &str, file: &str) -> Option<String> {
    if has_path(name) {
        return None;
    }
    let module = library_module(file)?;
    Some(format!("{module}::{name}"))
}

/// `core::iter::traits::iterator` for `.../library/core/src/iter/traits/iterator.rs`.
fn library_module(file: &str) -> Option<String> {
    let file = if file.contains('\\') { Cow::Owned(file.replace('\\', "/")) } else { Cow::Borrowed(file) };
    // The last `library/<crate>/src/` that starts a path component (not `mylibrary/`).
    let (krate, rest) = file.rmatch_indices("library/").find_map(|(at, _)| {
        if at > 0 && !file[..at].ends_with('/') {
            return None;
        }
        let (krate, rest) = file[at + "library/".len()..].split_once("/src/")?;
        RUST_LIBRARY_CRATES.contains(&krate).then_some((krate, rest))
    })?;
    let rest = rest.strip_suffix(".rs")?;
    let mut segments: Vec<&str> = rest.split('/').collect();
    if matches!(segments.last(), Some(&("mod" | "lib"))) {
        segments.pop();
    }
    module_path(krate, &segments)
}

/// `krate::a::b` for the path segments `[a, b]` of a source file below its crate's
/// directory; `None` when a segment is not an identifier.
pub(super) fn module_path(krate: &str, segments: &[&str]) -> Option<String> {
    if !segments.iter().all(|s| is_identifier(s)) {
        return None;
    }
    Some(std::iter::once(krate).chain(segments.iter().copied()).collect::<Vec<_>>().join("::"))
}

/// A plain ASCII Rust identifier (what a module file or crate name can be).
pub(super) fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// True when `name` has a `::` outside its generic arguments, or is a qualified path
/// (`<T as Trait>::f`).
pub(super) fn has_path(name: &str) -> bool {
    if name.starts_with('<') {
        return true;
    }
    let mut depth = 0usize;
    let mut previous = ' ';
    for (i, c) in name.char_indices() {
        match c {
            '<' => depth += 1,
            // `->` in a function type is not a closing bracket.
            '>' if previous == '-' => {}
            '>' => depth = depth.saturating_sub(1),
            ':' if depth == 0 && name[i..].starts_with("::") => return true,
            _ => {}
        }
        previous = c;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUSTC: &str = "/rustc/4eb161250e340c8f48f66e2b929ef4a5bed7c181/library";

    #[test]
    fn bare_names_in_library_files_get_their_module() {
        let cases = [
            ("with_capacity_in<u8, alloc::alloc::Global>", "alloc/src/vec/mod.rs", "alloc::vec::"),
            ("try_allocate_in<alloc::alloc::Global>", "alloc/src/raw_vec/mod.rs", "alloc::raw_vec::"),
            ("format", "alloc/src/fmt.rs", "alloc::fmt::"),
            ("fold<I, B>", "core/src/iter/traits/iterator.rs", "core::iter::traits::iterator::"),
            ("alloc_impl", "std/src/sys/pal/unix/alloc.rs", "std::sys::pal::unix::alloc::"),
            ("{closure#0}", "core/src/ops/function.rs", "core::ops::function::"),
            ("black_box<u8>", "core/src/lib.rs", "core::"),
        ];
        for (name, file, module) in cases {
            let file = format!("{RUSTC}/{file}");
            assert_eq!(qualify_library_function(name, &file), Some(format!("{module}{name}")), "{file}");
        }
        // A local toolchain's rust-src, and a Windows path.
        let rustup = "/home/u/.rustup/toolchains/stable/lib/rustlib/src/rust/library/alloc/src/vec/mod.rs";
        assert_eq!(qualify_library_function("push", rustup).as_deref(), Some("alloc::vec::push"));
        let windows = r"C:\rust\library\std\src\thread\mod.rs";
        assert_eq!(qualify_library_function("spawn", windows).as_deref(), Some("std::thread::spawn"));
    }

    #[test]
    fn qualified_names_and_other_files_are_left_alone() {
        let vec = format!("{RUSTC}/alloc/src/vec/mod.rs");
        for name in
            ["alloc::vec::Vec<T,A>::push", "<alloc::vec::Vec<T> as core::clone::Clone>::clone", "a::b"]
        {
            assert_eq!(qualify_library_function(name, &vec), None, "{name}");
        }
        for file in [
            "src/main.rs",
            "/home/u/app/src/lib.rs",
            "/home/u/mylibrary/alloc/src/vec.rs",
            "/home/u/library/alloc/src/vec.c",
            "/rustc/x/library/alloc/src/../../etc.rs",
            "/rustc/x/library/alloc/src/1st.rs",
            "/rustc/x/library/hashbrown/src/raw.rs",
            "",
        ] {
            assert_eq!(qualify_library_function("push", file), None, "{file}");
        }
    }

    #[test]
    fn only_paths_outside_generic_arguments_count() {
        assert!(!has_path("with_capacity_in<u8, alloc::alloc::Global>"));
        assert!(!has_path("map<fn(u8) -> alloc::string::String>"));
        assert!(!has_path("{closure#0}"));
        assert!(has_path("alloc::vec::Vec<T>::push"));
        assert!(has_path("f<T>::g"));
        assert!(has_path("<T as Trait>::f"));
    }
}
