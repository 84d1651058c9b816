//! The loaded modules, read from the program headers the dynamic loader keeps in memory
//! (`dl_iterate_phdr`): executable ranges, and the `.eh_frame_hdr` / `.eh_frame` bytes
//! as mapped, found through `PT_GNU_EH_FRAME` without reading any file.

use core::ffi::{c_int, c_void};
use core::ops::Range;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const PT_LOAD: u32 = 1;
const PT_GNU_EH_FRAME: u32 = 0x6474_e550;
const PF_X: u32 = 1;

/// Executable segments kept per module: linkers emit one or two.
const MAX_TEXTS: usize = 8;

/// One loaded module (the executable, a shared library, the vDSO). Fixed-size: it is
/// made under the loader's lock, where nothing may allocate (see [`enumerate`]).
#[derive(Debug)]
pub(super) struct LoadedModule {
    /// Executable segments, actual addresses: the first `text_count`.
    texts: [Range<usize>; MAX_TEXTS],
    text_count: usize,
    /// The `PT_GNU_EH_FRAME` segment (`.eh_frame_hdr`), actual addresses.
    pub(super) eh_frame_hdr: Option<Range<usize>>,
    /// `.eh_frame`, from the address `.eh_frame_hdr` gives to the end of the file-backed
    /// part of the segment holding it (its exact length is not recorded in memory; the
    /// unwinder only reads the entries `.eh_frame_hdr` points to).
    pub(super) eh_frame: Option<Range<usize>>,
}

/// All loaded modules, and the loader's counters of loads and unloads at that moment.
#[derive(Debug, Default)]
pub(super) struct Enumeration {
    pub(super) modules: Vec<LoadedModule>,
    /// (`dlpi_adds`, `dlpi_subs`): they change whenever a module is loaded or unloaded.
    pub(super) generation: (u64, u64),
}

impl LoadedModule {
    /// Executable segments, actual addresses.
    pub(super) fn texts(&self) -> &[Range<usize>] {
        &self.texts[..self.text_count]
    }
}

/// What the `dl_iterate_phdr` callback fills: room reserved before the call.
struct Collector {
    listing: Enumeration,
    overflowed: bool,
}

/// Lists the loaded modules. Allocates (called with the allocator's guard set), but not
/// while the loader's lock is held: an allocator that unwinds through the loader (heaptrack's
/// libunwind) takes its own lock and then the loader's, so allocating under the loader's
/// lock could deadlock against it (test `stack_loader_lock`).
pub(super) fn enumerate() -> Enumeration {
    let mut capacity = 64;
    loop {
        let listing = Enumeration { modules: Vec::with_capacity(capacity), generation: (0, 0) };
        let mut collector = Collector { listing, overflowed: false };
        // SAFETY: `collect_module` only reads the `dl_phdr_info` it is given and writes
        // to `collector`, which outlives the call.
        unsafe {
            libc::dl_iterate_phdr(Some(collect_module), (&raw mut collector).cast::<c_void>());
        }
        if !collector.overflowed {
            return collector.listing;
        }
        capacity *= 4;
    }
}

/// The loader's (loads, unloads) counters, read without listing the modules.
pub(super) fn load_generation() -> (u64, u64) {
    let mut generation = (0u64, 0u64);
    // SAFETY: `read_generation` writes only to `generation`, which outlives the call.
    unsafe {
        libc::dl_iterate_phdr(Some(read_generation), (&raw mut generation).cast::<c_void>());
    }
    generation
}

/// Whether the `dl_phdr_info` glibc passes is large enough to hold `dlpi_adds`/`dlpi_subs`.
fn has_counters(size: usize) -> bool {
    size >= core::mem::offset_of!(libc::dl_phdr_info, dlpi_subs) + size_of::<u64>()
}

unsafe extern "C" fn read_generation(info: *mut libc::dl_phdr_info, size: usize, data: *mut c_void) -> c_int {
    // SAFETY: glibc passes a valid `info` of `size` bytes; `data` is the `(u64, u64)`
    // given by `load_generation`.
    unsafe {
        if has_counters(size) {
            *data.cast::<(u64, u64)>() = ((*info).dlpi_adds, (*info).dlpi_subs);
        }
    }
    1 // the counters are the same in every entry: stop after the first
}

unsafe extern "C" fn collect_module(info: *mut libc::dl_phdr_info, size: usize, data: *mut c_void) -> c_int {
    // SAFETY: glibc passes a valid `info` of `size` bytes whose `dlpi_phdr` points to
    // `dlpi_phnum` program headers; `data` is the `Collector` given by `enumerate`.
    unsafe {
        let collector = &mut *data.cast::<Collector>();
        let out = &mut collector.listing;
        let info = &*info;
        if has_counters(size) {
            out.generation = (info.dlpi_adds, info.dlpi_subs);
        }
        let phdrs = if info.dlpi_phdr.is_null() {
            &[][..]
        } else {
            core::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum))
        };
        if let Some(module) = describe_module(info.dlpi_addr as usize, phdrs) {
            if out.modules.len() == out.modules.capacity() {
                collector.overflowed = true;
                return 1;
            }
            out.modules.push(module);
        }
    }
    0
}

fn describe_module(bias: usize, phdrs: &[libc::Elf64_Phdr]) -> Option<LoadedModule> {
    let actual = |vaddr: u64, len: u64| -> Option<Range<usize>> {
        let start = bias.checked_add(usize::try_from(vaddr).ok()?)?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        (end > start).then_some(start..end)
    };
    let mut texts = [const { 0..0 }; MAX_TEXTS];
    let mut text_count = 0;
    let segments = phdrs.iter().filter(|p| p.p_type == PT_LOAD && p.p_flags & PF_X != 0);
    for (slot, text) in texts.iter_mut().zip(segments.filter_map(|p| actual(p.p_vaddr, p.p_memsz))) {
        *slot = text;
        text_count += 1;
    }
    if text_count == 0 {
        return None;
    }
    let eh_frame_hdr =
        phdrs.iter().find(|p| p.p_type == PT_GNU_EH_FRAME).and_then(|p| actual(p.p_vaddr, p.p_memsz));
    let eh_frame = eh_frame_hdr.as_ref().and_then(|hdr| {
        let start = eh_frame_address(hdr)?;
        // The file-backed part of the loaded segment that holds `.eh_frame`.
        let segment = phdrs
            .iter()
            .filter(|p| p.p_type == PT_LOAD)
            .filter_map(|p| actual(p.p_vaddr, p.p_filesz))
            .find(|r| r.contains(&start))?;
        Some(start..segment.end)
    });
    Some(LoadedModule { texts, text_count, eh_frame_hdr, eh_frame })
}

/// Decodes the `.eh_frame` address from the header of `.eh_frame_hdr`.
fn eh_frame_address(hdr: &Range<usize>) -> Option<usize> {
    // SAFETY: `hdr` is the loaded `PT_GNU_EH_FRAME` segment of a module that is loaded
    // (we are inside `dl_iterate_phdr`, which keeps it so).
    let bytes = unsafe { core::slice::from_raw_parts(hdr.start as *const u8, hdr.len()) };
    let bases = gimli::BaseAddresses::default().set_eh_frame_hdr(hdr.start as u64);
    let parsed = gimli::EhFrameHdr::new(bytes, gimli::LittleEndian).parse(&bases, 8).ok()?;
    match parsed.eh_frame_ptr() {
        gimli::Pointer::Direct(address) => usize::try_from(address).ok(),
        gimli::Pointer::Indirect(_) => None,
    }
}

/// Section bytes of a loaded module, read when the rule cache misses.
///
/// If the module may be unloaded (`dlclose`), each access first asks the loader whether
/// the address being unwound still belongs to this module (`_dl_find_object`,
/// lock-free); if not, the bytes read as empty (no rule is found) and `STALE` asks for
/// a new module list.
pub(super) struct SectionBytes {
    start: usize,
    len: usize,
    /// The module's `PT_GNU_EH_FRAME` address as the loader reports it, if the loader
    /// can vouch for the module (glibc 2.35+; not the vDSO).
    eh_frame_hdr: Option<usize>,
}

/// Set when module bytes were found unloaded: the current module list is stale.
pub(super) static STALE: &AtomicBool = &crate::sample_line::SAMPLE_LINE.modules_stale;

impl SectionBytes {
    /// Bytes of the module whose code contains `probe` and whose `PT_GNU_EH_FRAME`
    /// segment starts at `eh_frame_hdr`.
    pub(super) fn new(range: Range<usize>, probe: usize, eh_frame_hdr: usize) -> SectionBytes {
        let vouched = find_object(probe) == Lookup::Found(eh_frame_hdr);
        SectionBytes { start: range.start, len: range.len(), eh_frame_hdr: vouched.then_some(eh_frame_hdr) }
    }

    /// The bytes, to unwind `address`; none if the module at `address` is not this one
    /// any more.
    pub(super) fn bytes(&self, address: usize) -> &[u8] {
        if let Some(hdr) = self.eh_frame_hdr {
            if find_object(address) != Lookup::Found(hdr) {
                STALE.store(true, Ordering::Relaxed);
                return &[];
            }
        }
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `start..start + len` lies in a loaded, readable segment of the module
        // that holds `address` (checked just above where the loader can tell), and
        // stays so while code of that module is on the stack being unwound.
        unsafe { core::slice::from_raw_parts(self.start as *const u8, self.len) }
    }
}

/// glibc's `struct dl_find_object` (x86_64 layout: no `dlfo_eh_dbase`, no
/// `dlfo_eh_count`), with room to spare after the reserved words.
#[repr(C)]
struct DlFindObject {
    flags: u64,
    map_start: *mut c_void,
    map_end: *mut c_void,
    link_map: *mut c_void,
    eh_frame: *mut c_void,
    reserved: [u64; 16],
}

type DlFindObjectFn = unsafe extern "C" fn(*mut c_void, *mut DlFindObject) -> c_int;

/// Address of `_dl_find_object` (glibc 2.35+); 0: not looked up yet; 1: not available.
static DL_FIND_OBJECT: AtomicUsize = AtomicUsize::new(0);

/// Looks up `_dl_find_object` with `dlsym` (linking to it directly would require
/// glibc 2.35). Called once, while the first module list is built.
pub(super) fn resolve_find_object() {
    if DL_FIND_OBJECT.load(Ordering::Acquire) != 0 {
        return;
    }
    // SAFETY: `dlsym` with `RTLD_DEFAULT` (null) and a NUL-terminated name.
    let f = unsafe { libc::dlsym(core::ptr::null_mut(), c"_dl_find_object".as_ptr()) };
    let value = if f.is_null() { 1 } else { f as usize };
    DL_FIND_OBJECT.store(value, Ordering::Release);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lookup {
    /// `_dl_find_object` is not available.
    Unsupported,
    /// No loaded module contains the address.
    NotFound,
    /// A loaded module contains it; its `PT_GNU_EH_FRAME` address (0 if none).
    Found(usize),
}

/// Asks the loader which module contains `address` (lock-free, async-signal-safe).
pub(super) fn find_object(address: usize) -> Lookup {
    let f = DL_FIND_OBJECT.load(Ordering::Acquire);
    if f <= 1 {
        return Lookup::Unsupported;
    }
    // SAFETY: `f` is the address of glibc's `_dl_find_object`, stored by
    // `resolve_find_object`; the result struct is larger than glibc's.
    unsafe {
        let f: DlFindObjectFn = core::mem::transmute::<usize, DlFindObjectFn>(f);
        let mut result: DlFindObject = core::mem::zeroed();
        if f(address as *mut c_void, &mut result) == 0 {
            Lookup::Found(result.eh_frame as usize)
        } else {
            Lookup::NotFound
        }
    }
}
