//! A read-only memory map of a whole file.
//!
//! Object files are mapped, never read into the heap: the kernel pages in only the DWARF
//! the symbolizer touches, and those pages are clean and reclaimable (bytehound's loader
//! reading whole files into memory is a complaint we do not repeat). Written on `libc`
//! because the crate does not depend on `memmap2`; the surface used here is four calls.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Which file is at a path, and which version of it: device, inode, length, and the
/// modification and status-change times (in nanoseconds; the latter moves with a `chmod`
/// that makes a file readable). A long-lived reader compares stamps to learn that a file
/// it read, or looked for, has changed since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp(u64, u64, u64, [(i64, i64); 2]);

impl FileStamp {
    /// `None` when nothing readable as a file is there.
    pub fn of(path: &Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
        let times = [(m.mtime(), m.mtime_nsec()), (m.ctime(), m.ctime_nsec())];
        Some(FileStamp(m.dev(), m.ino(), m.len(), times))
    }
}

/// The bytes of a file, mapped `PROT_READ`, `MAP_PRIVATE`; unmapped on drop.
#[derive(Debug)]
pub(crate) struct MappedFile {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value alone; sharing or moving the
// pointer between threads is as safe as sharing a `&[u8]`.
unsafe impl Send for MappedFile {}
// SAFETY: as above, nothing writes through the pointer.
unsafe impl Sync for MappedFile {}

impl MappedFile {
    /// Maps the whole file at `path`. An empty file gives an empty slice without a mapping.
    pub(crate) fn open(path: &Path) -> io::Result<MappedFile> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file larger than the address space"))?;
        if len == 0 {
            return Ok(MappedFile { ptr: std::ptr::NonNull::<u8>::dangling().as_ptr(), len: 0 });
        }
        // SAFETY: a fresh private read-only mapping of an open descriptor; the kernel picks the
        // address. The descriptor may be closed once the mapping exists.
        let ptr = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd(), 0)
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(MappedFile { ptr: ptr.cast::<u8>(), len })
    }

    /// The mapped bytes.
    ///
    /// A file truncated on disk while mapped makes reads past its new end raise SIGBUS; that
    /// is the one hazard of mapping over reading, shared with every mmap-based symbolizer
    /// (backtrace-rs, addr2line's loader). Object files of a running process are rarely
    /// truncated in place: installers replace them by rename, which leaves our mapping intact.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is the start of a live mapping of `len` readable bytes (or a dangling,
        // aligned pointer with `len == 0`), unmapped only when `self` is dropped.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: unmapping exactly the region `open` mapped; no slice of it outlives `self`
            // (holders of borrowed slices are declared to drop before the `MappedFile`).
            unsafe {
                libc::munmap(self.ptr.cast_mut().cast::<libc::c_void>(), self.len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_a_file_and_an_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(MappedFile::open(&path).unwrap().bytes(), b"hello");
        std::fs::write(&path, b"").unwrap();
        assert_eq!(MappedFile::open(&path).unwrap().bytes(), b"");
        assert!(MappedFile::open(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn a_stamp_changes_with_the_file_and_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        assert_eq!(FileStamp::of(&path), None);
        std::fs::write(&path, b"hello").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        let unreadable = FileStamp::of(&path).unwrap();
        assert_eq!(FileStamp::of(&path), Some(unreadable), "nothing changed");
        // Past the file system's clock tick (a jiffy where timestamps are coarse).
        let tick = || std::thread::sleep(std::time::Duration::from_millis(20));
        tick();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let readable = FileStamp::of(&path).unwrap();
        assert_ne!(readable, unreadable, "chmod");
        tick();
        std::fs::write(&path, b"hellO").unwrap();
        assert_ne!(FileStamp::of(&path).unwrap(), readable, "rewritten, same length");
    }
}
