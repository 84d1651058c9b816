//! Process figures from `/proc/self`, read without allocating.

/// What `/proc/self` says of this process; zero where unreadable.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ProcFigures {
    pub(crate) threads: u64,
    pub(crate) rss_bytes: u64,
    pub(crate) virtual_bytes: u64,
}

pub(crate) fn read_self() -> ProcFigures {
    let mut f = ProcFigures::default();
    let mut buf = [0u8; 4096];
    if let Some(statm) = read_small(c"/proc/self/statm", &mut buf) {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
        let mut fields = statm.split(|&c| c == b' ').map(parse_u64);
        f.virtual_bytes = fields.next().flatten().unwrap_or(0) * page;
        f.rss_bytes = fields.next().flatten().unwrap_or(0) * page;
    }
    if let Some(status) = read_small(c"/proc/self/status", &mut buf) {
        for line in status.split(|&c| c == b'\n') {
            if let Some(rest) = line.strip_prefix(b"Threads:") {
                f.threads = parse_u64(rest.trim_ascii()).unwrap_or(0);
            }
        }
    }
    f
}

fn read_small<'a>(path: &std::ffi::CStr, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    // SAFETY: `path` is NUL-terminated.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut len = 0;
    while len < buf.len() {
        // SAFETY: writing into the unused tail of `buf`.
        let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    // SAFETY: `fd` was opened above.
    unsafe { libc::close(fd) };
    Some(&buf[..len])
}

/// A whole field that is one decimal number (spaces around it allowed).
fn parse_u64(s: &[u8]) -> Option<u64> {
    match crate::config::leading_number(s.trim_ascii())? {
        (n, []) => Some(n),
        _ => None,
    }
}
