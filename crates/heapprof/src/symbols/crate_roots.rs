//! Module paths for a program's own functions that DWARF names without one.
//!
//! Under `debug = "line-tables-only"`, rustc names inlined functions bare
//! (`parse_line`, `{closure#0}`), as it does the standard library's (see
//! `library_paths`). Each of rustc's compile units is named
//! `<root file>/@/<crate>.<hash>-cgu.<n>` (`src/main.rs/@/myapp.53849e38-cgu.0`),
//! relative to the unit's directory: so the binary itself says which directory holds
//! which crate's sources, and a file's place in it gives the module
//! (`src/parser/mod.rs` in `myapp` → `myapp::parser`). An `impl`'s type stays unknown,
//! and a module declared with `#[path]` is named by its file.

use super::debug_info::Reader;
use super::library_paths::{is_identifier, module_path};

/// The source directories of the crates compiled into one file.
#[derive(Debug)]
pub(super) struct CrateRoots {
    /// (directory of the crate root, ending in `/`; crate name; root file's stem),
    /// longest directory first.
    roots: Vec<(String, String, String)>,
}

impl CrateRoots {
    /// Reads the names of the file's compile units.
    pub(super) fn from_dwarf(dwarf: &gimli::Dwarf<Reader>) -> CrateRoots {
        let mut roots = Vec::new();
        let mut headers = dwarf.units();
        while let Ok(Some(header)) = headers.next() {
            let Ok(unit) = dwarf.unit(header) else { continue };
            let text = |r: Option<Reader>| r.and_then(|r| r.to_string().ok());
            let (Some(name), comp_dir) = (text(unit.name), text(unit.comp_dir)) else { continue };
            if let Some(root) = parse_unit_name(name, comp_dir) {
                roots.push(root);
            }
        }
        CrateRoots::new(roots)
    }

    fn new(mut roots: Vec<(String, String, String)>) -> CrateRoots {
        roots.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.cmp(b)));
        roots.dedup();
        roots.shrink_to_fit();
        CrateRoots { roots }
    }

    /// `myapp::parser` for `/src/app/src/parser/mod.rs` when `/src/app/src/main.rs` is
    /// the root of crate `myapp`; `None` for a file outside every crate's directory or
    /// whose path is not a module's.
    pub(super) fn module_of(&self, file: &str) -> Option<String> {
        let (dir, krate, root_stem) = self.roots.iter().find(|(dir, ..)| file.starts_with(dir.as_str()))?;
        let rest = file[dir.len()..].strip_suffix(".rs")?;
        let mut segments: Vec<&str> = rest.split('/').collect();
        if segments.len() == 1 && segments[0] == root_stem {
            return Some(krate.clone());
        }
        if segments.last() == Some(&"mod") {
            segments.pop();
        }
        if segments.is_empty() {
            return None;
        }
        module_path(krate, &segments)
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.roots.capacity() * std::mem::size_of::<(String, String, String)>()
            + self.roots.iter().map(|(a, b, c)| a.capacity() + b.capacity() + c.capacity()).sum::<usize>()
    }
}

/// (directory, crate, root stem) from a rustc unit name and the unit's directory.
fn parse_unit_name(name: &str, comp_dir: Option<&str>) -> Option<(String, String, String)> {
    let (root, unit) = name.split_once("/@/")?;
    let krate = unit.split_once('.')?.0;
    if !is_identifier(krate) {
        return None;
    }
    let root = if root.starts_with('/') {
        root.to_string()
    } else {
        format!("{}/{root}", comp_dir?.trim_end_matches('/'))
    };
    let (dir, file) = root.rsplit_once('/')?;
    let stem = file.strip_suffix(".rs")?;
    Some((format!("{dir}/"), krate.to_string(), stem.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(units: &[(&str, &str)]) -> CrateRoots {
        CrateRoots::new(units.iter().filter_map(|(n, d)| parse_unit_name(n, Some(d))).collect())
    }

    #[test]
    fn files_under_a_crate_root_get_its_module_paths() {
        let r = roots(&[
            ("src/main.rs/@/myapp.53849e38c06e9bc8-cgu.0", "/work/app"),
            ("crates/core/src/lib.rs/@/app_core.1a2b-cgu.3", "/work/app"),
            ("/rustc/abc/library/std/src/lib.rs/@/std.e282-cgu.0", "/rustc/abc"),
        ]);
        assert_eq!(r.module_of("/work/app/src/main.rs").as_deref(), Some("myapp"));
        assert_eq!(r.module_of("/work/app/src/parser/mod.rs").as_deref(), Some("myapp::parser"));
        assert_eq!(r.module_of("/work/app/src/parser/lexer.rs").as_deref(), Some("myapp::parser::lexer"));
        assert_eq!(r.module_of("/work/app/crates/core/src/lib.rs").as_deref(), Some("app_core"));
        assert_eq!(r.module_of("/work/app/crates/core/src/io.rs").as_deref(), Some("app_core::io"));
        assert_eq!(r.module_of("/rustc/abc/library/std/src/io/mod.rs").as_deref(), Some("std::io"));
    }

    #[test]
    fn other_files_and_other_units_are_left_alone() {
        let r = roots(&[
            ("src/main.rs/@/myapp.5384-cgu.0", "/work/app"),
            ("../sysdeps/x86_64/start.S", "/build/glibc"),
            ("src/lib.rs/@/9bad.12-cgu.0", "/x"),
        ]);
        assert_eq!(r.roots.len(), 1);
        for file in [
            "/work/app/build/gen.rs",
            "/work/app/src/native/shim.c",
            "/work/app/src/2024/mod.rs",
            "/work/other/src/main.rs",
            "/work/app/src/main.rs.orig",
        ] {
            assert_eq!(r.module_of(file), None, "{file}");
        }
    }
}
