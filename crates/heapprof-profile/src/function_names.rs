//! Reading demangled Rust function names: which belong to Rust's standard library, and
//! the parts of a qualified path (`<Type as Trait>::method`).

/// The crates of Rust's standard library (the sysroot's), by name.
pub const RUST_LIBRARY_CRATES: &[&str] = &["alloc", "core", "std", "proc_macro", "test"];

/// True for a function of Rust's standard library: a path in one of [`RUST_LIBRARY_CRATES`]
/// (`alloc::raw_vec::finish_grow`), a method of one of their types
/// (`<alloc::raw_vec::RawVecInner>::try_allocate_in`), or their traits' implementations
/// for library and primitive types (`<u8 as alloc::vec::spec_from_elem::SpecFromElem>::from_elem`).
/// A program's trait implemented for a library type
/// (`<alloc::vec::Vec<u8> as app::Render>::render`), or a library trait for a program's
/// type (`<app::Item as core::clone::Clone>::clone`, often derived), is the program's code.
pub fn is_rust_library_function(name: &str) -> bool {
    let in_library = |path: &str| {
        RUST_LIBRARY_CRATES.iter().any(|c| path.strip_prefix(c).is_some_and(|rest| rest.starts_with("::")))
    };
    // Primitives, slices, tuples and generic parameters have no crate of their own: the
    // methods and impls they get in a path-less position are the library's.
    let library_type = |ty: &str| {
        let ty = strip_references(ty);
        let head = &ty[..ty.find('<').unwrap_or(ty.len())];
        in_library(ty) || ty.starts_with(['[', '(']) || !head.contains("::")
    };
    match qualified_self(name) {
        Some((self_type, "")) => library_type(self_type),
        Some((self_type, trait_path)) => in_library(trait_path) && library_type(self_type),
        None => in_library(name),
    }
}

/// Splits `<Type as Trait>::method` into (`Type`, `Trait`), or `<Type>::method` into
/// (`Type`, ""); `None` when the name does not start with a qualified path.
pub fn qualified_self(name: &str) -> Option<(&str, &str)> {
    let inner = name.strip_prefix('<')?;
    let mut depth = 0usize;
    let mut previous = ' ';
    let mut as_at = None;
    for (i, c) in inner.char_indices() {
        match c {
            '<' => depth += 1,
            // `->` in a function type is not a closing bracket.
            '>' if previous == '-' => {}
            '>' if depth == 0 => {
                let qualified = &inner[..i];
                return Some(match as_at {
                    Some(at) => (&qualified[..at], &qualified[at + " as ".len()..]),
                    None => (qualified, ""),
                });
            }
            '>' => depth -= 1,
            ' ' if depth == 0 && as_at.is_none() && inner[i..].starts_with(" as ") => as_at = Some(i),
            _ => {}
        }
        previous = c;
    }
    None
}

/// `ty` without leading `&`, `&mut `, `*const `, `*mut ` and `dyn `.
pub fn strip_references(mut ty: &str) -> &str {
    loop {
        let stripped = ty
            .trim_start_matches(['&', '*'])
            .trim_start_matches("mut ")
            .trim_start_matches("const ")
            .trim_start_matches("dyn ");
        if stripped.len() == ty.len() {
            return ty;
        }
        ty = stripped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_functions_by_path_type_or_trait() {
        for name in [
            "alloc::raw_vec::finish_grow",
            "core::iter::traits::iterator::Iterator::fold",
            "std::rt::lang_start_internal",
            "<alloc::raw_vec::RawVecInner>::try_allocate_in",
            "<u8 as alloc::vec::spec_from_elem::SpecFromElem>::from_elem",
            "<alloc::vec::Vec<app::Item> as core::clone::Clone>::clone",
            "<[app::Item] as alloc::slice::hack::ConvertVec>::to_vec",
            "<str>::to_owned",
            "<&mut alloc::vec::Vec<u8>>::push",
            "<*const core::ffi::c_void>::is_null",
        ] {
            assert!(is_rust_library_function(name), "{name}");
        }
        for name in [
            "app::load",
            "main.leak",
            "<alloc::vec::Vec<u8> as app::Render>::render",
            "<app::Item as core::clone::Clone>::clone",
            "<&app::Item as core::fmt::Display>::fmt",
            "<app::Cache<fn() -> alloc::string::String>>::fill",
            "allocate",
            "stdlib::f",
            "",
            "<",
        ] {
            assert!(!is_rust_library_function(name), "{name}");
        }
    }

    #[test]
    fn qualified_paths_split_at_their_own_brackets() {
        assert_eq!(qualified_self("<A as B>::f"), Some(("A", "B")));
        assert_eq!(qualified_self("<A<X as Y>>::f"), Some(("A<X as Y>", "")));
        assert_eq!(qualified_self("<C<fn() -> u8> as T<u8>>::f"), Some(("C<fn() -> u8>", "T<u8>")));
        assert_eq!(qualified_self("a::b"), None);
        assert_eq!(qualified_self("<unterminated as T"), None);
    }
}
