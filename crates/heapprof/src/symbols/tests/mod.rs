//! Symbolizing this very test binary, libc and files made on the spot. Run in debug and in
//! release (`debug = "line-tables-only"`): names, files and lines must hold in both.

mod made_files;
mod this_process;

use std::path::Path;

use super::debug_info::DebugInfo;
use super::*;

const UNLIMITED: usize = usize::MAX;

pub(super) fn open_file(path: &Path, build_id: Option<&str>) -> Result<DebugInfo, String> {
    DebugInfo::open(path, path, build_id)
}

#[test]
fn the_symbolizer_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Symbolizer>();
}
