//! Symbol names as people read them: Rust (legacy and v0) without the hash, and C++.

use std::borrow::Cow;

/// Demangles a symbol-table or DWARF linkage name; a name that is not mangled, or fails to
/// demangle, comes back unchanged.
///
/// Rust first (`rustc-demangle` takes `_ZN…E` legacy and `_R…` v0 names, and its alternate
/// format drops the `::h0123…` hash and v0 crate disambiguators), then C++ for the other
/// `_Z` names. Output length is not capped: long async-Rust names come back whole.
pub(crate) fn demangle(symbol: &str) -> Cow<'_, str> {
    if let Ok(rust) = rustc_demangle::try_demangle(symbol) {
        return Cow::Owned(format!("{rust:#}"));
    }
    if symbol.starts_with("_Z") {
        if let Ok(cpp) = cpp_demangle::Symbol::new(symbol.as_bytes()) {
            if let Ok(name) = cpp.demangle() {
                return Cow::Owned(name);
            }
        }
    }
    Cow::Borrowed(symbol)
}

/// Whether `symbol` is a Rust or C++ mangled name (which demangles to a full path).
pub(crate) fn is_mangled(symbol: &str) -> bool {
    symbol.starts_with("_Z") || rustc_demangle::try_demangle(symbol).is_ok()
}

#[cfg(test)]
mod tests {
    use super::{demangle, is_mangled};

    #[test]
    fn mangled_names_are_recognised() {
        assert!(is_mangled("_ZN4core3fmt5write17h0123456789abcdefE"));
        assert!(is_mangled("_RNvNtCs1234_7mycrate3foo3bar"));
        assert!(is_mangled("_ZN3foo3barEv"));
        assert!(!is_mangled("malloc"));
        assert!(!is_mangled("push<u8, alloc::alloc::Global>"));
        assert!(!is_mangled("_Rarely"));
    }

    #[test]
    fn rust_legacy_drops_the_hash() {
        assert_eq!(demangle("_ZN4core3fmt5write17h0123456789abcdefE"), "core::fmt::write");
        assert_eq!(
            demangle("_ZN5alloc7raw_vec11finish_grow17h5a4b3c2d1e0f9a8bE.llvm.123456"),
            "alloc::raw_vec::finish_grow"
        );
        assert_eq!(
            demangle(
                "_ZN63_$LT$alloc..alloc..Global$u20$as$u20$core..alloc..Allocator$GT$8allocate17h0123456789abcdefE"
            ),
            "<alloc::alloc::Global as core::alloc::Allocator>::allocate"
        );
    }

    #[test]
    fn rust_v0_drops_disambiguators() {
        assert_eq!(demangle("_RNvNtCs1234_7mycrate3foo3bar"), "mycrate::foo::bar");
        assert_eq!(demangle("_RNvCs1234_7___rustc12___rust_alloc"), "__rustc::__rust_alloc");
        // Generic: `mycrate::id::<u32>`.
        assert_eq!(demangle("_RINvCs1234_7mycrate2idmEB2_"), "mycrate::id::<u32>");
    }

    #[test]
    fn cpp() {
        assert_eq!(demangle("_ZN3foo3barEv"), "foo::bar()");
        assert_eq!(
            demangle("_ZNSt6vectorIiSaIiEE9push_backERKi"),
            "std::vector<int, std::allocator<int> >::push_back(int const&)"
        );
        assert_eq!(demangle("_Znwm"), "operator new(unsigned long)");
    }

    #[test]
    fn names_that_are_not_mangled_or_broken_stay() {
        for name in
            ["malloc", "main", "{closure#0}", "_Z", "_ZN3foo", "_R", "_RNvC", "", "_ZZZZ", "__rust_alloc"]
        {
            assert_eq!(demangle(name), name);
        }
    }

    #[test]
    fn long_async_names_are_not_truncated() {
        // A 300-segment legacy path, as deep async state machines produce.
        let segments = 300;
        let mut mangled = String::from("_ZN");
        let mut expected = String::new();
        for i in 0..segments {
            let segment = format!("future_{i:04}_poll_closure");
            mangled.push_str(&format!("{}{}", segment.len(), segment));
            if i > 0 {
                expected.push_str("::");
            }
            expected.push_str(&segment);
        }
        mangled.push_str("17h0123456789abcdefE");
        let demangled = demangle(&mangled);
        assert!(expected.len() > 7000);
        assert_eq!(demangled, expected);
    }
}
