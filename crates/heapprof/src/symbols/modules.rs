//! The executable mappings of this process: `/proc/self/maps` for ranges, offsets and paths,
//! `dl_iterate_phdr` for load biases and GNU build ids read from memory.
//!
//! Build ids come from the loaded image, not the file on disk, so they stay right when the
//! file was deleted or replaced after loading: they are what offline symbolization needs.

/// One executable file mapping of this process: what pprof calls a `Mapping`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Module {
    /// First address of the mapping.
    pub(crate) start: u64,
    /// One past the last address of the mapping.
    pub(crate) limit: u64,
    /// Offset in the file of the byte mapped at `start`.
    pub(crate) file_offset: u64,
    /// The path as `/proc/self/maps` shows it, without a ` (deleted)` suffix; `[vdso]` and
    /// the like for kernel-provided images.
    pub(crate) path: String,
    /// The GNU build id in lowercase hex, from the loaded image or else from the file.
    pub(crate) build_id: Option<String>,
    /// The file was deleted (or replaced by rename) after it was mapped.
    pub(crate) deleted: bool,
    /// Device and inode from `/proc/self/maps` (0 for kernel-provided images).
    pub(crate) dev: u64,
    pub(crate) inode: u64,
    /// `address in memory - address in the ELF file` (the load bias), when the dynamic
    /// loader knows the module; otherwise computed from the file's program headers when
    /// the file is opened.
    pub(crate) bias: Option<u64>,
}

impl Module {
    /// A pseudo-file provided by the kernel (`[vdso]`, `[vsyscall]`): never opened.
    pub(crate) fn is_kernel_image(&self) -> bool {
        self.path.starts_with('[')
    }

    pub(crate) fn has_file_key(&self, key: &FileKey) -> bool {
        self.dev == key.dev && self.inode == key.inode && self.path == key.path
    }

    /// The identity of the file behind the mapping, shared by its several mappings.
    pub(crate) fn file_key(&self) -> FileKey {
        FileKey { dev: self.dev, inode: self.inode, path: self.path.clone() }
    }
}

/// Which file a module's mapping shows: debug info is loaded once per file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct FileKey {
    pub(crate) dev: u64,
    pub(crate) inode: u64,
    pub(crate) path: String,
}

/// Reads the executable file mappings of this process, sorted by address.
pub(crate) fn read_modules() -> std::io::Result<Vec<Module>> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let mut modules: Vec<Module> = maps.lines().filter_map(parse_maps_line).collect();
    modules.sort_by_key(|m| m.start);
    let loaded = loaded_objects();
    for module in &mut modules {
        if let Some(object) = loaded.iter().find(|o| o.contains(module.start)) {
            module.bias = Some(object.bias);
            module.build_id = object.build_id();
        }
    }
    Ok(modules)
}

/// Parses one line of `/proc/self/maps`; `None` for a non-executable or anonymous mapping.
///
/// `start-end perms offset major:minor inode   path`; the path may contain spaces and ends
/// in ` (deleted)` when the file is gone.
pub(crate) fn parse_maps_line(line: &str) -> Option<Module> {
    let mut rest = line;
    let mut field = || {
        let trimmed = rest.trim_start_matches(' ');
        let end = trimmed.find(' ').unwrap_or(trimmed.len());
        let (field, tail) = trimmed.split_at(end);
        rest = tail;
        field
    };
    let range = field();
    let perms = field();
    let offset = field();
    let dev = field();
    let inode = field();
    let path = rest.trim_start_matches(' ');
    if !perms.contains('x') || path.is_empty() {
        return None;
    }
    let (start, limit) = range.split_once('-')?;
    let start = u64::from_str_radix(start, 16).ok()?;
    let limit = u64::from_str_radix(limit, 16).ok()?;
    let file_offset = u64::from_str_radix(offset, 16).ok()?;
    let (major, minor) = dev.split_once(':')?;
    let dev = (u64::from_str_radix(major, 16).ok()? << 32) | u64::from_str_radix(minor, 16).ok()?;
    let inode = inode.parse().ok()?;
    if limit <= start {
        return None;
    }
    let (path, deleted) = match path.strip_suffix(" (deleted)") {
        Some(path) => (path, true),
        None => (path, false),
    };
    Some(Module {
        start,
        limit,
        file_offset,
        path: path.to_owned(),
        build_id: None,
        deleted,
        dev,
        inode,
        bias: None,
    })
}

/// An object the dynamic loader knows: the executable, shared libraries, the vdso.
/// Fixed-size, so that collecting it under the loader's lock allocates nothing.
#[derive(Clone, Copy, Debug)]
struct LoadedObject {
    bias: u64,
    /// `PT_LOAD` ranges in memory (the first `MAX_SEGMENTS`).
    segments: [(u64, u64); MAX_SEGMENTS],
    segment_count: usize,
    build_id: [u8; MAX_BUILD_ID],
    build_id_len: usize,
}

const MAX_SEGMENTS: usize = 16;
const MAX_BUILD_ID: usize = 64;

impl LoadedObject {
    fn segments(&self) -> &[(u64, u64)] {
        &self.segments[..self.segment_count]
    }

    fn contains(&self, addr: u64) -> bool {
        self.segments().iter().any(|&(start, end)| {
            // Mappings start at page boundaries, segments need not.
            let start = start & !(page_size() - 1);
            (start..end).contains(&addr)
        })
    }

    fn build_id(&self) -> Option<String> {
        (self.build_id_len > 0).then(|| hex(&self.build_id[..self.build_id_len]))
    }
}

/// What the `dl_iterate_phdr` callback fills: room reserved before the call, so that no
/// allocation happens while the loader's lock is held (an allocator that unwinds, or
/// waits on a thread that does, could otherwise deadlock on that lock).
struct Collector {
    objects: Vec<LoadedObject>,
    overflowed: bool,
}

fn loaded_objects() -> Vec<LoadedObject> {
    let mut capacity = 256;
    loop {
        let mut collector = Collector { objects: Vec::with_capacity(capacity), overflowed: false };
        // SAFETY: `collect_object` matches the callback type and only uses `data` as the
        // `Collector` passed here, which outlives the call.
        unsafe {
            libc::dl_iterate_phdr(Some(collect_object), (&raw mut collector).cast());
        }
        if !collector.overflowed {
            return collector.objects;
        }
        capacity *= 4;
    }
}

/// `dl_iterate_phdr` callback: records one object. Never unwinds (it runs under a C frame)
/// and never allocates (it runs under the loader's lock).
unsafe extern "C" fn collect_object(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: the loader passes a valid `dl_phdr_info` for the duration of the call, and
    // `data` is the `Collector` given to `dl_iterate_phdr` by `loaded_objects`.
    let (info, collector) = unsafe { (&*info, &mut *data.cast::<Collector>()) };
    if collector.objects.len() == collector.objects.capacity() {
        collector.overflowed = true;
        return 1;
    }
    let phdrs: &[libc::Elf64_Phdr] = if info.dlpi_phdr.is_null() {
        &[]
    } else {
        // SAFETY: `dlpi_phdr` points at `dlpi_phnum` program headers of a loaded object.
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
    };
    let bias = info.dlpi_addr;
    let mut object = LoadedObject {
        bias,
        segments: [(0, 0); MAX_SEGMENTS],
        segment_count: 0,
        build_id: [0; MAX_BUILD_ID],
        build_id_len: 0,
    };
    for p in phdrs.iter().filter(|p| p.p_type == libc::PT_LOAD).take(MAX_SEGMENTS) {
        let start = bias.wrapping_add(p.p_vaddr);
        object.segments[object.segment_count] = (start, start.wrapping_add(p.p_memsz));
        object.segment_count += 1;
    }
    for note in phdrs.iter().filter(|p| p.p_type == libc::PT_NOTE) {
        let start = bias.wrapping_add(note.p_vaddr);
        let end = start.wrapping_add(note.p_memsz);
        // Read only notes that lie inside a loaded segment, i.e. in mapped memory.
        if end < start || !object.segments().iter().any(|&(s, e)| s <= start && end <= e) {
            continue;
        }
        // SAFETY: the note segment lies within a `PT_LOAD` segment of a loaded object, which
        // stays mapped while the loader lock is held (for the duration of this callback).
        let bytes = unsafe { std::slice::from_raw_parts(start as *const u8, (end - start) as usize) };
        if let Some(id) = gnu_build_id(bytes).filter(|id| id.len() <= MAX_BUILD_ID) {
            object.build_id[..id.len()].copy_from_slice(id);
            object.build_id_len = id.len();
            break;
        }
    }
    collector.objects.push(object);
    0
}

/// The size of a memory page (4 KiB, 16 KiB or 64 KiB depending on the machine).
pub(crate) fn page_size() -> u64 {
    // SAFETY: `sysconf` has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|s| s.is_power_of_two()).unwrap_or(4096)
}

/// Finds the `NT_GNU_BUILD_ID` note in the contents of a note segment or section
/// (native-endian, 4-byte aligned, as in memory and in files of this machine).
pub(crate) fn gnu_build_id(mut notes: &[u8]) -> Option<&[u8]> {
    const NT_GNU_BUILD_ID: u32 = 3;
    let word = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let align4 = |n: usize| n.checked_add(3).map(|n| n & !3);
    while notes.len() >= 12 {
        let name_size = word(notes, 0)? as usize;
        let desc_size = word(notes, 4)? as usize;
        let kind = word(notes, 8)?;
        let name_end = 12usize.checked_add(align4(name_size)?)?;
        let desc_end = name_end.checked_add(align4(desc_size)?)?;
        let name = notes.get(12..12 + name_size)?;
        let desc = notes.get(name_end..name_end.checked_add(desc_size)?)?;
        if kind == NT_GNU_BUILD_ID && name == b"GNU\0" {
            return Some(desc);
        }
        notes = notes.get(desc_end..)?;
    }
    None
}

/// Lowercase hex, as pprof and `readelf -n` print build ids.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_maps_lines() {
        let m = parse_maps_line(
            "5650121b0000-5650121b5000 r-xp 00002000 fe:01 247030                     /usr/bin/my tool (deleted)",
        )
        .unwrap();
        assert_eq!((m.start, m.limit, m.file_offset), (0x5650121b0000, 0x5650121b5000, 0x2000));
        assert_eq!(m.path, "/usr/bin/my tool");
        assert!(m.deleted);
        assert_eq!((m.dev, m.inode), ((0xfe << 32) | 1, 247030));
        // Not executable, anonymous: not modules.
        assert!(
            parse_maps_line("5650121ae000-5650121b0000 r--p 00000000 fe:00 247030   /usr/bin/cat").is_none()
        );
        assert!(parse_maps_line("7f0000000000-7f0000001000 r-xp 00000000 00:00 0 ").is_none());
        assert!(parse_maps_line("7f0000000000-7f0000001000 r-xp 00000000 00:00 0").is_none());
        let vdso = parse_maps_line(
            "7ffd1c5f0000-7ffd1c5f2000 r-xp 00000000 00:00 0                          [vdso]",
        )
        .unwrap();
        assert!(vdso.is_kernel_image());
        // Garbage never panics.
        for line in ["", "-", "zz-yy r-xp 0 0:0 0 /x", "1-2 r-xp", "2-1 r-xp 0 0:0 0 /x", "1-2 r-xp 0 0 0 /x"]
        {
            assert!(parse_maps_line(line).is_none(), "{line:?}");
        }
    }

    #[test]
    fn finds_the_gnu_build_id_note() {
        let mut notes = Vec::new();
        // An unrelated note first (name "GNU", type 5, 5-byte descriptor padded to 8).
        notes.extend_from_slice(&4u32.to_ne_bytes());
        notes.extend_from_slice(&5u32.to_ne_bytes());
        notes.extend_from_slice(&5u32.to_ne_bytes());
        notes.extend_from_slice(b"GNU\0");
        notes.extend_from_slice(&[1, 2, 3, 4, 5, 0, 0, 0]);
        notes.extend_from_slice(&4u32.to_ne_bytes());
        notes.extend_from_slice(&4u32.to_ne_bytes());
        notes.extend_from_slice(&3u32.to_ne_bytes());
        notes.extend_from_slice(b"GNU\0");
        notes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(gnu_build_id(&notes).map(hex).as_deref(), Some("deadbeef"));
        assert_eq!(gnu_build_id(&notes[..notes.len() - 1]), None);
        assert_eq!(gnu_build_id(&[0xff; 40]), None);
    }
}
