//! Separate debug files: found by build id or `.gnu_debuglink` as gdb does, and the `dwz`
//! supplementary file a debug file may point to.

use std::path::{Path, PathBuf};

use object::{Object, ObjectSection};

use super::debug_info::{Reader, Store, endian};
use super::mapped_file::MappedFile;
use super::modules::hex;

/// Where separate debug files are installed (`debuginfod` caches aside).
const DEBUG_ROOT: &str = "/usr/lib/debug";

/// `/usr/lib/debug/.build-id/xx/yyyy.debug` for build id `xxyyyy`.
fn build_id_path(id: &str) -> Option<PathBuf> {
    let (dir, file) = (id.get(..2)?, id.get(2..).filter(|f| !f.is_empty())?);
    Some(PathBuf::from(format!("{DEBUG_ROOT}/.build-id/{dir}/{file}.debug")))
}

/// Finds the separate debug file of a file without DWARF, as gdb does: by build id under
/// `/usr/lib/debug/.build-id/`, then by `.gnu_debuglink` beside the file, in its `.debug/`
/// directory and under `/usr/lib/debug/`. A candidate whose build id differs is skipped.
pub(super) fn find_debug_file(
    path: &Path,
    object: &object::File<'static>,
    build_id: Option<&str>,
    store: &mut Store,
) -> Option<(PathBuf, object::File<'static>)> {
    let mut candidates = Vec::new();
    candidates.extend(build_id.and_then(build_id_path));
    if let Some((link, _crc)) = object.gnu_debuglink().ok().flatten() {
        if let (Ok(link), Some(dir)) = (std::str::from_utf8(link), path.parent()) {
            candidates.push(dir.join(link));
            candidates.push(dir.join(".debug").join(link));
            let relative = dir.strip_prefix("/").unwrap_or(dir);
            candidates.push(Path::new(DEBUG_ROOT).join(relative).join(link));
        }
    }
    candidates.into_iter().filter(|c| c != path).find_map(|candidate| {
        store.look_at(&candidate);
        let data = MappedFile::open(&candidate).ok()?;
        let object = object::File::parse(data.bytes()).ok()?;
        let id = object.build_id().ok().flatten().map(hex);
        if build_id.is_some() && id.is_some() && id.as_deref() != build_id {
            return None;
        }
        drop(object);
        let data = store.map(&candidate).ok()?;
        Some((candidate, object::File::parse(data).ok()?))
    })
}

/// Loads the supplementary file named by `.gnu_debugaltlink` (shared DWARF written by `dwz`,
/// common in distribution debug packages), ignoring failures.
pub(super) fn load_supplementary(
    dwarf: &mut gimli::Dwarf<Reader>,
    object: &object::File<'static>,
    path: &Path,
    store: &mut Store,
) {
    let Some((link, build_id)) = object.gnu_debugaltlink().ok().flatten() else {
        return;
    };
    let Ok(link) = std::str::from_utf8(link) else {
        return;
    };
    let link = Path::new(link);
    let mut candidates = vec![path.parent().unwrap_or(Path::new("/")).join(link)];
    candidates.extend(build_id_path(&hex(build_id)));
    for candidate in candidates {
        let Ok(data) = store.map(&candidate) else {
            continue;
        };
        let Ok(sup) = object::File::parse(data) else {
            continue;
        };
        if sup.build_id().ok().flatten().is_some_and(|b| b != build_id) {
            continue;
        }
        let endian = endian(&sup);
        let loaded = dwarf.load_sup(|id| -> Result<Reader, object::Error> {
            let data = match sup.section_by_name(id.name()) {
                Some(section) => store.keep(section.uncompressed_data()?),
                None => &[],
            };
            Ok(gimli::EndianSlice::new(data, endian))
        });
        if loaded.is_ok() {
            return;
        }
    }
}
